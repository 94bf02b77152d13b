// Pillow-compatible antialiased bilinear resizing (see resample.h). The taps follow Pillow's
// precompute_coeffs: output i is centred at (i + 0.5) * scale in input coordinates, the filter
// support is 1 input pixel widened by the scale when shrinking, and the first and last inputs are
// rounded from centre -/+ support. Sums start at half a unit so that the final shift rounds.
#include "singa/data/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "singa/core/error.h"

namespace singa {
namespace {

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline uint8_t clip8(int32_t sum) {
  const int32_t v = sum >> kResampleFractionBits;
  return static_cast<uint8_t>(std::min(std::max(v, 0), 255));
}

// One row: out[x, c] = sum_k in[start[x] + k, c] * w[x, k], for the window's columns. The
// channels of a pixel are summed together so that each tap's weight is loaded once.
template <int kChannels>
void horizontalRow(const uint8_t* in, const ResampleTaps& t, int64_t winW, uint8_t* out) {
  constexpr int32_t kHalf = 1 << (kResampleFractionBits - 1);
  for (int64_t x = 0; x < winW; ++x) {
    const uint8_t* px = in + t.start[x] * kChannels;
    const int32_t* w = t.weights.data() + x * t.maxTaps;
    const int64_t taps = t.taps[x];
    int32_t sum[kChannels];
    for (int c = 0; c < kChannels; ++c) sum[c] = kHalf;
    for (int64_t k = 0; k < taps; ++k) {
      for (int c = 0; c < kChannels; ++c) sum[c] += static_cast<int32_t>(px[k * kChannels + c]) * w[k];
    }
    for (int c = 0; c < kChannels; ++c) out[x * kChannels + c] = clip8(sum[c]);
  }
}

}  // namespace

ResampleTaps bilinearTaps(int64_t inSize, int64_t outSize, int64_t first, int64_t count) {
  SINGA_ASSERT(inSize > 0 && outSize > 0 && first >= 0 && count >= 0 && first + count <= outSize);
  const double scale = static_cast<double>(inSize) / static_cast<double>(outSize);
  const double filterScale = std::max(scale, 1.0);
  const double support = filterScale;  // the triangle's support is 1
  const double invScale = 1.0 / filterScale;
  ResampleTaps t;
  t.maxTaps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.start.resize(static_cast<size_t>(count));
  t.taps.resize(static_cast<size_t>(count));
  t.weights.assign(static_cast<size_t>(count * t.maxTaps), 0);
  std::vector<double> w(static_cast<size_t>(t.maxTaps));
  for (int64_t i = 0; i < count; ++i) {
    const double center = (static_cast<double>(first + i) + 0.5) * scale;
    // Truncation toward zero, then clamping: Pillow's "(int)(x + 0.5)" rounding.
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), inSize);
    const int64_t taps = std::min(hi - lo, t.maxTaps);
    double total = 0.0;
    for (int64_t k = 0; k < taps; ++k) {
      w[k] = triangle((static_cast<double>(k + lo) - center + 0.5) * invScale);
      total += w[k];
    }
    int32_t* fixed = t.weights.data() + i * t.maxTaps;
    for (int64_t k = 0; k < taps; ++k) {
      const double v = total != 0.0 ? w[k] / total : w[k];
      fixed[k] = static_cast<int32_t>(v * (1 << kResampleFractionBits) + (v < 0 ? -0.5 : 0.5));
    }
    t.start[i] = lo;
    t.taps[i] = std::max<int64_t>(taps, 0);
  }
  return t;
}

void resizeBilinearWindow(const uint8_t* src, int64_t srcH, int64_t srcW, int64_t channels, int64_t dstH,
                          int64_t dstW, int64_t top, int64_t left, int64_t winH, int64_t winW, uint8_t* out) {
  SINGA_ASSERT(srcH > 0 && srcW > 0 && (channels == 1 || channels == 3) && winH > 0 && winW > 0 && top >= 0 && left >= 0 &&
               top + winH <= dstH && left + winW <= dstW);
  const int64_t rowBytes = winW * channels;
  // Vertical taps first: they say which input rows the horizontal pass must produce.
  const bool resizeRows = srcH != dstH;
  ResampleTaps vt;
  int64_t rowFirst = top, rowEnd = top + winH;
  if (resizeRows) {
    vt = bilinearTaps(srcH, dstH, top, winH);
    rowFirst = vt.start[0];
    rowEnd = rowFirst;
    for (int64_t y = 0; y < winH; ++y) rowEnd = std::max(rowEnd, vt.start[y] + vt.taps[y]);
  }
  // Horizontal pass over input rows [rowFirst, rowEnd) into `mid` (or straight into `out` when
  // the rows keep their size).
  std::vector<uint8_t> mid;
  uint8_t* horiz = out;
  if (resizeRows) {
    mid.resize(static_cast<size_t>((rowEnd - rowFirst) * rowBytes));
    horiz = mid.data();
  }
  if (srcW != dstW) {
    const ResampleTaps ht = bilinearTaps(srcW, dstW, left, winW);
    for (int64_t r = rowFirst; r < rowEnd; ++r) {
      const uint8_t* in = src + r * srcW * channels;
      uint8_t* o = horiz + (r - rowFirst) * rowBytes;
      if (channels == 3) {
        horizontalRow<3>(in, ht, winW, o);
      } else {
        horizontalRow<1>(in, ht, winW, o);
      }
    }
  } else {
    for (int64_t r = rowFirst; r < rowEnd; ++r) {
      std::memcpy(horiz + (r - rowFirst) * rowBytes, src + (r * srcW + left) * channels, static_cast<size_t>(rowBytes));
    }
  }
  if (!resizeRows) return;
  // Vertical pass: each output row is a weighted sum of whole rows of `mid`.
  std::vector<int32_t> sum(static_cast<size_t>(rowBytes));
  for (int64_t y = 0; y < winH; ++y) {
    std::fill(sum.begin(), sum.end(), 1 << (kResampleFractionBits - 1));
    const int32_t* w = vt.weights.data() + y * vt.maxTaps;
    for (int64_t k = 0; k < vt.taps[y]; ++k) {
      const uint8_t* row = mid.data() + (vt.start[y] + k - rowFirst) * rowBytes;
      const int32_t wk = w[k];
      for (int64_t i = 0; i < rowBytes; ++i) sum[i] += static_cast<int32_t>(row[i]) * wk;
    }
    uint8_t* o = out + y * rowBytes;
    for (int64_t i = 0; i < rowBytes; ++i) o[i] = clip8(sum[i]);
  }
}

}  // namespace singa
