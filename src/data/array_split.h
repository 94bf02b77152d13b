// The checks every array-file data source (safetensors, and .npy once it moves here) applies to
// the two arrays of a split: images [N, ...] of a dtype the loader takes, labels one non-negative
// integer per image. Errors name the array ("'x.npy'", "'d.safetensors' tensor 'images'") and the fix.
#pragma once

#include <string>

#include "singa/core/tensor.h"
#include "singa/data/dataset.h"

namespace singa {

/// Checks `images` (uint8 or float32 [N, ...] with N >= 1 and at least two axes; with
/// `allowTokenIds` also int64 or int32 token ids [N, T], each >= 0) and `labels` (int64, int32 or
/// uint8 [N], each >= 0) and returns them as a split with int64 labels. `imagesWhat` and
/// `labelsWhat` name the arrays in the ValueErrors.
MnistSplit checkedArraySplit(Tensor images, const Tensor& labels, const std::string& imagesWhat,
                             const std::string& labelsWhat, bool allowTokenIds);

}  // namespace singa
