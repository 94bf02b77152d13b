// Per-sample transforms: resizing (and resize + centre crop + grayscale) against Pillow's results
// for the same files; crop, padding, flip, channel conversion and normalisation against a plain
// per-pixel reference written here; random crops and flips in range and reproducible from the seed.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/image_samples.h"
#include "singa/core/durable_io.h"
#include "singa/core/error.h"
#include "singa/data/transforms.h"

namespace singa {
namespace {

TransformOptions parseOptions(const std::string& text) {
  TransformOptions o;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const int64_t v = std::stoll(item.substr(eq + 1));
    if (key == "resize") o.resize = v;
    if (key == "crop") o.crop = v;
    if (key == "channels") o.channels = v;
    if (key == "height") o.height = v;
    if (key == "width") o.width = v;
  }
  return o;
}

TEST(Transforms, ResizeAndCenterCropMatchPillow) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  int cases = 0;
  for (const SampleCase& c : set.cases) {
    if (c.kind != "resize") continue;
    SCOPED_TRACE(c.ref + " (" + c.options + ")");
    const Image img = readImageFile(set.dir + "/" + c.file);
    const TransformOptions o = parseOptions(c.options);
    const std::vector<int64_t> shape = transformedShape(o, img.height, img.width, img.channels);
    ASSERT_EQ(shape, (std::vector<int64_t>{c.channels, c.height, c.width}));
    std::vector<float> out(static_cast<size_t>(c.channels * c.height * c.width));
    Generator rng(0);
    applyTransforms(img, o, false, rng, out.data());
    const std::string want = readFile(set.dir + "/" + c.ref);  // HWC
    int64_t differ = 0, worst = 0;
    for (int64_t y = 0; y < c.height; ++y) {
      for (int64_t x = 0; x < c.width; ++x) {
        for (int64_t ch = 0; ch < c.channels; ++ch) {
          const float got = out[(ch * c.height + y) * c.width + x] * 255.0f;
          const int64_t ref = static_cast<uint8_t>(want[(y * c.width + x) * c.channels + ch]);
          const int64_t diff = std::llabs(std::lround(got) - ref);
          differ += diff != 0;
          worst = std::max(worst, diff);
        }
      }
    }
    // Same fixed-point arithmetic as Pillow: equal, not merely close.
    EXPECT_EQ(differ, 0) << "values differ from Pillow's by up to " << worst;
    ++cases;
  }
  EXPECT_GE(cases, 33);
}

// An h x w x c image whose bytes differ enough from place to place to tell positions apart.
Image pattern(int64_t h, int64_t w, int64_t c) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      for (int64_t ch = 0; ch < c; ++ch) img.pixels.push_back(static_cast<uint8_t>(17 + y * 37 + x * 11 + ch * 71));
    }
  }
  return img;
}

// The plain reference: output pixel (c, y, x) of a crop at (top, left), optionally mirrored, with
// channel conversion and normalisation, computed per pixel in double.
double expected(const Image& img, int64_t outC, int64_t size, int64_t top, int64_t left, bool flip, int64_t c,
                int64_t y, int64_t x, const std::vector<float>& mean, const std::vector<float>& std) {
  const int64_t sy = top + y, sx = left + (flip ? size - 1 - x : x);
  double v = 0;
  if (sy >= 0 && sy < img.height && sx >= 0 && sx < img.width) {
    const uint8_t* px = img.pixels.data() + (sy * img.width + sx) * img.channels;
    if (img.channels == outC) {
      v = px[c];
    } else if (outC == 3) {
      v = px[0];
    } else {
      v = std::floor((299.0 * px[0] + 587.0 * px[1] + 114.0 * px[2]) / 1000.0 + 0.5);
    }
  }
  v /= 255.0;
  return mean.empty() ? v : (v - mean[c]) / std[c];
}

// Max |out - reference| for a crop of `size` at (top, left).
double crossCheck(const Image& img, const TransformOptions& o, const std::vector<float>& out, int64_t top, int64_t left,
                  bool flip) {
  const int64_t outC = o.channels ? o.channels : img.channels;
  double worst = 0;
  for (int64_t c = 0; c < outC; ++c) {
    for (int64_t y = 0; y < o.crop; ++y) {
      for (int64_t x = 0; x < o.crop; ++x) {
        const double want = expected(img, outC, o.crop, top, left, flip, c, y, x, o.mean, o.std);
        worst = std::max(worst, std::fabs(out[(c * o.crop + y) * o.crop + x] - want));
      }
    }
  }
  return worst;
}

