// The converter registry of the ONNX importer (internal header). A converter turns one ONNX node
// into engine ops (src/ops/ops.h), so an imported graph is differentiable, trainable and traceable
// exactly like a model written in C++. Converters are keyed by op type and the opset version the
// behaviour starts at ("since version"); the importer picks, for a model of opset N, the entry
// with the largest sinceVersion <= N. Registration is explicit (one function per op family, called
// when the registry is first used), never through static initialisers.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "singa/core/attrs.h"
#include "singa/core/tensor.h"
#include "singa/onnx/import.h"

namespace singa::onnxio {

/// What a converter knows about the node it converts.
struct ConvertContext {
  const std::string& nodeName;  // the node's name, or "<OpType>#<index>" when it has none
  const std::string& opType;
  int opset;                    // the model's ai.onnx opset
  const Attrs& attrs;           // the node's attributes (tensors already converted)
  size_t numOutputs;            // how many outputs the node declares
  bool training;                // the owning module's training mode
  Device device;                // where the model's tensors live (for values made from nothing)
  bool fuseRelu;                // Conv, BatchNormalization: the executor folded the following Relu into this node
  const NodeGraphs* graphs = nullptr;  // If, Loop, Scan, SequenceMap: the node's subgraphs (subgraph.h)
  bool fuseClip = false;               // Conv, BatchNormalization: the executor folded the following Clip into this node,
  std::optional<double> clipMin = std::nullopt, clipMax = std::nullopt;  // with these bounds (absent: unbounded)

  /// Throws ValueError naming the node when `cond` is false.
  void check(bool cond, const std::string& what) const;
};

/// Operators of other domains are registered as "domain:OpType" (e.g.
/// "ai.onnx.preview.training:Adam") and looked up with the model's opset for that domain.
///
/// Converts one node. `inputs` has one entry per declared input; an absent optional input (empty
/// name) is an undefined Tensor. Returns one tensor per declared output (trailing optional ones
/// may be left undefined when nothing uses them).
using ConvertFn = std::vector<Tensor> (*)(const ConvertContext& ctx, const std::vector<Tensor>& inputs);

/// Converts a node whose inputs or outputs may be sequences or optionals (the Sequence* and
/// Optional* operators, and Identity on such values); an absent optional input is Value::none().
using ValueConvertFn = std::vector<Value> (*)(const ConvertContext& ctx, const std::vector<Value>& inputs);

struct ConverterEntry {
  int sinceVersion = 1;
  ConvertFn fn = nullptr;
  /// Used instead of `fn` when set and `fn` is not, or when an input is not a tensor.
  ValueConvertFn valueFn = nullptr;
  /// False for converters computed outside autograd (integer/index results, or values built on
  /// the CPU): gradients do not flow through them. `singa_onnx info` reports these.
  bool differentiable = true;
  /// When set, a node whose attributes make it return true runs through `valueFn` even with tensor
  /// inputs (Cast to STRING: a tensor in, a string tensor out).
  bool (*valueWhen)(const Attrs& attrs) = nullptr;
};

class ConverterRegistry {
 public:
  /// The registry with every family registered (built on first use).
  static const ConverterRegistry& instance();

  void add(const std::string& opType, int sinceVersion, ConvertFn fn, bool differentiable = true);
  void addValueOp(const std::string& opType, int sinceVersion, ValueConvertFn fn, bool differentiable = true);
  /// Gives every registered version of `opType` a value form (for non-tensor inputs).
  void setValueForm(const std::string& opType, ValueConvertFn fn);
  /// setValueForm, and `when` picks nodes that take it even with tensor inputs.
  void setValueForm(const std::string& opType, ValueConvertFn fn, bool (*when)(const Attrs&));
  /// The entry for `opType` at model opset `opset`, or nullptr when unsupported there.
  const ConverterEntry* find(const std::string& opType, int opset) const;
  bool knows(const std::string& opType) const { return entries_.count(opType) != 0; }
  /// Sorted op types with at least one converter.
  std::vector<std::string> opTypes() const;

 private:
  std::map<std::string, std::vector<ConverterEntry>> entries_;
};

// One registration function per op family (converters_*.cc).
void registerElementwiseConverters(ConverterRegistry& r);
void registerMathConverters(ConverterRegistry& r);
void registerNnConverters(ConverterRegistry& r);
void registerShapeConverters(ConverterRegistry& r);
void registerReduceConverters(ConverterRegistry& r);
void registerIndexConverters(ConverterRegistry& r);
void registerLossConverters(ConverterRegistry& r);
void registerResizeConverters(ConverterRegistry& r);
void registerQuantConverters(ConverterRegistry& r);
void registerSignalConverters(ConverterRegistry& r);
void registerMiscConverters(ConverterRegistry& r);
void registerRnnConverters(ConverterRegistry& r);
void registerSampleConverters(ConverterRegistry& r);
void registerTrainingConverters(ConverterRegistry& r);
void registerAttentionConverters(ConverterRegistry& r);
void registerBitwiseConverters(ConverterRegistry& r);
void registerExtraMathConverters(ConverterRegistry& r);
void registerSpatialConverters(ConverterRegistry& r);
void registerSeqModelConverters(ConverterRegistry& r);  // CausalConvWithState, LinearAttention, FlexAttention
void registerSequenceConverters(ConverterRegistry& r);  // after the others (Identity's value form)
void registerControlConverters(ConverterRegistry& r);   // If, Loop, Scan, SequenceMap
void registerTextConverters(ConverterRegistry& r);      // TfIdfVectorizer
void registerMlConverters(ConverterRegistry& r);        // ai.onnx.ml operators, ImageDecoder
void registerStringConverters(ConverterRegistry& r);    // string tensors; after the others (value forms)

}  // namespace singa::onnxio
