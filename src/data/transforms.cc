// The per-sample transforms (see transforms.h). The crop window is known before resizing (its
// offset depends only on the resized size), so only the window is resized: the same pixels as
// resizing the whole image and cropping it, for a fraction of the work. Pixels stay 8-bit until a
// 256-entry table per channel turns them into normalised floats with the same float32 operations
// as torchvision's ToTensor and Normalize.
#include "singa/data/transforms.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "singa/core/error.h"
#include "singa/core/shape.h"
#include "singa/data/resample.h"

namespace singa {
namespace {

struct Plan {
  int64_t outChannels = 0;
  int64_t resizedH = 0, resizedW = 0;  // after step 1
  int64_t outH = 0, outW = 0;          // after step 2
};

Plan makePlan(const TransformOptions& o, int64_t inH, int64_t inW, int64_t inC) {
  SINGA_CHECK(inH > 0 && inW > 0 && (inC == 1 || inC == 3), ValueError,
              "transforms: an image must be non-empty with 1 or 3 channels, got " << inH << "x" << inW << "x" << inC);
  SINGA_CHECK(o.resize >= 0 && o.crop >= 0 && o.height >= 0 && o.width >= 0, ValueError,
              "transforms: resize (" << o.resize << "), crop (" << o.crop << "), height (" << o.height << ") and width ("
                                     << o.width << ") must not be negative");
  SINGA_CHECK((o.height > 0) == (o.width > 0), ValueError,
              "transforms: height and width go together (got height " << o.height << ", width " << o.width << ")");
  SINGA_CHECK(o.channels == 0 || o.channels == 1 || o.channels == 3, ValueError,
              "transforms: channels must be 1 or 3 (or 0 to keep the image's), got " << o.channels);
  Plan p;
  p.outChannels = o.channels ? o.channels : inC;
  SINGA_CHECK(o.mean.size() == o.std.size() && (o.mean.empty() || o.mean.size() == static_cast<size_t>(p.outChannels)),
              ValueError,
              "transforms: normalization needs one mean and one std per output channel (" << p.outChannels << "), got "
                                                                                        << o.mean.size() << " and "
                                                                                        << o.std.size());
  for (size_t c = 0; c < o.mean.size(); ++c) {
    SINGA_CHECK(std::isfinite(o.mean[c]) && std::isfinite(o.std[c]) && o.std[c] > 0, ValueError,
                "transforms: normalization of channel " << c << " has mean " << o.mean[c] << " and std " << o.std[c]
                                                        << "; both must be finite and std > 0");
  }
  if (o.resize > 0) {
    // torchvision: the longer side is int(size * long / short).
    const int64_t shortSide = std::min(inH, inW), longSide = std::max(inH, inW);
    const int64_t newLong = checkedMul(o.resize, longSide, "transforms: resized image side") / shortSide;
    p.resizedH = inH <= inW ? o.resize : newLong;
    p.resizedW = inH <= inW ? newLong : o.resize;
  } else if (o.height > 0 && o.crop == 0) {
    p.resizedH = o.height;
    p.resizedW = o.width;
  } else {
    p.resizedH = inH;
    p.resizedW = inW;
  }
  p.outH = o.crop > 0 ? o.crop : p.resizedH;
  p.outW = o.crop > 0 ? o.crop : p.resizedW;
  checkedMul(p.outChannels, checkedMul(p.outH, p.outW, "transforms: output size"), "transforms: output size");
  return p;
}

// torchvision's CenterCrop: pad (crop - size) // 2 before when the image is smaller, else
// int(round((size - crop) / 2)), where Python rounds halves to even.
int64_t centerOffset(int64_t size, int64_t crop) {
  if (crop > size) return -((crop - size) / 2);
  const int64_t d = size - crop, half = d / 2;
  if (d % 2 == 0 || half % 2 == 0) return half;
  return half + 1;
}

int64_t cropOffset(int64_t size, int64_t crop, bool random, Generator& rng) {
  if (!random) return centerOffset(size, crop);
  const uint64_t choice = rng.nextBelow(size >= crop ? static_cast<uint64_t>(size - crop + 1) : 1);
  return size >= crop ? static_cast<int64_t>(choice) : centerOffset(size, crop);
}

// PIL's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, the 299/587/114 weights in 16 bits.
inline uint8_t luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

float parseFloat(const std::string& s, const std::string& text) {
  float v = 0;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, v);
  SINGA_CHECK(!s.empty() && r.ec == std::errc() && r.ptr == end && std::isfinite(v), ValueError,
              "--normalize '" << text << "': '" << s << "' is not a number; expected 'imagenet' or 'M1,M2,M3:S1,S2,S3'");
  return v;
}

std::vector<float> parseList(const std::string& list, const std::string& text) {
  std::vector<float> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = list.find(',', begin);
    out.push_back(parseFloat(list.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin), text));
    if (comma == std::string::npos) return out;
    begin = comma + 1;
  }
}

}  // namespace

std::vector<int64_t> transformedShape(const TransformOptions& o, int64_t inHeight, int64_t inWidth, int64_t inChannels) {
  const Plan p = makePlan(o, inHeight, inWidth, inChannels);
  return {p.outChannels, p.outH, p.outW};
}

