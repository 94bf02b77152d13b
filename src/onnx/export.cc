// ONNX export. Three steps:
//  1. Walk back from the outputs through the trace (TensorImpl* -> the latest record that produced
//     it before the reader) to find the records the outputs need; graph inputs stop the walk.
//  2. Emit those records in trace order (a valid topological order), rewriting each one into the
//     form the target opset wants through the table of export_rewrites.cc: attribute-form values
//     (Reshape shape, Slice starts, Clip bounds, ...) become int64 / scalar initializer inputs
//     where that opset takes inputs, Softmax-family ops on a non-last axis are wrapped in
//     Transposes before opset 13, and ops missing at the opset are decomposed.
//  3. Write attributes through the op's schema at the target opset (coercing int <-> float,
//     dropping engine-internal attributes, rejecting newer attributes set to a non-default value),
//     so a record that is not an ONNX op, or not one at that opset, is an error that names it.
// Leaves become initializers: named by the state map, else const_N. saveModel() writes as durably
// as a checkpoint does (core/durable_io.h).
#include "singa/onnx/export.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "singa/autograd/node.h"
#include "singa/core/durable_io.h"
#include "singa/core/error.h"
#include "singa/nn/module.h"
#include "singa/onnx/export_rewrites.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {
namespace {

using autograd::OpRecord;

// The oldest IR version that carries each opset (what onnx.helper picks), so older runtimes load
// an opset-11 model.
int irVersionFor(int opset) { return opset <= 11 ? 6 : opset <= 14 ? 7 : 8; }

const TensorImpl* key(const Tensor& t) { return t.defined() ? t.implPtr().get() : nullptr; }

// First opset at which `op` exists in the default domain, or 0 when it never does.
int firstOpset(const std::string& op) {
  for (int v = 1; v <= kMaxExportOpset; ++v)
    if (onnx::OpSchemaRegistry::Schema(op, v) != nullptr) return onnx::OpSchemaRegistry::Schema(op, v)->since_version();
  return 0;
}

bool equalsDefault(const AttrValue& v, const onnx::AttributeProto& d) {
  switch (d.type()) {
    case onnx::AttributeProto::INT:
      if (auto* i = std::get_if<int64_t>(&v)) return *i == d.i();
      return false;
    case onnx::AttributeProto::FLOAT:
      if (auto* f = std::get_if<double>(&v)) return static_cast<float>(*f) == d.f();
      if (auto* i = std::get_if<int64_t>(&v)) return static_cast<float>(*i) == d.f();
      return false;
    case onnx::AttributeProto::STRING:
      if (auto* s = std::get_if<std::string>(&v)) return *s == d.s();
      return false;
    default:
      return false;
  }
}

// Writes `v` into `p` as the type the schema wants (ints and floats convert either way).
void writeAttr(const std::string& op, const std::string& name, const AttrValue& v,
               onnx::AttributeProto::AttributeType want, onnx::AttributeProto* p) {
  p->set_name(name);
  p->set_type(want);
  auto bad = [&]() {
    SINGA_THROW(ValueError, "ONNX export: attribute '" << name << "' of " << op << " cannot be written as "
                                << onnx::AttributeProto::AttributeType_Name(want));
  };
  auto toInt = [&](double d) {
    if (d != std::floor(d)) bad();
    return static_cast<int64_t>(d);
  };
  const auto* i = std::get_if<int64_t>(&v);
  const auto* d = std::get_if<double>(&v);
  const auto* is = std::get_if<std::vector<int64_t>>(&v);
  const auto* ds = std::get_if<std::vector<double>>(&v);
  if (want == onnx::AttributeProto::INT && (i || d)) {
    p->set_i(i ? *i : toInt(*d));
  } else if (want == onnx::AttributeProto::FLOAT && (i || d)) {
    p->set_f(static_cast<float>(d ? *d : static_cast<double>(*i)));
  } else if (want == onnx::AttributeProto::INTS && (i || is || ds)) {
    if (i) p->add_ints(*i);
    if (is) for (int64_t x : *is) p->add_ints(x);
    if (ds) for (double x : *ds) p->add_ints(toInt(x));
  } else if (want == onnx::AttributeProto::FLOATS && (is || ds)) {
    if (is) for (int64_t x : *is) p->add_floats(static_cast<float>(x));
    if (ds) for (double x : *ds) p->add_floats(static_cast<float>(x));
  } else if (auto* str = std::get_if<std::string>(&v); want == onnx::AttributeProto::STRING && str) {
    p->set_s(*str);
  } else if (auto* ss = std::get_if<std::vector<std::string>>(&v); want == onnx::AttributeProto::STRINGS && ss) {
    for (const auto& x : *ss) p->add_strings(x);
  } else if (auto* t = std::get_if<Tensor>(&v); want == onnx::AttributeProto::TENSOR && t) {
    toTensorProto(*t, "", p->mutable_t());
  } else {
    bad();
  }
}

void setValueInfo(onnx::ValueInfoProto* vi, const std::string& name, const Tensor& t, int64_t batch) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtypeToOnnx(t.dtype()));
  auto* shape = tt->mutable_shape();
  for (int i = 0; i < t.ndim(); ++i) {
    auto* d = shape->add_dim();
    if (i == 0 && batch >= 0 && t.dim(0) == batch) d->set_dim_param("batch");
    else d->set_dim_value(t.dim(i));
  }
}

