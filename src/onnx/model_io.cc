// Model file loading and its checks (see model_io.h).
#include "singa/onnx/model_io.h"

#include <onnx/onnx_pb.h>


#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {

namespace {

void inlineExternal(onnx::TensorProto& t, const std::string& baseDir) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  Tensor value = fromTensorProto(t, baseDir);  // throws IoError naming the missing file
  std::string name = t.name();
  toTensorProto(value, name, &t);
}

// Subgraphs (If/Loop/Scan bodies) nest; real models nest a few levels. The bound keeps every
// recursive walk over a crafted model's graphs off the end of the stack.
constexpr int kMaxGraphDepth = 16;

void inlineGraph(onnx::GraphProto& g, const std::string& baseDir, int depth) {
  SINGA_CHECK(depth <= kMaxGraphDepth, IoError,
              "ONNX model: subgraphs nest more than " << kMaxGraphDepth << " levels deep (graph '" << g.name()
                                                      << "'); such a model is not supported");
  for (auto& init : *g.mutable_initializer()) inlineExternal(init, baseDir);
  for (auto& node : *g.mutable_node()) {
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) inlineExternal(*attr.mutable_t(), baseDir);
      if (attr.has_g()) inlineGraph(*attr.mutable_g(), baseDir, depth + 1);
      for (auto& sub : *attr.mutable_graphs()) inlineGraph(sub, baseDir, depth + 1);
    }
  }
}

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

}  // namespace

int clampOpset(int64_t version) {
  return version > kMaxSupportedOpset ? kMaxSupportedOpset + 1 : version < 0 ? 0 : static_cast<int>(version);
}

int modelOpset(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import()) {
    if (isDefaultDomain(op.domain())) return clampOpset(op.version());
  }
  return 1;
}

void loadExternalData(onnx::ModelProto& model, const std::string& baseDir) {
  if (model.has_graph()) inlineGraph(*model.mutable_graph(), baseDir, 0);
}

void checkOpsets(const onnx::ModelProto& model, const std::string& what) {
  for (const auto& op : model.opset_import()) {
    if (!isDefaultDomain(op.domain())) continue;
    const int64_t version = op.version();  // read as the int64 it is: 2^40 must not wrap to opset 0
    SINGA_CHECK(version >= 1, IoError,
                what << " imports ai.onnx opset " << version << ", which does not exist (opsets start at 1)");
    SINGA_CHECK(version <= kMaxSupportedOpset, NotSupportedError,
                what << " uses ai.onnx opset " << version << ", newer than the newest supported opset "
                     << kMaxSupportedOpset << "; convert it with onnx.version_converter to opset "
                     << kMaxSupportedOpset << " or lower");
  }
}

onnx::ModelProto parseModel(const std::string& bytes, const std::string& what,
                            const std::string& baseDir) {
  onnx::ModelProto model;
  SINGA_CHECK(!bytes.empty(), IoError, what << " is empty (0 bytes), not an ONNX model");
  SINGA_CHECK(model.ParseFromString(bytes), IoError,
              what << " is not a valid ONNX model: the protobuf data could not be parsed ("
                   << bytes.size() << " bytes; the file is truncated or is not an ONNX file)");
  SINGA_CHECK(model.has_graph() && (model.graph().node_size() > 0 || model.graph().output_size() > 0),
              IoError, what << " is not an ONNX model: it holds no graph (is it an ONNX file?)");
  SINGA_CHECK(model.ir_version() > 0, IoError,
              what << " is not an ONNX model: ir_version is missing");
  checkOpsets(model, what);
  loadExternalData(model, baseDir);
  return model;
}

onnx::ModelProto loadModel(const std::string& path) {
  const std::string bytes = readRegularFile(path, "ONNX model file", kMaxProtoBytes);
  std::string baseDir = ".";
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos) baseDir = path.substr(0, slash == 0 ? 1 : slash);
  return parseModel(bytes, "ONNX model file '" + path + "'", baseDir);
}

}  // namespace singa::onnxio
