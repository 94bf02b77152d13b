// Pooling kernels over 1, 2 or 3 spatial dims (WindowGeom pads every problem to three), parallel
// over (image, channel) planes.
//
//   MaxPool            (x) -> (y, argmax)   argmax: int32 offset of the max inside its plane
//                                           (-1 for a window with no input element); the
//                                           backward scatters through it instead of searching
//   MaxPoolGrad        (dy, argmax) -> dx
//   AveragePool        (x) -> y             count_include_pad: divide by the window clipped to
//                                           the padded input, else by its valid elements
//   AveragePoolGrad    (dy) -> dx
// Attributes: kernel_shape, strides, pads [begin..., end...], dilations, count_include_pad.
// 2x2 stride-2 max pooling without padding (the classic CNN case) has its own loop.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/laid_out.h"
#include "singa/kernels/cpu/im2col.h"

namespace singa::cpu {
namespace {

template <class T>
bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

WindowGeom poolGeom(const Tensor& x, const Tensor& y, const PoolKernelParams& p) {
  return makeWindowGeom(x.shape(), y.shape(), p.kernel, p.strides, p.pads, p.dilations);
}

int64_t planeGrain(int64_t planeWork) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(planeWork, 1)); }

bool isPlain2x2(const WindowGeom& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.k[1] == 2 && g.k[2] == 2 && g.stride[1] == 2 && g.stride[2] == 2 &&
         g.pad[1] == 0 && g.pad[2] == 0 && g.dil[1] == 1 && g.dil[2] == 1 && 2 * g.out[1] <= g.in[1] &&
         2 * g.out[2] <= g.in[2];
}

// Vectorised row of 2x2 stride-2 windows for float (four windows per step): returns how many
// windows it did; the caller finishes the row. Same tie and NaN rules as the scalar loop.
template <class T>
int64_t maxPool2x2RowVec(const T*, const T*, int64_t, int32_t, int32_t, T*, int32_t*) {
  return 0;
}

template <class T>
int64_t maxPool2x2GradRowVec(const T*, const int32_t*, int64_t, int32_t, int32_t, T*, T*) {
  return 0;
}

#if defined(__SSE2__)
// The lanes where v replaces best: v > best, or v is NaN (the scalar loops' rule).
inline __m128 takesOver(__m128 v, __m128 best) { return _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v)); }

inline void takeIfGreater(__m128 v, __m128i vi, __m128& best, __m128i& bi) {
  const __m128 m = takesOver(v, best);
  const __m128i mi = _mm_castps_si128(m);
  best = _mm_or_ps(_mm_and_ps(m, v), _mm_andnot_ps(m, best));
  bi = _mm_or_si128(_mm_and_si128(mi, vi), _mm_andnot_si128(mi, bi));
}

template <>
int64_t maxPool2x2RowVec<float>(const float* r0, const float* r1, int64_t OW, int32_t base, int32_t W, float* y,
                                int32_t* idx) {
  const __m128i one = _mm_set1_epi32(1), below = _mm_set1_epi32(W), step = _mm_set1_epi32(8);
  __m128i col = _mm_add_epi32(_mm_setr_epi32(0, 2, 4, 6), _mm_set1_epi32(base));
  int64_t ow = 0;
  for (; ow + 4 <= OW; ow += 4, col = _mm_add_epi32(col, step)) {
    const __m128 a0 = _mm_loadu_ps(r0 + 2 * ow), a1 = _mm_loadu_ps(r0 + 2 * ow + 4);
    const __m128 b0 = _mm_loadu_ps(r1 + 2 * ow), b1 = _mm_loadu_ps(r1 + 2 * ow + 4);
    __m128 best = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));  // top-left of 4 windows
    __m128i bi = col;
    takeIfGreater(_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(col, one), best, bi);
    const __m128i lower = _mm_add_epi32(col, below);
    takeIfGreater(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)), lower, best, bi);
    takeIfGreater(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(lower, one), best, bi);
    _mm_storeu_ps(y + ow, best);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(idx + ow), bi);
  }
  return ow;
}

