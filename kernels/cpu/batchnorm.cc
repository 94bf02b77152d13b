// BatchNormalization and Dropout kernels.
//
// BatchNorm sees x as [N, C, S] (S = product of the spatial dims, 1 for [N, C]) and works per
// channel, in parallel over channels; statistics are accumulated in double.
//   BatchNormTraining  (x, scale, bias, runningMean, runningVar) -> (y, mean, invStd[, clip mask])
//                      normalises with the batch statistics and updates the running statistics
//                      in place: r = momentum * r + (1 - momentum) * batch (unbiased variance)
//   BatchNormInference (x, scale, bias, mean, var) -> y
//   BatchNormGrad      (dy, x, scale, mean, invStdOrVar[, relu y | clip mask]) -> (dx, dScale, dBias);
//                      BatchNormParams::training: true = batch statistics (full formula, invStd given),
//                      false = fixed statistics (var given, epsilon applied here)
// BatchNormParams::relu fuses a ReLU: the forward kernels write max(y, 0) (the same float
// operations as a separate Relu), and BatchNormGrad takes that output y and uses dy where y > 0,
// 0 elsewhere (what Relu's backward gives: y > 0 exactly where the BatchNorm output was > 0), so
// the fused pair saves a pass and a tensor in each direction with bit-identical results.
// BatchNormParams::clip fuses a Clip the same way (mobilenet's BatchNormalization -> Clip(0, 6)):
// the forward writes clip(v) as the Clip kernel computes it, and in training a uint8 mask of
// where Clip's backward passes dy (lo <= v <= hi, as ClipGrad decides from Clip's input v; the
// clipped output cannot tell v == lo from v < lo). BatchNormGrad takes that mask: the pair keeps
// one byte per element instead of the float tensor between them.
// Dropout (x) -> (y, mask): mask is 0 or 1 / (1 - ratio). Its random numbers come from the
// counter-based generator stream (seed, counter) given in DropoutParams, element i drawing number
// counter + i + 1, so the mask depends only on the seed: not on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "singa/core/parallel.h"
#include "singa/core/rng.h"
#include "singa/kernels/cpu/cpu_kernels.h"

namespace singa::cpu {
namespace {

struct NCS {
  int64_t N, C, S;
};

// Reductions over a contiguous segment with eight independent accumulators (one running sum
// is a dependency chain the compiler may not vectorise); segments are then summed in double.
template <class T>
double sumOf(const T* s, int64_t n) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += s[i + k];
  }
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>(s[i]);
  for (int k = 0; k < 8; ++k) total += static_cast<double>(acc[k]);
  return total;
}

// sum((s - m)^2), and (dot) sum(g * (s - m)).
template <class T>
double sumSqDev(const T* s, int64_t n, T m) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += (s[i + k] - m) * (s[i + k] - m);
  }
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>((s[i] - m) * (s[i] - m));
  for (int k = 0; k < 8; ++k) total += static_cast<double>(acc[k]);
  return total;
}

template <class T>
double dotDev(const T* g, const T* s, int64_t n, T m) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += g[i + k] * (s[i + k] - m);
  }
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>(g[i] * (s[i] - m));
  for (int k = 0; k < 8; ++k) total += static_cast<double>(acc[k]);
  return total;
}

// max(v, 0) as the Relu kernel computes it.
template <class T>
inline T reluOf(T v) {
  return v > T(0) ? v : T(0);
}

// Clip as the Clip kernel computes it (bounds converted to T once; a missing bound clips
// nothing; NaN stays NaN), and whether ClipGrad passes dy at the value v before clipping.
template <class T>
struct ClipOf {
  explicit ClipOf(const BatchNormParams& p)
      : hasLo(p.clipHasLo), hasHi(p.clipHasHi),
        lo(static_cast<T>(hasLo ? p.clipLo : -std::numeric_limits<double>::infinity())),
        hi(static_cast<T>(hasHi ? p.clipHi : std::numeric_limits<double>::infinity())) {}
  bool hasLo, hasHi;
  T lo, hi;
};

// o = clip(v), mask = Clip's backward passes dy, for v = (s - mean) * a + bias: one pass with the
// bounds in registers (restrict: the byte stores alias nothing, so the loop vectorises).
template <class T, bool kLo, bool kHi>
void clipWithMask(const T* __restrict s, T* __restrict o, uint8_t* __restrict mask, int64_t n, T mean, T a, T bias,
                  T lo, T hi) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = (s[i] - mean) * a + bias;
    o[i] = std::min(std::max(v, lo), hi);
    mask[i] = static_cast<uint8_t>((!kLo || v >= lo) & (!kHi || v <= hi));
  }
}