// Builds one GraphProto from a trace.
class Exporter final : public GraphWriter {
 public:
  Exporter(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
           const std::vector<OpRecord>& records, const std::map<std::string, Tensor>& state,
           const ExportOptions& opt, onnx::GraphProto* g)
      : inputs_(inputs), outputs_(outputs), records_(records), opt_(opt), g_(g) {
    for (const auto& [name, t] : state) {
      if (t.defined()) stateByImpl_.emplace(key(t), name);
      stateNames_.insert(name);
      used_.insert(name);
    }
  }

  void run();

  // ---- GraphWriter: what the per-opset rewrites (export_rewrites.cc) add -----------------------
  std::string intsInput(const std::vector<int64_t>& v, const std::string& what) override {
    std::string n = unique(node_ + "_" + what);
    addInitializer(Tensor::fromVector<int64_t>(v, {static_cast<int64_t>(v.size())}), n);
    return n;
  }
  std::string scalarInput(double v, DType dt, const std::string& what) override {
    std::string n = unique(node_ + "_" + what);
    addInitializer(Tensor::scalar(v, dt), n);
    return n;
  }
  std::string freshName(const std::string& suffix) override { return unique(node_ + suffix); }
  void addNode(const std::string& op, std::vector<std::string> ins, const std::vector<std::string>& outs,
               const AttrMap& attrs) override;
  // A helper node of the record being emitted, named after it.
  void addAuxNode(const std::string& suffix, const std::string& op, std::vector<std::string> ins,
                  const std::vector<std::string>& outs, const AttrMap& attrs) override {
    std::string base = node_;
    node_ = unique(base + suffix);
    addNode(op, std::move(ins), outs, attrs);
    node_ = base;
  }

 private:
  // ---- names ---------------------------------------------------------------------------------
  std::string unique(const std::string& base) {
    std::string n = base;
    for (int i = 1; used_.count(n) != 0; ++i) n = base + "_" + std::to_string(i);
    used_.insert(n);
    return n;
  }
  // The value name of `t` as an input of the node being emitted; leaves become initializers.
  std::string nameOf(const Tensor& t) {
    if (!t.defined()) return "";
    auto it = names_.find(key(t));
    if (it != names_.end()) return it->second;
    std::string n;
    auto s = stateByImpl_.find(key(t));
    if (s != stateByImpl_.end()) n = s->second;
    else if (!t.name().empty() && stateNames_.count(t.name()) != 0) n = t.name();
    if (n.empty() || initNames_.count(n) != 0) n = unique(n.empty() ? "const_" + std::to_string(numConsts_++) : n);
    addInitializer(t, n);
    leaves_.push_back(t);
    names_[key(t)] = n;
    return n;
  }
  void addInitializer(const Tensor& t, const std::string& name) {
    toTensorProto(t, name, g_->add_initializer());
    initNames_.insert(name);
  }
  void emit(size_t index, const OpRecord& r);
  int producerBefore(const TensorImpl* t, int before) const {
    auto it = producers_.find(t);
    if (it == producers_.end()) return -1;
    auto pos = std::lower_bound(it->second.begin(), it->second.end(), before);
    return pos == it->second.begin() ? -1 : *(pos - 1);
  }
  bool isSource(const OpRecord& r) const {
    return std::none_of(r.inputs.begin(), r.inputs.end(), [](const Tensor& t) { return t.defined(); });
  }
  std::vector<bool> walk();
  void checkUntracedViews() const;

