// String tensors read from and written to TensorProto, and the string converters' shared helpers
// (see string_tensor.h).
#include "singa/onnx/string_tensor.h"

#include <onnx/onnx_pb.h>

#include <algorithm>

#include "singa/core/error.h"
#include "singa/onnx/converter.h"

namespace singa::onnxio {

void checkStringBudget(int64_t count, int64_t bytes, const std::string& what) {
  SINGA_CHECK(count >= 0 && count <= kMaxStringElements, MemoryError,
              what << ": " << count << " strings, more than the " << kMaxStringElements
                   << " a string tensor may hold");
  // Each element also costs a std::string header; count it so a file of many empty strings is bounded too.
  const int64_t total = bytes + count * static_cast<int64_t>(sizeof(std::string));
  SINGA_CHECK(bytes >= 0 && total <= kMaxStringBytes, MemoryError,
              what << ": the strings would take " << total << " bytes, more than the " << kMaxStringBytes
                   << " a string tensor may hold");
}

Value stringsFromTensorProto(const onnx::TensorProto& p, const std::string& what) {
  SINGA_CHECK(p.data_type() == onnx::TensorProto::STRING, IoError, what << " is not a STRING tensor");
  SINGA_CHECK(p.data_location() != onnx::TensorProto::EXTERNAL && !p.has_raw_data(), IoError,
              what << ": a STRING tensor keeps its strings in string_data (raw and external data cannot hold them)");
  Shape shape;
  int64_t numel = 1;
  for (int64_t d : p.dims()) {
    SINGA_CHECK(d >= 0, IoError, what << ": dim " << d << " is negative");
    SINGA_CHECK(d == 0 || numel <= kMaxStringElements / d, MemoryError,
                what << ": the dims ask for more than " << kMaxStringElements << " strings");
    numel *= d;
    shape.push_back(d);
  }
  SINGA_CHECK(p.string_data_size() == numel, IoError,
              what << ": the dims " << shapeStr(shape) << " call for " << numel << " strings, string_data holds "
                   << p.string_data_size());
  int64_t bytes = 0;
  for (const std::string& s : p.string_data()) bytes += static_cast<int64_t>(s.size());
  checkStringBudget(numel, bytes, what);
  return Value::ofStrings(std::move(shape), std::vector<std::string>(p.string_data().begin(), p.string_data().end()));
}

void stringsToTensorProto(const Value& value, const std::string& name, onnx::TensorProto* proto) {
  SINGA_ASSERT(value.isStrings());
  proto->Clear();
  if (!name.empty()) proto->set_name(name);
  proto->set_data_type(onnx::TensorProto::STRING);
  for (int64_t d : value.stringShape) proto->add_dims(d);
  for (const std::string& s : value.strings) proto->add_string_data(s);
}

std::string excerpt(const std::string& s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; }

bool isAscii(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

const Value& stringInput(const ConvertContext& ctx, const std::vector<Value>& in, size_t i, const char* what) {
  ctx.check(i < in.size() && in[i].isStrings(), std::string("input ") + std::to_string(i) + " (" + what +
                                                    ") must be a string tensor, got " +
                                                    (i < in.size() ? "a " + in[i].describe() : "none"));
  return in[i];
}

}  // namespace singa::onnxio
