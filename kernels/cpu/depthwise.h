// One output plane of a depthwise convolution (one input channel per group), as plain loops:
// the plane starts from the bias and each tap adds its weight times a shifted input row
// segment; the inner loops are contiguous (stride 1) and vectorise. Force-inlined so that
// conv_packed.cc can compile the same code for AVX-512 (a wrapper with the target attribute)
// while conv.cc keeps the baseline build: the scalar and AVX-512 paths are one source.
#pragma once

#include <cstdint>

#include "singa/kernels/cpu/im2col.h"

namespace singa::cpu {

template <class T>
inline __attribute__((always_inline)) void depthwisePlaneLoops(const T* __restrict xs, const T* ws, T b0,
                                                               T* __restrict ys, const WindowPlan& plan, bool relu) {
  const WindowGeom& g = plan.g;
  const int64_t kSize = g.kSize(), OH = g.out[1], OW = g.out[2], IH = g.in[1], IW = g.in[2];
  const int64_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      T* __restrict row = ys + (od * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) row[ow] = b0;
      for (int64_t r = 0; r < kSize; ++r) {
        const WindowTap& t = plan.taps[static_cast<size_t>(r)];
        if (od < t.lo[0] || od >= t.hi[0] || oh < t.lo[1] || oh >= t.hi[1]) continue;
        // src[ow * s2] is the input of output column ow.
        const T* __restrict src = xs + ((od * s0 + t.off[0]) * IH + oh * s1 + t.off[1]) * IW + t.off[2];
        const T wv = ws[r];
        if (s2 == 1) {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) row[ow] += wv * src[ow];
        } else {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) row[ow] += wv * src[ow * s2];
        }
      }
      if (relu) {
        for (int64_t ow = 0; ow < OW; ++ow) row[ow] = row[ow] > T(0) ? row[ow] : T(0);
      }
    }
  }
}

/// The adjoint in the image: adds, for output plane dy (taps ws), w * dy scattered back into
/// the input plane dx (which the caller zeroed or holds earlier contributions).
template <class T>
inline void depthwisePlaneGradInput(const T* __restrict dy, const T* ws, T* __restrict dx, const WindowPlan& plan) {
  const WindowGeom& g = plan.g;
  const int64_t kSize = g.kSize(), OH = g.out[1], OW = g.out[2], IH = g.in[1], IW = g.in[2];
  const int64_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      const T* __restrict row = dy + (od * OH + oh) * OW;
      for (int64_t r = 0; r < kSize; ++r) {
        const WindowTap& t = plan.taps[static_cast<size_t>(r)];
        if (od < t.lo[0] || od >= t.hi[0] || oh < t.lo[1] || oh >= t.hi[1]) continue;
        T* __restrict dst = dx + ((od * s0 + t.off[0]) * IH + oh * s1 + t.off[1]) * IW + t.off[2];
        const T wv = ws[r];
        if (s2 == 1) {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) dst[ow] += wv * row[ow];
        } else {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) dst[ow * s2] += wv * row[ow];
        }
      }
    }
  }
}

/// The adjoint in the weights: dw[tap] += sum over positions of dy * the tap's shifted input,
/// accumulated in double per tap.
template <class T>
inline void depthwisePlaneGradWeight(const T* __restrict x, const T* __restrict dy, double* dw,
                                     const WindowPlan& plan) {
  const WindowGeom& g = plan.g;
  const int64_t kSize = g.kSize(), OH = g.out[1], OW = g.out[2], IH = g.in[1], IW = g.in[2];
  const int64_t s0 = g.stride[0], s1 = g.stride[1], s2 = g.stride[2];
  for (int64_t r = 0; r < kSize; ++r) {
    const WindowTap& t = plan.taps[static_cast<size_t>(r)];
    double acc = 0;
    for (int64_t od = t.lo[0]; od < t.hi[0]; ++od) {
      for (int64_t oh = t.lo[1]; oh < t.hi[1]; ++oh) {
        const T* __restrict row = dy + (od * OH + oh) * OW;
        const T* __restrict src = x + ((od * s0 + t.off[0]) * IH + oh * s1 + t.off[1]) * IW + t.off[2];
        T part = 0;
        if (s2 == 1) {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) part += row[ow] * src[ow];
        } else {
          for (int64_t ow = t.lo[2]; ow < t.hi[2]; ++ow) part += row[ow] * src[ow * s2];
        }
        acc += static_cast<double>(part);
      }
    }
    dw[r] += acc;
  }
}

}  // namespace singa::cpu
