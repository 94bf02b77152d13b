// Conversions of the narrow storage types (core/dtype.h: float8 E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ,
// float8 E8M0, float4 E2M1, int4/uint4, int2/uint2) to and from wide values, and the packing of the
// 4- and 2-bit ones in files. In memory every narrow element takes one byte: the float types hold
// their bit pattern in the low bits, int4/int2 their value sign-extended (an int8), uint4/uint2 their
// value. The rules are ONNX's Cast (opset 19-25): round to nearest even on the target's mantissa,
// then `saturate` decides what lies beyond the largest finite value (the largest value, or
// infinity/NaN as the format has them); NaN stays NaN; the FNUZ formats have no negative zero and
// one NaN (0x80). float4e2m1 has neither infinity nor NaN: it always saturates, and NaN becomes
// 0x8 (as ONNX's test data has it). float8e8m0 is a power of two 2^(bits - 127) (0xFF is NaN),
// rounded up, down or to nearest (ties up) as Cast's round_mode says. Integers wrap to their
// width (two's complement), as Cast does for every narrowing integer conversion.
#pragma once

#include <cmath>
#include <cstdint>

#include "singa/core/dtype.h"

namespace singa::narrow {

/// How a value becomes a float8e8m0 (Cast's round_mode): away from zero, towards zero, nearest.
enum class E8M0Rounding : uint8_t { kUp, kDown, kNearest };

/// The layout of one of the small float formats with a mantissa.
struct FloatFormat {
  int expBits, manBits, bias;
  bool hasInf;   // E5M2: 0x7C is infinity
  bool fnuz;     // no negative zero; 0x80 is the only NaN
  bool hasNan;   // float4e2m1 has none
  double maxFinite;
};

inline bool isNarrowFloat(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ || t == DType::kFloat8E8M0 || t == DType::kFloat4E2M1;
}
inline bool isNarrowInt(DType t) {
  return t == DType::kInt4 || t == DType::kUInt4 || t == DType::kInt2 || t == DType::kUInt2;
}
/// Bits per element in a file: 4 (float4e2m1, int4, uint4), 2 (int2, uint2) or 8.
inline int fileBits(DType t) {
  if (t == DType::kFloat4E2M1 || t == DType::kInt4 || t == DType::kUInt4) return 4;
  if (t == DType::kInt2 || t == DType::kUInt2) return 2;
  return 8;
}

inline FloatFormat formatOf(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return {4, 3, 7, false, false, true, 448.0};
    case DType::kFloat8E4M3FNUZ: return {4, 3, 8, false, true, true, 240.0};
    case DType::kFloat8E5M2: return {5, 2, 15, true, false, true, 57344.0};
    case DType::kFloat8E5M2FNUZ: return {5, 2, 16, false, true, true, 57344.0};
    case DType::kFloat4E2M1: return {2, 1, 1, false, false, false, 6.0};
    default: return {0, 0, 0, false, false, false, 0.0};
  }
}

/// The value of the bit pattern `bits` of format `f`.
inline double decodeFloat(const FloatFormat& f, uint8_t bits) {
  const uint8_t signBit = static_cast<uint8_t>(1u << (f.expBits + f.manBits));
  const bool neg = (bits & signBit) != 0;
  const int e = (bits >> f.manBits) & ((1 << f.expBits) - 1);
  const int m = bits & ((1 << f.manBits) - 1);
  const int eMax = (1 << f.expBits) - 1;
  if (f.fnuz && bits == 0x80) return std::nan("");
  if (f.hasInf && e == eMax) return m == 0 ? (neg ? -INFINITY : INFINITY) : std::nan("");
  if (!f.fnuz && f.hasNan && !f.hasInf && e == eMax && m == (1 << f.manBits) - 1) return std::nan("");
  double v;
  if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - f.bias - f.manBits);
  } else {
    v = std::ldexp(static_cast<double>(m + (1 << f.manBits)), e - f.bias - f.manBits);
  }
  return neg ? -v : v;
}

