// IEEE binary16 and bfloat16 <-> binary32 conversions on 16-bit storage, shared by the CPU (Half,
// BFloat16 in core/dtype.h) and the CUDA Copy/Cast kernels, so that both devices give the same bits
// (round to nearest even; NaN stays NaN; overflow becomes infinity). Pure integer and float
// arithmetic: no intrinsics, so the host path that the unit tests check is the code the GPU runs.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SINGA_HD_INLINE __host__ __device__ inline
#else
#define SINGA_HD_INLINE inline
#endif

namespace singa::halfconv {

SINGA_HD_INLINE uint32_t floatBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}

SINGA_HD_INLINE float bitsFloat(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

/// binary32 -> binary16, round to nearest even.
SINGA_HD_INLINE uint16_t floatToHalf(float f) {
  const uint32_t x = floatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan (a nan keeps the quiet bit)
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (absx < 0x38800000u) {  // subnormal half (or zero)
    // Adding 0.5 moves the value into a float whose low mantissa bits hold the subnormal half,
    // rounded to nearest even by the float addition itself.
    const float shifted = bitsFloat(absx) + 0.5f;
    return static_cast<uint16_t>(sign | (floatBits(shifted) - 0x3f000000u));
  }
  const uint32_t mantOdd = (absx >> 13) & 1u;
  const uint32_t r = absx + 0xc8000fffu + mantOdd;  // rebias the exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (r >> 13));
}

/// binary16 -> binary32 (exact).
SINGA_HD_INLINE float halfToFloat(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bitsFloat(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bitsFloat(sign);
    return bitsFloat(floatBits(static_cast<float>(mant) * (1.0f / 16777216.0f)) | sign);  // mant * 2^-24
  }
  return bitsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

/// binary32 -> bfloat16, round to nearest even.
SINGA_HD_INLINE uint16_t floatToBFloat16(float f) {
  const uint32_t x = floatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // keep a nan a nan
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

/// bfloat16 -> binary32 (exact).
SINGA_HD_INLINE float bfloat16ToFloat(uint16_t b) { return bitsFloat(static_cast<uint32_t>(b) << 16); }

}  // namespace singa::halfconv
