// The executor of an imported ONNX model (see import.h): runs the nodes prepare() ordered and
// resolved (import.cc). Each node's converter gets the tensors (or, for the Sequence* and
// Optional* operators, the Values) its inputs name; a value is freed after its last reader unless
// the caller asked for it; a Conv or BatchNormalization whose only reader is the next node, a Relu,
// runs fused with it, as do Conv -> Clip with constant bounds and Sigmoid(x) -> Mul(x, .) (SiLU);
// a converter without a 16-bit float kernel runs widened to float32; and every error names the
// node it came from.
#include "singa/onnx/import.h"

#include <algorithm>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

bool isHalf(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// Runs a converter. Kernels compute in float32/float64; when one lacks a 16-bit float kernel, the
// node is re-run with its float16/bfloat16 inputs widened to float32 and float32 outputs narrowed
// back (ONNX computes such ops in the 16-bit type; the widened result rounds to the same values
// or closer).
std::vector<Tensor> invokeConverter(const ConverterEntry& entry, const ConvertContext& ctx,
                                    const std::vector<Tensor>& ins) {
  try {
    return entry.fn(ctx, ins);
  } catch (const TypeError&) {
    DType half = DType::kFloat32;
    for (const Tensor& t : ins) {
      if (t.defined() && isHalf(t.dtype())) half = t.dtype();
    }
    if (half == DType::kFloat32) throw;
    std::vector<Tensor> wide;
    for (const Tensor& t : ins) wide.push_back(t.defined() && isHalf(t.dtype()) ? t.to(DType::kFloat32) : t);
    std::vector<Tensor> outs = entry.fn(ctx, wide);
    for (Tensor& t : outs) {
      if (t.defined() && t.dtype() == DType::kFloat32) t = t.to(half);
    }
    return outs;
  }
}

template <class E>
[[noreturn]] void rethrowAs(const std::string& prefix, const E& e) {
  throw E(prefix + e.what());
}

// The declared type of a graph input against the value given for it.
void checkInput(const ValueInfo& vi, const Value& v) {
  const char* what = "ImportedModel::run: input '";
  if (!vi.declared) return;  // a subgraph's outer-scope value, or an input the model leaves untyped
  if (v.kind == Value::Kind::kNone) {
    SINGA_CHECK(vi.optional, TypeError, what << vi.name << "' expects " << vi.str() << ", got an empty optional");
    return;
  }
  SINGA_CHECK(vi.sequence == (v.kind == Value::Kind::kSequence), TypeError,
              what << vi.name << "' expects " << vi.str() << ", got a " << v.describe());
  SINGA_CHECK(v.isStrings() ? !vi.hasType : !vi.isString, TypeError,
              what << vi.name << "' expects " << vi.str() << ", got a " << v.describe());
  if (v.isStrings()) {
    bool ok = !vi.hasShape || vi.dims.size() == v.stringShape.size();
    for (size_t d = 0; ok && vi.hasShape && d < vi.dims.size(); ++d) ok = vi.dims[d] < 0 || vi.dims[d] == v.stringShape[d];
    SINGA_CHECK(ok, ShapeError, what << vi.name << "' expects shape " << vi.str() << ", got a " << v.describe());
    return;
  }
  std::vector<Tensor> items = v.kind == Value::Kind::kSequence ? v.sequence : std::vector<Tensor>{v.tensor};
  for (const Tensor& t : items) {
    SINGA_CHECK(t.defined(), ValueError, what << vi.name << "' is undefined");
    SINGA_CHECK(!vi.hasType || t.dtype() == vi.dtype, TypeError,
                what << vi.name << "' expects " << dtypeName(vi.dtype) << " " << vi.str() << ", got "
                     << dtypeName(t.dtype()) << " " << t.shape());
    if (vi.hasShape) {
      bool ok = static_cast<int>(vi.dims.size()) == t.ndim();
      for (size_t d = 0; ok && d < vi.dims.size(); ++d) ok = vi.dims[d] < 0 || vi.dims[d] == t.shape()[d];
      SINGA_CHECK(ok, ShapeError,
                  what << vi.name << "' expects shape " << vi.str() << ", got " << dtypeName(t.dtype()) << t.shape());
    }
  }
}

}  // namespace