template <class T>
void clipWithMask(const ClipOf<T>& c, const T* s, T* o, uint8_t* mask, int64_t n, T mean, T a, T bias) {
  if (c.hasLo && c.hasHi) {
    clipWithMask<T, true, true>(s, o, mask, n, mean, a, bias, c.lo, c.hi);
  } else if (c.hasLo) {
    clipWithMask<T, true, false>(s, o, mask, n, mean, a, bias, c.lo, c.hi);
  } else if (c.hasHi) {
    clipWithMask<T, false, true>(s, o, mask, n, mean, a, bias, c.lo, c.hi);
  } else {
    clipWithMask<T, false, false>(s, o, mask, n, mean, a, bias, c.lo, c.hi);
  }
}

// dx = dy * (mask ? 1 : 0), as ClipGrad computes dy * d(v).
template <class T>
void applyMask(const T* __restrict dy, const uint8_t* __restrict mask, T* __restrict dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (mask[i] != 0 ? T(1) : T(0));
}

NCS ncsOf(const Tensor& x) {
  NCS d{x.dim(0), x.dim(1), 1};
  for (int i = 2; i < x.ndim(); ++i) d.S *= x.shape()[i];
  return d;
}

template <class T>
void bnTraining(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const NCS d = ncsOf(x);
  const BatchNormParams& params = ctx.paramsAs<BatchNormParams>("BatchNormTraining");
  const double eps = params.epsilon;
  const double momentum = params.momentum;
  const bool relu = params.relu;
  const ClipOf<T> clip(params);
  uint8_t* maskp = params.clip ? ctx.out(3).data<uint8_t>() : nullptr;
  const T* xp = x.data<T>();
  const T* scale = ctx.in(1).data<T>();
  const T* bias = ctx.in(2).data<T>();
  T* runMean = ctx.in(3).defined() ? ctx.in(3).data<T>() : nullptr;
  T* runVar = ctx.in(4).defined() ? ctx.in(4).data<T>() : nullptr;
  T* yp = ctx.out(0).data<T>();
  T* meanOut = ctx.out(1).data<T>();
  T* invStdOut = ctx.out(2).data<T>();
  const int64_t m = d.N * d.S;
  parallelFor(d.C, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < d.N; ++n) sum += sumOf(xp + (n * d.C + c) * d.S, d.S);
      const double mean = m > 0 ? sum / static_cast<double>(m) : 0.0;
      double sq = 0;  // two passes: no cancellation as in E[x^2] - E[x]^2
      for (int64_t n = 0; n < d.N; ++n) sq += sumSqDev(xp + (n * d.C + c) * d.S, d.S, static_cast<T>(mean));
      const double var = m > 0 ? sq / static_cast<double>(m) : 0.0;
      const double invStd = 1.0 / std::sqrt(var + eps);
      // (x - mean) * a + bias: folding the mean into the shift would cancel badly in float32.
      const T a = static_cast<T>(invStd * static_cast<double>(scale[c])), meanT = static_cast<T>(mean), bc = bias[c];
      for (int64_t n = 0; n < d.N; ++n) {
        const T* s = xp + (n * d.C + c) * d.S;
        T* o = yp + (n * d.C + c) * d.S;
        if (relu) {
          for (int64_t i = 0; i < d.S; ++i) o[i] = reluOf((s[i] - meanT) * a + bc);
        } else if (maskp != nullptr) {
          clipWithMask(clip, s, o, maskp + (n * d.C + c) * d.S, d.S, meanT, a, bc);
        } else {
          for (int64_t i = 0; i < d.S; ++i) o[i] = (s[i] - meanT) * a + bc;
        }
      }
      meanOut[c] = static_cast<T>(mean);
      invStdOut[c] = static_cast<T>(invStd);
      const double unbiased = m > 1 ? sq / static_cast<double>(m - 1) : var;
      if (runMean) runMean[c] = static_cast<T>(momentum * runMean[c] + (1 - momentum) * mean);
      if (runVar) runVar[c] = static_cast<T>(momentum * runVar[c] + (1 - momentum) * unbiased);
    }
  });
}

template <class T>
void bnInference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const NCS d = ncsOf(x);
  const BatchNormParams& params = ctx.paramsAs<BatchNormParams>("BatchNormInference");
  const double eps = params.epsilon;
  const bool relu = params.relu;
  const ClipOf<T> clip(params);
  const T* xp = x.data<T>();
  const T* scale = ctx.in(1).data<T>();
  const T* bias = ctx.in(2).data<T>();
  const T* mean = ctx.in(3).data<T>();
  const T* var = ctx.in(4).data<T>();
  T* yp = ctx.out(0).data<T>();
  parallelFor(d.N * d.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(d.S, 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t c = t % d.C;
      const double invStd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
      const T a = static_cast<T>(invStd * static_cast<double>(scale[c])), m = mean[c], bc = bias[c];
      const T* s = xp + t * d.S;
      T* o = yp + t * d.S;
      if (relu) {
        for (int64_t i = 0; i < d.S; ++i) o[i] = reluOf((s[i] - m) * a + bc);
      } else if (params.clip) {
        const T lo = clip.lo, hi = clip.hi;
        for (int64_t i = 0; i < d.S; ++i) o[i] = std::min(std::max((s[i] - m) * a + bc, lo), hi);
      } else {
        for (int64_t i = 0; i < d.S; ++i) o[i] = (s[i] - m) * a + bc;
      }
    }
  });
}