// Writes the four cells of four windows at once: dy where the cell is the argmax, else zero.
template <>
int64_t maxPool2x2GradRowVec<float>(const float* dy, const int32_t* idx, int64_t OW, int32_t base, int32_t W, float* r0,
                                    float* r1) {
  const __m128i one = _mm_set1_epi32(1), below = _mm_set1_epi32(W), step = _mm_set1_epi32(8);
  __m128i col = _mm_add_epi32(_mm_setr_epi32(0, 2, 4, 6), _mm_set1_epi32(base));
  int64_t ow = 0;
  for (; ow + 4 <= OW; ow += 4, col = _mm_add_epi32(col, step)) {
    const __m128 v = _mm_loadu_ps(dy + ow);
    const __m128i at = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + ow));
    const __m128i lower = _mm_add_epi32(col, below);
    const __m128 tl = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(at, col)), v);
    const __m128 tr = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_add_epi32(col, one))), v);
    const __m128 bl = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(at, lower)), v);
    const __m128 br = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_add_epi32(lower, one))), v);
    _mm_storeu_ps(r0 + 2 * ow, _mm_unpacklo_ps(tl, tr));
    _mm_storeu_ps(r0 + 2 * ow + 4, _mm_unpackhi_ps(tl, tr));
    _mm_storeu_ps(r1 + 2 * ow, _mm_unpacklo_ps(bl, br));
    _mm_storeu_ps(r1 + 2 * ow + 4, _mm_unpackhi_ps(bl, br));
  }
  return ow;
}
#endif

// 2x2 stride-2 windows, all inside the plane.
template <class T>
void maxPool2x2Plane(const T* x, const WindowGeom& g, T* y, int32_t* idx) {
  const int64_t W = g.in[2], OH = g.out[1], OW = g.out[2];
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yr = y + oh * OW;
    int32_t* ir = idx + oh * OW;
    const int32_t base = static_cast<int32_t>(2 * oh * W);
    for (int64_t ow = maxPool2x2RowVec(r0, r1, OW, base, static_cast<int32_t>(W), yr, ir); ow < OW; ++ow) {
      const int64_t c = 2 * ow;
      T best = r0[c];
      int32_t bi = static_cast<int32_t>(c);
      if (r0[c + 1] > best || isNan(r0[c + 1])) best = r0[c + 1], bi = static_cast<int32_t>(c + 1);
      if (r1[c] > best || isNan(r1[c])) best = r1[c], bi = static_cast<int32_t>(W + c);
      if (r1[c + 1] > best || isNan(r1[c + 1])) best = r1[c + 1], bi = static_cast<int32_t>(W + c + 1);
      yr[ow] = best;
      ir[ow] = base + bi;
    }
  }
}

// Its backward: every window writes its four cells (no separate zero fill), then the rows and
// columns no window covers are zeroed.
template <class T>
void maxPool2x2GradPlane(const T* dy, const int32_t* idx, const WindowGeom& g, T* dx) {
  const int64_t W = g.in[2], OH = g.out[1], OW = g.out[2];
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* r0 = dx + 2 * oh * W;
    T* r1 = r0 + W;
    const T* dyr = dy + oh * OW;
    const int32_t* ir = idx + oh * OW;
    const int32_t base = static_cast<int32_t>(2 * oh * W);
    for (int64_t ow = maxPool2x2GradRowVec(dyr, ir, OW, base, static_cast<int32_t>(W), r0, r1); ow < OW; ++ow) {
      const int64_t c = 2 * ow, at = ir[ow] - base;
      r0[c] = at == c ? dyr[ow] : T(0);
      r0[c + 1] = at == c + 1 ? dyr[ow] : T(0);
      r1[c] = at == W + c ? dyr[ow] : T(0);
      r1[c + 1] = at == W + c + 1 ? dyr[ow] : T(0);
    }
    for (int64_t x = 2 * OW; x < W; ++x) r0[x] = r1[x] = T(0);
  }
  std::memset(dx + 2 * OH * W, 0, static_cast<size_t>((g.in[1] - 2 * OH) * W) * sizeof(T));
}

