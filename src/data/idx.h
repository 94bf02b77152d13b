// Reader for the IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a
// type byte, a dimension count, then one uint32 per dimension) followed by the raw elements.
// Files may be plain or gzip-compressed; zlib's gzread reads both transparently.
#pragma once

#include <cstdint>
#include <string>

#include "singa/core/tensor.h"

namespace singa {

/// Magic numbers of the two IDX files MNIST uses (type byte 0x08 = unsigned byte).
constexpr uint32_t kIdxImagesMagic = 0x00000803;  // [N, rows, cols]
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // [N]

/// Reads an IDX file of unsigned bytes into a uint8 tensor with the file's dimensions.
/// `expectedMagic` (0 = either MNIST magic) selects what the file must be.
/// Throws IoError naming the file, what was expected and what was found when the file is
/// missing or not a regular file (a FIFO, a device such as /dev/zero, a directory), has a bad
/// magic number or type byte, implausible dimensions, is truncated (for gzip: its compressed size
/// cannot hold what the header declares, checked before allocating), or has trailing bytes;
/// MemoryError naming it when the declared data passes the allocation ceiling.
Tensor readIdx(const std::string& path, uint32_t expectedMagic = 0);

}  // namespace singa
