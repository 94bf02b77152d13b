// Control flow: If, Loop, Scan (opset 8 with a batch axis, opset 9+ with axes and directions)
// and SequenceMap. The importer built each graph attribute as an ImportedModel with the
// outer-scope values it reads as extra inputs (subgraph.h); these converters choose the branch
// from the condition's value at run time, or run the body once per iteration, eagerly under the
// autograd tape: gradients flow through the branch taken and through every iteration, to the
// loop-carried values, the scanned inputs and the outer-scope values (parameters included).
// Untrusted models: subgraph input/output counts are checked at import (validateControlNode), a
// trip count must be a non-negative int64 scalar, and a Loop runs at most maxLoopIterations
// iterations (PrepareOptions, SINGA_ONNX_MAX_LOOP_ITERATIONS) before a ValueError.
#include <algorithm>
#include <string>
#include <vector>

#include "singa/autograd/trace.h"
#include "singa/core/error.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/subgraph.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Values = std::vector<Value>;

bool present(const Values& in, size_t i) {
  return i < in.size() && in[i].kind != Value::Kind::kNone && !(in[i].isTensor() && !in[i].tensor.defined());
}

const Tensor& tensorInput(const ConvertContext& ctx, const Values& in, size_t i, const std::string& what) {
  ctx.check(present(in, i) && in[i].isTensor(),
            what + " must be a tensor, got " + (i < in.size() ? in[i].describe() : std::string("nothing")));
  return in[i].tensor;
}

// A condition: a tensor of one element (bool in ONNX; other dtypes read as nonzero = true).
bool truth(const ConvertContext& ctx, const Value& v, const std::string& what) {
  ctx.check(v.isTensor() && v.tensor.defined(), what + " must be a one-element tensor, got " + v.describe());
  ctx.check(v.tensor.numel() == 1, what + " must hold exactly one element, got " + v.describe());
  return doublesOf(v.tensor)[0] != 0.0;
}

const NodeGraphs& graphsOf(const ConvertContext& ctx) {
  ctx.check(ctx.graphs != nullptr, "the node carries no subgraphs");
  return *ctx.graphs;
}

// Tracing for export would record only the branch taken / the iterations run for the sample
// input: a model that silently computes something else for other inputs. Refuse instead.
void refuseTracing(const ConvertContext& ctx) {
  SINGA_CHECK(autograd::activeTracer() == nullptr, NotSupportedError,
              "ONNX export of " << ctx.opType << " (node '" << ctx.nodeName << "') is not supported: a trace "
                                << "records only the branch taken or the iterations run for the sample input; "
                                << "export the model with its control flow removed (or keep the original ONNX file)");
}

// items stacked along a new axis `axis` (in [-r-1, r] for items of rank r).
Tensor stack(const ConvertContext& ctx, const std::vector<Tensor>& items, int64_t axis, const std::string& what) {
  const int64_t r = items.front().ndim();
  ctx.check(axis >= -r - 1 && axis <= r, what + ": axis " + std::to_string(axis) + " is outside [" +
                                             std::to_string(-r - 1) + ", " + std::to_string(r) + "]");
  const int64_t a = axis < 0 ? axis + r + 1 : axis;
  std::vector<Tensor> parts;
  parts.reserve(items.size());
  for (const Tensor& t : items) parts.push_back(ops::unsqueeze(t, {a}));
  return parts.size() == 1 ? parts.front() : ops::concat(parts, a);
}

// A scan output of zero iterations: [0, dims...] when the body declares the dims, else [0].
Tensor emptyScanOutput(const ConvertContext& ctx, const ValueInfo& vi) {
  Shape shape{0};
  if (vi.hasShape && std::all_of(vi.dims.begin(), vi.dims.end(), [](int64_t d) { return d >= 0; })) {
    shape.insert(shape.end(), vi.dims.begin(), vi.dims.end());
  }
  return Tensor::zeros(shape, vi.hasType ? vi.dtype : DType::kFloat32, ctx.device);
}

