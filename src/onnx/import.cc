// ONNX import, graph building (see import.h). prepare() validates the whole graph first (every
// unsupported node in one error), turns initializers into parameters / buffers / constants, orders
// the nodes topologically, resolves each node's converter once and records each value's last
// reader and the layers a cut counts. Running the prepared nodes (run(), runValues()) is the
// executor's part: executor.cc.
#include "singa/onnx/import.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <queue>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/model_io.h"
#include "singa/onnx/string_tensor.h"
#include "singa/onnx/subgraph.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {
namespace {

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// Converters of other domains are registered as "domain:OpType".
std::string registryKey(const std::string& domain, const std::string& opType) {
  return isDefaultDomain(domain) ? opType : domain + ":" + opType;
}

// The opset a model imports for `domain` (0 when it imports none).
int domainOpset(const onnx::ModelProto& model, const std::string& domain) {
  if (isDefaultDomain(domain)) return modelOpset(model);
  for (const auto& op : model.opset_import()) {
    if (op.domain() == domain) return clampOpset(op.version());
  }
  return 0;
}

std::string nodeLabel(const onnx::NodeProto& n, int index) {
  return n.name().empty() ? n.op_type() + "#" + std::to_string(index) : n.name();
}

// A value's declared type: a tensor (dtype and shape), a sequence of tensors or an optional of
// either (the element tensor's dtype and shape); `problem` is set for types we cannot run.
ValueInfo toValueInfo(const onnx::ValueInfoProto& v, std::string* problem) {
  ValueInfo vi;
  vi.name = v.name();
  if (!v.has_type()) return vi;
  vi.declared = true;
  const onnx::TypeProto* type = &v.type();
  if (type->has_optional_type()) {
    vi.optional = true;
    type = &type->optional_type().elem_type();
  }
  if (type->has_sequence_type()) {
    vi.sequence = true;
    type = &type->sequence_type().elem_type();
  }
  if (!type->has_tensor_type()) {
    if (problem) *problem = "is not a tensor, a sequence of tensors or an optional of those (maps and sparse "
                            "tensors are not supported)";
    return vi;
  }
  const auto& tt = type->tensor_type();
  if (tt.elem_type() == onnx::TensorProto::STRING) {
    vi.isString = true;  // a string tensor (Value::Kind::kStrings)
  } else if (tt.elem_type() != 0) {
    try {
      vi.dtype = dtypeFromOnnx(tt.elem_type());
      vi.hasType = true;
    } catch (const NotSupportedError& e) {
      if (problem) *problem = e.what();
    }
  }
  if (tt.has_shape()) {
    vi.hasShape = true;
    for (const auto& d : tt.shape().dim()) {
      vi.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      vi.dimNames.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
  }
  return vi;
}

// Converts an ONNX attribute; returns false for kinds converters never read (graphs, types).
bool convertAttr(const onnx::AttributeProto& a, const std::string& baseDir, AttrValue* out) {
  using A = onnx::AttributeProto;
  int type = a.type();
  if (type == A::UNDEFINED) {  // very old models leave the type out
    if (a.has_f()) type = A::FLOAT;
    else if (a.has_i()) type = A::INT;
    else if (a.has_s()) type = A::STRING;
    else if (a.has_t()) type = A::TENSOR;
    else if (a.floats_size() > 0) type = A::FLOATS;
    else if (a.ints_size() > 0) type = A::INTS;
    else if (a.strings_size() > 0) type = A::STRINGS;
  }
  switch (type) {
    case A::FLOAT: *out = static_cast<double>(a.f()); return true;
    case A::INT: *out = static_cast<int64_t>(a.i()); return true;
    case A::STRING: *out = a.s(); return true;
    case A::TENSOR:
      if (a.t().data_type() == onnx::TensorProto::STRING) {  // e.g. LabelEncoder keys_tensor: its strings
        *out = stringsFromTensorProto(a.t(), "attribute '" + a.name() + "'").strings;
        return true;
      }
      *out = fromTensorProto(a.t(), baseDir);
      return true;
    case A::FLOATS: *out = std::vector<double>(a.floats().begin(), a.floats().end()); return true;
    case A::INTS: *out = std::vector<int64_t>(a.ints().begin(), a.ints().end()); return true;
    case A::STRINGS: *out = std::vector<std::string>(a.strings().begin(), a.strings().end()); return true;
    default: return false;
  }
}

// A Constant node whose value is a string tensor (`value` of type STRING, `value_string`,
// `value_strings`): its value in *out. Such nodes become string constants of the graph.
bool stringConstantOf(const onnx::NodeProto& n, Value* out) {
  if (n.op_type() != "Constant" || !n.domain().empty() || n.attribute_size() != 1) return false;
  const onnx::AttributeProto& a = n.attribute(0);
  const std::string what = "Constant node '" + n.name() + "' attribute '" + a.name() + "'";
  if (a.name() == "value" && a.has_t() && a.t().data_type() == onnx::TensorProto::STRING) {
    *out = stringsFromTensorProto(a.t(), what);
  } else if (a.name() == "value_string") {
    checkStringBudget(1, static_cast<int64_t>(a.s().size()), what);
    *out = Value::ofStrings({}, {a.s()});
  } else if (a.name() == "value_strings") {
    int64_t bytes = 0;
    for (const std::string& s : a.strings()) bytes += static_cast<int64_t>(s.size());
    checkStringBudget(a.strings_size(), bytes, what);
    *out = Value::ofStrings({a.strings_size()}, {a.strings().begin(), a.strings().end()});
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> splitDots(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// Conv (or BatchNormalization), Constant..., Clip reading its output: the Constant nodes (no
// inputs; exporters write Clip's bounds that way) move before it, so the Clip follows it directly
// and the executor can run the two as one (ImportedModel::clipFollows). Values have one producer each
// (orderNodes checks), so a node without inputs may run earlier.
template <class Node>  // ImportedModel::Node (private to the class; deduced here)
void hoistConstantsBeforeClip(std::vector<Node>* nodes) {
  for (size_t i = 0; i + 2 < nodes->size(); ++i) {
    const std::string& op = (*nodes)[i].opType;
    if ((op != "Conv" && op != "BatchNormalization") || (*nodes)[i].outputs.empty()) continue;
    size_t j = i + 1;
    while (j < nodes->size() && (*nodes)[j].opType == "Constant" && (*nodes)[j].inputs.empty()) ++j;
    if (j == i + 1 || j == nodes->size() || (*nodes)[j].opType != "Clip" || (*nodes)[j].inputs.empty() ||
        (*nodes)[j].inputs[0] != (*nodes)[i].outputs[0]) {
      continue;
    }
    std::rotate(nodes->begin() + static_cast<std::ptrdiff_t>(i), nodes->begin() + static_cast<std::ptrdiff_t>(i + 1),
                nodes->begin() + static_cast<std::ptrdiff_t>(j));
    i = j - 1;
  }
}

// Orders `pending` topologically in O(nodes + edges) (Kahn's algorithm, stable: a node is placed
// as early as the file's order allows, so a file that already is in order stays as it is). A
// quadratic rescan took hours on a 100k-node chain listed in reverse. Every value has one
// producer: a second node writing the same name (or writing a graph input or initializer) is an
// error, as is a node reading a value nothing produces, or a cycle.
template <class Node>  // ImportedModel::Node (private to the class; deduced here)
void orderNodes(std::vector<Node> pending, const std::set<std::string>& initNames, const std::vector<ValueInfo>& inputs,
                std::vector<Node>* out) {
  std::unordered_map<std::string, size_t> producer;  // value -> index of the node writing it
  std::unordered_set<std::string> given(initNames.begin(), initNames.end());
  for (const ValueInfo& v : inputs) given.insert(v.name);
  for (size_t i = 0; i < pending.size(); ++i) {
    for (const std::string& o : pending[i].outputs) {
      if (o.empty()) continue;
      SINGA_CHECK(!given.count(o), ValueError,
                  "ONNX graph: node '" << pending[i].name << "' (" << pending[i].opType << ") writes '" << o
                                       << "', which is already a graph input or initializer; every value "
                                       << "must have exactly one producer");
      auto [it, fresh] = producer.emplace(o, i);
      SINGA_CHECK(fresh, ValueError,
                  "ONNX graph: nodes '" << pending[it->second].name << "' (" << pending[it->second].opType
                                        << ") and '" << pending[i].name << "' (" << pending[i].opType
                                        << ") both write '" << o << "'; every value must have exactly one producer");
    }
  }
  std::vector<size_t> waiting(pending.size(), 0);      // inputs not yet available
  std::vector<std::vector<size_t>> readers(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) {
    for (const std::string& s : pending[i].inputs) {
      if (s.empty() || given.count(s)) continue;
      auto p = producer.find(s);
      SINGA_CHECK(p != producer.end(), ValueError,
                  "ONNX graph: node '" << pending[i].name << "' (" << pending[i].opType << ") reads '" << s
                                       << "', which no node, initializer or graph input produces");
      readers[p->second].push_back(i);
      ++waiting[i];
    }
  }
  // Ready nodes in file order: a min-heap on the index keeps the order stable.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < pending.size(); ++i) {
    if (waiting[i] == 0) ready.push(i);
  }
  out->reserve(pending.size());
  std::vector<bool> placed(pending.size(), false);
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    placed[i] = true;
    for (size_t r : readers[i]) {
      if (--waiting[r] == 0) ready.push(r);
    }
    out->push_back(std::move(pending[i]));
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    SINGA_CHECK(placed[i], ValueError,
                "ONNX graph: node '" << pending[i].name << "' (" << pending[i].opType
                                     << ") is part of a cycle (its inputs depend on its own outputs)");
  }
}

}  // namespace

std::string ValueInfo::str() const {
  std::ostringstream os;
  os << (hasType ? dtypeName(dtype) : isString ? "string" : "?");
  if (!hasShape) {
    os << "[?]";
  } else {
    os << "[";
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i) os << ", ";
      if (dims[i] >= 0) {
        os << dims[i];
      } else {
        os << (dimNames[i].empty() ? "?" : dimNames[i]);
      }
    }
    os << "]";
  }
  std::string t = os.str();
  if (sequence) t = "sequence<" + t + ">";
  if (optional) t = "optional<" + t + ">";
  return t;
}

