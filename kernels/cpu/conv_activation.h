// The activation a Conv kernel applies as it stores its output (ConvKernelParams::fuseRelu or
// fuseClip; the two never come together), computed as the Relu and Clip kernels compute it: Relu
// maps NaN to 0, Clip keeps NaN and gives hi when lo > hi. Shared by the built-in kernels
// (conv.cc) and the oneDNN ones (conv_dnnl.cc).
#pragma once

#include <algorithm>
#include <cstdint>

#include "singa/core/parallel.h"
#include "singa/ops/kernel_params.h"

namespace singa::cpu {

/// The fused activation of one value (the value itself when none is fused).
template <class T>
inline T convActivationOf(T v, const ConvKernelParams& cp) {
  if (cp.fuseRelu) return v > T(0) ? v : T(0);
  if (cp.fuseClip) return std::min(std::max(v, static_cast<T>(cp.clipLo)), static_cast<T>(cp.clipHi));
  return v;
}

/// y[i] = convActivationOf(y[i]) for i < n, in parallel; nothing when no activation is fused.
template <class T>
void applyConvActivation(T* y, int64_t n, const ConvKernelParams& cp) {
  if (cp.fuseRelu) {
    parallelFor(n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
    });
  } else if (cp.fuseClip) {
    const T lo = static_cast<T>(cp.clipLo), hi = static_cast<T>(cp.clipHi);
    parallelFor(n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = std::min(std::max(y[i], lo), hi);
    });
  }
}

}  // namespace singa::cpu