// Python's int(round(d / 2)) (halves to even), through the C library's default rounding.
int64_t pythonHalf(int64_t d) { return static_cast<int64_t>(std::nearbyint(static_cast<double>(d) / 2.0)); }

TEST(Transforms, CenterCropPaddingChannelsAndNormalize) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (int64_t inC : {1, 3}) {
    const Image img = pattern(5, 8, inC);
    for (int64_t crop : {1, 2, 3, 4, 5, 6, 8, 9, 11}) {
      for (int64_t outC : {0, 1, 3}) {
        TransformOptions o;
        o.crop = crop;
        o.channels = outC;
        const int64_t c = outC ? outC : inC;
        if (crop % 2) {
          o.mean.assign(static_cast<size_t>(c), 0.25f);
          o.std.assign(static_cast<size_t>(c), 0.5f);
          o.mean[0] = 0.485f;
          o.std[0] = 0.229f;
        }
        SCOPED_TRACE("inC " + std::to_string(inC) + " crop " + std::to_string(crop) + " outC " + std::to_string(c));
        ASSERT_EQ(transformedShape(o, 5, 8, inC), (std::vector<int64_t>{c, crop, crop}));
        std::vector<float> out(static_cast<size_t>(c * crop * crop), -99.0f);
        Generator rng(7);
        o.randomCrop = true;  // ignored outside training
        o.hflip = true;
        applyTransforms(img, o, false, rng, out.data());
        EXPECT_EQ(rng.counter(), 0u) << "evaluation draws no random numbers";
        // torchvision CenterCrop: padding (crop - size) // 2 before, else round half to even.
        const int64_t top = crop > 5 ? -((crop - 5) / 2) : pythonHalf(5 - crop);
        const int64_t left = crop > 8 ? -((crop - 8) / 2) : pythonHalf(8 - crop);
        // The L weights: Pillow's 16-bit ones may round a value differently from 299/587/114.
        const double tolerance = (c == 1 && inC == 3) ? 1.0 / 255.0 / 0.229 + 1e-6 : 1e-6;
        EXPECT_LE(crossCheck(img, o, out, top, left, false), tolerance);
      }
    }
  }
}

TEST(Transforms, RandomCropAndFlipAreInRangeAndReproducible) {
  const Image img = pattern(9, 12, 3);
  TransformOptions o;
  o.crop = 6;
  o.randomCrop = true;
  o.hflip = true;
  std::set<int64_t> tops, lefts;
  int flips = 0;
  const int draws = 400;
  for (int seed = 0; seed < draws; ++seed) {
    Generator rng(static_cast<uint64_t>(seed));
    std::vector<float> out(3 * 36);
    applyTransforms(img, o, true, rng, out.data());
    EXPECT_EQ(rng.counter(), 3u) << "top, left, flip";
    // Find the (top, left, flip) the output shows; exactly one must fit.
    int found = 0;
    for (int64_t top = 0; top <= 3; ++top) {
      for (int64_t left = 0; left <= 6; ++left) {
        for (bool flip : {false, true}) {
          if (crossCheck(img, o, out, top, left, flip) < 1e-6) {
            ++found;
            tops.insert(top);
            lefts.insert(left);
            flips += flip;
          }
        }
      }
    }
    ASSERT_EQ(found, 1) << "seed " << seed;
    // The same seed gives the same sample.
    Generator again(static_cast<uint64_t>(seed));
    std::vector<float> out2(3 * 36);
    applyTransforms(img, o, true, again, out2.data());
    EXPECT_EQ(out, out2);
  }
  EXPECT_EQ(tops.size(), 4u);   // every offset in [0, 9 - 6] occurs
  EXPECT_EQ(lefts.size(), 7u);  // [0, 12 - 6]
  EXPECT_GT(flips, draws / 2 - 60);
  EXPECT_LT(flips, draws / 2 + 60);

  // An image smaller than the crop is padded, centred, still with two draws for the offset.
  o.crop = 14;
  Generator rng(3);
  std::vector<float> out(3 * 14 * 14);
  applyTransforms(img, o, true, rng, out.data());
  EXPECT_EQ(rng.counter(), 3u);
  const bool flipped = crossCheck(img, o, out, -2, -1, true) < 1e-6;
  EXPECT_LT(crossCheck(img, o, out, -2, -1, flipped), 1e-6);
}

