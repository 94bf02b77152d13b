// Sequence-model operators of ONNX opset 27 and ai.onnx.preview: CausalConvWithState (the
// depthwise causal 1-D convolution of Mamba / Gated DeltaNet, with its carried state),
// LinearAttention (the linear, gated, delta and gated-delta recurrences, with grouped-query heads
// and a carried state) and FlexAttention (scaled dot-product attention with score_mod / prob_mod
// subgraphs). Each is a composition of engine ops (Conv, MatMul, Softmax, Exp, ...), so gradients
// flow to every float input and initializer, and a traced model exports as those primitive ops.
//
// Precision follows the operators' definitions: 16-bit inputs are computed in float32 (the engine's
// kernels have no 16-bit arithmetic) and rounded back to the 16-bit type where the definition
// rounds: CausalConvWithState after the convolution and after the activation, LinearAttention on
// its outputs only (the recurrence runs in float32), FlexAttention after the pre-scaling and Q K^T
// (the input type) and after softmax_precision steps.
#include <cmath>
#include <string>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/subgraph.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

std::string num(int64_t v) { return std::to_string(v); }
bool isHalf(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }
// The type the engine computes `t` in: float32 for the 16-bit floats, else `t`.
DType wideOf(DType t) { return isHalf(t) ? DType::kFloat32 : t; }
// `t` rounded to `dtype` and computed on in its wide type (a 16-bit rounding step).
Tensor roundThrough(const Tensor& t, DType dtype) { return castTo(castTo(t, dtype), wideOf(dtype)); }

// float32, float16, bfloat16 or float64 (the last beyond CausalConvWithState's and LinearAttention's
// type lists: computed natively, it lets their gradients be checked in double precision).
void checkFloatType(const ConvertContext& ctx, const Tensor& x, const char* what) {
  ctx.check(isFloating(x.dtype()), std::string(what) + " must be float32, float16, bfloat16 or float64, got " +
                                       dtypeName(x.dtype()));
}

// ---- CausalConvWithState -----------------------------------------------------------------------

// output = act(depthwise_conv(concat(past_state | zeros, input), weight) + bias); present_state =
// the last k - 1 positions of that concatenation.
Tensors convertCausalConvWithState(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const Tensor& w = requireInput(ctx, in, 1, "weight");
  checkFloatType(ctx, x, "input");
  ctx.check(w.dtype() == x.dtype(), "weight must have input's dtype " + std::string(dtypeName(x.dtype())));
  ctx.check(x.ndim() == 3, "input must be [batch, channels, length], got " + shapeStr(x.shape()));
  const int64_t batch = x.dim(0), channels = x.dim(1), length = x.dim(2);
  ctx.check(channels >= 1, "input has no channels");
  ctx.check(w.ndim() == 3 && w.dim(0) == channels && w.dim(1) == 1 && w.dim(2) >= 1,
            "weight must be [channels, 1, k] = [" + num(channels) + ", 1, k >= 1], got " + shapeStr(w.shape()));
  const int64_t k = w.dim(2);
  const std::string act = ctx.attrs.getString("activation", "none");
  ctx.check(act == "none" || act == "silu" || act == "swish",
            "activation must be \"none\", \"silu\" or \"swish\", got \"" + act + "\"");
  const DType dtype = x.dtype(), wide = wideOf(dtype);
  Tensor bias;
  if (hasInput(in, 2)) {
    bias = in[2];
    ctx.check(bias.dtype() == dtype && bias.ndim() == 1 && bias.dim(0) == channels,
              "bias must be " + std::string(dtypeName(dtype)) + " [channels] = [" + num(channels) + "], got " +
                  dtypeName(bias.dtype()) + shapeStr(bias.shape()));
    bias = castTo(bias, wide);
  }
  Tensor padded = x;
  if (hasInput(in, 3)) {
    const Tensor& past = in[3];
    ctx.check(past.dtype() == dtype && past.shape() == Shape{batch, channels, k - 1},
              "past_state must be " + std::string(dtypeName(dtype)) + " [batch, channels, k - 1] = " +
                  shapeStr({batch, channels, k - 1}) + ", got " + dtypeName(past.dtype()) + shapeStr(past.shape()));
    if (k > 1) padded = ops::concat({past, x}, 2);
  } else if (k > 1) {
    padded = ops::pad(x, {0, 0, k - 1, 0, 0, 0});
  }
  const int64_t total = checkedAdd(length, k - 1, "CausalConvWithState: length + k - 1");
  const Tensor present = ops::slice(padded, {total - (k - 1)}, {total}, {2});
  ops::ConvParams p;
  p.group = channels;
  Tensor y = ops::conv(castTo(padded, wide), castTo(w, wide), bias, p);  // [B, C, L]
  if (act != "none") {  // the definition rounds the convolution to the input type first
    y = ops::silu(roundThrough(y, dtype));
  }
  return {castTo(y, dtype), present};
}

