// The float16/bfloat16 conversions that the CPU's Half/BFloat16 and the CUDA Copy/Cast kernel
// share (core/half_convert.h), checked against references computed here in double arithmetic:
// decoding every one of the 65,536 bit patterns of each format, and encoding every tie, every
// value next to a rounding boundary and a sweep over float bit patterns (round to nearest even,
// overflow to infinity, NaN kept). This is the host path of the code the GPU runs.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "singa/core/dtype.h"
#include "singa/core/half_convert.h"

namespace singa {
namespace {

using halfconv::bfloat16ToFloat;
using halfconv::floatToBFloat16;
using halfconv::floatToHalf;
using halfconv::halfToFloat;

float fromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// A 16-bit format with `mantBits` stored mantissa bits and exponent bias `bias` (1 sign bit).
struct Format {
  int expBits, mantBits, bias;
};
constexpr Format kHalf{5, 10, 15};
constexpr Format kBF16{8, 7, 127};

// The value of bit pattern `b` by the format's definition (ldexp on the integer fields).
double decodeRef(uint16_t b, Format f) {
  const int sign = b >> 15, e = (b >> f.mantBits) & ((1 << f.expBits) - 1), m = b & ((1 << f.mantBits) - 1);
  double v;
  if (e == (1 << f.expBits) - 1) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - f.bias - f.mantBits);
  } else {
    v = std::ldexp(static_cast<double>(m + (1 << f.mantBits)), e - f.bias - f.mantBits);
  }
  return sign ? -v : v;
}

// x rounded to the format's grid, to nearest even (infinity when the rounded magnitude passes the
// largest finite value), in double arithmetic.
double encodeRef(float xf, Format f) {
  const double x = xf;
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  const int emin = 1 - f.bias;
  int e = std::ilogb(x);
  if (e < emin) e = emin;
  const double ulp = std::ldexp(1.0, e - f.mantBits);
  const double r = std::nearbyint(x / ulp) * ulp;  // FE_TONEAREST: ties to even
  const double maxFinite = std::ldexp(2.0 - std::ldexp(1.0, -f.mantBits), (1 << f.expBits) - 2 - f.bias);
  if (std::fabs(r) > maxFinite) return std::copysign(std::numeric_limits<double>::infinity(), x);
  return r;
}

void expectEncodes(float x, Format f, uint16_t got, const char* what) {
  const double want = encodeRef(x, f);
  const double have = decodeRef(got, f);
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(have)) << what << " of NaN gave bits " << got;
    return;
  }
  // Equal values, and equal signs for zeros.
  EXPECT_TRUE(want == have && std::signbit(want) == std::signbit(have))
      << what << "(" << x << ") = " << have << " (bits " << got << "), expected " << want;
}

TEST(HalfConvert, DecodesEveryBitPatternOfBothFormats) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    for (auto [f, got] : {std::pair{kHalf, halfToFloat(h)}, std::pair{kBF16, bfloat16ToFloat(h)}}) {
      const double want = decodeRef(h, f);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(got)) << b;
      } else {
        ASSERT_TRUE(static_cast<double>(got) == want && std::signbit(got) == std::signbit(want))
            << "pattern " << b << ": " << got << " vs " << want;
      }
    }
    // Decoding then encoding gives the pattern back (NaNs stay NaNs).
    const float hv = halfToFloat(h), bv = bfloat16ToFloat(h);
    if (!std::isnan(hv)) {
      ASSERT_EQ(floatToHalf(hv), h);
    }
    if (!std::isnan(bv)) {
      ASSERT_EQ(floatToBFloat16(bv), h);
    }
  }
}

TEST(HalfConvert, EncodesTiesAndNeighboursOfEveryRepresentableValue) {
  for (uint32_t b = 0; b < 0x7c00; ++b) {  // every finite non-negative half, and the gap above it
    const double lo = decodeRef(static_cast<uint16_t>(b), kHalf), hi = decodeRef(static_cast<uint16_t>(b + 1), kHalf);
    const float mid = static_cast<float>((lo + hi) / 2);  // exact in float: 12 significant bits
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f), static_cast<float>(lo)}) {
      expectEncodes(x, kHalf, floatToHalf(x), "floatToHalf");
      expectEncodes(-x, kHalf, floatToHalf(-x), "floatToHalf");
    }
  }
  for (uint32_t b = 0; b < 0x7f80; ++b) {
    const float lo = fromBits(b << 16), hi = fromBits((b + 1) << 16);
    const float mid = fromBits((b << 16) | 0x8000u);  // the exact midpoint
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, hi), lo}) {
      expectEncodes(x, kBF16, floatToBFloat16(x), "floatToBFloat16");
      expectEncodes(-x, kBF16, floatToBFloat16(-x), "floatToBFloat16");
    }
  }
}

TEST(HalfConvert, EncodesASweepOfFloatBitPatternsSpecialsIncluded) {
  const float inf = std::numeric_limits<float>::infinity();
  for (float x : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 65504.0f, 65519.99f, 65520.0f,
                  std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min(), 2.98e-8f, 2.99e-8f}) {
    expectEncodes(x, kHalf, floatToHalf(x), "floatToHalf");
    expectEncodes(x, kBF16, floatToBFloat16(x), "floatToBFloat16");
  }
  // Every 4099th float bit pattern (a prime step, so every mantissa position is reached).
  for (uint64_t b = 0; b <= 0xffffffffu; b += 4099) {
    const float x = fromBits(static_cast<uint32_t>(b));
    const uint16_t h = floatToHalf(x), bf = floatToBFloat16(x);
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(halfToFloat(h)) && std::isnan(bfloat16ToFloat(bf))) << b;
      continue;
    }
    ASSERT_EQ(decodeRef(h, kHalf), encodeRef(x, kHalf)) << "float bits " << b;
    ASSERT_EQ(decodeRef(bf, kBF16), encodeRef(x, kBF16)) << "float bits " << b;
  }
}

TEST(HalfConvert, HalfAndBFloat16TypesUseTheSharedConversions) {
  for (float x : {1.0f / 3, -1e-6f, 70000.0f, 3.14159f}) {
    EXPECT_EQ(Half(x).bits, floatToHalf(x));
    EXPECT_EQ(BFloat16(x).bits, floatToBFloat16(x));
    EXPECT_EQ(static_cast<float>(Half(x)), halfToFloat(floatToHalf(x)));
  }
}

}  // namespace
}  // namespace singa