// Calls f(outIndex, windowRanges) for every output position of a plane, where the ranges are
// the valid kernel taps [lo, hi) per dim and the window's base input index per dim.
struct Taps {
  int64_t lo[3], hi[3], base[3];
};

template <class F>
void forEachWindow(const WindowGeom& g, F&& f) {
  Taps t;
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    t.base[0] = od * g.stride[0] - g.pad[0];
    validRange(g.k[0], g.in[0], g.dil[0], t.base[0], t.lo[0], t.hi[0]);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      t.base[1] = oh * g.stride[1] - g.pad[1];
      validRange(g.k[1], g.in[1], g.dil[1], t.base[1], t.lo[1], t.hi[1]);
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        t.base[2] = ow * g.stride[2] - g.pad[2];
        validRange(g.k[2], g.in[2], g.dil[2], t.base[2], t.lo[2], t.hi[2]);
        f(o, t);
      }
    }
  }
}

// Calls f(planeOffset) for every valid tap of a window.
template <class F>
void forEachTap(const WindowGeom& g, const Taps& t, F&& f) {
  for (int64_t kd = t.lo[0]; kd < t.hi[0]; ++kd) {
    const int64_t id = t.base[0] + kd * g.dil[0];
    for (int64_t kh = t.lo[1]; kh < t.hi[1]; ++kh) {
      const int64_t row = (id * g.in[1] + t.base[1] + kh * g.dil[1]) * g.in[2] + t.base[2];
      for (int64_t kw = t.lo[2]; kw < t.hi[2]; ++kw) f(row + kw * g.dil[2]);
    }
  }
}

// 2-D windows without dilation: clamped row/column ranges, no per-tap bounds checks. Same tap
// order (row-major), tie and NaN rules as the generic loop.
// The separable values-only path keeps two padded rows in a buffer; it is taken only while the
// padding is small against the row (a crafted model's pads of 2^32 would size that buffer; the
// per-window path visits only the taps inside the image).
bool isPlain2d(const WindowGeom& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.dil[1] == 1 && g.dil[2] == 1 &&
         g.pad[2] <= g.in[2] + 64 && g.k[2] <= g.in[2] + 128 && g.out[2] <= g.in[2] + 128;
}

template <class T>
void maxPool2dPlane(const T* xs, const WindowGeom& g, T* ys, int32_t* is) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  for (int64_t oy = 0; oy < OH; ++oy) {
    const int64_t y0 = oy * g.stride[1] - g.pad[1];
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + g.k[1], H);
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int64_t x0 = ox * g.stride[2] - g.pad[2];
      const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + g.k[2], W);
      // Branch-free selects (random data mispredicts a compare-and-branch half the time).
      const bool any = ya < yb && xa < xb;
      int64_t bi = any ? ya * W + xa : -1;
      T best = any ? xs[bi] : std::numeric_limits<T>::lowest();
      for (int64_t y = ya; y < yb; ++y) {
        const T* row = xs + y * W;
        for (int64_t x = xa; x < xb; ++x) {
          const T v = row[x];
          const bool take = (v > best) | isNan(v);
          best = take ? v : best;
          bi = take ? y * W + x : bi;
        }
      }
      ys[oy * OW + ox] = best;
      is[oy * OW + ox] = static_cast<int32_t>(bi);
    }
  }
}

// The larger of v and best, NaN winning (as in the index-tracking loops).
template <class T>
inline T maxOrNan(T best, T v) {
  return ((v > best) | isNan(v)) ? v : best;
}

// Length of the padded column-maxima row of maxPool2dPlaneValues: every window start of the
// output row plus its k taps, and the pad plus the image row. Its scratch holds two such rows.
inline int64_t maxPool2dRowLength(const WindowGeom& g) {
  return std::max((g.out[2] - 1) * g.stride[2] + g.k[2], g.pad[2] + g.in[2]);
}

