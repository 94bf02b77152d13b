// safetensors files (https://github.com/huggingface/safetensors) as a data source: named tensors
// read into CPU tensors, and a data split (images and labels) from one file. The format itself
// (the header, its checks, encoding) is core/safetensors.h, shared with checkpoints. Only the
// header and the tensors asked for are read, each straight into its tensor, so a data set costs
// its own size in memory and a file's other tensors cost nothing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "singa/core/tensor.h"
#include "singa/data/dataset.h"

namespace singa {

/// Reads the tensors `names` of the safetensors file `path` (all of them when `names` is empty)
/// into CPU tensors. Dtypes: F32 F64 F16 BF16 I8 I16 I32 I64 U8 U16 U32 U64 BOOL. Throws IoError
/// naming the file (and the tensor concerned) for a missing, special or damaged file: a header
/// length past the file or over 100 MB, a header that is not one JSON object, repeated names,
/// data_offsets outside the data or not tiling it, a shape whose size overflows or disagrees with
/// its offsets, a dtype singa does not read, a BOOL byte other than 0 or 1; ValueError naming the
/// file, the tensor and the names the file holds when a requested tensor is not there.
std::map<std::string, Tensor> loadSafetensors(const std::string& path, const std::vector<std::string>& names = {});

/// Writes `tensors` (any device; stored contiguous, in name order) to `path` as a safetensors file
/// that Python's safetensors reads; durably (a temporary file, fsync, rename). IoError naming the
/// file when it cannot be written.
void saveSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors);

/// A data split from one safetensors file: images under `imagesKey` (uint8 [N, ...], scaled by
/// 1/255 when loaded, or float32 [N, ...]; or int64/int32 token ids [N, T]) and labels under
/// `labelsKey` (int64, int32 or uint8 [N], each >= 0), checked as loadNpySplit checks its arrays.
/// A missing key is a ValueError listing the tensors the file holds.
MnistSplit loadSafetensorsSplit(const std::string& path, const std::string& imagesKey = "images",
                                const std::string& labelsKey = "labels");

}  // namespace singa
