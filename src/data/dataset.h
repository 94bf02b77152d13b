// Data sets on disk. MNIST-style data sets: four IDX files (train/test images and labels, plain or .gz) in
// one directory. The default is Fashion-MNIST from the dataset-fashion-mnist Debian package.
// Images stay uint8 in memory (47 MB for 60000 images); the loader converts per batch.
#pragma once

#include <string>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

/// Where `apt-get install dataset-fashion-mnist` puts the default data set.
constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

/// One split of an MNIST-style data set.
struct MnistSplit {
  Tensor images;  ///< uint8 [N, 1, rows, cols] (28 x 28 for MNIST)
  Tensor labels;  ///< int64 [N]
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

struct MnistData {
  MnistSplit train;
  MnistSplit test;
  std::string dir;  ///< the directory the files were read from
};

/// The four file stems looked for, in order: train images, train labels, test images, test labels.
const std::vector<std::string>& mnistFileStems();

/// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
/// t10k-labels-idx1-ubyte from `dir`, each plain or with .gz. Throws IoError listing every file
/// looked for (with and without .gz) and the directory when the directory or a file is
/// missing, and ValueError/IoError when image and label counts differ or a file is corrupt.
MnistData loadMnistDir(const std::string& dir);

/// Maps a data spec to a directory: "" or "fashion-mnist" -> kDefaultDataDir,
/// "mnist:DIR" -> DIR, anything else is taken as a directory.
std::string resolveDataSpec(const std::string& spec);

/// Loads the data set a spec names:
///   "" or "fashion-mnist", "mnist:DIR", DIR   MNIST-style IDX files (loadMnistDir)
///   "cifar10:DIR", "cifar100:DIR"             CIFAR binary files (cifar.h)
///   "npy:IMAGES.npy,LABELS.npy"               arrays (npy.h): images uint8 or float32 [N, ...] (or token ids int64/int32 [N, T]),
///                                             labels integer [N] >= 0; a training split only
///                                             (the test split is empty: give one separately)
///   "safetensors:FILE", "safetensors:FILE:IMAGES_KEY,LABELS_KEY"
///                                             one safetensors file (safetensors.h) holding images
///                                             and labels (keys "images" and "labels" unless named),
///                                             checked as npy: is; a training split only
/// Throws ValueError for an unknown prefix, naming the ones there are.
MnistData loadDataSpec(const std::string& spec);

/// The classes int64 `labels` reach: the largest label + 1 (0 for none).
int64_t numClassesOf(const Tensor& labels);

/// The split of `spec` to evaluate on: its test split, or its only split (npy:, safetensors:).
MnistSplit loadEvalSplit(const std::string& spec);

/// Images and labels from two .npy files, checked as loadDataSpec("npy:...") does.
MnistSplit loadNpySplit(const std::string& imagesPath, const std::string& labelsPath);

}  // namespace singa
