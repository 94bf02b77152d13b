// Loss wrappers and the accuracy metric.
#include "singa/nn/loss.h"

#include <vector>

#include "singa/core/error.h"
#include "singa/ops/ops.h"

namespace singa {

Tensor crossEntropyLoss(const Tensor& logits, const Tensor& labels) {
  return ops::softmaxCrossEntropy(logits, labels);
}

Tensor crossEntropyLoss(const Tensor& logits, const Tensor& labels, double labelSmoothing) {
  SINGA_CHECK(labelSmoothing >= 0.0 && labelSmoothing < 1.0, ValueError,
              "label smoothing must be in [0, 1), got " << labelSmoothing);
  Tensor ce = ops::softmaxCrossEntropy(logits, labels);
  if (labelSmoothing == 0.0) return ce;
  // The uniform part of the target: mean over the batch of (1/C) sum_c -log p_c.
  Tensor uniform = ops::neg(ops::reduceMean(ops::logSoftmax(logits, 1)));
  return ops::add(ops::mul(ce, 1.0 - labelSmoothing), ops::mul(uniform, labelSmoothing));
}

Tensor mseLoss(const Tensor& prediction, const Tensor& target) { return ops::mseLoss(prediction, target); }

int64_t countCorrect(const Tensor& logits, const Tensor& labels) {
  SINGA_CHECK(logits.ndim() == 2 && labels.ndim() == 1 && logits.dim(0) == labels.dim(0), ShapeError,
              "countCorrect: expected logits [N, C] and labels [N], got " << logits.shape() << " and "
                                                                          << labels.shape());
  SINGA_CHECK(isInteger(labels.dtype()), TypeError,
              "countCorrect: labels must be integers, got " << dtypeName(labels.dtype()));
  const Tensor l = logits.detach().to(Device::cpu()).contiguous();
  const Tensor y = labels.to(Device::cpu()).contiguous();
  const int64_t n = l.dim(0), c = l.dim(1);
  std::vector<int64_t> best(static_cast<size_t>(n), 0);
  SINGA_DISPATCH_FLOAT(l.dtype(), T, {
    const T* p = l.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 1; j < c; ++j) {
        if (p[i * c + j] > p[i * c + best[i]]) best[i] = j;
      }
    }
  });
  int64_t correct = 0;
  SINGA_DISPATCH_NUMERIC(y.dtype(), T, {
    const T* p = y.data<T>();
    for (int64_t i = 0; i < n; ++i) correct += static_cast<int64_t>(p[i]) == best[i] ? 1 : 0;
  });
  return correct;
}

int64_t countTopK(const Tensor& logits, const Tensor& labels, int64_t k) {
  SINGA_CHECK(logits.ndim() == 2 && labels.ndim() == 1 && logits.dim(0) == labels.dim(0), ShapeError,
              "countTopK: expected logits [N, C] and labels [N], got " << logits.shape() << " and " << labels.shape());
  SINGA_CHECK(isInteger(labels.dtype()), TypeError, "countTopK: labels must be integers, got " << dtypeName(labels.dtype()));
  SINGA_CHECK(k >= 1, ValueError, "countTopK: k must be >= 1, got " << k);
  const Tensor l = logits.detach().to(Device::cpu()).contiguous();
  const Tensor y = labels.to(Device::cpu()).contiguous();
  const int64_t n = l.dim(0), c = l.dim(1);
  std::vector<int64_t> target(static_cast<size_t>(n));
  SINGA_DISPATCH_NUMERIC(y.dtype(), T, {
    const T* p = y.data<T>();
    for (int64_t i = 0; i < n; ++i) target[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
  });
  int64_t correct = 0;
  SINGA_DISPATCH_FLOAT(l.dtype(), T, {
    const T* p = l.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = target[static_cast<size_t>(i)];
      if (t < 0 || t >= c) continue;  // a label the model has no output for is never right
      const T* row = p + i * c;
      // The label's rank, ties broken by index as countCorrect's argmax does.
      int64_t rank = 0;
      for (int64_t j = 0; j < c && rank < k; ++j) rank += (row[j] > row[t] || (row[j] == row[t] && j < t)) ? 1 : 0;
      correct += rank < k ? 1 : 0;
    }
  });
  return correct;
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  const int64_t n = labels.defined() ? labels.numel() : 0;
  return n == 0 ? 0.0 : static_cast<double>(countCorrect(logits, labels)) / static_cast<double>(n);
}

}  // namespace singa