/// The bit pattern nearest `x` in format `f` (round to nearest even), Cast's rules for the rest.
inline uint8_t encodeFloat(const FloatFormat& f, double x, bool saturate) {
  const uint8_t signBit = static_cast<uint8_t>(1u << (f.expBits + f.manBits));
  const uint8_t magMask = static_cast<uint8_t>(signBit - 1);
  const bool neg = std::signbit(x);
  const uint8_t sign = neg ? signBit : 0;
  const int eMax = (1 << f.expBits) - 1;
  // The largest finite pattern and the NaN pattern.
  uint8_t maxBits;
  if (f.hasInf) {
    maxBits = static_cast<uint8_t>(((eMax - 1) << f.manBits) | ((1 << f.manBits) - 1));
  } else if (f.hasNan && !f.fnuz) {
    maxBits = static_cast<uint8_t>(magMask - 1);  // all ones is NaN
  } else {
    maxBits = magMask;
  }
  const uint8_t nanBits = f.fnuz ? uint8_t{0x80} : !f.hasNan ? signBit : static_cast<uint8_t>(sign | magMask);
  const uint8_t infBits = static_cast<uint8_t>(eMax << f.manBits);
  auto overflow = [&]() -> uint8_t {
    if (saturate || !f.hasNan) return static_cast<uint8_t>(sign | maxBits);
    if (f.hasInf) return static_cast<uint8_t>(sign | infBits);
    return nanBits;
  };
  if (std::isnan(x)) return nanBits;
  const double a = std::fabs(x);
  if (std::isinf(a)) return overflow();
  const uint8_t zero = f.fnuz ? uint8_t{0} : sign;
  if (a == 0.0) return zero;
  const int minExp = 1 - f.bias;  // the exponent of the smallest normal value
  int e2 = 0;
  std::frexp(a, &e2);  // a = g * 2^e2, g in [0.5, 1)
  const int ex = std::max(e2 - 1, minExp);
  const double quantum = std::ldexp(1.0, ex - f.manBits);
  const double r = std::nearbyint(a / quantum) * quantum;  // the FE_TONEAREST mode: ties to even
  if (r > f.maxFinite) return overflow();
  if (r == 0.0) return zero;
  std::frexp(r, &e2);
  const int er = e2 - 1;
  uint8_t mag;
  if (er < minExp) {
    mag = static_cast<uint8_t>(std::ldexp(r, f.manBits - minExp));
  } else {
    const int man = static_cast<int>(std::ldexp(r, f.manBits - er)) - (1 << f.manBits);
    mag = static_cast<uint8_t>(((er + f.bias) << f.manBits) | man);
  }
  return static_cast<uint8_t>(sign | mag);
}

inline double decodeE8M0(uint8_t bits) { return bits == 0xFF ? std::nan("") : std::ldexp(1.0, bits - 127); }

inline uint8_t encodeE8M0(double x, bool saturate, E8M0Rounding mode) {
  if (std::isnan(x)) return 0xFF;
  const double a = std::fabs(x);  // the sign of a scale is not representable (ONNX: unspecified)
  if (std::isinf(a)) return saturate ? 0xFE : 0xFF;
  if (a == 0.0) return saturate ? 0x00 : 0xFF;
  int e2 = 0;
  const double g = std::frexp(a, &e2);  // a = g * 2^e2, g in [0.5, 1)
  int k = e2 - 1;                       // 2^k <= a < 2^(k+1)
  if (g != 0.5) {
    if (mode == E8M0Rounding::kUp || (mode == E8M0Rounding::kNearest && g >= 0.75)) ++k;
  }
  const int biased = k + 127;
  if (biased > 254) return saturate ? 0xFE : 0xFF;
  if (biased < 0) return saturate ? 0x00 : 0xFF;
  return static_cast<uint8_t>(biased);
}

/// `v` wrapped to the width of int4/uint4/int2/uint2 (two's complement), as the byte held in memory.
inline uint8_t wrapInt(DType t, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  switch (t) {
    case DType::kInt4: return static_cast<uint8_t>(static_cast<int8_t>(((u & 0xF) ^ 0x8)) - 8);
    case DType::kUInt4: return static_cast<uint8_t>(u & 0xF);
    case DType::kInt2: return static_cast<uint8_t>(static_cast<int8_t>(((u & 0x3) ^ 0x2)) - 2);
    case DType::kUInt2: return static_cast<uint8_t>(u & 0x3);
    default: return 0;
  }
}

/// The value an int4/uint4/int2/uint2 byte in memory holds.
inline int64_t intValue(DType t, uint8_t byte) {
  return (t == DType::kInt4 || t == DType::kInt2) ? static_cast<int64_t>(static_cast<int8_t>(byte))
                                                  : static_cast<int64_t>(byte);
}

/// The value of a narrow float byte (float8 kinds, e8m0, float4e2m1) as a double.
inline double floatValue(DType t, uint8_t byte) {
  if (t == DType::kFloat8E8M0) return decodeE8M0(byte);
  return decodeFloat(formatOf(t), byte);
}

/// The narrow float byte nearest `x` (Cast's rules, see the top of the file).
inline uint8_t floatByte(DType t, double x, bool saturate, E8M0Rounding mode) {
  if (t == DType::kFloat8E8M0) return encodeE8M0(x, saturate, mode);
  return encodeFloat(formatOf(t), x, saturate);
}

/// The file bits of an in-memory byte (the low 4 or 2 bits for the packed types).
inline uint8_t packedBits(DType t, uint8_t byte) {
  const int bits = fileBits(t);
  return bits == 8 ? byte : static_cast<uint8_t>(byte & ((1u << bits) - 1));
}

/// The in-memory byte of `bits` read from a file (sign-extends int4/int2).
inline uint8_t unpackedByte(DType t, uint8_t bits) {
  switch (t) {
    case DType::kInt4: return wrapInt(t, bits & 0xF);
    case DType::kUInt4:
    case DType::kFloat4E2M1: return static_cast<uint8_t>(bits & 0xF);
    case DType::kInt2: return wrapInt(t, bits & 0x3);
    case DType::kUInt2: return static_cast<uint8_t>(bits & 0x3);
    default: return bits;
  }
}

}  // namespace singa::narrow