Value Value::ofSequence(std::vector<Tensor> items, DType elemType) {
  Value v;
  v.kind = Kind::kSequence;
  v.elemType = items.empty() ? elemType : items.front().dtype();
  v.sequence = std::move(items);
  return v;
}

Value Value::ofStrings(Shape shape, std::vector<std::string> items) {
  SINGA_ASSERT(static_cast<int64_t>(items.size()) == numelOf(shape));
  Value v;
  v.kind = Kind::kStrings;
  v.stringShape = std::move(shape);
  v.strings = std::move(items);
  return v;
}

Value Value::none() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}

std::string Value::describe() const {
  std::ostringstream os;
  switch (kind) {
    case Kind::kTensor:
      os << "tensor " << (tensor.defined() ? dtypeName(tensor.dtype()) : "undefined");
      if (tensor.defined()) os << tensor.shape();
      break;
    case Kind::kSequence: os << "sequence of " << sequence.size() << " tensor(s)"; break;
    case Kind::kNone: os << "empty optional"; break;
    case Kind::kStrings: os << "string tensor" << stringShape; break;
  }
  return os.str();
}

// ---- running the graph ------------------------------------------------------------------------

Tensor ImportedModel::forward(const Tensor& x) { return run({x})[0]; }

std::vector<Tensor> ImportedModel::run(const std::vector<Tensor>& inputs, int lastLayers) {
  std::vector<std::string> wanted;
  if (lastLayers == 0 || nodes_.empty()) {
    for (const ValueInfo& v : outputs_) wanted.push_back(v.name);
    return execute(inputs, nodes_.size(), wanted);
  }
  const int n = numLayers();
  const int keep = lastLayers < 0 ? n + lastLayers : lastLayers;
  SINGA_CHECK(keep >= 1 && keep <= n, ValueError,
              "ImportedModel::run: lastLayers=" << lastLayers << " leaves " << keep << " of the model's "
                                                << n << " layers; use -" << (n - 1) << ".." << n);
  const size_t last = layerEnd_[static_cast<size_t>(keep - 1)];
  SINGA_CHECK(!nodes_[last].outputs.empty() && !nodes_[last].outputs[0].empty(), ValueError,
              "ImportedModel::run: node '" << nodes_[last].name << "' (" << nodes_[last].opType
                                           << ") ends layer " << keep << " but declares no output to cut at");
  wanted.push_back(nodes_[last].outputs[0]);
  return execute(inputs, last + 1, wanted);
}

std::vector<Tensor> ImportedModel::run(const std::vector<Tensor>& inputs, const std::string& cutAt) {
  size_t stop = 0;
  bool found = constants_.count(cutAt) != 0 ||
               std::any_of(inputs_.begin(), inputs_.end(), [&](const ValueInfo& v) { return v.name == cutAt; });
  for (size_t i = 0; i < nodes_.size() && !found; ++i) {
    const auto& outs = nodes_[i].outputs;
    if (std::find(outs.begin(), outs.end(), cutAt) != outs.end()) {
      found = true;
      stop = i + 1;
    }
  }
  SINGA_CHECK(found, ValueError, "ImportedModel::run: no value named '" << cutAt
                                     << "' in the graph (give a node output, input or initializer name)");
  return execute(inputs, stop, {cutAt});
}

std::vector<Value> ImportedModel::runValues(const std::vector<Value>& inputs) {
  return executeValues(inputs, nodes_.size(), [&] {
    std::vector<std::string> names;
    for (const ValueInfo& v : outputs_) names.push_back(v.name);
    return names;
  }());
}

std::vector<Tensor> ImportedModel::execute(const std::vector<Tensor>& inputs, size_t stopAfter,
                                           const std::vector<std::string>& wanted) {
  for (size_t i = 0; i < inputs.size() && i < inputs_.size(); ++i) {
    SINGA_CHECK(!inputs_[i].sequence, TypeError,
                "ImportedModel::run: input '" << inputs_[i].name << "' is a " << inputs_[i].str()
                                              << "; give the inputs as Values with runValues()");
  }
  std::vector<Value> values(inputs.begin(), inputs.end());
  std::vector<Value> outs = executeValues(values, stopAfter, wanted);
  std::vector<Tensor> result;
  for (size_t i = 0; i < outs.size(); ++i) {
    SINGA_CHECK(outs[i].isTensor(), TypeError,
                "ImportedModel::run: output '" << wanted[i] << "' is a " << outs[i].describe()
                                               << ", not a tensor; use runValues()");
    result.push_back(outs[i].tensor);
  }
  return result;
}