bool isOpSupported(const std::string& opType, int opset, const std::string& domain) {
  return ConverterRegistry::instance().find(registryKey(domain, opType), opset) != nullptr;
}

bool isOpDifferentiable(const std::string& opType, int opset) {
  const ConverterEntry* e = ConverterRegistry::instance().find(opType, opset);
  return e != nullptr && e->differentiable;
}

namespace {

// True when some converter is registered for `domain` (as "domain:OpType").
bool knowsDomain(const ConverterRegistry& reg, const std::string& domain) {
  for (const std::string& t : reg.opTypes()) {
    if (t.size() > domain.size() && t.compare(0, domain.size() + 1, domain + ":") == 0) return true;
  }
  return false;
}

// The nodes of `g` and of its subgraphs (to kMaxSubgraphDepth; prepare() rejects deeper ones)
// without a converter.
void findUnsupportedNodes(const onnx::ModelProto& model, const onnx::GraphProto& g, int depth,
                          std::vector<UnsupportedNode>& out) {
  const ConverterRegistry& reg = ConverterRegistry::instance();
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (depth < kMaxSubgraphDepth) {
      for (const auto& a : n.attribute()) {
        if (a.has_g()) findUnsupportedNodes(model, a.g(), depth + 1, out);
      }
    }
    const int nodeOpset = domainOpset(model, n.domain());
    UnsupportedNode u{nodeLabel(n, i), n.op_type(), n.domain(), nodeOpset, ""};
    const std::string key = registryKey(n.domain(), n.op_type());
    if (reg.find(key, nodeOpset) == nullptr) {
      u.reason = reg.knows(key)                   ? "no converter for this opset"
                 : !isDefaultDomain(n.domain()) && !knowsDomain(reg, n.domain())
                     ? "operator domain '" + n.domain() + "' is not supported"
                                                : "operator not supported";
    }
    if (!u.reason.empty()) out.push_back(u);
  }
}

}  // namespace

