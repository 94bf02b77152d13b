#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "singa/singa.h"

namespace singa {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(dtypeSize(DType::kInt64), 8u);
  EXPECT_EQ(dtypeSize(DType::kBool), 1u);
  EXPECT_STREQ(dtypeName(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(dtypeFromName("int32"), DType::kInt32);
  EXPECT_THROW(dtypeFromName("float128"), ValueError);
  EXPECT_TRUE(isFloating(DType::kFloat16));
  EXPECT_FALSE(isFloating(DType::kInt8));
  EXPECT_TRUE(isInteger(DType::kUInt8));
  EXPECT_FALSE(isInteger(DType::kBool));
}

// Reference values of IEEE binary16 encodings.
TEST(DType, HalfRoundTrip) {
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half(65504.0f).bits, 0x7bff);
  EXPECT_EQ(Half(1e6f).bits, 0x7c00);                       // overflow -> inf
  EXPECT_EQ(Half(5.960464477539063e-08f).bits, 0x0001);     // smallest subnormal
  EXPECT_EQ(Half(1.0f + 1.0f / 2048).bits, 0x3c00);         // tie rounds to even
  EXPECT_EQ(Half(1.0f + 3.0f / 2048).bits, 0x3c02);
  EXPECT_FLOAT_EQ(static_cast<float>(Half(0.333251953125f)), 0.333251953125f);
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t b = 0; b < 0x7c00; b += 7) {  // every 7th finite positive half survives a round trip
    Half h;
    h.bits = static_cast<uint16_t>(b);
    EXPECT_EQ(Half(static_cast<float>(h)).bits, b);
  }
}

TEST(DType, BFloat16RoundTrip) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_FLOAT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(BFloat16(1.00390625f)), 1.0f);  // tie to even
}

}  // namespace singa
