// The per-opset rewrites of ONNX export as one table (see export_rewrites.h). Each rewrite takes
// the attribute-form values a trace record carries and puts them where its opset wants them;
// the table at the end says which rewrite applies to which op at which opsets.
#include "singa/onnx/export_rewrites.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "singa/core/error.h"
#include "singa/core/shape.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {
namespace {

// ---- attribute helpers -------------------------------------------------------------------------

std::vector<int64_t> takeInts(AttrMap& a, const std::string& name) {
  auto it = a.find(name);
  if (it == a.end()) return {};
  std::vector<int64_t> v;
  if (auto* ints = std::get_if<std::vector<int64_t>>(&it->second)) v = *ints;
  else if (auto* i = std::get_if<int64_t>(&it->second)) v = {*i};
  else SINGA_THROW(ValueError, "ONNX export: attribute '" << name << "' must be a list of ints");
  a.erase(it);
  return v;
}

std::optional<double> takeFloat(AttrMap& a, const std::string& name) {
  auto it = a.find(name);
  if (it == a.end()) return std::nullopt;
  double v = 0;
  if (auto* d = std::get_if<double>(&it->second)) v = *d;
  else if (auto* i = std::get_if<int64_t>(&it->second)) v = static_cast<double>(*i);
  else SINGA_THROW(ValueError, "ONNX export: attribute '" << name << "' must be a number");
  a.erase(it);
  return v;
}

int64_t intAttr(const AttrMap& a, const std::string& name, int64_t dflt) {
  auto it = a.find(name);
  if (it == a.end()) return dflt;
  if (auto* i = std::get_if<int64_t>(&it->second)) return *i;
  if (auto* d = std::get_if<double>(&it->second)) return static_cast<int64_t>(*d);
  SINGA_THROW(ValueError, "ONNX export: attribute '" << name << "' must be an int");
}

// ---- the rewrites ------------------------------------------------------------------------------

// Reshape: `shape` becomes an int64 input. 0 copies the input's dim: keeps a batch-leading
// reshape valid for any batch size.
Rewritten reshapeShapeAsInput(NodeDraft& n, GraphWriter& g) {
  std::vector<int64_t> shape = takeInts(n.attrs, "shape");
  const bool allowZero = intAttr(n.attrs, "allowzero", 0) != 0;
  const Tensor x = n.x();
  if (n.symbolicBatch && !allowZero && !shape.empty() && x.ndim() > 0 && shape[0] == x.dim(0)) shape[0] = 0;
  n.ins.resize(1);
  n.ins.push_back(g.intsInput(shape, "shape"));
  return Rewritten::kWriteDraft;
}

// Squeeze, Unsqueeze and ReduceSum from opset 13: `axes` becomes an int64 input (none: all axes).
Rewritten axesAsInput(NodeDraft& n, GraphWriter& g) {
  std::vector<int64_t> axes = takeInts(n.attrs, "axes");
  if (!axes.empty()) n.ins.push_back(g.intsInput(axes, "axes"));
  return Rewritten::kWriteDraft;
}

// Squeeze and Unsqueeze before opset 13, the other Reduce ops up to 17: `axes` stays an
// attribute, as a list (empty: left out, meaning all axes).
Rewritten axesAsAttribute(NodeDraft& n, GraphWriter&) {
  std::vector<int64_t> axes = takeInts(n.attrs, "axes");
  if (!axes.empty()) n.attrs["axes"] = axes;
  return Rewritten::kWriteDraft;
}

// Slice: starts, ends, axes and steps become int64 inputs (axes spelled out when steps is given).
Rewritten sliceBoundsAsInputs(NodeDraft& n, GraphWriter& g) {
  std::vector<int64_t> starts = takeInts(n.attrs, "starts"), ends = takeInts(n.attrs, "ends");
  std::vector<int64_t> axes = takeInts(n.attrs, "axes"), steps = takeInts(n.attrs, "steps");
  if (axes.empty() && !steps.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  n.ins.resize(1);
  n.ins.push_back(g.intsInput(starts, "starts"));
  n.ins.push_back(g.intsInput(ends, "ends"));
  if (!axes.empty()) n.ins.push_back(g.intsInput(axes, "axes"));
  if (!steps.empty()) n.ins.push_back(g.intsInput(steps, "steps"));
  return Rewritten::kWriteDraft;
}

// Pad: `pads` becomes an int64 input, a non-zero `value` a scalar input of the input's dtype.
Rewritten padsAsInputs(NodeDraft& n, GraphWriter& g) {
  std::vector<int64_t> pads = takeInts(n.attrs, "pads");
  std::optional<double> value = takeFloat(n.attrs, "value");
  n.ins.resize(1);
  n.ins.push_back(g.intsInput(pads, "pads"));
  if (value && *value != 0.0) n.ins.push_back(g.scalarInput(*value, n.x().dtype(), "value"));
  return Rewritten::kWriteDraft;
}

// Clip: `min` and `max` become scalar inputs of the input's dtype (absent ones stay absent).
Rewritten clipBoundsAsInputs(NodeDraft& n, GraphWriter& g) {
  std::optional<double> lo = takeFloat(n.attrs, "min"), hi = takeFloat(n.attrs, "max");
  const DType dt = n.x().dtype();
  n.ins.resize(1);
  n.ins.push_back(lo ? g.scalarInput(*lo, dt, "min") : "");
  n.ins.push_back(hi ? g.scalarInput(*hi, dt, "max") : "");
  return Rewritten::kWriteDraft;
}

// Expand `shape` / Tile `repeats` become an int64 input (when the record has none). Expand: 1
// keeps the input's dim, so a batch dim expanded to itself stays symbolic.
Rewritten expandOrTileAsInput(NodeDraft& n, GraphWriter& g) {
  const bool expand = n.record.opType == "Expand";
  const char* what = expand ? "shape" : "repeats";
  std::vector<int64_t> v = takeInts(n.attrs, what);
  const Tensor x = n.x();
  if (expand && n.symbolicBatch && x.ndim() > 0 && v.size() == static_cast<size_t>(x.ndim()) && v[0] == x.dim(0))
    v[0] = 1;
  if (n.ins.size() == 1) n.ins.push_back(g.intsInput(v, what));
  return Rewritten::kWriteDraft;
}

// Split: the sizes of the outputs along the axis, the recorded `split` and `num_outputs` dropped.
std::vector<int64_t> splitSizes(NodeDraft& n) {
  const int axis = normalizeAxis(intAttr(n.attrs, "axis", 0), n.x().ndim(), "Split");
  std::vector<int64_t> sizes;
  for (const Tensor& o : n.record.outputs) sizes.push_back(o.dim(axis));
  takeInts(n.attrs, "split");
  n.attrs.erase("num_outputs");
  return sizes;
}

// Split before opset 13: the sizes as the `split` attribute.
Rewritten splitSizesAsAttribute(NodeDraft& n, GraphWriter&) {
  n.attrs["split"] = splitSizes(n);
  return Rewritten::kWriteDraft;
}

// Split from opset 13: the sizes as an int64 input.
Rewritten splitSizesAsInput(NodeDraft& n, GraphWriter& g) {
  const std::vector<int64_t> sizes = splitSizes(n);
  n.ins.push_back(g.intsInput(sizes, "split"));
  return Rewritten::kWriteDraft;
}

// Cast: `to` is the ONNX code of the output's dtype.
Rewritten castTargetFromOutput(NodeDraft& n, GraphWriter&) {
  n.attrs["to"] = static_cast<int64_t>(dtypeToOnnx(n.record.outputs[0].dtype()));
  return Rewritten::kWriteDraft;
}

// Dropout from opset 12: `ratio` becomes a scalar input (float, or the input's float dtype);
// `training_mode` is an input there, absent meaning inference.
Rewritten dropoutRatioAsInput(NodeDraft& n, GraphWriter& g) {
  std::optional<double> ratio = takeFloat(n.attrs, "ratio");
  n.attrs.erase("training_mode");
  const Tensor x = n.x();
  if (ratio) n.ins.push_back(g.scalarInput(*ratio, isFloating(x.dtype()) ? x.dtype() : DType::kFloat32, "ratio"));
  return Rewritten::kWriteDraft;
}

// AveragePool: `dilations` (all 1, or refused) is dropped; ONNX has it from opset 19 only.
Rewritten averagePoolWithoutDilations(NodeDraft& n, GraphWriter&) {
  if (n.attrs.count("dilations") == 0) return Rewritten::kWriteDraft;
  std::vector<int64_t> d = takeInts(n.attrs, "dilations");
  SINGA_CHECK(std::all_of(d.begin(), d.end(), [](int64_t v) { return v == 1; }), NotSupportedError,
              "ONNX export: AveragePool with dilations needs opset 19; ONNX 1.12 stops at 17");
  return Rewritten::kWriteDraft;
}

// Softmax, LogSoftmax, Hardmax: the axis written non-negative. Before opset 13 these ops flatten
// to 2-D at `axis`; that agrees with a per-axis op only when the axis is the last one, so the
// axis is moved last and back by Transposes.
Rewritten softmaxFamilyOnLastAxis(NodeDraft& n, GraphWriter& g) {
  const std::string& op = n.record.opType;
  const int nd = n.record.inputs[0].ndim();
  const int axis = nd == 0 ? 0 : normalizeAxis(intAttr(n.attrs, "axis", -1), nd, op.c_str());
  n.attrs["axis"] = static_cast<int64_t>(axis);
  if (n.opset >= 13 || axis == nd - 1 || nd == 0) return Rewritten::kWriteDraft;
  std::vector<int64_t> perm(nd);
  for (int i = 0; i < nd; ++i) perm[i] = i;
  std::swap(perm[axis], perm[nd - 1]);
  std::string t1 = g.freshName("_in_t"), t2 = g.freshName("_out_t");
  g.addAuxNode("_pre", "Transpose", {n.ins[0]}, {t1}, {{"perm", perm}});
  n.attrs["axis"] = static_cast<int64_t>(nd - 1);
  g.addNode(op, {t1}, {t2}, n.attrs);
  g.addAuxNode("_post", "Transpose", {t2}, n.outs, {{"perm", perm}});
  return Rewritten::kWritten;
}

// HardSwish before opset 14: x * HardSigmoid(x; 1/6, 1/2).
Rewritten hardSwishAsHardSigmoidMul(NodeDraft& n, GraphWriter& g) {
  std::string hs = g.freshName("_hsig");
  g.addAuxNode("_hardsigmoid", "HardSigmoid", {n.ins[0]}, {hs}, {{"alpha", 1.0 / 6.0}, {"beta", 0.5}});
  g.addNode("Mul", {n.ins[0], hs}, n.outs, {});
  return Rewritten::kWritten;
}

// Silu (singa's fused x * sigmoid(x); ONNX has no such op): Sigmoid then Mul.
Rewritten siluAsSigmoidMul(NodeDraft& n, GraphWriter& g) {
  std::string s = g.freshName("_sigmoid");
  g.addAuxNode("_sigmoid", "Sigmoid", {n.ins[0]}, {s}, {});
  g.addNode("Mul", {n.ins[0], s}, n.outs, {});
  return Rewritten::kWritten;
}

// GreaterOrEqual / LessOrEqual before opset 12: not(a < b) / not(a > b).
Rewritten orEqualAsNotOfStrict(NodeDraft& n, GraphWriter& g) {
  std::string cmp = g.freshName("_cmp");
  g.addAuxNode("_strict", n.record.opType == "GreaterOrEqual" ? "Less" : "Greater", n.ins, {cmp}, {});
  g.addNode("Not", {cmp}, n.outs, {});
  return Rewritten::kWritten;
}

constexpr int kMin = kMinExportOpset;
constexpr int kMax = kMaxExportOpset;

}  // namespace

// ---- the table ---------------------------------------------------------------------------------

const std::vector<OpsetRewrite>& opsetRewrites() {
  static const std::vector<OpsetRewrite> table = {
      {"Reshape", kMin, kMax, reshapeShapeAsInput},
      {"Squeeze", kMin, 12, axesAsAttribute},
      {"Squeeze", 13, kMax, axesAsInput},
      {"Unsqueeze", kMin, 12, axesAsAttribute},
      {"Unsqueeze", 13, kMax, axesAsInput},
      {"ReduceSum", 13, kMax, axesAsInput},
      {"Reduce*", kMin, kMax, axesAsAttribute},  // ReduceSum before 13 and every other Reduce op
      {"Slice", kMin, kMax, sliceBoundsAsInputs},
      {"Pad", kMin, kMax, padsAsInputs},
      {"Clip", kMin, kMax, clipBoundsAsInputs},
      {"Expand", kMin, kMax, expandOrTileAsInput},
      {"Tile", kMin, kMax, expandOrTileAsInput},
      {"Split", kMin, 12, splitSizesAsAttribute},
      {"Split", 13, kMax, splitSizesAsInput},
      {"Cast", kMin, kMax, castTargetFromOutput},
      {"Dropout", 12, kMax, dropoutRatioAsInput},
      {"AveragePool", kMin, kMax, averagePoolWithoutDilations},
      {"Softmax", kMin, kMax, softmaxFamilyOnLastAxis},
      {"LogSoftmax", kMin, kMax, softmaxFamilyOnLastAxis},
      {"Hardmax", kMin, kMax, softmaxFamilyOnLastAxis},
      {"HardSwish", kMin, 13, hardSwishAsHardSigmoidMul},
      {"Silu", kMin, kMax, siluAsSigmoidMul},
      {"GreaterOrEqual", kMin, 11, orEqualAsNotOfStrict},
      {"LessOrEqual", kMin, 11, orEqualAsNotOfStrict},
  };
  return table;
}

RewriteFn findRewrite(const std::string& op, int opset) {
  for (const OpsetRewrite& row : opsetRewrites()) {
    if (opset < row.minOpset || opset > row.maxOpset) continue;
    const std::string_view name = row.op;
    const bool prefix = !name.empty() && name.back() == '*';
    if (prefix ? std::string_view(op).substr(0, name.size() - 1) == name.substr(0, name.size() - 1) : op == name) {
      return row.fn;
    }
  }
  return nullptr;
}

}  // namespace singa::onnxio