  const std::vector<Tensor>& inputs_;
  const std::vector<Tensor>& outputs_;
  const std::vector<OpRecord>& records_;
  const ExportOptions& opt_;
  onnx::GraphProto* g_;
  std::unordered_map<const TensorImpl*, std::string> stateByImpl_;
  std::set<std::string> stateNames_, used_, initNames_;
  std::unordered_map<const TensorImpl*, std::string> names_;        // value names so far
  std::unordered_set<const TensorImpl*> inputSet_;
  std::unordered_map<const TensorImpl*, std::vector<int>> producers_;  // record indices, ascending
  std::unordered_map<const TensorImpl*, std::pair<int, std::string>> outputNameOf_;  // (record, name)
  std::unordered_set<const Storage*> dynamicStorage_;  // storage of values computed from inputs
  std::unordered_set<const TensorImpl*> dynamic_;
  std::vector<Tensor> leaves_;
  std::string node_;  // name of the node being emitted
  int numConsts_ = 0;
  int numNodes_ = 0;
};

std::vector<bool> Exporter::walk() {
  for (size_t i = 0; i < records_.size(); ++i) {
    const OpRecord& r = records_[i];
    for (const Tensor& o : r.outputs) {
      if (!o.defined()) continue;
      bool inPlaceAlias = std::any_of(r.inputs.begin(), r.inputs.end(),
                                      [&](const Tensor& x) { return key(x) == key(o); });
      if (!inPlaceAlias) producers_[key(o)].push_back(static_cast<int>(i));
    }
  }
  std::vector<bool> needed(records_.size(), false);
  std::vector<std::pair<const TensorImpl*, int>> stack;
  for (const Tensor& t : outputs_) stack.emplace_back(key(t), static_cast<int>(records_.size()));
  while (!stack.empty()) {
    auto [t, before] = stack.back();
    stack.pop_back();
    if (inputSet_.count(t) != 0) continue;
    int r = producerBefore(t, before);
    if (r < 0 || needed[r] || isSource(records_[r])) continue;
    needed[r] = true;
    for (const Tensor& x : records_[r].inputs)
      if (x.defined()) stack.emplace_back(key(x), r);
  }
  return needed;
}

void Exporter::addNode(const std::string& op, std::vector<std::string> ins,
                       const std::vector<std::string>& outs, const AttrMap& attrs) {
  const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(op, opt_.opset);
  if (schema == nullptr || schema->Deprecated()) {
    int first = firstOpset(op);
    if (first == 0)
      SINGA_THROW(NotSupportedError, "ONNX export: traced op '" << op << "' (node " << node_
                  << ") is not an ONNX operator; the op must record an ONNX op type to be exported");
    SINGA_THROW(NotSupportedError, "ONNX export: " << op << " (node " << node_ << ") is not in ONNX opset "
                << opt_.opset << (schema ? " (deprecated there)" : "") << "; it needs opset >= " << first
                << ": export with ExportOptions::opset >= " << first);
  }
  while (!ins.empty() && ins.back().empty()) ins.pop_back();
  onnx::NodeProto* n = g_->add_node();
  n->set_op_type(op);
  n->set_name(node_);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  for (const auto& [name, v] : attrs) {
    auto it = schema->attributes().find(name);
    if (it != schema->attributes().end()) {
      writeAttr(op, name, v, it->second.type, n->add_attribute());
      continue;
    }
    // Not an attribute at this opset: drop it when it is engine-internal or a newer ONNX
    // attribute at its default; refuse when dropping would change the result.
    for (int v2 = opt_.opset + 1; v2 <= kMaxExportOpset; ++v2) {
      const onnx::OpSchema* later = onnx::OpSchemaRegistry::Schema(op, v2);
      auto a = later ? later->attributes().find(name) : schema->attributes().end();
      if (later == nullptr || a == later->attributes().end()) continue;
      SINGA_CHECK(equalsDefault(v, a->second.default_value), NotSupportedError,
                  "ONNX export: " << op << " attribute '" << name << "' (node " << node_
                  << ") needs opset >= " << later->since_version() << "; export with a newer opset");
      break;
    }
  }
}

