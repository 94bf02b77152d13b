// Float -> integer conversion with defined behaviour for every input, shared by the CPU and CUDA
// Copy/Cast kernels so both devices give the same bits.
//
// A plain static_cast of a floating value outside the target's range is undefined behaviour in
// C++ (and differs between x86 and the GPU). ONNX leaves out-of-range Cast results unspecified, so
// we pick what NumPy and PyTorch give on x86 for the common case: truncate toward zero into int64,
// then wrap modulo 2^bits into narrower types (-2.5 -> uint8 254). NaN becomes 0; values beyond
// int64's range saturate to its bounds before the wrap.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define SINGA_HOST_DEVICE __host__ __device__
#else
#define SINGA_HOST_DEVICE
#endif

namespace singa {

template <class Dst, class Src>
SINGA_HOST_DEVICE inline Dst floatToInt(Src v) {
  static_assert(std::is_floating_point_v<Src> && std::is_integral_v<Dst> && !std::is_same_v<Dst, bool>);
  int64_t wide;
  if (!(v == v)) {
    wide = 0;
  } else if (v >= static_cast<Src>(9223372036854775807.0)) {  // 2^63: the first value beyond int64
    wide = INT64_MAX;
  } else if (v < static_cast<Src>(-9223372036854775807.0)) {
    wide = INT64_MIN;
  } else {
    wide = static_cast<int64_t>(v);
  }
  // Integral narrowing is modulo 2^bits (defined since C++20, and what GCC, Clang and NVCC do).
  return static_cast<Dst>(static_cast<std::make_unsigned_t<Dst>>(static_cast<uint64_t>(wide)));
}

}  // namespace singa