std::vector<UnsupportedNode> findUnsupported(const onnx::ModelProto& model) {
  std::vector<UnsupportedNode> out;
  const int opset = modelOpset(model);
  const auto& g = model.graph();
  findUnsupportedNodes(model, g, 0, out);
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) {
    inits.insert(t.name());
    if (t.data_type() == onnx::TensorProto::STRING) continue;  // a string tensor constant
    try {
      dtypeFromOnnx(t.data_type());
    } catch (const NotSupportedError& e) {
      out.push_back({t.name(), "initializer", "", opset, e.what()});
    }
  }
  auto checkValues = [&](const auto& list, const char* kind) {
    for (const auto& v : list) {
      if (inits.count(v.name())) continue;
      std::string problem;
      toValueInfo(v, &problem);
      if (!problem.empty()) out.push_back({v.name(), kind, "", opset, problem});
    }
  };
  checkValues(g.input(), "graph input");
  checkValues(g.output(), "graph output");
  return out;
}

// ---- ImportedModel ----------------------------------------------------------------------------

std::string ImportedModel::extraRepr() const {
  std::ostringstream os;
  os << "opset " << opset_ << ", " << nodes_.size() << " nodes";
  for (const ValueInfo& v : inputs_) os << ", input " << v.name << ": " << v.str();
  return os.str();
}

