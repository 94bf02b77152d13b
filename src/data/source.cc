// Dataset basics, in-memory data sets and data specs (see source.h).
#include "singa/data/source.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "singa/core/error.h"
#include "singa/data/image_folder.h"

namespace singa {

std::string Dataset::describe(int64_t i) const { return "sample " + std::to_string(i) + " of '" + source() + "'"; }

void Dataset::setTransforms(const TransformOptions& options) {
  SINGA_CHECK(options.resize == 0 && options.crop == 0 && !options.hflip && options.mean.empty() &&
                  options.channels == 0 && options.height == 0 && options.width == 0,
              ValueError, "data set '" << source() << "' takes no image transforms (--resize, --crop, --hflip, --normalize)");
  transforms_ = options;
}

Tensor Dataset::labels() const {
  std::vector<int64_t> values(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) values[static_cast<size_t>(i)] = label(i);
  return Tensor::fromVector<int64_t>(values, {size()});
}

int64_t Dataset::numClasses() const {
  int64_t classes = static_cast<int64_t>(classNames().size());
  for (int64_t i = 0; i < size(); ++i) classes = std::max(classes, label(i) + 1);
  return classes;
}

Generator sampleGenerator(uint64_t seed, int64_t epoch, int64_t index) {
  // SplitMix64-style mixing of the three keys; a stream apart from the data-order stream
  // (epochPermutation) and from manualSeed(seed).
  uint64_t z = seed * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL;
  z ^= static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
  z = (z ^ (z >> 31)) * 0xD6E8FEB86659FD93ULL;
  z ^= static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL;
  z = (z ^ (z >> 32)) * 0xBF58476D1CE4E5B9ULL;
  return Generator(z ^ (z >> 29));
}

// ---- TensorDataset -----------------------------------------------------------------------------

TensorDataset::TensorDataset(Tensor images, Tensor labels, std::string source) : source_(std::move(source)) {
  SINGA_CHECK(images.defined() && labels.defined(), ValueError, "data set '" << source_ << "': images or labels are undefined");
  const DType dt = images.dtype();
  SINGA_CHECK(dt == DType::kUInt8 || dt == DType::kFloat32 || dt == DType::kInt64 || dt == DType::kInt32, TypeError,
              "data set '" << source_ << "': samples must be uint8 or float32 images, or int64/int32 token ids; got "
                           << dtypeName(dt));
  SINGA_CHECK(isInteger(labels.dtype()), TypeError,
              "data set '" << source_ << "': labels must be an integer tensor, got " << dtypeName(labels.dtype()));
  SINGA_CHECK(images.ndim() >= 1 && labels.ndim() == 1 && images.dim(0) == labels.dim(0), ShapeError,
              "data set '" << source_ << "': samples " << images.shape() << " and labels " << labels.shape()
                           << " must have the same number of samples (labels 1-D)");
  tokens_ = dt == DType::kInt64 || dt == DType::kInt32;
  images_ = images.to(Device::cpu()).contiguous();
  Tensor l = labels.to(Device::cpu()).contiguous();
  size_ = images_.dim(0);
  sampleNumel_ = size_ > 0 ? images_.numel() / size_ : 0;
  labels_.resize(static_cast<size_t>(size_));
  SINGA_DISPATCH_ALL(l.dtype(), T, {
    const T* src = l.data<T>();
    for (int64_t i = 0; i < size_; ++i) labels_[static_cast<size_t>(i)] = static_cast<int64_t>(src[i]);
  });
  for (int64_t i = 0; i < size_; ++i) {
    SINGA_CHECK(labels_[static_cast<size_t>(i)] >= 0, ValueError,
                "data set '" << source_ << "': label " << labels_[static_cast<size_t>(i)] << " of sample " << i
                             << " is negative; class labels are 0, 1, 2, ...");
  }
  outShape_ = Shape(images_.shape().begin() + 1, images_.shape().end());
}

void TensorDataset::setTransforms(const TransformOptions& options) {
  const bool none = options.resize == 0 && options.crop == 0 && !options.hflip && options.mean.empty() &&
                    options.channels == 0 && options.height == 0 && options.width == 0;
  if (none) {
    transforms_ = options;
    identity_ = true;
    outShape_ = Shape(images_.shape().begin() + 1, images_.shape().end());
    return;
  }
  const Shape& s = images_.shape();
  SINGA_CHECK(images_.dtype() == DType::kUInt8 && s.size() == 4 && (s[1] == 1 || s[1] == 3), ValueError,
              "data set '" << source_ << "': image transforms (--resize, --crop, --hflip, --normalize) apply to uint8 "
                           << "images [N, 1 or 3, H, W]; these samples are " << dtypeName(images_.dtype()) << " "
                           << s);
  TransformOptions t = options;
  if (t.channels == 0) t.channels = t.mean.size() == 3 ? 3 : t.mean.size() == 1 ? 1 : s[1];
  const std::vector<int64_t> out = transformedShape(t, s[2], s[3], s[1]);
  transforms_ = t;
  identity_ = false;
  outShape_ = Shape(out.begin(), out.end());
}

void TensorDataset::load(int64_t i, bool train, Generator& rng, void* out) const {
  SINGA_CHECK(i >= 0 && i < size_, ValueError, "data set '" << source_ << "': sample " << i << " is outside [0, " << size_ << ")");
  if (tokens_) {
    int64_t* dst = static_cast<int64_t*>(out);
    if (images_.dtype() == DType::kInt64) {
      std::memcpy(dst, images_.data<int64_t>() + i * sampleNumel_, static_cast<size_t>(sampleNumel_) * sizeof(int64_t));
    } else {
      const int32_t* src = images_.data<int32_t>() + i * sampleNumel_;
      for (int64_t k = 0; k < sampleNumel_; ++k) dst[k] = src[k];
    }
    return;
  }
  float* dst = static_cast<float*>(out);
  if (images_.dtype() == DType::kFloat32) {
    std::memcpy(dst, images_.data<float>() + i * sampleNumel_, static_cast<size_t>(sampleNumel_) * sizeof(float));
    return;
  }
  const uint8_t* src = images_.data<uint8_t>() + i * sampleNumel_;
  if (identity_) {
    for (int64_t k = 0; k < sampleNumel_; ++k) dst[k] = static_cast<float>(src[k]) / 255.0f;
    return;
  }
  // CHW -> the HWC Image the transforms take.
  const Shape& s = images_.shape();
  Image img;
  img.channels = s[1];
  img.height = s[2];
  img.width = s[3];
  img.pixels.resize(static_cast<size_t>(sampleNumel_));
  const int64_t plane = img.height * img.width;
  for (int64_t c = 0; c < img.channels; ++c) {
    for (int64_t p = 0; p < plane; ++p) img.pixels[static_cast<size_t>(p * img.channels + c)] = src[c * plane + p];
  }
  applyTransforms(img, transforms_, train, rng, dst);
}

// ---- specs -------------------------------------------------------------------------------------

namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

DataSplits openImageFolder(const std::string& dir, const TransformOptions& transforms, const DataSpecOptions& options) {
  namespace fs = std::filesystem;
  DataSplits d;
  d.description = dir;
  std::error_code ec;
  ImageFolderOptions io;
  io.allowEmptyClasses = options.allowEmptyClasses;
  io.classes = options.classes;
  const fs::path root(dir);
  if (fs::is_directory(root / "train", ec)) {
    auto train = std::make_shared<ImageFolderDataset>((root / "train").string(), transforms, io);
    if (io.classes.empty()) io.classes = train->classNames();
    for (const char* name : {"val", "test"}) {
      if (fs::is_directory(root / name, ec)) {
        d.test = std::make_shared<ImageFolderDataset>((root / name).string(), transforms, io);
        break;
      }
    }
    d.train = std::move(train);
    return d;
  }
  d.train = std::make_shared<ImageFolderDataset>(dir, transforms, io);
  return d;
}

}  // namespace

