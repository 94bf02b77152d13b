// Loading ONNX ModelProto files with errors a user can act on: a missing file, a truncated or
// non-ONNX file, a model without a graph, or an opset newer than the importer knows are each
// reported with the file name and what is wrong, before any graph work starts.
#pragma once

#include <cstdint>
#include <string>

namespace onnx {
class ModelProto;
}

namespace singa::onnxio {

/// The newest ai.onnx opset whose operator semantics the importer implements.
constexpr int kMaxSupportedOpset = 28;

/// Reads and checks an ONNX model file. External data of initializers (stored next to the model)
/// is loaded into the proto, so the result is self-contained.
///  - missing / unreadable file, protobuf parse failure, no graph -> IoError naming `path`;
///  - missing external data file -> IoError naming that file and the tensor;
///  - ai.onnx opset > kMaxSupportedOpset -> NotSupportedError naming both opsets.
onnx::ModelProto loadModel(const std::string& path);

/// Parses a serialized model held in memory (`what` names it in errors); same checks as loadModel.
/// External data is resolved relative to `baseDir`.
onnx::ModelProto parseModel(const std::string& bytes, const std::string& what,
                            const std::string& baseDir = "");

/// Checks the ai.onnx opset versions a model imports: IoError below 1, NotSupportedError past
/// kMaxSupportedOpset (both naming `what` and the version).
void checkOpsets(const onnx::ModelProto& model, const std::string& what);

/// The ai.onnx ("" domain) opset a model imports (1 when it declares none). A version past
/// kMaxSupportedOpset reads as kMaxSupportedOpset + 1 (the int64 field is never narrowed with wrap).
int modelOpset(const onnx::ModelProto& model);
/// An opset version as an int: kMaxSupportedOpset + 1 for anything newer, 0 for a negative one.
int clampOpset(int64_t version);

/// Loads the external data of every initializer (and Constant node value) into raw_data.
void loadExternalData(onnx::ModelProto& model, const std::string& baseDir);

}  // namespace singa::onnxio
