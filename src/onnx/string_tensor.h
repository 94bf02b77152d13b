// String tensors at the ONNX edge (internal header). ONNX STRING tensors have no engine dtype
// (a Tensor is raw bytes), so they travel through an imported graph as Value::Kind::kStrings and
// are read from and written to TensorProto.string_data here. Every file is hostile: the dims are
// multiplied with overflow checks and the element count and total bytes are bounded before any
// vector is sized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "singa/onnx/import.h"

namespace onnx {
class TensorProto;
}

namespace singa::onnxio {

struct ConvertContext;

/// The most elements and the most bytes (all strings together) one string tensor may hold.
constexpr int64_t kMaxStringElements = int64_t{1} << 26;
constexpr int64_t kMaxStringBytes = int64_t{1} << 30;

/// A STRING TensorProto as a string Value. Throws IoError naming `what` (the tensor, the file) for
/// negative dims, a string count that does not match the dims, raw or external data (ONNX keeps
/// strings in string_data only) and sizes over the limits above.
Value stringsFromTensorProto(const onnx::TensorProto& proto, const std::string& what);

/// Writes a string Value into `proto` (data_type STRING, string_data) with the given name.
void stringsToTensorProto(const Value& value, const std::string& name, onnx::TensorProto* proto);

/// Throws MemoryError naming `what` when `count` strings of `bytes` bytes in all exceed the
/// limits above (converters call it before building an output).
void checkStringBudget(int64_t count, int64_t bytes, const std::string& what);

/// Helpers of the string converters (converters_string*.cc).
/// The first 40 bytes of `s`, for error messages.
std::string excerpt(const std::string& s);
bool isAscii(const std::string& s);
/// in[i] as a string tensor; a ValueError naming the node, the input and what it got otherwise.
const Value& stringInput(const ConvertContext& ctx, const std::vector<Value>& in, size_t i, const char* what);
/// RegexFullMatch (converters_string_regex.cc).
std::vector<Value> convertRegexFullMatch(const ConvertContext& ctx, const std::vector<Value>& in);

}  // namespace singa::onnxio
