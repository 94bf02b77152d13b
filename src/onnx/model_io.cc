// Model file loading and its checks (see model_io.h).
#include "onnx/model_io.h"

#include <onnx/onnx_pb.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "onnx/tensor_proto.h"

namespace singa::onnxio {

namespace {

void inlineExternal(onnx::TensorProto& t, const std::string& baseDir) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  Tensor value = fromTensorProto(t, baseDir);  // throws IoError naming the missing file
  std::string name = t.name();
  toTensorProto(value, name, &t);
}

void inlineGraph(onnx::GraphProto& g, const std::string& baseDir) {
  for (auto& init : *g.mutable_initializer()) inlineExternal(init, baseDir);
  for (auto& node : *g.mutable_node()) {
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) inlineExternal(*attr.mutable_t(), baseDir);
      if (attr.has_g()) inlineGraph(*attr.mutable_g(), baseDir);
      for (auto& sub : *attr.mutable_graphs()) inlineGraph(sub, baseDir);
    }
  }
}

}  // namespace

int modelOpset(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") return static_cast<int>(op.version());
  }
  return 1;
}

void loadExternalData(onnx::ModelProto& model, const std::string& baseDir) {
  if (model.has_graph()) inlineGraph(*model.mutable_graph(), baseDir);
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
  const int opset = modelOpset(model);
  SINGA_CHECK(opset <= kMaxSupportedOpset, NotSupportedError,
              what << " uses ai.onnx opset " << opset << ", newer than the newest supported opset "
                   << kMaxSupportedOpset << "; convert it with onnx.version_converter to opset "
                   << kMaxSupportedOpset << " or lower");
  loadExternalData(model, baseDir);
  return model;
}

onnx::ModelProto loadModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SINGA_CHECK(in.good(), IoError, "ONNX model file '" << path << "' does not exist or is unreadable");
  std::stringstream buf;
  buf << in.rdbuf();
  SINGA_CHECK(!in.bad(), IoError, "reading ONNX model file '" << path << "' failed");
  std::string baseDir = ".";
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos) baseDir = path.substr(0, slash == 0 ? 1 : slash);
  return parseModel(buf.str(), "ONNX model file '" + path + "'", baseDir);
}

}  // namespace singa::onnxio