Tensor ImportedModel::initializer(const std::string& onnxName) const {
  auto it = constants_.find(onnxName);
  return it == constants_.end() ? Tensor() : it->second;
}

std::string ImportedModel::stateName(const std::string& onnxName) const {
  auto it = stateNames_.find(onnxName);
  return it == stateNames_.end() ? "" : it->second;
}

void ImportedModel::registerNamed(const std::string& onnxName, const Tensor& t, bool buffer) {
  constants_[onnxName] = t;
  if (!deviceProbe_.defined()) deviceProbe_ = t;
  // Dotted ONNX names ("features.0.weight") become child modules, so state-dict names match.
  const std::vector<std::string> parts = splitDots(onnxName);
  bool usable = std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
  if (usable) {
    try {
      Module* m = this;
      for (size_t k = 0; k + 1 < parts.size(); ++k) {
        std::shared_ptr<Module> child;
        for (const auto& [name, c] : m->children()) {
          if (name == parts[k]) child = c;
        }
        if (!child) child = m->registerModule(parts[k], std::make_shared<Module>());
        m = child.get();
      }
      if (buffer) {
        m->registerBuffer(parts.back(), t);
      } else {
        m->registerParameter(parts.back(), t);
      }
      stateNames_[onnxName] = onnxName;
      return;
    } catch (const ValueError&) {
      // A clash between a parameter and a module path: fall back to a flat name below.
    }
  }
  std::string flat = onnxName.empty() ? "unnamed" : onnxName;
  std::replace(flat.begin(), flat.end(), '.', '_');
  for (int suffix = 0;; ++suffix) {
    const std::string name = suffix == 0 ? flat : flat + "_" + std::to_string(suffix);
    try {
      if (buffer) {
        registerBuffer(name, t);
      } else {
        registerParameter(name, t);
      }
      stateNames_[onnxName] = name;
      return;
    } catch (const ValueError&) {
      SINGA_CHECK(suffix < 1000, ValueError, "ImportedModel: cannot register initializer '" << onnxName << "'");
    }
  }
}

int ImportedModel::freeze(const std::string& nameOrPrefix) {
  const std::string s = stateName(nameOrPrefix);
  return setRequiresGrad(s.empty() ? nameOrPrefix : s, false);
}

int ImportedModel::unfreeze(const std::string& nameOrPrefix) {
  const std::string s = stateName(nameOrPrefix);
  return setRequiresGrad(s.empty() ? nameOrPrefix : s, true);
}

// ---- prepare -----------------------------------------------------------------------------------

