// ONNX import: a ModelProto becomes an ImportedModel, an nn Module whose forward runs the graph's
// nodes with the engine's own ops. Every float initializer is a trainable parameter (registered
// under its ONNX name, so stateDict() keys are the ONNX names) except BatchNormalization running
// statistics, which are buffers; other initializers and Constant nodes are constants. The model
// can be run whole, or cut (`lastLayers`, or at a named value) for transfer learning, and traced
// for re-export. All unsupported operators are reported together before anything runs.
//
//   auto model = singa::onnxio::prepareFile("mnist.onnx");
//   Tensor logits = model->forward(x);                  // inference (models start in eval mode)
//   Tensor feats = model->run({x}, -1)[0];              // all but the final layer
//   model->freeze("conv1");  model->train();             // re-train the rest
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "singa/core/attrs.h"
#include "singa/core/tensor.h"
#include "singa/nn/module.h"

namespace onnx {
class ModelProto;
}

namespace singa::onnxio {

struct PrepareOptions {
  /// Directory against which external-data locations are resolved (loadModel() has already
  /// inlined them; only needed for a ModelProto built or parsed elsewhere).
  std::string baseDir;
  /// Register float initializers as trainable parameters (false: keep them as constants).
  bool trainable = true;
  /// Start in training mode (BatchNorm batch statistics, Dropout active). Default: inference.
  bool training = false;
  /// Accept any size in the first dim of every graph input (for models exported with a fixed
  /// batch of 1; their Reshape nodes may still assume it).
  bool dynamicBatch = false;
  /// Accept any size in the dims after the first two (H, W, ...) of every graph input: for fully
  /// convolutional models (global pooling before the classifier) fed other image sizes.
  bool dynamicSpatial = false;
  /// Most iterations one Loop node may run (control flow, converters_control.cc): a loop with no
  /// trip count whose condition never turns false stops with a ValueError instead of hanging.
  /// 0: the environment variable SINGA_ONNX_MAX_LOOP_ITERATIONS, else 1000000.
  int64_t maxLoopIterations = 0;
};

/// A value flowing through an imported graph: a tensor, a sequence of tensors (ONNX sequence
/// type), the empty optional, or a string tensor (ONNX STRING: the engine's Tensor holds raw
/// bytes, so strings live here, for inference only). An optional that holds a value is that value.
struct Value {
  enum class Kind { kTensor, kSequence, kNone, kStrings };
  Kind kind = Kind::kTensor;
  Tensor tensor;                 // kTensor
  std::vector<Tensor> sequence;  // kSequence
  DType elemType = DType::kFloat32;  // kSequence: the element dtype (fixed even when empty)
  Shape stringShape;                 // kStrings: the dims
  std::vector<std::string> strings;  // kStrings: the elements, row-major

  Value() = default;
  Value(Tensor t) : tensor(std::move(t)) {}  // NOLINT(google-explicit-constructor): a tensor is a value
  /// A sequence; its element dtype is the items' (elemType when there are none).
  static Value ofSequence(std::vector<Tensor> items, DType elemType = DType::kFloat32);
  static Value none();
  /// A string tensor; items.size() must be the product of the dims.
  static Value ofStrings(Shape shape, std::vector<std::string> items);
  bool isTensor() const { return kind == Kind::kTensor; }
  bool isStrings() const { return kind == Kind::kStrings; }
  /// "tensor float32[2, 3]", "sequence of 4 tensors", "empty optional", "string tensor[2]".
  std::string describe() const;
};

/// A graph input or output as the model declares it. For sequence and optional types, dtype
/// and shape describe the element tensor.
struct ValueInfo {
  std::string name;
  /// The graph gives the value a type (false: its kind, tensor or sequence, is unknown).
  bool declared = false;
  bool sequence = false;  // sequence(tensor)
  bool optional = false;  // optional(tensor) or optional(sequence(tensor))
  bool hasType = false;
  DType dtype = DType::kFloat32;
  /// The element type is STRING (hasType stays false: no DType holds strings).
  bool isString = false;
  bool hasShape = false;
  /// Dims; -1 where symbolic or unknown (dimNames holds the symbol, e.g. "N").
  std::vector<int64_t> dims;
  std::vector<std::string> dimNames;
  /// "float32[N, 1, 28, 28]" (or "?" parts when unknown); "sequence<float32[5]>",
  /// "optional<...>" around it for those types.
  std::string str() const;
};

/// A node the importer cannot run.
struct UnsupportedNode {
  std::string nodeName;
  std::string opType;
  std::string domain;
  int opset = 0;
  std::string reason;
};

/// Every node of `model` whose operator has no converter at the model's opset (and initializers
/// of unsupported element types). Empty when the whole model is supported.
std::vector<UnsupportedNode> findUnsupported(const onnx::ModelProto& model);

/// Whether an op type has a converter at `opset`, and whether gradients flow through it.
bool isOpSupported(const std::string& opType, int opset, const std::string& domain = "");
bool isOpDifferentiable(const std::string& opType, int opset);

class ImportedModel;
struct NodeGraphs;  // the subgraphs of an If/Loop/Scan/SequenceMap node (subgraph.h)

/// Builds an ImportedModel on `device`. Throws NotSupportedError listing every unsupported node
/// (name, op type, opset) at once; ValueError for a malformed graph (a node input nothing
/// produces, a cycle).
std::shared_ptr<ImportedModel> prepare(const onnx::ModelProto& model, Device device = Device::cpu(),
                                       PrepareOptions options = PrepareOptions());

/// loadModel(path) + prepare().
std::shared_ptr<ImportedModel> prepareFile(const std::string& path, Device device = Device::cpu(),
                                           PrepareOptions options = PrepareOptions());

class ImportedModel : public Module {
 public:
  /// Runs the graph. `inputs` are the graph inputs that are not initializers, in declaration
  /// order; they are checked against the declared dtype and (non-symbolic) shape. With
  /// lastLayers == 0 the graph outputs are returned in order. With lastLayers = -k the last k
  /// layers are left out and the output of the last layer kept is returned; lastLayers = k > 0
  /// keeps only the first k layers. A layer is one node, except that Constant nodes are not
  /// layers and a bias Add right after a MatMul/Gemm/Conv belongs to that layer.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, int lastLayers = 0);
  /// Runs until the value named `cutAt` (a node output, input or initializer) is known and
  /// returns it alone.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const std::string& cutAt);
  /// run() for graphs with sequence or optional inputs or outputs (the Sequence* and Optional*
  /// operators): inputs and outputs as Values, whole graph.
  std::vector<Value> runValues(const std::vector<Value>& inputs);
  /// run({x})[0].
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "ImportedModel"; }
  std::string extraRepr() const override;