// ---- LinearAttention ---------------------------------------------------------------------------

enum class UpdateRule { kLinear, kGated, kDelta, kGatedDelta };

UpdateRule updateRuleOf(const ConvertContext& ctx) {
  const std::string r = ctx.attrs.getString("update_rule", "gated_delta");
  if (r == "linear") return UpdateRule::kLinear;
  if (r == "gated") return UpdateRule::kGated;
  if (r == "delta") return UpdateRule::kDelta;
  ctx.check(r == "gated_delta", "update_rule must be \"linear\", \"gated\", \"delta\" or \"gated_delta\", got \"" +
                                    r + "\"");
  return UpdateRule::kGatedDelta;
}

// Per step t, per KV head (query heads grouped G = Hq / Hkv to a KV head):
//   S = exp(g_t) * S                        (gated rules)
//   v = beta_t * (v_t - k_t^T S)            (delta rules; else v = v_t)
//   S = S + k_t v^T;  o_t = scale * q_t^T S
// The state is [B, Hkv, dk, dv] in float32 (float64 for float64 inputs); q_t is [B, Hkv, G, dk],
// so one MatMul reads every query head of a group from its KV head's state.
Tensors convertLinearAttention(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& q = requireInput(ctx, in, 0, "query");
  const Tensor& k = requireInput(ctx, in, 1, "key");
  const Tensor& v = requireInput(ctx, in, 2, "value");
  checkFloatType(ctx, q, "query");
  const DType dtype = q.dtype();
  ctx.check(k.dtype() == dtype && v.dtype() == dtype, "query, key and value must have one dtype");
  ctx.check(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3,
            "query, key and value must be 3-D [batch, seq, heads * size]; got " + shapeStr(q.shape()) + ", " +
                shapeStr(k.shape()) + ", " + shapeStr(v.shape()));
  const int64_t hq = ctx.attrs.getInt("q_num_heads", 0), hkv = ctx.attrs.getInt("kv_num_heads", 0);
  ctx.check(hq > 0 && hkv > 0 && hq % hkv == 0, "q_num_heads (" + num(hq) + ") must be a positive multiple of " +
                                                    "kv_num_heads (" + num(hkv) + "); both are required");
  const int64_t batch = q.dim(0), steps = q.dim(1);
  ctx.check(k.dim(0) == batch && v.dim(0) == batch && k.dim(1) == steps && v.dim(1) == steps,
            "query, key and value must share batch and sequence length");
  ctx.check(q.dim(2) % hq == 0, "query's last dim " + num(q.dim(2)) + " is not divisible by q_num_heads " + num(hq));
  const int64_t dk = q.dim(2) / hq;
  ctx.check(k.dim(2) == checkedMul(hkv, dk, "LinearAttention key size"),
            "key's last dim must be kv_num_heads * d_k = " + num(hkv) + " * " + num(dk) + ", got " + num(k.dim(2)));
  ctx.check(v.dim(2) % hkv == 0, "value's last dim " + num(v.dim(2)) + " is not divisible by kv_num_heads " + num(hkv));
  const int64_t dv = v.dim(2) / hkv, group = hq / hkv;
  const UpdateRule rule = updateRuleOf(ctx);
  const bool gated = rule == UpdateRule::kGated || rule == UpdateRule::kGatedDelta;
  const bool delta = rule == UpdateRule::kDelta || rule == UpdateRule::kGatedDelta;
  ctx.check(hasInput(in, 4) == gated, gated ? "this update_rule requires the decay input"
                                            : "decay is given but update_rule 'linear' / 'delta' does not use it");
  ctx.check(hasInput(in, 5) == delta, delta ? "this update_rule requires the beta input"
                                            : "beta is given but update_rule 'linear' / 'gated' does not use it");
  const DType wide = wideOf(dtype);
  const Shape stateShape{batch, hkv, dk, dv};
  DType stateType = dtype;
  Tensor state;
  if (hasInput(in, 3)) {
    const Tensor& past = in[3];
    checkFloatType(ctx, past, "past_state");
    ctx.check(past.shape() == stateShape, "past_state must be [batch, kv_heads, d_k, d_v] = " + shapeStr(stateShape) +
                                              ", got " + shapeStr(past.shape()));
    stateType = past.dtype();
    state = castTo(past, wide);
  } else {
    checkHostBuffer(ctx, checkedMul(checkedMul(batch, hkv, "state"), checkedMul(dk, dv, "state"), "state"),
                    dtypeSize(wide), "the LinearAttention state");
    state = Tensor::zeros(stateShape, wide, ctx.device);
  }
  Tensor decay, beta;  // [B, T, Hkv, dk or 1, 1] (exp applied), [B, T, Hkv or 1, 1, 1]
  if (gated) {
    decay = in[4];
    ctx.check(decay.dtype() == dtype && decay.ndim() == 3 && decay.dim(0) == batch && decay.dim(1) == steps &&
                  (decay.dim(2) == hkv || decay.dim(2) == hkv * dk),
              "decay must be [batch, seq, kv_heads * d_k] or [batch, seq, kv_heads] = [" + num(batch) + ", " +
                  num(steps) + ", " + num(hkv * dk) + " or " + num(hkv) + "], got " + shapeStr(decay.shape()));
    decay = ops::exp(ops::reshape(castTo(decay, wide), {batch, steps, hkv, decay.dim(2) / hkv, 1}));
  }
  if (delta) {
    beta = in[5];
    ctx.check(beta.dtype() == dtype && beta.ndim() == 3 && beta.dim(0) == batch && beta.dim(1) == steps &&
                  (beta.dim(2) == hkv || beta.dim(2) == 1),
              "beta must be [batch, seq, kv_heads] or [batch, seq, 1] = [" + num(batch) + ", " + num(steps) + ", " +
                  num(hkv) + " or 1], got " + shapeStr(beta.shape()));
    beta = ops::reshape(castTo(beta, wide), {batch, steps, beta.dim(2), 1, 1});
  }
  double scale = ctx.attrs.getFloat("scale", 0.0);
  ctx.check(std::isfinite(scale), "scale must be finite (0: 1 / sqrt(d_k))");
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(dk > 0 ? dk : 1));

  // One [B, 1, ...] slice per step, each reshaped to the per-step layout.
  auto stepsOf = [&](const Tensor& x) -> Tensors {
    return steps > 0 ? ops::split(x, 1, {}, steps) : Tensors{};
  };
  const Tensors qs = stepsOf(castTo(q, wide)), ks = stepsOf(castTo(k, wide)), vs = stepsOf(castTo(v, wide));
  const Tensors gs = gated ? stepsOf(decay) : Tensors{}, bs = delta ? stepsOf(beta) : Tensors{};
  Tensors outs;
  for (int64_t t = 0; t < steps; ++t) {
    const size_t i = static_cast<size_t>(t);
    const Tensor kRow = ops::reshape(ks[i], {batch, hkv, 1, dk});
    Tensor vRow = ops::reshape(vs[i], {batch, hkv, 1, dv});
    if (gated) state = ops::mul(state, ops::squeeze(gs[i], {1}));  // * exp(g): [B, Hkv, dk | 1, 1]
    if (delta) {
      const Tensor retrieved = ops::matmul(kRow, state);  // [B, Hkv, 1, dv]
      vRow = ops::mul(ops::squeeze(bs[i], {1}), ops::sub(vRow, retrieved));
    }
    state = ops::add(state, ops::matmul(ops::reshape(kRow, {batch, hkv, dk, 1}), vRow));
    const Tensor o = ops::matmul(ops::reshape(qs[i], {batch, hkv, group, dk}), state);  // [B, Hkv, G, dv]
    outs.push_back(ops::reshape(o, {batch, 1, hq * dv}));
  }
  Tensor y = steps > 0 ? ops::mul(ops::concat(outs, 1), scale) : Tensor::zeros({batch, 0, hq * dv}, wide, ctx.device);
  return {castTo(y, dtype), castTo(state, stateType)};
}

