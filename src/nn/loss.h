// Losses and a metric. The losses are the fused ops (ops::softmaxCrossEntropy, ops::mseLoss)
// behind PyTorch-like names; accuracy is computed on the host (no gradient, no trace).
#pragma once

#include <cstdint>

#include "singa/core/tensor.h"

namespace singa {

/// Mean over the batch of -log softmax(logits)[label]; logits [N, C], labels int32/int64 [N].
Tensor crossEntropyLoss(const Tensor& logits, const Tensor& labels);
/// Cross-entropy against smoothed targets, as PyTorch's CrossEntropyLoss(label_smoothing=eps):
/// the target puts 1 - eps + eps / C on the label and eps / C on every other class, so
///   loss = (1 - eps) * crossEntropyLoss(logits, labels) + eps * mean over N and C of -log softmax.
/// eps = 0 is crossEntropyLoss. Throws ValueError unless 0 <= eps < 1.
Tensor crossEntropyLoss(const Tensor& logits, const Tensor& labels, double labelSmoothing);
/// Mean of (prediction - target)^2.
Tensor mseLoss(const Tensor& prediction, const Tensor& target);

class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(double labelSmoothing = 0.0) : labelSmoothing_(labelSmoothing) {}
  Tensor operator()(const Tensor& logits, const Tensor& labels) const {
    return crossEntropyLoss(logits, labels, labelSmoothing_);
  }

 private:
  double labelSmoothing_;
};

class MSELoss {
 public:
  Tensor operator()(const Tensor& prediction, const Tensor& target) const { return mseLoss(prediction, target); }
};

/// Number of rows of logits [N, C] whose arg-max (first on ties) equals the label [N].
int64_t countCorrect(const Tensor& logits, const Tensor& labels);
/// Rows whose label is among the k largest logits (ties broken by index, as countCorrect's
/// argmax: countTopK(l, y, 1) == countCorrect(l, y)).
int64_t countTopK(const Tensor& logits, const Tensor& labels, int64_t k);
/// countCorrect / N (0 for an empty batch).
double accuracy(const Tensor& logits, const Tensor& labels);

}  // namespace singa