// Values only (inference: no argmax wanted), any 2-D window without dilation, separably: for
// each output row the column-wise max over the window's rows (contiguous, vectorised), then the
// max over each window's columns of that. `buf` holds 2 * maxPool2dRowLength(g) values.
template <class T>
void maxPool2dPlaneValues(const T* xs, const WindowGeom& g, T* ys, T* buf) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  // colMax holds the column maxima in padded coordinates (lowest() outside the image), so the
  // row pass is a plain vectorisable max over k shifted copies followed by a strided pick.
  const int64_t pad = g.pad[2], s = g.stride[2], k = g.k[2], span = (OW - 1) * s + 1;
  const int64_t len = maxPool2dRowLength(g);
  T* colMax = buf;
  T* rowMax = buf + len;  // rowMax[j] = max of colMax[j, j + k)
  // Padding never wins: -infinity for floats (an all -inf window next to the edge stays -inf, as
  // in the argmax path), lowest() for integers.
  const T padValue = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                          : std::numeric_limits<T>::lowest();
  std::fill(colMax, colMax + len, padValue);
  for (int64_t oy = 0; oy < OH; ++oy) {
    const int64_t y0 = oy * g.stride[1] - g.pad[1];
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + g.k[1], H);
    if (ya >= yb) {
      std::fill(ys + oy * OW, ys + (oy + 1) * OW, std::numeric_limits<T>::lowest());
      continue;
    }
    T* cm = colMax + pad;
    std::copy(xs + ya * W, xs + (ya + 1) * W, cm);
    for (int64_t y = ya + 1; y < yb; ++y) {
      const T* row = xs + y * W;
      for (int64_t x = 0; x < W; ++x) cm[x] = maxOrNan(cm[x], row[x]);
    }
    std::copy(colMax, colMax + span, rowMax);
    for (int64_t t = 1; t < k; ++t) {
      const T* shifted = colMax + t;
      for (int64_t j = 0; j < span; ++j) rowMax[j] = maxOrNan(rowMax[j], shifted[j]);
    }
    T* out = ys + oy * OW;
    for (int64_t ox = 0; ox < OW; ++ox) {
      const int64_t x0 = ox * s - pad;  // a window wholly in the padding gives lowest(), as before
      out[ox] = x0 + k <= 0 || x0 >= W ? std::numeric_limits<T>::lowest() : rowMax[ox * s];
    }
  }
}

// best[c] = maxOrNan(best[c], v[c]) for n lanes (B when B > 0: the count known when compiling).
template <int64_t B>
inline void maxLanes(const float* v, float* best, int64_t n) {
  if constexpr (B > 0) n = B;
  int64_t c = 0;
#if defined(__SSE2__)
  for (; c + 4 <= n; c += 4) {
    const __m128 a = _mm_loadu_ps(v + c), b = _mm_loadu_ps(best + c);
    const __m128 take = takesOver(a, b);
    _mm_storeu_ps(best + c, _mm_or_ps(_mm_and_ps(take, a), _mm_andnot_ps(take, b)));
  }
#endif
  for (; c < n; ++c) best[c] = maxOrNan(best[c], v[c]);
}

// The valid taps [lo, hi) and first input index (base) of each output position along one
// spatial dim (validRange, as forEachWindow computes them per window), once per call: the
// blocked MaxPool below does little work per window, and forEachWindow's divisions per window
// showed in its profile.
struct TapRanges {
  std::vector<int64_t> lo, hi, base;
};
TapRanges tapRanges(const WindowGeom& g, int d) {
  TapRanges r;
  for (int64_t o = 0; o < g.out[d]; ++o) {
    int64_t lo = 0, hi = 0;
    const int64_t base = o * g.stride[d] - g.pad[d];
    validRange(g.k[d], g.in[d], g.dil[d], base, lo, hi);
    r.lo.push_back(lo);
    r.hi.push_back(hi);
    r.base.push_back(base);
  }
  return r;
}