// ---- FlexAttention (ai.onnx.preview) -----------------------------------------------------------

DType softmaxPrecision(const ConvertContext& ctx, DType input) {
  if (!ctx.attrs.has("softmax_precision")) return input == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  const int64_t code = ctx.attrs.getInt("softmax_precision");
  switch (code) {
    case 1: return DType::kFloat32;
    case 10: return DType::kFloat16;
    case 11: return DType::kFloat64;
    case 16: return DType::kBFloat16;
    default: break;
  }
  ctx.check(false, "softmax_precision = " + num(code) +
                       " is not a floating-point type; use 1 (float), 10 (float16), 11 (double) or 16 (bfloat16)");
  return DType::kFloat32;
}

// Runs the modifier subgraph `attr` (when the node has one) on `x` of `dtype`: one input, one
// output of x's shape and dtype.
Tensor applyModifier(const ConvertContext& ctx, const Tensors& in, const char* attr, const Tensor& x, DType dtype) {
  if (ctx.graphs == nullptr) return x;
  const NodeGraphs::Graph* graph = nullptr;
  for (const NodeGraphs::Graph& g : ctx.graphs->graphs) {
    if (g.attr == attr) graph = &g;
  }
  if (graph == nullptr) return x;
  ctx.check(graph->declaredInputs == 1 && graph->model->outputs().size() == 1,
            std::string(attr) + " must declare exactly one input and one output, it declares " +
                num(static_cast<int64_t>(graph->declaredInputs)) + " and " +
                num(static_cast<int64_t>(graph->model->outputs().size())));
  const std::vector<Value> nodeInputs(in.begin(), in.end());
  std::vector<Value> outs = ctx.graphs->run(ctx, attr, {Value(castTo(x, dtype))}, nodeInputs);
  ctx.check(outs.size() == 1 && outs[0].isTensor() && outs[0].tensor.defined(),
            std::string(attr) + " must produce one tensor");
  const Tensor& y = outs[0].tensor;
  ctx.check(y.dtype() == dtype && y.shape() == x.shape(),
            std::string(attr) + " must return its input's dtype and shape " + dtypeName(dtype) + shapeStr(x.shape()) +
                ", got " + dtypeName(y.dtype()) + shapeStr(y.shape()));
  return castTo(y, wideOf(dtype));
}