Tensor scanItem(const ConvertContext& ctx, const Value& v, size_t k) {
  ctx.check(v.isTensor() && v.tensor.defined(),
            "scan output " + std::to_string(k) + " of the body must be a tensor, got " + v.describe());
  return v.tensor;
}

std::vector<int64_t> intsAttr(const ConvertContext& ctx, const std::string& name, size_t count) {
  if (!ctx.attrs.has(name)) return std::vector<int64_t>(count, 0);
  std::vector<int64_t> v = ctx.attrs.getInts(name);
  ctx.check(v.size() == count, "attribute '" + name + "' has " + std::to_string(v.size()) + " entries; it needs " +
                                   std::to_string(count));
  return v;
}

// ---- If --------------------------------------------------------------------------------------

Values ifOp(const ConvertContext& ctx, const Values& in) {
  const NodeGraphs& graphs = graphsOf(ctx);
  refuseTracing(ctx);
  ctx.check(!in.empty(), "the condition input is missing");
  const bool cond = truth(ctx, in[0], "the condition");
  return graphs.run(ctx, cond ? "then_branch" : "else_branch", {}, in);
}

// ---- Loop ------------------------------------------------------------------------------------

Values loop(const ConvertContext& ctx, const Values& in) {
  const NodeGraphs& graphs = graphsOf(ctx);
  refuseTracing(ctx);
  const NodeGraphs::Graph& body = graphs.get(ctx, "body");
  const size_t n = graphs.explicitInputs - 2;  // loop-carried values (validated at import)
  const size_t k = body.model->outputs().size() - 1 - n;  // scan outputs
  const bool hasTrip = present(in, 0);
  int64_t trip = 0;
  if (hasTrip) {
    const Tensor& m = tensorInput(ctx, in, 0, "the trip count M");
    ctx.check(m.dtype() == DType::kInt64 && m.numel() == 1,
              "the trip count M must be an int64 scalar, got " + in[0].describe());
    trip = intsOf(m)[0];
    ctx.check(trip >= 0, "the trip count M is " + std::to_string(trip) + "; it must be >= 0");
  }
  const bool hasCond = present(in, 1);
  bool cond = hasCond ? truth(ctx, in[1], "the loop condition") : true;
  Values carried(in.begin() + 2, in.begin() + static_cast<std::ptrdiff_t>(2 + n));
  std::vector<std::vector<Tensor>> scans(k);
  for (int64_t i = 0; (!hasTrip || i < trip) && cond; ++i) {
    if (i >= graphs.maxLoopIterations) {
      SINGA_THROW(ValueError, "ran " << graphs.maxLoopIterations
                                       << " iterations without stopping ("
                                       << (hasTrip ? "trip count " + std::to_string(trip) : std::string("no trip count"))
                                       << ", its condition still true"
                                       << "); raise the bound with PrepareOptions::maxLoopIterations or the "
                                       << "environment variable SINGA_ONNX_MAX_LOOP_ITERATIONS");
    }
    Values ins;
    ins.reserve(2 + n);
    ins.emplace_back(intsTensor({i}, {}, ctx.device));
    ins.emplace_back(fromDoubles({1.0}, {}, DType::kBool, ctx.device));
    ins.insert(ins.end(), carried.begin(), carried.end());
    Values outs = graphs.run(ctx, "body", std::move(ins), in);
    // The body's condition ends the loop even when the node has no condition input: the spec's
    // table calls it ignored there, onnxruntime stops on it; we follow onnxruntime.
    cond = truth(ctx, outs[0], "the body's condition output");
    for (size_t j = 0; j < n; ++j) carried[j] = std::move(outs[1 + j]);
    for (size_t j = 0; j < k; ++j) scans[j].push_back(scanItem(ctx, outs[1 + n + j], j));
  }
  Values result = std::move(carried);
  for (size_t j = 0; j < k; ++j) {
    result.emplace_back(scans[j].empty() ? emptyScanOutput(ctx, body.model->outputs()[1 + n + j])
                                         : stack(ctx, scans[j], 0, "scan output"));
  }
  return result;
}

