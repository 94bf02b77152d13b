// Per-sample image transforms of the data pipeline, equal to the torchvision ones on PIL images:
// Resize(n) (or Resize((h, w))), CenterCrop / RandomCrop, RandomHorizontalFlip, Grayscale or
// replication to 3 channels, ToTensor and Normalize. Pixels stay 8-bit up to the channel
// conversion, as they do in PIL, so the float output matches torchvision's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "singa/core/rng.h"
#include "singa/image/image.h"

namespace singa {

/// Per-sample transforms, applied in this order:
///  1. resize: the shorter side to `resize` (the longer one to floor(resize * long / short)), as
///     PIL's Image.resize(BILINEAR) (antialiased) that torchvision's Resize uses; else, when
///     height and width are set and crop is not, exactly to height x width;
///  2. crop to crop x crop: centred (torchvision's CenterCrop, offsets round half to even), or at a
///     uniformly random position when randomCrop && train; an image smaller than the crop is
///     zero-padded around it, centred, as CenterCrop does;
///  3. horizontal flip with probability 0.5 when hflip && train;
///  4. channel conversion to `channels`: 1 -> 3 replicates, 3 -> 1 uses PIL's "L" weights
///     (299/587/114 per 1000, rounded to 8 bits as PIL does);
///  5. scaling to [0, 1] (x / 255) and, when mean/std are given, (x - mean[c]) / std[c].
struct TransformOptions {
  int64_t resize = 0;
  int64_t crop = 0;
  bool randomCrop = false;
  bool hflip = false;
  int64_t channels = 0;  ///< 0 = keep the image's
  int64_t height = 0, width = 0;
  std::vector<float> mean, std;  ///< empty, or one value per output channel
};

/// Output shape {C, H, W} for an input image of the given size and channels. Checks the options:
/// ValueError for negative sizes, only one of height/width, channels other than 0, 1 or 3, mean
/// and std not both empty or both one per output channel, std entries <= 0, non-finite values;
/// ShapeError when C*H*W overflows.
std::vector<int64_t> transformedShape(const TransformOptions& o, int64_t inHeight, int64_t inWidth, int64_t inChannels);

/// Applies the transforms, writing float32 CHW into `out` (C*H*W floats, the shape
/// transformedShape gives). Random choices (crop offset: top then left, then the flip) are drawn
/// only from `rng`, so the result depends only on the image, the options, `train` and the rng
/// state; a random crop always draws two numbers, a random flip one.
void applyTransforms(const Image& img, const TransformOptions& o, bool train, Generator& rng, float* out);

/// Parses --normalize: "imagenet" (mean 0.485,0.456,0.406, std 0.229,0.224,0.225) or
/// "M1,M2,...:S1,S2,..." (equal counts, std > 0); ValueError naming the text otherwise.
void parseNormalize(const std::string& text, std::vector<float>& mean, std::vector<float>& std);

}  // namespace singa
