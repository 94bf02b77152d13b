// Softmax family kernels. x is seen as [outer, len, inner] around the softmax axis (AxisParams,
// already normalised); rows along the axis are independent and processed in parallel.
// Max-subtraction keeps every exponential <= 1, sums are accumulated in double.
//
//   Softmax / LogSoftmax                 (x) -> y
//   SoftmaxGrad                          (dy, y) -> dx = y * (dy - sum(dy * y))
//   LogSoftmaxGrad                       (dy, y) -> dx = dy - exp(y) * sum(dy)
//   SoftmaxCrossEntropyLoss              (logits [N, C], labels [N]) -> (loss [], probs [N, C])
//                                        loss = mean_i (logsumexp(x_i) - x_i[label_i])
//   SoftmaxCrossEntropyLossGrad          (probs, labels, dLoss []) -> dLogits = (probs - onehot) * dLoss / N
#include <algorithm>
#include <cmath>
#include <vector>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"

namespace singa::cpu {
namespace {

struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
};

AxisView axisView(const Tensor& x, int64_t axis) {
  AxisView v;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < axis)
      v.outer *= x.shape()[i];
    else if (i == axis)
      v.len = x.shape()[i];
    else
      v.inner *= x.shape()[i];
  }
  return v;
}

// Runs f(src, dst, stride) over every row along the axis: element k of a row is src[k * stride].
template <class F>
void forEachRow(const AxisView& v, F&& f) {
  const int64_t rows = v.outer * v.inner;
  parallelFor(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(v.len, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / v.inner, i = r % v.inner;
      f(o * v.len * v.inner + i, v.inner);
    }
  });
}

template <class T, bool kLog>
void softmaxForward(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const AxisView v = axisView(x, ctx.paramsAs<AxisParams>(kLog ? "LogSoftmax" : "Softmax").axis);
  const T* xp = x.data<T>();
  T* yp = ctx.out(0).data<T>();
  if (v.len == 0) return;
  forEachRow(v, [&](int64_t base, int64_t st) {
    const T* s = xp + base;
    T* d = yp + base;
    T mx = s[0];
    for (int64_t k = 1; k < v.len; ++k) mx = std::max(mx, s[k * st]);
    double sum = 0;
    for (int64_t k = 0; k < v.len; ++k) {
      const T ex = std::exp(s[k * st] - mx);
      if constexpr (!kLog) d[k * st] = ex;
      sum += static_cast<double>(ex);
    }
    if constexpr (kLog) {
      const T lse = mx + static_cast<T>(std::log(sum));
      for (int64_t k = 0; k < v.len; ++k) d[k * st] = s[k * st] - lse;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t k = 0; k < v.len; ++k) d[k * st] *= inv;
    }
  });
}

template <class T, bool kLog>
void softmaxBackward(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& y = ctx.in(1);
  const AxisView v = axisView(y, ctx.paramsAs<AxisParams>(kLog ? "LogSoftmaxGrad" : "SoftmaxGrad").axis);
  const T* gp = dy.data<T>();
  const T* yp = y.data<T>();
  T* dp = ctx.out(0).data<T>();
  forEachRow(v, [&](int64_t base, int64_t st) {
    const T* g = gp + base;
    const T* s = yp + base;
    T* d = dp + base;
    double acc = 0;
    for (int64_t k = 0; k < v.len; ++k) {
      acc += kLog ? static_cast<double>(g[k * st]) : static_cast<double>(g[k * st]) * static_cast<double>(s[k * st]);
    }
    const T a = static_cast<T>(acc);
    for (int64_t k = 0; k < v.len; ++k) {
      if constexpr (kLog) {
        d[k * st] = g[k * st] - std::exp(s[k * st]) * a;
      } else {
        d[k * st] = s[k * st] * (g[k * st] - a);
      }
    }
  });
}

template <class L>
std::vector<int64_t> readLabels(const Tensor& labels, int64_t classes) {
  const L* lp = labels.data<L>();
  std::vector<int64_t> out(static_cast<size_t>(labels.numel()));
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const int64_t l = static_cast<int64_t>(lp[i]);
    SINGA_CHECK(l >= 0 && l < classes, ValueError,
                "SoftmaxCrossEntropy: label " << l << " (sample " << i << ") is out of range for " << classes
                                              << " classes; labels must lie in [0, " << classes << ")");
    out[static_cast<size_t>(i)] = l;
  }
  return out;
}

std::vector<int64_t> labelsOf(const Tensor& labels, int64_t classes) {
  if (labels.dtype() == DType::kInt32) return readLabels<int32_t>(labels, classes);
  SINGA_CHECK(labels.dtype() == DType::kInt64, TypeError,
              "SoftmaxCrossEntropy: labels must be int32 or int64, got " << dtypeName(labels.dtype()));
  return readLabels<int64_t>(labels, classes);
}

template <class T>
void crossEntropyForward(KernelContext& ctx) {
  const Tensor& logits = ctx.in(0);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  const std::vector<int64_t> labels = labelsOf(ctx.in(1), C);
  const T* xp = logits.data<T>();
  T* probs = ctx.out(1).data<T>();
  std::vector<double> rowLoss(static_cast<size_t>(N));
  parallelFor(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* s = xp + i * C;
      T* p = probs + i * C;
      const T mx = *std::max_element(s, s + C);
      double sum = 0;
      for (int64_t k = 0; k < C; ++k) {
        p[k] = std::exp(s[k] - mx);
        sum += static_cast<double>(p[k]);
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t k = 0; k < C; ++k) p[k] *= inv;
      // -log softmax(x)[label] = logsumexp(x) - x[label]
      rowLoss[static_cast<size_t>(i)] = static_cast<double>(mx) + std::log(sum) - static_cast<double>(s[labels[i]]);
    }
  });
  double total = 0;
  for (double l : rowLoss) total += l;
  ctx.out(0).data<T>()[0] = static_cast<T>(total / static_cast<double>(N));
}

template <class T>
void crossEntropyBackward(KernelContext& ctx) {
  const Tensor& probs = ctx.in(0);
  const int64_t N = probs.dim(0), C = probs.dim(1);
  const std::vector<int64_t> labels = labelsOf(ctx.in(1), C);
  const T scale = static_cast<T>(ctx.in(2).item() / static_cast<double>(N));
  const T* pp = probs.data<T>();
  T* dp = ctx.out(0).data<T>();
  parallelFor(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      for (int64_t k = 0; k < C; ++k) dp[i * C + k] = pp[i * C + k] * scale;
      dp[i * C + labels[i]] -= scale;
    }
  });
}

}  // namespace

void registerSoftmaxKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kSoftmax, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxForward<T, false>(ctx))); });
  r.add(OpId::kLogSoftmax, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxForward<T, true>(ctx))); });
  r.add(OpId::kSoftmaxGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxBackward<T, false>(ctx))); });
  r.add(OpId::kLogSoftmaxGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxBackward<T, true>(ctx))); });
  r.add(OpId::kSoftmaxCrossEntropyLoss, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, crossEntropyForward<T>(ctx)); });
  r.add(OpId::kSoftmaxCrossEntropyLossGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, crossEntropyBackward<T>(ctx)); });
}

}  // namespace singa::cpu