void applyTransforms(const Image& img, const TransformOptions& o, bool train, Generator& rng, float* out) {
  const Plan p = makePlan(o, img.height, img.width, img.channels);
  const int64_t inC = img.channels;
  SINGA_CHECK(img.pixels.size() == static_cast<size_t>(img.height * img.width * inC), ValueError,
              "transforms: the image holds " << img.pixels.size() << " bytes, not " << img.height << "x" << img.width
                                             << "x" << inC);
  int64_t top = 0, left = 0;
  if (o.crop > 0) {
    const bool random = o.randomCrop && train;
    top = cropOffset(p.resizedH, o.crop, random, rng);
    left = cropOffset(p.resizedW, o.crop, random, rng);
  }
  const bool flip = o.hflip && train && rng.nextFloat() < 0.5f;

  // The part of the output window that lies inside the resized image: [y0, y1) x [x0, x1).
  const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min(top + p.outH, p.resizedH);
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + p.outW, p.resizedW);
  const uint8_t* base = nullptr;
  int64_t stride = 0;
  std::vector<uint8_t> window;
  if (y1 > y0 && x1 > x0) {
    if (p.resizedH != img.height || p.resizedW != img.width) {
      window.resize(static_cast<size_t>((y1 - y0) * (x1 - x0) * inC));
      resizeBilinearWindow(img.pixels.data(), img.height, img.width, inC, p.resizedH, p.resizedW, y0, x0, y1 - y0,
                           x1 - x0, window.data());
      base = window.data();
      stride = (x1 - x0) * inC;
    } else {
      base = img.pixels.data() + (y0 * img.width + x0) * inC;
      stride = img.width * inC;
    }
  }

  // value[c][v]: the float an 8-bit value v of output channel c becomes (ToTensor, Normalize).
  const int64_t outC = p.outChannels;
  std::vector<float> value(static_cast<size_t>(outC * 256));
  for (int64_t c = 0; c < outC; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = static_cast<float>(v) / 255.0f;
      if (!o.mean.empty()) x = (x - o.mean[c]) / o.std[c];
      value[c * 256 + v] = x;
    }
  }
  // Output columns [ox0, ox1) read the image; the rest is padding. Column ox reads resized
  // column left + ox, or left + outW - 1 - ox when flipped.
  const int64_t outW = p.outW;
  int64_t ox0 = std::clamp<int64_t>(x0 - left, 0, outW), ox1 = std::clamp<int64_t>(x1 - left, 0, outW);
  if (flip) {
    const int64_t a = outW - ox1, b = outW - ox0;
    ox0 = a;
    ox1 = b;
  }
  if (x1 <= x0) ox0 = ox1 = 0;
  const int64_t plane = p.outH * outW;
  std::vector<uint8_t> gray;  // one row of converted pixels when 3 channels become 1
  for (int64_t oy = 0; oy < p.outH; ++oy) {
    const int64_t ry = top + oy;
    const bool inside = ry >= y0 && ry < y1 && ox1 > ox0;
    const uint8_t* row = inside ? base + (ry - y0) * stride : nullptr;
    int64_t srcChannels = inC;
    if (row && inC == 3 && outC == 1) {
      gray.resize(static_cast<size_t>(x1 - x0));
      for (int64_t i = 0; i < x1 - x0; ++i) gray[i] = luma(row + 3 * i);
      row = gray.data();
      srcChannels = 1;
    }
    for (int64_t c = 0; c < outC; ++c) {
      const float* lut = value.data() + c * 256;
      float* o = out + c * plane + oy * outW;
      if (!row) {
        std::fill(o, o + outW, lut[0]);
        continue;
      }
      std::fill(o, o + ox0, lut[0]);
      std::fill(o + ox1, o + outW, lut[0]);
      const int64_t sc = srcChannels == 1 ? 0 : c;
      // Image column of output column ox, relative to x0: left + ox - x0, mirrored when flipped.
      if (flip) {
        const uint8_t* px = row + (left + outW - 1 - ox0 - x0) * srcChannels + sc;
        for (int64_t ox = ox0; ox < ox1; ++ox, px -= srcChannels) o[ox] = lut[*px];
      } else {
        const uint8_t* px = row + (left + ox0 - x0) * srcChannels + sc;
        for (int64_t ox = ox0; ox < ox1; ++ox, px += srcChannels) o[ox] = lut[*px];
      }
    }
  }
}

void parseNormalize(const std::string& text, std::vector<float>& mean, std::vector<float>& std) {
  std::string lower = text;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "imagenet") {
    mean = {0.485f, 0.456f, 0.406f};
    std = {0.229f, 0.224f, 0.225f};
    return;
  }
  const size_t colon = text.find(':');
  SINGA_CHECK(colon != std::string::npos && text.find(':', colon + 1) == std::string::npos, ValueError,
              "--normalize '" << text << "': expected 'imagenet' or 'M1,M2,M3:S1,S2,S3' (means, a colon, stds)");
  std::vector<float> m = parseList(text.substr(0, colon), text);
  std::vector<float> s = parseList(text.substr(colon + 1), text);
  SINGA_CHECK(m.size() == s.size(), ValueError,
              "--normalize '" << text << "': " << m.size() << " means but " << s.size() << " stds; give one of each per channel");
  for (float v : s) {
    SINGA_CHECK(v > 0, ValueError, "--normalize '" << text << "': std " << v << " must be > 0");
  }
  mean = std::move(m);
  std = std::move(s);
}

}  // namespace singa
