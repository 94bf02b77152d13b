// The safetensors file format (https://github.com/huggingface/safetensors), written and read
// without any Python: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the raw little-endian tensor bytes, offsets relative to the end of the header. Tensors
// are packed back to back with no holes (the Python reader rejects gaps), the header is padded
// with spaces to a multiple of 8 bytes so the data is aligned.
//
// The reader is strict because its input may be damaged or hostile (it is fuzzed): every size,
// offset and shape is checked before anything is allocated, and errors name the source and the
// tensor concerned.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

/// "F32", "I64", ... for a dtype; and back (throws IoError naming `what` for unknown names).
const char* safetensorsDtypeName(DType dtype);
DType dtypeFromSafetensors(const std::string& name, const std::string& what);

/// One tensor's entry in a safetensors header.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  uint64_t begin = 0;  ///< byte offset in the data section
  uint64_t end = 0;
};

/// A parsed (validated) header: entries in data order, metadata, and where the data starts.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t dataStart = 0;  ///< 8 + header length
  uint64_t dataBytes = 0;  ///< bytes the entries cover (the data section must be exactly this)
};

/// Serialises `tensors` (any device and layout; written as contiguous host bytes) in name order.
std::string encodeSafetensors(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

/// Parses and validates only the header of `bytes`; `what` names the source in errors. With
/// `allowShortData` the data section may be shorter than the entries need (used to name the
/// first incomplete tensor of a truncated file); otherwise it must match exactly.
SafetensorsHeader parseSafetensorsHeader(const std::string& bytes, const std::string& what,
                                         bool allowShortData = false);

/// The header length N a safetensors file of `fileSize` bytes declares in its first 8 bytes
/// (`first8`; fewer when the file is shorter): IoError naming `what` when the file is shorter than
/// 8 bytes, N passes 100 MB or N runs past the end of the file.
uint64_t safetensorsHeaderLength(std::string_view first8, uint64_t fileSize, const std::string& what);

/// As parseSafetensorsHeader, for a file of `fileSize` bytes of which `prefix` holds the first
/// 8 + N (the length and the JSON header): for reading a file's tensors one by one.
SafetensorsHeader parseSafetensorsFileHeader(std::string_view prefix, uint64_t fileSize, const std::string& what);

/// An empty CPU tensor for `entry` (MemoryError naming `what` and the tensor past the ceiling).
Tensor allocateSafetensorsTensor(const SafetensorsEntry& entry, const std::string& what);

/// IoError naming `what` and the tensor when a BOOL tensor holds a byte other than 0 or 1.
void checkSafetensorsBools(const Tensor& t, const SafetensorsEntry& entry, const std::string& what);

/// Parses a whole safetensors blob into CPU tensors. Throws IoError naming `what` and, where
/// one is concerned, the tensor (truncated data, bad dtype, shape/size mismatch, overlaps).
std::map<std::string, Tensor> decodeSafetensors(const std::string& bytes, const std::string& what,
                                                std::map<std::string, std::string>* metadata = nullptr);

}  // namespace singa
