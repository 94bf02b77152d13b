#include "singa/core/dtype.h"

#include "singa/core/half_convert.h"

namespace singa {

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kFloat16: return 2;
    case DType::kBFloat16: return 2;
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
    case DType::kBool: return 1;
    case DType::kUInt16: return 2;
    case DType::kUInt32: return 4;
    case DType::kUInt64: return 8;
  }
  return 0;
}

const char* dtypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kUInt16: return "uint16";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
  }
  return "?";
}

DType dtypeFromName(const std::string& name) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                  DType::kInt16, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool, DType::kUInt16,
                  DType::kUInt32, DType::kUInt64}) {
    if (name == dtypeName(t)) return t;
  }
  SINGA_THROW(ValueError, "unknown dtype '" << name
                          << "' (expected float32, float64, float16, bfloat16, int8, int16, int32, "
                             "int64, uint8, uint16, uint32, uint64 or bool)");
}

bool isFloating(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

bool isInteger(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64 ||
         t == DType::kUInt8 || t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64;
}

// IEEE 754 binary16 and bfloat16 <-> binary32, round to nearest even: the arithmetic lives in
// half_convert.h, which the CUDA Copy kernel shares.
Half::Half(float f) : bits(halfconv::floatToHalf(f)) {}
Half::operator float() const { return halfconv::halfToFloat(bits); }
BFloat16::BFloat16(float f) : bits(halfconv::floatToBFloat16(f)) {}
BFloat16::operator float() const { return halfconv::bfloat16ToFloat(bits); }

}  // namespace singa
