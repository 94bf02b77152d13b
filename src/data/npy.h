// NumPy .npy files (format versions 1.0, 2.0 and 3.0): a magic string, a header that is a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), } and the raw
// little-endian data in C order. The header is parsed strictly (it comes from a file a user hands
// us): only the three keys, a known dtype, C order, and data of exactly shape's size.
#pragma once

#include <string>

#include "singa/core/tensor.h"

namespace singa {

/// Reads `path` into a CPU tensor. Supported dtypes: bool, uint8, int32, int64, float32, float64
/// (descr '|b1', '|u1', '<i4', '<i8', '<f4', '<f8'). Throws IoError for a missing or unreadable
/// file and ValueError naming the file for anything else (not an .npy file, big-endian or
/// Fortran-order data, an unsupported dtype, a shape whose size overflows, data of the wrong
/// length), each with the fix.
Tensor loadNpy(const std::string& path);

/// Parses .npy bytes (`what` names them in errors); loadNpy reads the file and calls this.
Tensor parseNpy(const std::string& bytes, const std::string& what);

}  // namespace singa