TEST(Transforms, RandomCropOfAResizedImageDrawsFromTheResizedSize) {
  const Image img = pattern(20, 30, 3);
  TransformOptions o;
  o.resize = 10;  // -> 10 x 15
  o.crop = 8;
  o.randomCrop = true;
  // Each random crop is some 8x8 window of the whole resized image, at every possible column.
  TransformOptions full;
  full.resize = 10;
  std::vector<float> whole(3 * 10 * 15);
  Generator unused(0);
  applyTransforms(img, full, false, unused, whole.data());
  std::set<int64_t> lefts;
  for (int seed = 0; seed < 100; ++seed) {
    Generator rng(static_cast<uint64_t>(seed));
    std::vector<float> out(3 * 64);
    applyTransforms(img, o, true, rng, out.data());
    int found = 0;
    for (int64_t top = 0; top <= 2; ++top) {
      for (int64_t left = 0; left <= 7; ++left) {
        bool same = true;
        for (int64_t c = 0; c < 3 && same; ++c) {
          for (int64_t y = 0; y < 8 && same; ++y) {
            for (int64_t x = 0; x < 8 && same; ++x) {
              same = out[(c * 8 + y) * 8 + x] == whole[(c * 10 + top + y) * 15 + left + x];
            }
          }
        }
        if (same) {
          ++found;
          lefts.insert(left);
        }
      }
    }
    EXPECT_GE(found, 1) << "seed " << seed;
  }
  EXPECT_EQ(lefts.size(), 8u);
}

TEST(Transforms, ShapesAndOptionChecks) {
  TransformOptions o;
  EXPECT_EQ(transformedShape(o, 5, 7, 3), (std::vector<int64_t>{3, 5, 7}));
  o.resize = 10;
  EXPECT_EQ(transformedShape(o, 5, 7, 3), (std::vector<int64_t>{3, 10, 14}));
  EXPECT_EQ(transformedShape(o, 30, 7, 1), (std::vector<int64_t>{1, 42, 10}));  // int(10 * 30 / 7)
  o.resize = 0;
  o.height = 4;
  o.width = 9;
  o.channels = 3;
  EXPECT_EQ(transformedShape(o, 5, 7, 1), (std::vector<int64_t>{3, 4, 9}));
  o.crop = 3;  // a crop takes precedence over height x width
  EXPECT_EQ(transformedShape(o, 5, 7, 1), (std::vector<int64_t>{3, 3, 3}));

  auto bad = [](const TransformOptions& opt, const std::string& part) {
    try {
      transformedShape(opt, 5, 7, 3);
      ADD_FAILURE() << "expected an error mentioning " << part;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  TransformOptions b;
  b.crop = -1;
  bad(b, "negative");
  b = {};
  b.resize = -3;
  bad(b, "negative");
  b = {};
  b.height = 4;
  bad(b, "height and width");
  b = {};
  b.channels = 2;
  bad(b, "channels");
  b = {};
  b.mean = {0.5f, 0.5f};
  b.std = {0.5f, 0.5f};
  bad(b, "one mean and one std per output channel");
  b.mean = {0.5f, 0.5f, 0.5f};
  bad(b, "one mean and one std");
  b.std = {0.5f, 0.0f, 0.5f};
  bad(b, "std > 0");
  b.std = {0.5f, NAN, 0.5f};
  bad(b, "finite");
  b = {};
  b.resize = int64_t{1} << 62;
  EXPECT_THROW(transformedShape(b, 5, 7, 3), ShapeError);
  EXPECT_THROW(transformedShape(TransformOptions{}, 0, 7, 3), ValueError);
  Image wrong = pattern(2, 2, 3);
  wrong.pixels.pop_back();
  Generator rng(0);
  std::vector<float> out(12);
  EXPECT_THROW(applyTransforms(wrong, TransformOptions{}, false, rng, out.data()), ValueError);
}

TEST(Transforms, ParseNormalize) {
  std::vector<float> mean, std;
  parseNormalize("imagenet", mean, std);
  EXPECT_EQ(mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  parseNormalize("0.5:0.25", mean, std);
  EXPECT_EQ(mean, (std::vector<float>{0.5f}));
  EXPECT_EQ(std, (std::vector<float>{0.25f}));
  parseNormalize("0.1,-0.2,3e-1,1:1,2,0.5,4", mean, std);
  EXPECT_EQ(mean, (std::vector<float>{0.1f, -0.2f, 0.3f, 1.0f}));
  EXPECT_EQ(std, (std::vector<float>{1.0f, 2.0f, 0.5f, 4.0f}));
  for (const char* text : {"", "imagenette", "0.5", "0.5,0.5:0.5", "0.5:0", "0.5:-1", "a:1", "1,:2,3", "1:2:3",
                           "1 :2", "nan:1", "1:inf", ":"}) {
    try {
      parseNormalize(text, mean, std);
      ADD_FAILURE() << "expected ValueError for '" << text << "'";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + text + "'"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace singa