void Exporter::emit(size_t index, const OpRecord& r) {
  const std::string& op = r.opType;
  std::vector<std::string> ins;
  for (const Tensor& t : r.inputs) ins.push_back(nameOf(t));
  bool isDynamic = std::any_of(r.inputs.begin(), r.inputs.end(),
                               [&](const Tensor& t) { return dynamic_.count(key(t)) != 0; });
  // Identity records (from contiguous()) are aliases unless they produce a named graph output.
  if (op == "Identity" && r.outputs.size() == 1 && !ins.empty() && !ins[0].empty()) {
    auto named = outputNameOf_.find(key(r.outputs[0]));
    if (named == outputNameOf_.end() || named->second.first != static_cast<int>(index)) {
      names_[key(r.outputs[0])] = ins[0];
      if (isDynamic) dynamic_.insert(key(r.outputs[0]));
      return;
    }
  }
  node_ = unique(op + "_" + std::to_string(numNodes_++));
  std::vector<std::string> outs;
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    const Tensor& o = r.outputs[k];
    if (!o.defined()) {
      outs.emplace_back();
      continue;
    }
    auto named = outputNameOf_.find(key(o));
    std::string n = (named != outputNameOf_.end() && named->second.first == static_cast<int>(index))
                        ? named->second.second
                        : unique(node_ + (r.outputs.size() == 1 ? "_y" : "_y" + std::to_string(k)));
    outs.push_back(n);
    if (inputSet_.count(key(o)) == 0) names_[key(o)] = n;
    if (isDynamic) {
      dynamic_.insert(key(o));
      dynamicStorage_.insert(o.impl().storage.get());
    }
  }

  const bool symbolicBatch = opt_.dynamicBatch && isDynamic;
  NodeDraft draft{r, opt_.opset, symbolicBatch, std::move(ins), std::move(outs), r.attrs.all()};
  if (RewriteFn rewrite = findRewrite(op, opt_.opset)) {
    if (rewrite(draft, *this) == Rewritten::kWritten) return;
  }
  addNode(op, std::move(draft.ins), draft.outs, draft.attrs);
}

// A leaf that shares storage with a value computed from the inputs was made by a view that the
// trace did not see; exporting it as a constant would freeze the sample input into the model.
void Exporter::checkUntracedViews() const {
  for (const Tensor& leaf : leaves_) {
    SINGA_CHECK(dynamicStorage_.count(leaf.impl().storage.get()) == 0, Error,
                "ONNX export: a tensor of shape " << leaf.shape() << " used by the graph views the storage of a "
                "value computed from the inputs, but no traced op produced it (an untraced view or copy); "
                "build it with singa::ops functions so the trace records it");
  }
}

void Exporter::run() {
  g_->set_name(opt_.graphName.empty() ? "singa_graph" : opt_.graphName);
  std::vector<std::string> inNames = opt_.inputNames, outNames = opt_.outputNames;
  for (size_t i = inNames.size(); i < inputs_.size(); ++i) inNames.push_back("input_" + std::to_string(i));
  for (size_t i = outNames.size(); i < outputs_.size(); ++i) outNames.push_back("output_" + std::to_string(i));
  int64_t batch = -1;
  if (opt_.dynamicBatch && !inputs_.empty() && inputs_[0].ndim() > 0) batch = inputs_[0].dim(0);
  for (size_t i = 0; i < inputs_.size(); ++i) {
    SINGA_CHECK(!used_.count(inNames[i]), ValueError,
                "ONNX export: input name '" << inNames[i] << "' is used twice (or is a state name)");
    used_.insert(inNames[i]);
    SINGA_CHECK(inputSet_.insert(key(inputs_[i])).second, ValueError,
                "ONNX export: input " << i << " is the same tensor as an earlier input");
    names_[key(inputs_[i])] = inNames[i];
    dynamic_.insert(key(inputs_[i]));
    dynamicStorage_.insert(inputs_[i].impl().storage.get());
    setValueInfo(g_->add_input(), inNames[i], inputs_[i], batch);
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    SINGA_CHECK(!used_.count(outNames[i]), ValueError,
                "ONNX export: output name '" << outNames[i] << "' is used twice (or is an input or state name)");
    used_.insert(outNames[i]);
  }
  std::vector<bool> needed = walk();
  // A graph output gets its name straight from the record that produces it (first use only).
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const TensorImpl* t = key(outputs_[i]);
    int r = producerBefore(t, static_cast<int>(records_.size()));
    if (inputSet_.count(t) || r < 0 || !needed[r] || outputNameOf_.count(t)) continue;
    outputNameOf_[t] = {r, outNames[i]};
  }
  for (size_t i = 0; i < records_.size(); ++i)
    if (needed[i]) emit(i, records_[i]);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    std::string n = nameOf(outputs_[i]);
    if (n != outNames[i]) {
      node_ = unique("Identity_" + std::to_string(numNodes_++));
      addNode("Identity", {n}, {outNames[i]}, {});
    }
    setValueInfo(g_->add_output(), outNames[i], outputs_[i], batch);
  }
  checkUntracedViews();
}

