// Antialiased bilinear resizing of 8-bit images, computed as Pillow's Image.resize(size,
// Image.BILINEAR) computes it (the resize torchvision's Resize applies to PIL images), so that a
// pipeline built on it feeds a model the same pixels as torchvision + PIL:
//   - a triangle filter whose support widens with the downscale factor (antialiasing), its weights
//     for each output column (row) normalised to sum 1 and then rounded to fixed point with 22
//     fraction bits;
//   - a horizontal pass, rounded to 8 bits, then a vertical pass over its result.
// Only a window of the full-size result is computed (the crop that follows a resize), which gives
// exactly the pixels of resizing everything and cropping afterwards.
#pragma once

#include <cstdint>
#include <vector>

namespace singa {

/// The fixed-point filter taps of one axis, for output positions [first, first + count) of a
/// resize from inSize to outSize: output i reads input [start[i], start[i] + taps[i]) with weights
/// weights[i * maxTaps ...].
struct ResampleTaps {
  int64_t maxTaps = 0;
  std::vector<int64_t> start, taps;
  std::vector<int32_t> weights;
};

/// Fraction bits of the fixed-point weights (Pillow's PRECISION_BITS for 8-bit images).
constexpr int kResampleFractionBits = 22;

ResampleTaps bilinearTaps(int64_t inSize, int64_t outSize, int64_t first, int64_t count);

/// Writes the window [top, top + winH) x [left, left + winW) of `src` (srcH x srcW x channels,
/// interleaved, 1 or 3 channels) resized to dstH x dstW into `out` (winH x winW x channels,
/// interleaved). The window must lie inside the resized image; sizes are positive.
void resizeBilinearWindow(const uint8_t* src, int64_t srcH, int64_t srcW, int64_t channels, int64_t dstH,
                          int64_t dstW, int64_t top, int64_t left, int64_t winH, int64_t winW, uint8_t* out);

}  // namespace singa