// Output rows [ohBegin, ohEnd) of one plane (image and channel block) of maxPoolChannelBlocked,
// `block` channels per pixel (B when B > 0), the first `real` of them channels, with the tie and
// NaN rules of the plain kernel that the same geometry runs on (so the bits match, signed zeros
// and NaN payloads included): columnFirst, as its separable 2-D path, folds each window column
// over its rows and then the columns; else the taps in row-major order, as its other paths.
// lowest() where a window has no tap in the image. `scratch` holds `block` floats.
template <int64_t B>
void maxRowsBlocked(const float* xs, const WindowGeom& g, const TapRanges& rows, const TapRanges& cols, float* ys,
                    int64_t block, int64_t real, int64_t ohBegin, int64_t ohEnd, bool columnFirst, float* scratch) {
  if constexpr (B > 0) block = B;
  const int64_t W = g.in[2];
  auto at = [&](int64_t iy, int64_t ix) { return xs + (iy * W + ix) * block; };  // a valid tap
  for (int64_t oh = ohBegin; oh < ohEnd; ++oh) {
    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
      float* out = ys + (oh * g.out[2] + ow) * block;
      if (rows.lo[oh] >= rows.hi[oh] || cols.lo[ow] >= cols.hi[ow]) {
        std::fill(out, out + block, std::numeric_limits<float>::lowest());
      } else if (columnFirst) {
        for (int64_t kw = cols.lo[ow]; kw < cols.hi[ow]; ++kw) {
          const int64_t ix = cols.base[ow] + kw * g.dil[2];
          float* colMax = kw == cols.lo[ow] ? out : scratch;
          for (int64_t kh = rows.lo[oh]; kh < rows.hi[oh]; ++kh) {
            const float* v = at(rows.base[oh] + kh * g.dil[1], ix);
            if (kh == rows.lo[oh]) {
              std::copy(v, v + block, colMax);
            } else {
              maxLanes<B>(v, colMax, block);
            }
          }
          if (colMax != out) maxLanes<B>(colMax, out, block);
        }
      } else {
        for (int64_t kh = rows.lo[oh]; kh < rows.hi[oh]; ++kh) {
          const int64_t iy = rows.base[oh] + kh * g.dil[1];
          for (int64_t kw = cols.lo[ow]; kw < cols.hi[ow]; ++kw) {
            const float* v = at(iy, cols.base[ow] + kw * g.dil[2]);
            if (kh == rows.lo[oh] && kw == cols.lo[ow]) {
              std::copy(v, v + block, out);
            } else {
              maxLanes<B>(v, out, block);
            }
          }
        }
      }
      std::fill(out + real, out + block, 0.0f);  // padding channels stay zero
    }
  }
}

// Values-only MaxPool of a 2-D image held channel-blocked (a convolution's output in inference,
// conv_dnnl.h): a block of channels per pixel at once, the output left in the same layout for the
// next convolution. False (nothing done) when x is not held so or y cannot take it.
bool maxPoolChannelBlocked(const Tensor& x, Tensor& y, const WindowGeom& g) {
  const ChannelBlocked xb = channelBlockedOf(x);
  if (xb.data == nullptr || y.ndim() != 4 || y.dim(1) != x.dim(1) || !isWhole(y) || !y.impl().storage->version()) {
    return false;
  }
  const int64_t block = xb.block, C = x.dim(1), blocks = (C + block - 1) / block;
  const int64_t inPlane = g.inSize() * block, outPlane = g.outSize() * block;
  const int64_t lanes = C - (blocks - 1) * block;  // real channels in the last block
  const TapRanges rows = tapRanges(g, 1), cols = tapRanges(g, 2);
  const bool columnFirst = !isPlain2x2(g) && isPlain2d(g);  // maxPoolForward's choice of loop
  auto buffer = std::make_shared<Storage>(channelBlockedBytes(y.shape(), xb), Device::cpu());
  float* yp = static_cast<float*>(buffer->data());
  // Parallel over output rows of every plane (channels-last at batch 1 is a single plane).
  const int64_t OH = g.out[1];
  const double rowWork = static_cast<double>(g.out[2]) * static_cast<double>(g.kSize()) * static_cast<double>(block);
  const int64_t grain = planeGrain(static_cast<int64_t>(std::min(rowWork, 1e15)));
  parallelFor(x.dim(0) * blocks * OH, grain, [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(block));
    for (int64_t r = b; r < e;) {
      const int64_t pl = r / OH, oh0 = r % OH, oh1 = std::min(OH, oh0 + (e - r));
      const int64_t real = pl % blocks == blocks - 1 ? lanes : block;
      const float* xs = xb.data + pl * inPlane;
      float* ys = yp + pl * outPlane;
      if (block == 16) {
        maxRowsBlocked<16>(xs, g, rows, cols, ys, block, real, oh0, oh1, columnFirst, scratch.data());
      } else if (block == 8) {
        maxRowsBlocked<8>(xs, g, rows, cols, ys, block, real, oh0, oh1, columnFirst, scratch.data());
      } else {
        maxRowsBlocked<0>(xs, g, rows, cols, ys, block, real, oh0, oh1, columnFirst, scratch.data());
      }
      r += oh1 - oh0;
    }
  });
  setChannelBlocked(y, std::move(buffer), xb);
  return true;
}

