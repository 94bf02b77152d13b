// Float32 exp and sigmoid in straight-line code (no calls, no branches), so the compiler
// vectorises the elementwise loops that use them; std::exp is a library call per element.
//
// exp: Cody-Waite reduction x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so n ln2 is exact
// to float precision), e^r from the degree-7 Taylor-like polynomial of Cephes' expf (Moshier),
// and 2^n put into the exponent bits in two halves, so n from -150 to 128 scales without an
// out-of-range exponent. Inputs are clamped to [-104, 89] first: e^x underflows to 0 below about
// -103.3 and overflows to +inf above about 88.72, as std::exp does. NaN stays NaN (the clamp
// passes it, and the polynomial of NaN is NaN). Relative error within a few float ulps
// (tests/ops/vec_math_test.cc sweeps it against std::exp in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace singa::cpu {

inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float expVec(float x) {
  x = std::min(std::max(x, -104.0f), 89.0f);  // std::max/min return their first operand for NaN
  // n = round(x / ln2): adding 1.5 * 2^23 leaves n in the low mantissa bits (|x / ln2| < 2^22).
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float fn = shifted - 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  const int32_t n = bits - 0x4B400000;  // shifted is within 2^23 +- 2^22 (or NaN: any n, result NaN)
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  const int32_t n1 = n / 2, n2 = n - n1;  // each in [-75, 64]: a normal power of two
  const float s1 = bitsToFloat(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = bitsToFloat(static_cast<uint32_t>(n2 + 127) << 23);
  return er * s1 * s2;
}

/// 1 / (1 + e^-x): 0 at -inf, 1 at +inf, NaN for NaN. From e = e^-|x| <= 1 (never overflowing):
/// 1 / (1 + e) for x >= 0, e / (1 + e) below, so tiny results keep their denormal digits.
inline float sigmoidVec(float x) {
  const float e = expVec(-std::fabs(x));
  const float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

}  // namespace singa::cpu
