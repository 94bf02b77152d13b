// Data sets as random-access sample sources, for the DataLoader and the Trainer.
//
// A Dataset knows its size and every label without decoding anything, and writes one sample
// (decoded, transformed, as float32 or int64 values of a fixed per-sample shape) into a buffer on
// request. Random augmentations draw only from the Generator the loader hands in, seeded by
// (seed, epoch, sample index): a sample looks the same whichever rank or worker thread loads it.
//
//   TensorDataset       images/tokens already in memory (IDX, CIFAR, .npy, safetensors)
//   ImageFolderDataset  DIR/<class>/*.{jpg,jpeg,png}, decoded on demand (image_folder.h)
//
// openDataSpec maps a --data spec to a train split and, where the source has one, a test split.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "singa/core/rng.h"
#include "singa/core/tensor.h"
#include "singa/data/dataset.h"
#include "singa/data/transforms.h"

namespace singa {

class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of samples.
  virtual int64_t size() const = 0;
  /// Label of sample i (>= 0), without loading the sample.
  virtual int64_t label(int64_t i) const = 0;
  /// The shape of one loaded sample ({C, H, W} for images, {T} for token ids).
  virtual Shape sampleShape() const = 0;
  /// kFloat32 (images) or kInt64 (token ids).
  virtual DType sampleDType() const { return DType::kFloat32; }
  /// Writes sample i into `out` (sampleShape() elements of sampleDType()). `train` turns the random
  /// augmentations on; they draw from `rng` only. Throws (IoError, ValueError, ...) with a message
  /// naming the sample (describe(i)) when it cannot be loaded.
  virtual void load(int64_t i, bool train, Generator& rng, void* out) const = 0;
  /// Where sample i comes from, for messages ("'DIR/cat/3.jpg'", "sample 17 of 'x.npy'").
  virtual std::string describe(int64_t i) const;
  /// Where the data set comes from (a directory, files).
  virtual std::string source() const = 0;
  /// Class names by label when the source has them (image folders), else empty.
  virtual std::vector<std::string> classNames() const { return {}; }
  /// The transforms applied to each sample (image sources; others reject non-default options).
  virtual void setTransforms(const TransformOptions& options);
  virtual const TransformOptions& transforms() const { return transforms_; }
  /// True when loading needs real work (decoding files): the loader then defaults to worker threads.
  virtual bool decodes() const { return false; }

  /// All labels as int64 [N].
  Tensor labels() const;
  /// Largest label + 1, or the number of class folders when larger.
  int64_t numClasses() const;

 protected:
  TransformOptions transforms_;
};

/// Samples held in memory: images uint8 (scaled by 1/255) or float32 [N, ...], or token ids
/// int64/int32 [N, T] (delivered as int64); labels integer [N]. Image transforms apply to uint8
/// images [N, C, H, W] (C 1 or 3); without transforms a sample is copied as it is (the bit-exact
/// path the IDX, CIFAR and .npy figures come from).
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor images, Tensor labels, std::string source = "tensors");
  explicit TensorDataset(const MnistSplit& split, std::string source = "tensors")
      : TensorDataset(split.images, split.labels, std::move(source)) {}
  int64_t size() const override { return size_; }
  int64_t label(int64_t i) const override { return labels_[static_cast<size_t>(i)]; }
  Shape sampleShape() const override { return outShape_; }
  DType sampleDType() const override { return tokens_ ? DType::kInt64 : DType::kFloat32; }
  void load(int64_t i, bool train, Generator& rng, void* out) const override;
  std::string source() const override { return source_; }
  void setTransforms(const TransformOptions& options) override;

 private:
  Tensor images_;
  std::vector<int64_t> labels_;
  std::string source_;
  int64_t size_ = 0, sampleNumel_ = 0;
  bool tokens_ = false;
  bool identity_ = true;  ///< no transforms: copy (and scale) the stored sample
  Shape outShape_;
};

/// The splits a data spec names.
struct DataSplits {
  std::shared_ptr<Dataset> train;
  std::shared_ptr<Dataset> test;  ///< nullptr when the source has no test split
  std::string description;        ///< for messages: the directory or files
};

/// Opens a data spec (loadDataSpec's, plus image folders):
///   imagefolder:DIR   DIR/<class>/*.{jpg,jpeg,png}; with DIR/train and DIR/val (or DIR/test)
///                     those are the splits. A directory of class folders (no IDX files) is
///                     recognised without the prefix.
///   everything else   as loadDataSpec (in memory: TensorDataset)
/// `transforms` apply to both splits (random ones only while training).
struct DataSpecOptions {
  /// An empty class folder is a warning (ImageFolderDataset::warnings) instead of an error.
  bool allowEmptyClasses = false;
  /// Image folders: the class list to index by (a validation set takes its training set's
  /// classes, so the labels agree even when it lacks some); empty = its own folders.
  std::vector<std::string> classes;
};
DataSplits openDataSpec(const std::string& spec, const TransformOptions& transforms = {},
                        const DataSpecOptions& options = {});

/// The split of `spec` to validate on (its test split, else its only split).
std::shared_ptr<Dataset> openEvalSpec(const std::string& spec, const TransformOptions& transforms = {},
                                      const DataSpecOptions& options = {});

/// Checks every label of `data` is below `classes` (the model's outputs); ValueError naming
/// `what` (a flag or file), the first bad sample, and the fix.
void checkLabelsBelow(const Dataset& data, int64_t classes, const std::string& what);

/// The Generator a sample's augmentations draw from: a stream of its own per (seed, epoch, index).
Generator sampleGenerator(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace singa