// MaxPool (x) -> (y[, argmax]): without the second output (inference) only the values.
template <class T>
void maxPoolForward(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const bool withIndex = ctx.outputs.size() > 1;
  const WindowGeom g = poolGeom(x, y, ctx.paramsAs<PoolKernelParams>("MaxPool"));
  if constexpr (std::is_same_v<T, float>) {
    if (!withIndex && maxPoolChannelBlocked(x, y, g)) return;
  }
  const int64_t planes = x.dim(0) * x.dim(1), inSize = g.inSize(), outSize = g.outSize();
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  int32_t* ip = withIndex ? ctx.out(1).data<int32_t>() : nullptr;
  const bool plain = isPlain2x2(g), plain2d = isPlain2d(g);
  parallelFor(planes, planeGrain(outSize * g.kSize()), [&](int64_t b, int64_t e) {
    std::vector<T> colMax;
    std::vector<int32_t> unusedIndex;
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xs = xp + pl * inSize;
      T* ys = yp + pl * outSize;
      if (!withIndex && plain) {  // the SSE 2x2 kernel is faster than the separable one
        unusedIndex.resize(static_cast<size_t>(outSize));
        maxPool2x2Plane(xs, g, ys, unusedIndex.data());
        continue;
      }
      if (!withIndex && plain2d) {
        colMax.resize(static_cast<size_t>(2 * maxPool2dRowLength(g)));
        maxPool2dPlaneValues(xs, g, ys, colMax.data());
        continue;
      }
      int32_t* is = withIndex ? ip + pl * outSize : nullptr;
      if (plain) {
        maxPool2x2Plane(xs, g, ys, is);
        continue;
      }
      if (plain2d) {
        maxPool2dPlane(xs, g, ys, is);
        continue;
      }
      forEachWindow(g, [&](int64_t o, const Taps& t) {
        T best = std::numeric_limits<T>::lowest();
        int64_t bi = -1;
        forEachTap(g, t, [&](int64_t i) {
          const T v = xs[i];
          if (bi < 0 || v > best || isNan(v)) best = v, bi = i;
        });
        ys[o] = best;
        if (is != nullptr) is[o] = static_cast<int32_t>(bi);
      });
    }
  });
}