bool ImportedModel::reluFollows(size_t i) const {
  if (i + 1 >= nodes_.size()) return false;
  const Node& conv = nodes_[i];  // a Conv or a BatchNormalization
  const Node& relu = nodes_[i + 1];
  if ((conv.opType != "Conv" && conv.opType != "BatchNormalization") || conv.outputs.size() != 1 ||
      conv.outputs[0].empty()) {
    return false;
  }
  if (relu.opType != "Relu" || relu.inputs.size() != 1 || relu.inputs[0] != conv.outputs[0]) return false;
  if (relu.outputs.size() != 1) return false;
  auto lu = lastUse_.find(conv.outputs[0]);
  if (lu == lastUse_.end() || lu->second != i + 1) return false;
  return std::none_of(outputs_.begin(), outputs_.end(), [&](const ValueInfo& v) { return v.name == conv.outputs[0]; });
}

bool ImportedModel::clipFollows(size_t i) const {
  if (i + 1 >= nodes_.size()) return false;
  const Node& conv = nodes_[i];  // a Conv or a BatchNormalization
  const Node& clip = nodes_[i + 1];
  if ((conv.opType != "Conv" && conv.opType != "BatchNormalization") || conv.outputs.size() != 1 ||
      conv.outputs[0].empty()) {
    return false;
  }
  if (clip.opType != "Clip" || clip.inputs.empty() || clip.inputs.size() > 3 || clip.inputs[0] != conv.outputs[0] ||
      clip.outputs.size() != 1) {
    return false;
  }
  for (size_t k = 1; k < clip.inputs.size(); ++k) {
    if (clip.inputs[k] == conv.outputs[0]) return false;
  }
  auto lu = lastUse_.find(conv.outputs[0]);
  if (lu == lastUse_.end() || lu->second != i + 1) return false;
  return std::none_of(outputs_.begin(), outputs_.end(), [&](const ValueInfo& v) { return v.name == conv.outputs[0]; });
}

bool ImportedModel::siluFollows(size_t i) const {
  if (i + 1 >= nodes_.size()) return false;
  const Node& sig = nodes_[i];
  const Node& mul = nodes_[i + 1];
  if (sig.opType != "Sigmoid" || sig.inputs.size() != 1 || sig.outputs.size() != 1 || sig.outputs[0].empty()) {
    return false;
  }
  if (mul.opType != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1 || mul.outputs[0].empty()) return false;
  const std::string& x = sig.inputs[0];
  const std::string& s = sig.outputs[0];
  if (!((mul.inputs[0] == x && mul.inputs[1] == s) || (mul.inputs[0] == s && mul.inputs[1] == x)) || x == s) {
    return false;
  }
  auto lu = lastUse_.find(s);
  if (lu == lastUse_.end() || lu->second != i + 1) return false;
  return std::none_of(outputs_.begin(), outputs_.end(), [&](const ValueInfo& v) { return v.name == s; });
}