template <class T>
void bnGrad(KernelContext& ctx) {
  const Tensor& x = ctx.in(1);
  const NCS d = ncsOf(x);
  const BatchNormParams& params = ctx.paramsAs<BatchNormParams>("BatchNormGrad");
  const bool training = params.training;
  const double eps = params.epsilon;
  const T* dyp = ctx.in(0).data<T>();
  const T* xp = x.data<T>();
  SINGA_CHECK(!(params.relu || params.clip) || ctx.inputs.size() > 5, ValueError,
              "BatchNormGrad: a fused ReLU / Clip needs its output / mask as the sixth input");
  const T* yp = params.relu ? ctx.in(5).data<T>() : nullptr;             // the fused ReLU's output
  const uint8_t* maskp = params.clip ? ctx.in(5).data<uint8_t>() : nullptr;  // the fused Clip's mask
  const T* scale = ctx.in(2).data<T>();
  const T* mean = ctx.in(3).data<T>();
  const T* stat = ctx.in(4).data<T>();
  T* dxp = ctx.out(0).data<T>();
  T* dScale = ctx.out(1).data<T>();
  T* dBias = ctx.out(2).data<T>();
  const double m = static_cast<double>(d.N * d.S);
  parallelFor(d.C, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const double mu = static_cast<double>(mean[c]);
      const double invStd =
          training ? static_cast<double>(stat[c]) : 1.0 / std::sqrt(static_cast<double>(stat[c]) + eps);
      // With a fused ReLU or Clip, dy is first masked into dx's memory (read back below, element
      // by element before it is overwritten): g = dy * (y > 0) as Relu's backward computes it, or
      // dy * mask as Clip's.
      const T* gp = dyp;
      if (yp != nullptr) {
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t at = (n * d.C + c) * d.S;
          for (int64_t i = 0; i < d.S; ++i) dxp[at + i] = dyp[at + i] * (yp[at + i] > T(0) ? T(1) : T(0));
        }
        gp = dxp;
      } else if (maskp != nullptr) {
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t at = (n * d.C + c) * d.S;
          applyMask(dyp + at, maskp + at, dxp + at, d.S);
        }
        gp = dxp;
      }
      double sdy = 0, sdyx = 0;  // sum(dy), sum(dy * (x - mean))
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t at = (n * d.C + c) * d.S;
        sdy += sumOf(gp + at, d.S);
        sdyx += dotDev(gp + at, xp + at, d.S, static_cast<T>(mu));
      }
      const double dgamma = sdyx * invStd;  // sum(dy * xhat)
      dScale[c] = static_cast<T>(dgamma);
      dBias[c] = static_cast<T>(sdy);
      const double k = static_cast<double>(scale[c]) * invStd;
      // training: dx = k * (dy - sum(dy) / m - xhat * sum(dy * xhat) / m); else dx = k * dy
      const double meanDy = training && m > 0 ? sdy / m : 0.0;
      const double coef = training && m > 0 ? dgamma * invStd / m : 0.0;  // per unit (x - mean)
      // dx = a * dy + b * (x - mean) + shift, with the per-channel constants folded.
      const T a = static_cast<T>(k), b = static_cast<T>(-k * coef), shift = static_cast<T>(-k * meanDy);
      const T muT = static_cast<T>(mu);
      for (int64_t n = 0; n < d.N; ++n) {
        const T* g = gp + (n * d.C + c) * d.S;
        const T* s = xp + (n * d.C + c) * d.S;
        T* o = dxp + (n * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i) o[i] = a * g[i] + b * (s[i] - muT) + shift;
      }
    }
  });
}

template <class T>
void dropoutForward(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const DropoutParams& params = ctx.paramsAs<DropoutParams>("Dropout");
  const double ratio = params.ratio;
  const uint64_t seed = params.seed, counter = params.counter;
  const T keepScale = ratio < 1.0 ? static_cast<T>(1.0 / (1.0 - ratio)) : T(0);
  const float threshold = static_cast<float>(ratio);
  const T* xp = x.data<T>();
  T* yp = ctx.out(0).data<T>();
  T* mp = ctx.out(1).data<T>();
  parallelFor(x.numel(), 1 << 14, [&](int64_t b, int64_t e) {
    Generator gen;
    gen.setState(seed, counter + static_cast<uint64_t>(b));
    for (int64_t i = b; i < e; ++i) {
      const T mask = gen.nextFloat() >= threshold ? keepScale : T(0);
      mp[i] = mask;
      yp[i] = xp[i] * mask;
    }
  });
}

}  // namespace

void registerNormKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kBatchNormTraining, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnTraining<T>(ctx)); });
  r.add(OpId::kBatchNormInference, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnInference<T>(ctx)); });
  r.add(OpId::kBatchNormGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnGrad<T>(ctx)); });
  r.add(OpId::kDropout, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, dropoutForward<T>(ctx)); });
}

}  // namespace singa::cpu