// ---- Scan ------------------------------------------------------------------------------------

struct ScanSpec {
  std::vector<int64_t> inAxes, inDirs, outAxes, outDirs;
};

// One scan over `xs` (sliced along inAxes); at most `limit` iterations when limit >= 0.
// Returns the final states, then the stacked scan outputs.
Values scanCore(const ConvertContext& ctx, const NodeGraphs& graphs, Values states, const std::vector<Tensor>& xs,
                const ScanSpec& spec, int64_t limit, const Values& nodeInputs) {
  const NodeGraphs::Graph& body = graphs.get(ctx, "body");
  const size_t n = states.size();
  const size_t k = body.model->outputs().size() - n;
  int64_t len = -1;
  std::vector<std::vector<Tensor>> slices(xs.size());
  for (size_t j = 0; j < xs.size(); ++j) {
    const Tensor& x = xs[j];
    const std::string what = "scan input " + std::to_string(j);
    ctx.check(x.ndim() >= 1, what + " must have at least one dim, got " + Value(x).describe());
    const int64_t a = normalizeAxes(ctx, {spec.inAxes[j]}, x.ndim())[0];
    const int64_t l = x.shape()[static_cast<size_t>(a)];
    ctx.check(len < 0 || l == len, what + " has " + std::to_string(l) + " slices along its scan axis, scan input 0 has " +
                                       std::to_string(len) + "; every scan input needs the same length");
    len = l;
    if (l > 0) {
      for (Tensor& p : ops::split(x, a, std::vector<int64_t>(static_cast<size_t>(l), 1))) {
        slices[j].push_back(ops::squeeze(p, {a}));
      }
    }
  }
  // A shorter sequence (opset 8 sequence_lens) is its first `steps` slices, reversed as a whole.
  const int64_t steps = limit >= 0 ? std::min(limit, len) : len;
  for (size_t j = 0; j < xs.size(); ++j) {
    slices[j].resize(static_cast<size_t>(steps));
    if (spec.inDirs[j] != 0) std::reverse(slices[j].begin(), slices[j].end());
  }
  std::vector<std::vector<Tensor>> scans(k);
  for (int64_t t = 0; t < steps; ++t) {
    Values ins = states;
    for (const auto& s : slices) ins.emplace_back(s[static_cast<size_t>(t)]);
    Values outs = graphs.run(ctx, "body", std::move(ins), nodeInputs);
    for (size_t j = 0; j < n; ++j) states[j] = std::move(outs[j]);
    for (size_t j = 0; j < k; ++j) scans[j].push_back(scanItem(ctx, outs[n + j], j));
  }
  Values result = std::move(states);
  for (size_t j = 0; j < k; ++j) {
    if (scans[j].empty()) {
      result.emplace_back(emptyScanOutput(ctx, body.model->outputs()[n + j]));
      continue;
    }
    if (spec.outDirs[j] != 0) std::reverse(scans[j].begin(), scans[j].end());
    result.emplace_back(stack(ctx, scans[j], spec.outAxes[j], "scan output " + std::to_string(j)));
  }
  return result;
}

int64_t numScanInputs(const ConvertContext& ctx, size_t available) {
  ctx.check(ctx.attrs.has("num_scan_inputs"), "the 'num_scan_inputs' attribute is required");
  const int64_t m = ctx.attrs.getInt("num_scan_inputs");
  ctx.check(m >= 1 && static_cast<size_t>(m) <= available,
            "num_scan_inputs=" + std::to_string(m) + " is outside [1, " + std::to_string(available) + "]");
  return m;
}