  /// Stops (freeze) or restarts (unfreeze) training of the parameters named `nameOrPrefix` or
  /// under it (ONNX names; "" = all). Returns how many changed; ValueError when none match.
  int freeze(const std::string& nameOrPrefix);
  int unfreeze(const std::string& nameOrPrefix);

  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  int opset() const { return opset_; }
  size_t numNodes() const { return nodes_.size(); }
  /// Number of layers as `lastLayers` counts them.
  int numLayers() const { return static_cast<int>(layerEnd_.size()); }
  /// The device the model runs on (follows Module::to()).
  Device device() const { return device_; }
  /// An initializer or Constant value by ONNX name (undefined when unknown).
  Tensor initializer(const std::string& onnxName) const;
  /// The state-dict name a parameter/buffer got (its ONNX name unless that name was unusable).
  std::string stateName(const std::string& onnxName) const;

 private:
  friend std::shared_ptr<ImportedModel> prepare(const onnx::ModelProto&, Device, PrepareOptions);
  friend struct GraphBuilder;  // import.cc: builds a graph or a subgraph
  friend struct NodeGraphs;    // runs a subgraph

  struct Node {
    std::string name;
    std::string opType;
    Attrs attrs;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    const void* entry = nullptr;  // ConverterEntry*
    bool isLayer = true;
    /// Control flow: the node's graph attributes, each an ImportedModel of its own. `inputs` then
    /// ends with the outer-scope values they read (so they are ordered and kept alive).
    std::shared_ptr<NodeGraphs> graphs;
  };

  std::vector<Tensor> execute(const std::vector<Tensor>& inputs, size_t stopAfter,
                              const std::vector<std::string>& wanted);
  std::vector<Value> executeValues(const std::vector<Value>& inputs, size_t stopAfter,
                                   const std::vector<std::string>& wanted);
  void registerNamed(const std::string& onnxName, const Tensor& t, bool buffer);

  std::vector<Node> nodes_;
  std::vector<ValueInfo> inputs_;   // non-initializer graph inputs
  std::vector<ValueInfo> outputs_;
  std::unordered_map<std::string, Tensor> constants_;  // initializers and their handles
  std::unordered_map<std::string, Value> stringConstants_;  // STRING initializers and Constant nodes
  std::map<std::string, std::string> stateNames_;
  std::unordered_map<std::string, size_t> lastUse_;    // value -> last node index reading it
  /// True when node i is a Conv or BatchNormalization whose only output is read by nothing but node i + 1, a Relu
  /// (and is not a graph output): the executor may run the two as one (ops::convRelu, batchNormRelu).
  bool reluFollows(size_t i) const;
  /// Node i is Sigmoid(x) and node i + 1 is Mul(x, that) (either order), its only reader: SiLU.
  bool siluFollows(size_t i) const;
  /// Node i is a Conv or BatchNormalization whose only output is read by nothing but node i + 1,
  /// a Clip: ops::convClip / batchNormClip when its bounds are scalar constants (attributes before opset 11; initializers or Constant
  /// outputs after, checked as the node runs).
  bool clipFollows(size_t i) const;
  std::vector<size_t> layerEnd_;                       // per layer: index of its last node
  int opset_ = 0;
  Device device_ = Device::cpu();
  Tensor deviceProbe_;  // a registered parameter/buffer: Module::to() moves it, run() follows
};

}  // namespace singa::onnxio
