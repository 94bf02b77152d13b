// Element types. float32 trains; the others exist on CPU because ONNX models and their test data
// use them (shapes and indices are int64 in ONNX). float16/bfloat16 are storage types: kernels
// convert them through float. The narrow types (float8 variants, float8e8m0, float4e2m1, int4,
// uint4, int2, uint2) are storage-only: one element per byte in memory (the 4- and 2-bit ones
// unpacked; packed only in files), taken by Cast, QuantizeLinear/DequantizeLinear and copies;
// other kernels refuse them with a TypeError (core/narrow_types.h holds the conversions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "singa/core/error.h"

namespace singa {

enum class DType : uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kBool,
  kUInt16,  // uint16/32/64: storage, copies, casts, shape ops, arithmetic, comparisons, reductions
  kUInt32,
  kUInt64,
  kFloat8E4M3FN,    // 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinity; max 448
  kFloat8E4M3FNUZ,  // bias 8, no infinity, no negative zero (0x80 is NaN); max 240
  kFloat8E5M2,      // IEEE-like: bias 15, infinities; max 57344
  kFloat8E5M2FNUZ,  // bias 16, no infinity, no negative zero; max 57344
  kFloat8E8M0,      // exponent only: 2^(e - 127), 0xFF is NaN (microscaling scales)
  kFloat4E2M1,      // 1 sign, 2 exponent (bias 1), 1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6
  kInt4,            // [-8, 7], held sign-extended in an int8
  kUInt4,           // [0, 15]
  kInt2,            // [-2, 1]
  kUInt2,           // [0, 3]
};

size_t dtypeSize(DType t);
const char* dtypeName(DType t);  // "float32", "int64", ...
DType dtypeFromName(const std::string& name);  // throws ValueError
bool isFloating(DType t);        // float32/64/16, bfloat16
bool isInteger(DType t);         // int8..int64, uint8..uint64 (not bool)
bool isNarrow(DType t);          // the storage-only float8/float4/int4/int2 types above

/// IEEE half and bfloat16 as 16-bit storage with float conversions.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  explicit Half(float f);
  operator float() const;
};
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f);
  operator float() const;
};

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::kBFloat16; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUInt16; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kUInt32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kUInt64; };

}  // namespace singa

// Runs the statement list with `T` bound to the C++ type of `dtype`.
#define SINGA_DTYPE_CASE_(DT, CT, T, ...) \
  case ::singa::DType::DT: {              \
    using T = CT;                         \
    __VA_ARGS__;                          \
    break;                                \
  }

/// Every dtype, including float16/bfloat16 (as Half/BFloat16).
#define SINGA_DISPATCH_ALL(dtype, T, ...)                                         \
  switch (dtype) {                                                                \
    SINGA_DTYPE_CASE_(kFloat32, float, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kFloat64, double, T, __VA_ARGS__)                           \
    SINGA_DTYPE_CASE_(kFloat16, ::singa::Half, T, __VA_ARGS__)                    \
    SINGA_DTYPE_CASE_(kBFloat16, ::singa::BFloat16, T, __VA_ARGS__)               \
    SINGA_DTYPE_CASE_(kInt8, int8_t, T, __VA_ARGS__)                              \
    SINGA_DTYPE_CASE_(kInt16, int16_t, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kInt32, int32_t, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kInt64, int64_t, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kUInt8, uint8_t, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kBool, bool, T, __VA_ARGS__)                                \
    SINGA_DTYPE_CASE_(kUInt16, uint16_t, T, __VA_ARGS__)                          \
    SINGA_DTYPE_CASE_(kUInt32, uint32_t, T, __VA_ARGS__)                          \
    SINGA_DTYPE_CASE_(kUInt64, uint64_t, T, __VA_ARGS__)                          \
    default:                                                                      \
      SINGA_THROW(TypeError, "dtype " << ::singa::dtypeName(dtype)                \
                                      << " is a storage type: Cast it to float32 first"); \
  }

// The cases shared by NUMERIC and ARITH.
#define SINGA_NUMERIC_CASES_(T, ...)                                              \
  SINGA_DTYPE_CASE_(kFloat32, float, T, __VA_ARGS__)                              \
  SINGA_DTYPE_CASE_(kFloat64, double, T, __VA_ARGS__)                             \
  SINGA_DTYPE_CASE_(kInt8, int8_t, T, __VA_ARGS__)                                \
  SINGA_DTYPE_CASE_(kInt16, int16_t, T, __VA_ARGS__)                              \
  SINGA_DTYPE_CASE_(kInt32, int32_t, T, __VA_ARGS__)                              \
  SINGA_DTYPE_CASE_(kInt64, int64_t, T, __VA_ARGS__)                              \
  SINGA_DTYPE_CASE_(kUInt8, uint8_t, T, __VA_ARGS__)

/// The arithmetic dtypes kernels compute in (no 16-bit floats).
#define SINGA_DISPATCH_NUMERIC(dtype, T, ...)                                     \
  switch (dtype) {                                                                \
    SINGA_NUMERIC_CASES_(T, __VA_ARGS__)                                          \
    default:                                                                      \
      SINGA_THROW(TypeError, "dtype " << ::singa::dtypeName(dtype) << " not supported here"); \
  }

/// NUMERIC plus uint16/32/64: for kernels whose arithmetic is valid on every integer type
/// (binary arithmetic, comparisons, reductions). Unary math (abs, neg, sqrt, ...) stays NUMERIC.
#define SINGA_DISPATCH_ARITH(dtype, T, ...)                                       \
  switch (dtype) {                                                                \
    SINGA_NUMERIC_CASES_(T, __VA_ARGS__)                                          \
    SINGA_DTYPE_CASE_(kUInt16, uint16_t, T, __VA_ARGS__)                          \
    SINGA_DTYPE_CASE_(kUInt32, uint32_t, T, __VA_ARGS__)                          \
    SINGA_DTYPE_CASE_(kUInt64, uint64_t, T, __VA_ARGS__)                          \
    default:                                                                      \
      SINGA_THROW(TypeError, "dtype " << ::singa::dtypeName(dtype) << " not supported here"); \
  }

/// float32 and float64 only.
#define SINGA_DISPATCH_FLOAT(dtype, T, ...)                                       \
  switch (dtype) {                                                                \
    SINGA_DTYPE_CASE_(kFloat32, float, T, __VA_ARGS__)                            \
    SINGA_DTYPE_CASE_(kFloat64, double, T, __VA_ARGS__)                           \
    default:                                                                      \
      SINGA_THROW(TypeError, "dtype " << ::singa::dtypeName(dtype)                \
                                      << " not supported here (float32 or float64 expected)"); \
  }