Values scan9(const ConvertContext& ctx, const Values& in) {
  const NodeGraphs& graphs = graphsOf(ctx);
  refuseTracing(ctx);
  const size_t explicitIn = graphs.explicitInputs;
  const auto m = static_cast<size_t>(numScanInputs(ctx, explicitIn));
  const size_t n = explicitIn - m;
  const size_t k = graphs.get(ctx, "body").model->outputs().size() - n;
  ScanSpec spec{intsAttr(ctx, "scan_input_axes", m), intsAttr(ctx, "scan_input_directions", m),
                intsAttr(ctx, "scan_output_axes", k), intsAttr(ctx, "scan_output_directions", k)};
  Values states(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
  std::vector<Tensor> xs;
  for (size_t j = 0; j < m; ++j) xs.push_back(tensorInput(ctx, in, n + j, "scan input " + std::to_string(j)));
  return scanCore(ctx, graphs, std::move(states), xs, spec, -1, in);
}

// Opset 8: input 0 is the optional sequence_lens; states and scan inputs have a batch axis 0,
// and the scan runs over axis 1 of each batch item.
Values scan8(const ConvertContext& ctx, const Values& in) {
  const NodeGraphs& graphs = graphsOf(ctx);
  refuseTracing(ctx);
  const size_t explicitIn = graphs.explicitInputs;
  ctx.check(explicitIn >= 2, "needs sequence_lens (an empty name when absent) and at least one scan input");
  const auto m = static_cast<size_t>(numScanInputs(ctx, explicitIn - 1));
  const size_t n = explicitIn - 1 - m;
  const size_t k = graphs.get(ctx, "body").model->outputs().size() - n;
  ScanSpec spec{std::vector<int64_t>(m, 0), intsAttr(ctx, "directions", m), std::vector<int64_t>(k, 0),
                std::vector<int64_t>(k, 0)};
  std::vector<Tensor> states, xs;
  for (size_t j = 0; j < n; ++j) states.push_back(tensorInput(ctx, in, 1 + j, "state " + std::to_string(j)));
  for (size_t j = 0; j < m; ++j) xs.push_back(tensorInput(ctx, in, 1 + n + j, "scan input " + std::to_string(j)));
  for (const Tensor& x : xs) {
    ctx.check(x.ndim() >= 2, "scan inputs need a batch and a sequence axis, got " + Value(x).describe());
  }
  const int64_t batch = xs[0].shape()[0];
  const int64_t maxLen = xs[0].shape()[1];
  for (const Tensor& t : states) ctx.check(t.ndim() >= 1 && t.shape()[0] == batch, "every state needs the batch axis of size " + std::to_string(batch));
  for (const Tensor& t : xs) ctx.check(t.shape()[0] == batch, "every scan input needs the batch axis of size " + std::to_string(batch));
  std::vector<int64_t> lens(static_cast<size_t>(batch), maxLen);
  if (present(in, 0)) {
    lens = intsOf(tensorInput(ctx, in, 0, "sequence_lens"));
    ctx.check(static_cast<int64_t>(lens.size()) == batch, "sequence_lens needs one length per batch item");
    for (int64_t l : lens) {
      ctx.check(l >= 0 && l <= maxLen, "sequence length " + std::to_string(l) + " is outside [0, " + std::to_string(maxLen) + "]");
    }
  }
  auto item = [](const Tensor& t, int64_t b) { return ops::squeeze(ops::slice(t, {b}, {b + 1}, {0}), {0}); };
  std::vector<std::vector<Tensor>> perOutput(n + k);
  for (int64_t b = 0; b < batch; ++b) {
    Values sb;
    for (const Tensor& t : states) sb.emplace_back(item(t, b));
    std::vector<Tensor> xb;
    for (const Tensor& t : xs) xb.push_back(item(t, b));
    Values res = scanCore(ctx, graphs, std::move(sb), xb, spec, lens[static_cast<size_t>(b)], in);
    for (size_t j = 0; j < n + k; ++j) {
      Tensor t = scanItem(ctx, res[j], j);
      if (j >= n && t.shape()[0] < maxLen) {  // a shorter sequence: zeros after its end
        Shape pad = t.shape();
        pad[0] = maxLen - pad[0];
        t = ops::concat({t, Tensor::zeros(pad, t.dtype(), t.device())}, 0);
      }
      perOutput[j].push_back(t);
    }
  }
  Values result;
  for (size_t j = 0; j < n + k; ++j) {
    if (batch == 0) {
      result.emplace_back(j < n ? states[j] : Tensor::zeros({0, maxLen}, DType::kFloat32, ctx.device));
      continue;
    }
    result.emplace_back(stack(ctx, perOutput[j], 0, "output " + std::to_string(j)));
  }
  return result;
}

// ---- SequenceMap -----------------------------------------------------------------------------

Values sequenceMap(const ConvertContext& ctx, const Values& in) {
  const NodeGraphs& graphs = graphsOf(ctx);
  refuseTracing(ctx);
  const NodeGraphs::Graph& body = graphs.get(ctx, "body");
  const size_t explicitIn = graphs.explicitInputs;
  ctx.check(!in.empty() && in[0].kind == Value::Kind::kSequence,
            "input 0 must be a sequence, got " + (in.empty() ? std::string("nothing") : in[0].describe()));
  const size_t len = in[0].sequence.size();
  for (size_t j = 1; j < explicitIn; ++j) {
    ctx.check(in[j].kind != Value::Kind::kSequence || in[j].sequence.size() == len,
              "input " + std::to_string(j) + " is a sequence of " + std::to_string(in[j].sequence.size()) +
                  " tensors, input 0 of " + std::to_string(len) + "; sequences must have the same length");
  }
  const size_t k = body.model->outputs().size();
  std::vector<std::vector<Tensor>> outs(k);
  for (size_t i = 0; i < len; ++i) {
    Values ins;
    for (size_t j = 0; j < explicitIn; ++j) {
      ins.push_back(in[j].kind == Value::Kind::kSequence ? Value(in[j].sequence[i]) : in[j]);
    }
    Values res = graphs.run(ctx, "body", std::move(ins), in);
    for (size_t j = 0; j < k; ++j) outs[j].push_back(scanItem(ctx, res[j], j));
  }
  Values result;
  for (size_t j = 0; j < k; ++j) {
    const ValueInfo& vi = body.model->outputs()[j];
    result.push_back(Value::ofSequence(std::move(outs[j]), vi.hasType ? vi.dtype : DType::kFloat32));
  }
  return result;
}

std::string countText(size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

}  // namespace

// ---- NodeGraphs --------------------------------------------------------------------------------

const NodeGraphs::Graph& NodeGraphs::get(const ConvertContext& ctx, const std::string& attr) const {
  for (const Graph& g : graphs) {
    if (g.attr == attr) return g;
  }
  SINGA_THROW(ValueError, "node '" << ctx.nodeName << "' (" << ctx.opType << ") has no graph attribute '" << attr << "'");
}

std::vector<Value> NodeGraphs::run(const ConvertContext& ctx, const std::string& attr, std::vector<Value> declared,
                                   const std::vector<Value>& nodeInputs) const {
  const Graph& g = get(ctx, attr);
  for (size_t slot : g.outerSlots) declared.push_back(slot < nodeInputs.size() ? nodeInputs[slot] : Value::none());
  ImportedModel& sub = *g.model;
  if (sub.device_ != ctx.device) {  // the enclosing model moved (Module::to): constants follow
    sub.device_ = ctx.device;
    for (auto& [name, t] : sub.constants_) {
      if (t.device() != ctx.device) t = t.to(ctx.device);
    }
  }
  if (sub.isTraining() != ctx.training) sub.train(ctx.training);
  return sub.runValues(declared);
}

void validateControlNode(const std::string& nodeName, const std::string& opType, int opset, const Attrs& attrs,
                         size_t numOutputs, const NodeGraphs& graphs) {
  const std::string node = opType + " node '" + nodeName + "'";
  auto graph = [&](const std::string& attr) -> const NodeGraphs::Graph& {
    for (const NodeGraphs::Graph& g : graphs.graphs) {
      if (g.attr == attr) return g;
    }
    SINGA_THROW(ValueError, node << " has no graph attribute '" << attr << "'; the operator requires it");
  };
  auto outputsOf = [](const NodeGraphs::Graph& g) { return g.model->outputs().size(); };
  const size_t inputs = graphs.explicitInputs;
  if (opType == "If") {
    for (const char* attr : {"then_branch", "else_branch"}) {
      const NodeGraphs::Graph& g = graph(attr);
      SINGA_CHECK(g.declaredInputs == 0, ValueError,
                  node << ": its " << attr << " declares " << countText(g.declaredInputs, "input")
                       << "; If branches take none (they read the enclosing graph's values by name)");
      SINGA_CHECK(outputsOf(g) == numOutputs, ValueError,
                  node << ": its " << attr << " declares " << countText(outputsOf(g), "output") << ", the node "
                       << numOutputs << "; give the node one output per branch output");
    }
  } else if (opType == "Loop") {
    const NodeGraphs::Graph& body = graph("body");
    SINGA_CHECK(inputs >= 2, ValueError,
                node << " has " << countText(inputs, "input") << "; it needs M and cond first (empty names when absent), "
                     << "then the loop-carried values");
    const size_t n = inputs - 2;
    SINGA_CHECK(body.declaredInputs == 2 + n, ValueError,
                node << ": its body declares " << countText(body.declaredInputs, "input") << "; with " << n
                     << " loop-carried value(s) it needs " << 2 + n << " (iteration number, condition, the carried values)");
    SINGA_CHECK(outputsOf(body) >= 1 + n && numOutputs <= outputsOf(body) - 1, ValueError,
                node << ": its body declares " << countText(outputsOf(body), "output") << " and the node "
                     << countText(numOutputs, "output") << "; the body needs the condition, the " << n
                     << " carried value(s) and the scan outputs, the node one output per carried value and scan output");
  } else if (opType == "Scan") {
    const NodeGraphs::Graph& body = graph("body");
    const size_t lead = opset < 9 ? 1 : 0;  // opset 8: sequence_lens
    const int64_t m = attrs.getInt("num_scan_inputs", -1);
    SINGA_CHECK(m >= 1 && static_cast<size_t>(m) + lead <= inputs, ValueError,
                node << ": num_scan_inputs=" << m << " does not fit its " << countText(inputs, "input")
                     << "; give 1 <= num_scan_inputs <= the number of inputs" << (lead ? " after sequence_lens" : ""));
    const size_t n = inputs - lead - static_cast<size_t>(m);
    SINGA_CHECK(body.declaredInputs == n + static_cast<size_t>(m), ValueError,
                node << ": its body declares " << countText(body.declaredInputs, "input") << "; it needs " << n + m
                     << " (" << n << " state(s), then one slice per scan input)");
    SINGA_CHECK(outputsOf(body) >= n && numOutputs <= outputsOf(body), ValueError,
                node << ": its body declares " << countText(outputsOf(body), "output") << " and the node "
                     << countText(numOutputs, "output") << "; the body needs the " << n
                     << " state(s), then the scan outputs, the node one output per body output");
  } else if (opType == "SequenceMap") {
    const NodeGraphs::Graph& body = graph("body");
    SINGA_CHECK(inputs >= 1 && body.declaredInputs == inputs, ValueError,
                node << ": its body declares " << countText(body.declaredInputs, "input") << ", the node has "
                     << countText(inputs, "input") << "; the body needs one input per node input");
    SINGA_CHECK(numOutputs <= outputsOf(body), ValueError,
                node << " declares " << countText(numOutputs, "output") << ", its body " << outputsOf(body)
                     << "; give the node one output per body output");
  }
}

void registerControlConverters(ConverterRegistry& r) {
  r.addValueOp("If", 1, ifOp);
  r.addValueOp("Loop", 1, loop);
  r.addValueOp("Scan", 8, scan8);
  r.addValueOp("Scan", 9, scan9);
  r.addValueOp("SequenceMap", 17, sequenceMap);
}

}  // namespace singa::onnxio