namespace {

int64_t maxLoopIterations(const PrepareOptions& options) {
  SINGA_CHECK(options.maxLoopIterations >= 0, ValueError,
              "PrepareOptions::maxLoopIterations is " << options.maxLoopIterations << "; give a positive bound (0: default)");
  if (options.maxLoopIterations > 0) return options.maxLoopIterations;
  const char* env = std::getenv("SINGA_ONNX_MAX_LOOP_ITERATIONS");
  if (env == nullptr || *env == '\0') return kDefaultMaxLoopIterations;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  SINGA_CHECK(*end == '\0' && v > 0, ValueError,
              "SINGA_ONNX_MAX_LOOP_ITERATIONS='" << env << "' is not a positive integer");
  return v;
}

// A child-module name for a subgraph ("Loop_0_body"): module names take no dots.
std::string subgraphModuleName(const std::string& nodeName, const std::string& attr) {
  std::string name = nodeName + "_" + attr;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

bool isControlFlow(const std::string& domain, const std::string& opType) {
  return isDefaultDomain(domain) && (opType == "If" || opType == "Loop" || opType == "Scan" || opType == "SequenceMap");
}

}  // namespace

// Builds one graph into an ImportedModel: the main graph (depth 0) or a subgraph (depth >= 1),
// whose outer-scope reads become extra inputs (subgraph.h).
struct GraphBuilder {
  const onnx::ModelProto& model;
  Device device;
  const PrepareOptions& options;
  int64_t loopLimit;

