// Conversion between singa Tensors and ONNX TensorProto (initializers, Constant values, and the
// .pb files of ONNX's backend test data), including external data files.
#pragma once

#include <cstdint>
#include <string>

#include "singa/core/tensor.h"

namespace onnx {
class TensorProto;
}

namespace singa::onnxio {

/// The largest serialized protobuf message (model, tensor file) protobuf can parse: 2 GiB - 1.
constexpr int64_t kMaxProtoBytes = 2147483647;

/// ONNX TensorProto data_type code <-> DType; throws NotSupportedError naming the type.
DType dtypeFromOnnx(int onnxType);
int dtypeToOnnx(DType dtype);

/// Reads a TensorProto (raw_data, typed fields, or external data relative to `baseDir`) into a
/// CPU tensor. Errors name the tensor and, for external data, the missing file.
Tensor fromTensorProto(const onnx::TensorProto& proto, const std::string& baseDir = "");
/// Writes `t` (any device) into `proto` as raw_data with the given name.
void toTensorProto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

/// Reads / writes a serialized TensorProto file (input_0.pb ...). Errors name the file.
Tensor readTensorFile(const std::string& path);
void writeTensorFile(const Tensor& t, const std::string& path, const std::string& name = "");

}  // namespace singa::onnxio