template <class T>
void maxPoolBackward(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& argmax = ctx.in(1);
  Tensor& dx = ctx.out(0);
  const WindowGeom g = poolGeom(dx, dy, ctx.paramsAs<PoolKernelParams>("MaxPoolGrad"));
  const int64_t planes = dx.dim(0) * dx.dim(1), inSize = g.inSize(), outSize = g.outSize();
  const T* dyp = dy.data<T>();
  const int32_t* ip = argmax.data<int32_t>();
  T* dxp = dx.data<T>();
  const bool plain = isPlain2x2(g);
  parallelFor(planes, planeGrain(inSize + outSize), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* dxs = dxp + pl * inSize;
      const T* dys = dyp + pl * outSize;
      const int32_t* is = ip + pl * outSize;
      if (plain) {
        maxPool2x2GradPlane(dys, is, g, dxs);
        continue;
      }
      std::memset(dxs, 0, static_cast<size_t>(inSize) * sizeof(T));
      for (int64_t o = 0; o < outSize; ++o) {
        if (is[o] >= 0) dxs[is[o]] += dys[o];
      }
    }
  });
}

// The divisor of each window: its valid taps, or (count_include_pad) its taps inside the padded
// input [-pad, in + padEnd).
int64_t windowCount(const WindowGeom& g, const Taps& t, bool includePad) {
  int64_t n = 1;
  for (int i = 0; i < 3; ++i) {
    if (includePad) {
      int64_t lo, hi;
      validRange(g.k[i], g.in[i] + g.pad[i] + g.padEnd[i], g.dil[i], t.base[i] + g.pad[i], lo, hi);
      n *= hi - lo;
    } else {
      n *= t.hi[i] - t.lo[i];
    }
  }
  return n;
}

template <class T>
void avgPoolForward(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const PoolKernelParams& p = ctx.paramsAs<PoolKernelParams>("AveragePool");
  const WindowGeom g = poolGeom(x, y, p);
  const bool includePad = p.countIncludePad;
  const int64_t planes = x.dim(0) * x.dim(1), inSize = g.inSize(), outSize = g.outSize();
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallelFor(planes, planeGrain(outSize * g.kSize()), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xs = xp + pl * inSize;
      T* ys = yp + pl * outSize;
      forEachWindow(g, [&](int64_t o, const Taps& t) {
        double sum = 0;
        forEachTap(g, t, [&](int64_t i) { sum += static_cast<double>(xs[i]); });
        const int64_t n = windowCount(g, t, includePad);
        ys[o] = n > 0 ? static_cast<T>(sum / static_cast<double>(n)) : T(0);
      });
    }
  });
}

template <class T>
void avgPoolBackward(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const PoolKernelParams& p = ctx.paramsAs<PoolKernelParams>("AveragePoolGrad");
  const WindowGeom g = poolGeom(dx, dy, p);
  const bool includePad = p.countIncludePad;
  const int64_t planes = dx.dim(0) * dx.dim(1), inSize = g.inSize(), outSize = g.outSize();
  const T* dyp = dy.data<T>();
  T* dxp = dx.data<T>();
  parallelFor(planes, planeGrain(outSize * g.kSize()), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* dxs = dxp + pl * inSize;
      const T* dys = dyp + pl * outSize;
      std::memset(dxs, 0, static_cast<size_t>(inSize) * sizeof(T));
      forEachWindow(g, [&](int64_t o, const Taps& t) {
        const int64_t n = windowCount(g, t, includePad);
        if (n == 0) return;
        const T v = dys[o] / static_cast<T>(n);
        forEachTap(g, t, [&](int64_t i) { dxs[i] += v; });
      });
    }
  });
}

}  // namespace

void registerPoolKernels(KernelRegistry& r) {
  r.add(OpId::kMaxPool, DeviceType::kCpu, {DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kUInt8},
        [](KernelContext& ctx) {
          switch (ctx.in(0).dtype()) {
            case DType::kInt8:
              maxPoolForward<int8_t>(ctx);
              break;
            case DType::kUInt8:
              maxPoolForward<uint8_t>(ctx);
              break;
            default:
              SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, maxPoolForward<T>(ctx));
          }
        });
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kMaxPoolGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, maxPoolBackward<T>(ctx)); });
  r.add(OpId::kAveragePool, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, avgPoolForward<T>(ctx)); });
  r.add(OpId::kAveragePoolGrad, DeviceType::kCpu, floats,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, avgPoolBackward<T>(ctx)); });
}

}  // namespace singa::cpu