  /// Returns how many inputs the graph declares (a subgraph's outer-scope inputs follow them).
  size_t build(const onnx::GraphProto& g, ImportedModel& mr, int depth) const;
  std::shared_ptr<NodeGraphs> buildSubgraphs(ImportedModel::Node& node, const std::vector<const onnx::AttributeProto*>& attrs,
                                             ImportedModel& parent, int depth) const;
};

std::shared_ptr<NodeGraphs> GraphBuilder::buildSubgraphs(ImportedModel::Node& node,
                                                         const std::vector<const onnx::AttributeProto*>& attrs,
                                                         ImportedModel& parent, int depth) const {
  SINGA_CHECK(depth < kMaxSubgraphDepth, ValueError,
              "ONNX graph: node '" << node.name << "' (" << node.opType << ") nests subgraphs more than "
                                   << kMaxSubgraphDepth << " levels deep; flatten the model's control flow");
  auto graphs = std::make_shared<NodeGraphs>();
  graphs->explicitInputs = node.inputs.size();
  graphs->maxLoopIterations = loopLimit;
  for (const onnx::AttributeProto* a : attrs) {
    NodeGraphs::Graph sub;
    sub.attr = a->name();
    sub.model = std::make_shared<ImportedModel>();
    sub.model->opset_ = parent.opset_;
    sub.model->device_ = device;
    try {
      sub.declaredInputs = build(a->g(), *sub.model, depth + 1);
    } catch (const ValueError& e) {
      SINGA_THROW(ValueError, "node '" << node.name << "' (" << node.opType << "), graph '" << sub.attr << "': " << e.what());
    }
    // Outer-scope values the subgraph reads: the node reads them too (one slot per name).
    const std::vector<ValueInfo>& ins = sub.model->inputs_;
    for (size_t k = sub.declaredInputs; k < ins.size(); ++k) {
      auto begin = node.inputs.begin() + static_cast<std::ptrdiff_t>(graphs->explicitInputs);
      auto it = std::find(begin, node.inputs.end(), ins[k].name);
      if (it == node.inputs.end()) it = node.inputs.insert(node.inputs.end(), ins[k].name);
      sub.outerSlots.push_back(static_cast<size_t>(it - node.inputs.begin()));
    }
    // A child module, so its parameters train, move and save with the model.
    const std::string base = subgraphModuleName(node.name, sub.attr);
    for (int suffix = 0;; ++suffix) {
      try {
        parent.registerModule(suffix == 0 ? base : base + "_" + std::to_string(suffix), sub.model);
        break;
      } catch (const ValueError&) {
        SINGA_CHECK(suffix < 1000, ValueError, "ImportedModel: cannot register subgraph '" << base << "'");
      }
    }
    graphs->graphs.push_back(std::move(sub));
  }
  return graphs;
}

size_t GraphBuilder::build(const onnx::GraphProto& g, ImportedModel& mr, int depth) const {
  ImportedModel* m = &mr;

  // Trainable tensors that the exporter merged are separated again. torch.onnx keeps one
  // initializer per distinct value and names the equal ones through Identity nodes
  // (`layer1.0.bn1.weight = Identity(bn1.weight)`): every freshly initialised BatchNorm layer then
  // shares one tensor of ones and one of zeros as its scale, bias *and* running statistics, and
  // training would tie them all and write running means into biases. With trainable parameters
  // each such Identity output becomes an initializer of its own (a copy), as in the model that was
  // exported; a BatchNorm statistic (updated in place in training) that is still shared with any
  // other use gets a private copy. Weights shared by direct use (tied embeddings) stay shared.
  std::unordered_map<std::string, const onnx::TensorProto*> initProtos;
  for (const auto& init : g.initializer()) initProtos[init.name()] = &init;
  auto isFloatProto = [](const onnx::TensorProto* t) {
    return t->data_type() == onnx::TensorProto::FLOAT || t->data_type() == onnx::TensorProto::DOUBLE;
  };
  std::unordered_set<std::string> graphOutputs;
  for (const auto& v : g.output()) graphOutputs.insert(v.name());
  std::vector<std::pair<std::string, std::string>> copies;  // (new initializer, initializer it copies)
  std::unordered_set<std::string> copyNames;
  std::vector<bool> dropNode(static_cast<size_t>(g.node_size()), false);
  std::vector<std::vector<std::string>> nodeInputs(static_cast<size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) nodeInputs[i].assign(g.node(i).input().begin(), g.node(i).input().end());
  if (options.trainable) {
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (n.op_type() != "Identity" || !n.domain().empty() || n.input_size() != 1 || n.output_size() != 1) continue;
      auto src = initProtos.find(n.input(0));
      const std::string& out = n.output(0);
      if (src == initProtos.end() || !isFloatProto(src->second) || out.empty() || initProtos.count(out) ||
          copyNames.count(out) || graphOutputs.count(out)) {
        continue;
      }
      copies.emplace_back(out, n.input(0));
      copyNames.insert(out);
      dropNode[i] = true;
    }
    std::unordered_map<std::string, int> uses;
    int64_t clashes = 0;
    for (int i = 0; i < g.node_size(); ++i) {
      if (dropNode[i]) continue;
      for (const std::string& in : nodeInputs[i]) ++uses[in];
    }
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (dropNode[i] || n.op_type() != "BatchNormalization" || n.input_size() < 5) continue;
      for (int slot : {3, 4}) {
        std::string& in = nodeInputs[i][slot];
        const bool isInit = (initProtos.count(in) && isFloatProto(initProtos.at(in))) || copyNames.count(in);
        if (!isInit || (uses[in] <= 1 && !graphOutputs.count(in))) continue;
        const std::string base = nodeLabel(n, i) + (slot == 3 ? ".running_mean" : ".running_var");
        std::string name = base;
        // One counter for all clashes: names are free to repeat in a file, and the tries stay
        // linear in the number of names however a file arranges them.
        while (initProtos.count(name) || copyNames.count(name)) name = base + "_" + std::to_string(++clashes);
        --uses[in];
        copies.emplace_back(name, in);
        copyNames.insert(name);
        in = name;
      }
    }
  }

  // Initializers: float -> parameters (BatchNorm statistics -> buffers), others -> constants.
  std::set<std::string> bnStats;
  for (int i = 0; i < g.node_size(); ++i) {
    if (!dropNode[i] && g.node(i).op_type() == "BatchNormalization" && nodeInputs[i].size() >= 5) {
      bnStats.insert(nodeInputs[i][3]);
      bnStats.insert(nodeInputs[i][4]);
    }
  }
  std::set<std::string> initNames;
  for (const auto& init : g.initializer()) {
    initNames.insert(init.name());
    if (init.data_type() == onnx::TensorProto::STRING) {
      m->stringConstants_[init.name()] = stringsFromTensorProto(init, "initializer '" + init.name() + "'");
      continue;
    }
    Tensor t = fromTensorProto(init, options.baseDir);
    if (!(device == Device::cpu())) t = t.to(device);
    const bool isFloat = t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64;
    if (isFloat && options.trainable) {
      m->registerNamed(init.name(), t, bnStats.count(init.name()) != 0);
    } else {
      m->constants_[init.name()] = t;
    }
  }
  for (const auto& [name, from] : copies) {  // in order: a copy may copy an earlier copy
    initNames.insert(name);
    Tensor copy;
    try {
      copy = m->constants_.at(from).clone();
    } catch (const MemoryError& e) {
      SINGA_THROW(MemoryError, "ONNX model: tensor '" << name << "', a copy of initializer '" << from
                                                      << "' (each layer gets its own tensors for training): "
                                                      << e.what()
                                                      << "; import with trainable = false to run it for inference");
    }
    m->registerNamed(name, copy, bnStats.count(name) != 0);
  }
  for (const auto& v : g.input()) {
    if (initNames.count(v.name())) continue;
    ValueInfo vi = toValueInfo(v, nullptr);
    if (depth > 0) vi.hasShape = false;  // loop-carried values may change shape between iterations
    if (depth == 0 && options.dynamicBatch && vi.hasShape && !vi.dims.empty() && vi.dims[0] >= 0) {
      vi.dims[0] = -1;
      vi.dimNames[0] = "batch";
    }
    if (depth == 0 && options.dynamicSpatial && vi.hasShape) {
      for (size_t d = 2; d < vi.dims.size(); ++d) {
        vi.dims[d] = -1;
        vi.dimNames[d] = "d" + std::to_string(d);
      }
    }
    m->inputs_.push_back(vi);
  }
  for (const auto& v : g.output()) m->outputs_.push_back(toValueInfo(v, nullptr));

  // Nodes, in a topological order (stable: the file's order when it already is one).
  const ConverterRegistry& reg = ConverterRegistry::instance();
  std::vector<ImportedModel::Node> pending;
  for (int i = 0; i < g.node_size(); ++i) {
    if (dropNode[i]) continue;  // an Identity whose output is now an initializer of its own
    const auto& n = g.node(i);
    if (Value strings; !n.output().empty() && stringConstantOf(n, &strings)) {  // a Constant of STRING type
      initNames.insert(n.output(0));
      m->stringConstants_[n.output(0)] = std::move(strings);
      continue;
    }
    ImportedModel::Node node;
    node.name = nodeLabel(n, i);
    node.opType = n.op_type();
    node.inputs = std::move(nodeInputs[i]);
    node.outputs.assign(n.output().begin(), n.output().end());
    const int nodeOpset = domainOpset(model, n.domain());
    node.entry = reg.find(registryKey(n.domain(), n.op_type()), nodeOpset);
    std::vector<const onnx::AttributeProto*> graphAttrs;
    for (const auto& a : n.attribute()) {
      if (a.has_g()) {
        graphAttrs.push_back(&a);
        continue;
      }
      AttrValue v;
      if (convertAttr(a, options.baseDir, &v)) node.attrs.set(a.name(), std::move(v));
    }
    if (!graphAttrs.empty() || isControlFlow(n.domain(), n.op_type())) {
      node.graphs = buildSubgraphs(node, graphAttrs, *m, depth);
      if (isControlFlow(n.domain(), n.op_type())) {
        validateControlNode(node.name, node.opType, nodeOpset, node.attrs, node.outputs.size(), *node.graphs);
      }
    }
    pending.push_back(std::move(node));
  }
  const size_t declaredInputs = m->inputs_.size();
  if (depth > 0) {  // values of the enclosing graphs: extra inputs, in the order first read
    std::unordered_set<std::string> defined(initNames.begin(), initNames.end());
    for (const ValueInfo& v : m->inputs_) defined.insert(v.name);
    for (const ImportedModel::Node& node : pending) defined.insert(node.outputs.begin(), node.outputs.end());
    auto addOuter = [&](const std::string& name) {
      if (name.empty() || !defined.insert(name).second) return;
      ValueInfo vi;
      vi.name = name;
      m->inputs_.push_back(vi);
    };
    for (const ImportedModel::Node& node : pending) {
      for (const std::string& in : node.inputs) addOuter(in);
    }
    for (const ValueInfo& v : m->outputs_) addOuter(v.name);
  }
  orderNodes(std::move(pending), initNames, m->inputs_, &m->nodes_);
  hoistConstantsBeforeClip(&m->nodes_);
  std::unordered_set<std::string> known(initNames.begin(), initNames.end());
  for (const ValueInfo& v : m->inputs_) known.insert(v.name);
  for (const ImportedModel::Node& node : m->nodes_) known.insert(node.outputs.begin(), node.outputs.end());
  for (const ValueInfo& v : m->outputs_) {
    SINGA_CHECK(known.count(v.name), ValueError, "ONNX graph: output '" << v.name << "' is never produced");
  }

  // Last uses (for freeing intermediates) and layers (for lastLayers cuts).
  std::unordered_set<std::string> constantOutputs;
  for (size_t i = 0; i < m->nodes_.size(); ++i) {
    ImportedModel::Node& node = m->nodes_[i];
    for (const std::string& s : node.inputs) m->lastUse_[s] = i;
    if (node.opType == "Constant") {
      node.isLayer = false;
      for (const std::string& o : node.outputs) constantOutputs.insert(o);
      continue;
    }
    auto isConst = [&](const std::string& s) { return initNames.count(s) || constantOutputs.count(s); };
    if (node.opType == "Add" && !m->layerEnd_.empty() && node.inputs.size() == 2) {
      const ImportedModel::Node& prev = m->nodes_[m->layerEnd_.back()];
      const bool linear = (prev.opType == "MatMul" || prev.opType == "Gemm" || prev.opType == "Conv" ||
                           prev.opType == "ConvTranspose") &&
                          !prev.outputs.empty();  // a malformed node may declare none (fuzzing found it)
      const std::string out = linear ? prev.outputs[0] : std::string();
      const bool biasAdd = linear && ((node.inputs[0] == out && isConst(node.inputs[1])) ||
                                      (node.inputs[1] == out && isConst(node.inputs[0])));
      if (linear && biasAdd) {
        m->layerEnd_.back() = i;
        continue;
      }
    }
    m->layerEnd_.push_back(i);
  }
  return declaredInputs;
}

