// ONNX export: turns the ops a model ran (recorded by autograd::Tracer) into an ONNX ModelProto
// at a chosen opset (11..17, what Debian's ONNX 1.12 knows), with parameters and buffers as named
// initializers, so a model trained here runs in onnxruntime, PyTorch-importing tools, or our own
// importer. The trace records values that newer opsets take as inputs as attributes (see
// ops/ops.h); the exporter rewrites each record into the form its target opset wants.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "singa/autograd/trace.h"
#include "singa/core/tensor.h"

namespace onnx {
class ModelProto;
}

namespace singa {
class Module;
}

namespace singa::onnxio {

/// Options of an export. Callers that read the returned ModelProto include <onnx/onnx_pb.h>.
struct ExportOptions {
  /// Target ONNX opset of the default domain: 11..17 (others throw ValueError).
  int opset = 17;
  /// Graph input / output names; empty means input_0, input_1, ... / output_0, output_1, ...
  /// When given, there must be exactly one name per input / output.
  std::vector<std::string> inputNames;
  std::vector<std::string> outputNames;
  /// Make the first dimension of the inputs (and of outputs that share it) the symbolic "batch".
  bool dynamicBatch = true;
  std::string producerName = "singa";
  /// GraphProto name; empty means "singa_graph".
  std::string graphName;
};

/// The low-level form. Walks back from `outputs` through `records` (a Tracer's records, in the
/// order the ops ran) and emits the nodes that compute them from `inputs`. Tensors that are
/// `inputs` become graph inputs; tensors found in `namedState` (same TensorImpl, or a tensor whose
/// name() is a key) become initializers with that name; any other leaf (a constant made inside
/// an op) becomes an initializer "const_N". Node and value names are unique and deterministic.
/// The result passes onnx::checker::check_model (else Error with the checker's message).
/// Throws ValueError for bad options, NotSupportedError for a record with no ONNX operator at
/// the target opset (naming the op).
onnx::ModelProto exportGraph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                             const std::vector<autograd::OpRecord>& records,
                             const std::map<std::string, Tensor>& namedState,
                             const ExportOptions& options = ExportOptions());

/// Runs `fn(sampleInputs)` under a Tracer (with gradients off) and exports the graph from the
/// sample inputs to the returned tensors; `namedState` names the parameters `fn` uses.
onnx::ModelProto exportFunction(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                                const std::vector<Tensor>& sampleInputs,
                                const std::map<std::string, Tensor>& namedState = {},
                                const ExportOptions& options = ExportOptions());

/// Exports module `m` on one sample input (sampleInputs.size() must be 1): puts it in eval mode
/// (restored afterwards, also on error), traces m.forward, and names initializers by
/// m.stateDict().
onnx::ModelProto exportModule(Module& m, const std::vector<Tensor>& sampleInputs,
                              const ExportOptions& options = ExportOptions());

/// exportModule() + saveModel(): what most callers want, without touching the ModelProto type.
void exportModuleToFile(Module& m, const std::vector<Tensor>& sampleInputs, const std::string& path,
                        const ExportOptions& options = ExportOptions());

/// Writes `model` to `path` as durably as a checkpoint: a temporary file in the same folder,
/// fsync, rename over `path`, fsync of the folder; so a crash or a full disk never leaves a
/// truncated model and never destroys the previous file at `path`. Throws IoError naming the
/// path on failure (also when `path` is a directory or its folder does not exist).
void saveModel(const onnx::ModelProto& model, const std::string& path);

}  // namespace singa::onnxio