std::vector<Value> ImportedModel::executeValues(const std::vector<Value>& inputs, size_t stopAfter,
                                                const std::vector<std::string>& wanted) {
  if (inputs.size() != inputs_.size()) {
    std::ostringstream names;
    for (size_t i = 0; i < inputs_.size(); ++i) names << (i ? ", " : "") << inputs_[i].name << ": " << inputs_[i].str();
    SINGA_THROW(ValueError, "ImportedModel::run: the graph takes " << inputs_.size() << " input(s) ("
                                << names.str() << "), got " << inputs.size());
  }
  // Module::to() moved the parameters: move the constants after them.
  if (deviceProbe_.defined() && deviceProbe_.device() != device_) {
    device_ = deviceProbe_.device();
    for (auto& [name, t] : constants_) {
      if (t.device() != device_) t = t.to(device_);
    }
  }
  auto onDevice = [&](const Tensor& t) { return t.device() == device_ ? t : t.to(device_); };
  // Tensors live in `env`; sequences and empty optionals in `others`.
  std::unordered_map<std::string, Tensor> env;
  std::unordered_map<std::string, Value> others;
  for (const auto& [name, v] : stringConstants_) others[name] = v;
  for (size_t i = 0; i < inputs.size(); ++i) {
    checkInput(inputs_[i], inputs[i]);
    Value v = inputs[i];
    if (v.isTensor()) {
      env[inputs_[i].name] = onDevice(v.tensor);
      continue;
    }
    for (Tensor& t : v.sequence) t = onDevice(t);
    if (v.kind == Value::Kind::kSequence) {
      v.elemType = inputs_[i].hasType ? inputs_[i].dtype : (v.sequence.empty() ? v.elemType : v.sequence[0].dtype());
    }
    others[inputs_[i].name] = std::move(v);
  }
  std::unordered_set<std::string> keep(wanted.begin(), wanted.end());
  auto lookup = [&](const std::string& name, const Node& node) -> Tensor {
    if (name.empty()) return Tensor();
    auto it = env.find(name);
    if (it != env.end()) return it->second;
    auto c = constants_.find(name);
    if (c != constants_.end()) return c->second;
    auto o = others.find(name);
    SINGA_CHECK(o == others.end(), TypeError,
                "node '" << node.name << "' (" << node.opType << "): input '" << name << "' is a " << o->second.describe()
                         << "; this operator takes tensors");
    SINGA_THROW(ValueError, "node '" << node.name << "' (" << node.opType << "): input '" << name
                                     << "' was not computed (an earlier node produced fewer outputs)");
  };
  auto lookupValue = [&](const std::string& name, const Node& node) -> Value {
    auto o = others.find(name);
    if (o != others.end()) return o->second;
    return Value(lookup(name, node));
  };

  // A Clip's bounds, when each is absent or a one-element float tensor known now (opset < 11:
  // attributes); false leaves the Clip to run as its own node.
  auto clipBounds = [&](const Node& clip, std::optional<double>* lo, std::optional<double>* hi) {
    if (opset_ < 11) {
      if (clip.attrs.has("min")) *lo = clip.attrs.getFloat("min");
      if (clip.attrs.has("max")) *hi = clip.attrs.getFloat("max");
      return true;
    }
    for (size_t k = 1; k < clip.inputs.size(); ++k) {
      const std::string& name = clip.inputs[k];
      if (name.empty()) continue;
      Tensor t;
      if (auto e = env.find(name); e != env.end()) {
        t = e->second;
      } else if (auto c = constants_.find(name); c != constants_.end()) {
        t = c->second;
      }
      if (!t.defined() || t.numel() != 1 || !isFloating(t.dtype())) return false;
      (k == 1 ? *lo : *hi) = doublesOf(t)[0];
    }
    return true;
  };

  for (size_t i = 0; i < stopAfter; ++i) {
    const Node& node = nodes_[i];
    const auto* entry = static_cast<const ConverterEntry*>(node.entry);
    const bool valueInputs = std::any_of(node.inputs.begin(), node.inputs.end(),
                                         [&](const std::string& n) { return others.count(n) != 0; });
    const bool asValues = entry->valueFn != nullptr &&
                          (entry->fn == nullptr || valueInputs || (entry->valueWhen && entry->valueWhen(node.attrs)));
    // Conv -> Relu or BatchNormalization -> Relu where the Relu is the only reader of the first
    // node's output (and nobody asked for that output): one node (ops::convRelu and
    // ops::batchNormRelu decide at run time whether they can fuse).
    const bool fuseRelu = i + 1 < stopAfter && reluFollows(i) && !keep.count(node.outputs[0]);
    // Sigmoid(x) -> Mul(x, s) where the Mul is the only reader of s: one SiLU pass (ops::silu)
    // instead of two and a tensor, in inference and in training. Its backward keeps x alone and
    // computes sigmoid(x) again (vectorised on the CPU, kernels/cpu/vec_math.h), where the two
    // nodes keep s as well, and their backward adds two partial gradients of x.
    bool fuseSilu = !fuseRelu && i + 1 < stopAfter && siluFollows(i) && !keep.count(node.outputs[0]);
    if (fuseSilu) {
      auto xt = env.find(node.inputs[0]);
      fuseSilu = xt != env.end() && (xt->second.dtype() == DType::kFloat32 || xt->second.dtype() == DType::kFloat64);
    }
    // Conv -> Clip or BatchNormalization -> Clip with scalar bounds known now (the Constant nodes
    // writing them were moved before the first node at import): one node (ops::convClip and
    // ops::batchNormClip decide at run time whether they can fuse).
    std::optional<double> clipMin, clipMax;
    const bool fuseClip = !fuseRelu && i + 1 < stopAfter && clipFollows(i) && !keep.count(node.outputs[0]) &&
                          clipBounds(nodes_[i + 1], &clipMin, &clipMax);
    ConvertContext ctx{node.name, node.opType, opset_,   node.attrs, node.outputs.size(), isTraining(), device_,
                       fuseRelu,  node.graphs.get(), fuseClip, clipMin,    clipMax};
    std::vector<Value> outs;
    const std::string where = "node '" + node.name + "' (" + node.opType + "): ";
    try {
      if (fuseSilu) {
        outs.emplace_back(ops::silu(env.at(node.inputs[0])));
      } else if (asValues) {
        std::vector<Value> ins;
        for (const std::string& name : node.inputs) ins.push_back(name.empty() ? Value::none() : lookupValue(name, node));
        outs = entry->valueFn(ctx, ins);
      } else {
        std::vector<Tensor> ins;
        ins.reserve(node.inputs.size());
        for (const std::string& name : node.inputs) ins.push_back(lookup(name, node));
        for (Tensor& t : invokeConverter(*entry, ctx, ins)) outs.emplace_back(std::move(t));
      }
    } catch (const ShapeError& e) {
      rethrowAs(where, e);
    } catch (const TypeError& e) {
      rethrowAs(where, e);
    } catch (const ValueError& e) {
      rethrowAs(where, e);
    } catch (const IoError& e) {
      rethrowAs(where, e);
    } catch (const NotSupportedError& e) {
      rethrowAs(where, e);
    } catch (const MemoryError& e) {
      rethrowAs(where, e);
    } catch (const Error& e) {
      rethrowAs(where, e);
    } catch (const std::bad_alloc&) {
      // Memory the allocation ceiling does not see (std::vector scratch, a lower ulimit -v).
      SINGA_THROW(MemoryError, where << "ran out of memory (the model's sizes are too large for this machine)");
    } catch (const std::length_error&) {
      SINGA_THROW(MemoryError, where << "a size computed from the model is too large to allocate");
    } catch (const std::out_of_range&) {
      SINGA_THROW(ValueError, where << "a required input or attribute is missing or out of range");
    }
    if (fuseRelu || fuseSilu || fuseClip) {  // the second node's output is what this one returned; skip that node
      const Node& next = nodes_[i + 1];
      if (!next.outputs[0].empty() && outs[0].isTensor() && outs[0].tensor.defined()) env[next.outputs[0]] = outs[0].tensor;
      for (const std::string& name : node.inputs) {  // a SiLU's x is read by both nodes
        auto lu = lastUse_.find(name);
        if (lu != lastUse_.end() && (lu->second == i || lu->second == i + 1) && !keep.count(name)) {
          env.erase(name), others.erase(name);
        }
      }
      ++i;
      continue;
    }
    for (size_t k = 0; k < node.outputs.size() && k < outs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      if (!outs[k].isTensor()) {
        others[node.outputs[k]] = std::move(outs[k]);
      } else if (outs[k].tensor.defined()) {
        env[node.outputs[k]] = outs[k].tensor;
      }
    }
    // Free values no later node reads (autograd keeps what backward needs).
    for (const std::string& name : node.inputs) {
      auto lu = lastUse_.find(name);
      if (lu != lastUse_.end() && lu->second == i && !keep.count(name)) env.erase(name), others.erase(name);
    }
  }
  std::vector<Value> result;
  for (const std::string& name : wanted) {
    auto it = env.find(name);
    if (it != env.end()) {
      result.emplace_back(it->second);
      continue;
    }
    auto o = others.find(name);
    if (o != others.end()) {
      result.push_back(o->second);
      continue;
    }
    auto c = constants_.find(name);
    SINGA_CHECK(c != constants_.end(), ValueError,
                "ImportedModel::run: output '" << name << "' was not computed by the graph");
    result.emplace_back(c->second);
  }
  return result;
}

}  // namespace singa::onnxio