std::shared_ptr<ImportedModel> prepare(const onnx::ModelProto& model, Device device, PrepareOptions options) {
  SINGA_CHECK(model.has_graph(), IoError, "ONNX model holds no graph");
  checkOpsets(model, "ONNX model");
  const int opset = modelOpset(model);
  const std::vector<UnsupportedNode> unsupported = findUnsupported(model);
  if (!unsupported.empty()) {
    std::ostringstream os;
    os << "ONNX model (opset " << opset << ") has " << unsupported.size()
       << " unsupported element(s); nothing was run:";
    for (const UnsupportedNode& u : unsupported) {
      os << "\n  " << u.opType << " '" << u.nodeName << "'";
      if (!u.domain.empty()) os << " [domain " << u.domain << "]";
      os << " (opset " << u.opset << "): " << u.reason;
    }
    throw NotSupportedError(os.str());
  }
  auto m = std::make_shared<ImportedModel>();
  m->opset_ = opset;
  m->device_ = device;
  GraphBuilder{model, device, options, maxLoopIterations(options)}.build(model.graph(), *m, 0);
  m->train(options.training);
  return m;
}

std::shared_ptr<ImportedModel> prepareFile(const std::string& path, Device device, PrepareOptions options) {
  onnx::ModelProto model = loadModel(path);
  if (options.baseDir.empty()) {
    auto slash = path.find_last_of('/');
    options.baseDir = slash == std::string::npos ? "." : path.substr(0, slash);
  }
  return prepare(model, device, options);
}

}  // namespace singa::onnxio