DataSplits openDataSpec(const std::string& spec, const TransformOptions& transforms, const DataSpecOptions& options) {
  if (startsWith(spec, "imagefolder:")) {
    const std::string dir = spec.substr(12);
    SINGA_CHECK(!dir.empty(), ValueError, "data spec '" << spec << "' names no directory; use imagefolder:DIR");
    return openImageFolder(dir, transforms, options);
  }
  const bool prefixed = spec.empty() || spec == "fashion-mnist" || spec.find(':') < spec.find('/');
  if (!prefixed && looksLikeImageFolder(spec)) return openImageFolder(spec, transforms, options);
  MnistData data = loadDataSpec(spec);
  DataSplits d;
  d.description = data.dir;
  d.train = std::make_shared<TensorDataset>(data.train, data.dir);
  if (data.test.size() > 0) d.test = std::make_shared<TensorDataset>(data.test, data.dir);
  d.train->setTransforms(transforms);
  if (d.test) d.test->setTransforms(transforms);
  return d;
}

std::shared_ptr<Dataset> openEvalSpec(const std::string& spec, const TransformOptions& transforms,
                                      const DataSpecOptions& options) {
  DataSplits d = openDataSpec(spec, transforms, options);
  return d.test ? d.test : d.train;
}

void checkLabelsBelow(const Dataset& data, int64_t classes, const std::string& what) {
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t l = data.label(i);
    SINGA_CHECK(l < classes, ValueError,
                what << ": " << data.describe(i) << " has label " << l << " but the model has " << classes
                     << " outputs (classes 0 to " << classes - 1
                     << "); give a data set with the model's classes, or a new head (--last-layers -1 --num-classes "
                     << l + 1 << " or more)");
  }
}

}  // namespace singa