// [B, Hkv, S, d] -> [B, Hkv * reps, S, d], each head repeated in place (h0 h0 h1 h1).
Tensor repeatKvHeads(const Tensor& x, int64_t reps) {
  if (reps == 1) return x;
  const Shape& s = x.shape();
  return ops::reshape(ops::expand(ops::unsqueeze(x, {2}), {s[0], s[1], reps, s[2], s[3]}),
                      {s[0], s[1] * reps, s[2], s[3]});
}

Tensors convertFlexAttention(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& q = requireInput(ctx, in, 0, "Q");
  const Tensor& k = requireInput(ctx, in, 1, "K");
  const Tensor& v = requireInput(ctx, in, 2, "V");
  // The outer-scope values the modifiers read follow the node's own inputs (subgraph.h).
  const size_t explicitInputs = ctx.graphs != nullptr ? ctx.graphs->explicitInputs : in.size();
  ctx.check(explicitInputs == 3, "FlexAttention takes exactly 3 inputs (Q, K, V), got " +
                                     num(static_cast<int64_t>(explicitInputs)));
  checkFloatType(ctx, q, "Q");
  const DType dtype = q.dtype(), wide = wideOf(dtype);
  ctx.check(k.dtype() == dtype && v.dtype() == dtype, "Q, K and V must have one dtype");
  ctx.check(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4,
            "Q, K and V must be 4-D [batch, heads, seq, head_size]; got " + shapeStr(q.shape()) + ", " +
                shapeStr(k.shape()) + ", " + shapeStr(v.shape()));
  const int64_t batch = q.dim(0), hq = q.dim(1), headSize = q.dim(3), hkv = k.dim(1);
  ctx.check(k.dim(0) == batch && v.dim(0) == batch, "Q, K and V have different batch sizes");
  ctx.check(k.dim(3) == headSize, "Q and K head sizes differ (" + num(headSize) + " and " + num(k.dim(3)) + ")");
  ctx.check(v.dim(1) == hkv && v.dim(2) == k.dim(2), "K " + shapeStr(k.shape()) + " and V " + shapeStr(v.shape()) +
                                                         " must have the same heads and sequence length");
  ctx.check(hkv > 0 && hq % hkv == 0,
            "the query head count " + num(hq) + " is not a multiple of the key/value head count " + num(hkv));
  ctx.check(ctx.attrs.has("scale") || headSize > 0, "head_size is 0; give a scale attribute");
  const double scale = ctx.attrs.has("scale") ? ctx.attrs.getFloat("scale")
                                              : 1.0 / std::sqrt(static_cast<double>(headSize));
  ctx.check(std::isfinite(scale), "scale must be finite");
  const DType precision = softmaxPrecision(ctx, dtype);

  const Tensor kAll = repeatKvHeads(castTo(k, wide), hq / hkv);
  const Tensor vAll = repeatKvHeads(castTo(v, wide), hq / hkv);
  Tensor qs = castTo(q, wide), ks = kAll;
  if (scale >= 0) {  // sqrt(scale) on both sides, that factor (from float32) in the input type
    const double root = Tensor::scalar(std::sqrt(static_cast<float>(scale)), dtype).item();
    qs = roundThrough(ops::mul(qs, root), dtype);
    ks = roundThrough(ops::mul(ks, root), dtype);
  } else {
    qs = roundThrough(ops::mul(qs, scale), dtype);
  }
  Tensor scores = roundThrough(ops::matmul(qs, ops::transpose(ks, {0, 1, 3, 2})), dtype);  // [B, Hq, L, S]
  scores = roundThrough(scores, precision);
  scores = applyModifier(ctx, in, "score_mod", scores, precision);
  Tensor probs = roundThrough(ops::softmax(scores, -1), precision);
  probs = applyModifier(ctx, in, "prob_mod", probs, precision);
  Tensor y = ops::matmul(probs, roundThrough(vAll, precision));
  return one(castTo(roundThrough(y, precision), dtype));
}

}  // namespace

void registerSeqModelConverters(ConverterRegistry& r) {
  r.add("CausalConvWithState", 27, convertCausalConvWithState);
  r.add("LinearAttention", 27, convertLinearAttention);
  r.add("ai.onnx.preview:FlexAttention", 1, convertFlexAttention);
}

}  // namespace singa::onnxio