void checkOpset(const ExportOptions& options) {
  SINGA_CHECK(options.opset >= kMinExportOpset && options.opset <= kMaxExportOpset, ValueError,
              "ONNX export: opset " << options.opset << " is not supported; choose one of " << kMinExportOpset
                                    << ".." << kMaxExportOpset);
}

}  // namespace

onnx::ModelProto exportGraph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                             const std::vector<autograd::OpRecord>& records,
                             const std::map<std::string, Tensor>& namedState, const ExportOptions& options) {
  checkOpset(options);
  SINGA_CHECK(options.inputNames.empty() || options.inputNames.size() == inputs.size(), ValueError,
              "ONNX export: " << options.inputNames.size() << " input names for " << inputs.size()
                              << " inputs; give one name per input or none");
  SINGA_CHECK(options.outputNames.empty() || options.outputNames.size() == outputs.size(), ValueError,
              "ONNX export: " << options.outputNames.size() << " output names for " << outputs.size()
                              << " outputs; give one name per output or none");
  SINGA_CHECK(!outputs.empty(), ValueError, "ONNX export: no outputs to export");
  for (size_t i = 0; i < inputs.size(); ++i)
    SINGA_CHECK(inputs[i].defined(), ValueError, "ONNX export: input " << i << " is undefined");
  for (size_t i = 0; i < outputs.size(); ++i)
    SINGA_CHECK(outputs[i].defined(), ValueError, "ONNX export: output " << i << " is undefined");
  for (const auto* names : {&options.inputNames, &options.outputNames})
    for (const auto& n : *names) SINGA_CHECK(!n.empty(), ValueError, "ONNX export: empty input or output name");

  // Conversions below (e.g. contiguous() inside toTensorProto) must not append to a tracer the
  // caller may still hold (and whose records we are reading).
  autograd::Tracer quiet;
  autograd::NoGradGuard noGrad;
  onnx::ModelProto model;
  model.set_ir_version(irVersionFor(options.opset));
  model.set_producer_name(options.producerName);
  auto* opsetImport = model.add_opset_import();
  opsetImport->set_domain("");
  opsetImport->set_version(options.opset);
  Exporter(inputs, outputs, records, namedState, options, model.mutable_graph()).run();
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    SINGA_THROW(Error, "ONNX export: the exported model fails onnx.checker (a bug in the exporter or in "
                       "an op's trace record): " << e.what());
  }
  return model;
}

onnx::ModelProto exportFunction(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                                const std::vector<Tensor>& sampleInputs,
                                const std::map<std::string, Tensor>& namedState, const ExportOptions& options) {
  checkOpset(options);
  std::vector<Tensor> outputs;
  std::vector<autograd::OpRecord> records;
  {
    autograd::NoGradGuard noGrad;
    autograd::Tracer tracer;
    outputs = fn(sampleInputs);
    records = tracer.records();
  }
  return exportGraph(sampleInputs, outputs, records, namedState, options);
}

onnx::ModelProto exportModule(Module& m, const std::vector<Tensor>& sampleInputs,
                              const ExportOptions& options) {
  SINGA_CHECK(sampleInputs.size() == 1, ValueError,
              "ONNX export: exportModule takes one sample input (Module::forward has one), got "
                  << sampleInputs.size() << "; use exportFunction for several");
  struct ModeRestore {
    Module& m;
    bool wasTraining;
    ~ModeRestore() { m.train(wasTraining); }
  } restore{m, m.isTraining()};
  m.train(false);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : m.stateDict()) state.emplace(name, t);
  return exportFunction([&m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{m.forward(xs[0])}; },
                        sampleInputs, state, options);
}

void saveModel(const onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  SINGA_CHECK(model.SerializeToString(&bytes), IoError,
              "saveModel: cannot serialize the model for '" << path
                  << "' (protobuf refuses messages over 2 GiB; store large weights as external data)");
  // As durable as a checkpoint: a temporary file next to `path`, fsync, rename, fsync of the
  // directory. A crash or a full disk leaves the previous model or the new one, never a torn file.
  try {
    replaceFileSynced(path, bytes, "ONNX model");
  } catch (const IoError& e) {
    SINGA_THROW(IoError, "saveModel: " << e.what());
  }
}

void exportModuleToFile(Module& m, const std::vector<Tensor>& sampleInputs, const std::string& path,
                        const ExportOptions& options) {
  saveModel(exportModule(m, sampleInputs, options), path);
}

}  // namespace singa::onnxio
