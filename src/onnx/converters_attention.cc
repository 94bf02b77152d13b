// Transformer operators of ONNX opsets 20-25: Attention (scaled dot-product attention with masks,
// causal and sliding-window bounds, grouped-query heads, a key/value cache and the padding lengths
// of opset 24), RMSNormalization, RotaryEmbedding and Gelu. Each is a composition of engine ops
// (MatMul, Softmax, Where, Gather, Slice, ...), so gradients flow through all of them to every
// float input and initializer, and a traced model exports as those primitive ops.
//
// The masks that depend only on shapes (causal, window, padding lengths) are built on the host as
// one additive 0 / -inf bias; a user mask (bool or float) is added to it, and a float mask keeps
// its gradient. A query row with no attendable key gives zeros (the rule of the ONNX reference);
// such rows are fed to Softmax as zeros and masked afterwards, so neither the output nor the
// gradient sees the NaN of an all -inf softmax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;

std::string dimStr(int64_t v) { return std::to_string(v); }

// The dtype a `softmax_precision` / `stash_type` attribute names (TensorProto data types).
DType precisionDType(const ConvertContext& ctx, int64_t code, const char* attr) {
  switch (code) {
    case 1: return DType::kFloat32;
    case 10: return DType::kFloat16;
    case 11: return DType::kFloat64;
    case 16: return DType::kBFloat16;
    default: break;
  }
  ctx.check(false, std::string(attr) + " = " + dimStr(code) +
                       " is not a floating-point type; use 1 (float), 10 (float16), 11 (double) or 16 (bfloat16)");
  return DType::kFloat32;
}

// [B, S, H * d] -> [B, H, S, d].
Tensor splitHeads(const ConvertContext& ctx, const Tensor& x, int64_t heads, const char* what) {
  const int64_t hidden = x.dim(2);
  ctx.check(hidden % heads == 0, std::string(what) + " hidden size " + dimStr(hidden) +
                                     " is not divisible by its head count " + dimStr(heads) +
                                     "; fix q_num_heads / kv_num_heads");
  return ops::transpose(ops::reshape(x, {x.dim(0), x.dim(1), heads, hidden / heads}), {0, 2, 1, 3});
}

// Whether `s` broadcasts (right-aligned, NumPy rules) to `target`.
bool broadcastsTo(const Shape& s, const Shape& target) {
  if (s.size() > target.size()) return false;
  const size_t off = target.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != 1 && s[i] != target[off + i]) return false;
  }
  return true;
}

struct AttentionShape {
  int64_t batch = 0, qHeads = 0, kvHeads = 0, qLen = 0, kvLen = 0, pastLen = 0, headSize = 0, vHeadSize = 0;
  int64_t total() const { return checkedAdd(pastLen, kvLen, "Attention: past + current key length"); }
};

// The 0 / -inf bias of the shape-only bounds: causal (bottom-right: query i sees key j <= i +
// offset), the sliding window of opset 25, and the padding lengths of opset 24 (key j < len[b]).
// Offset is the past length, or len[b] - qLen with padding lengths. Shape [Bs, 1, q, total], Bs
// = batch when per-batch lengths are given, else 1. Undefined when no bound applies.
Tensor structuralBias(const ConvertContext& ctx, const AttentionShape& s, bool causal, int64_t left, int64_t right,
                      const std::vector<int64_t>& padLens, DType dtype) {
  if (!causal && left < 0 && right < 0 && padLens.empty()) return Tensor();
  const int64_t bs = padLens.empty() ? 1 : s.batch;
  const int64_t total = s.total();
  checkHostBuffer(ctx, checkedMul(checkedMul(bs, s.qLen, "Attention mask"), total, "Attention mask"), sizeof(double),
                  "the attention mask");
  std::vector<double> bias(static_cast<size_t>(bs * s.qLen * total), 0.0);
  for (int64_t b = 0; b < bs; ++b) {
    const int64_t offset = padLens.empty() ? s.pastLen : padLens[b] - s.qLen;
    for (int64_t i = 0; i < s.qLen; ++i) {
      for (int64_t j = 0; j < total; ++j) {
        const int64_t diff = i + offset - j;  // query position minus key position
        bool allowed = !causal || diff >= 0;
        if (left >= 0) allowed = allowed && diff <= left;
        if (right >= 0) allowed = allowed && -diff <= right;
        if (!padLens.empty()) allowed = allowed && j < padLens[b];
        if (!allowed) bias[static_cast<size_t>((b * s.qLen + i) * total + j)] = kNegInf;
      }
    }
  }
  return fromDoubles(bias, {bs, 1, s.qLen, total}, dtype, ctx.device);
}

// The user's attn_mask as an additive bias of the query's dtype, its last dim padded to the total
// sequence length (with -inf: the missing keys are masked).
Tensor userBias(const ConvertContext& ctx, const Tensor& mask, const AttentionShape& s, DType dtype) {
  const int64_t total = s.total();
  ctx.check(mask.ndim() >= 1 && mask.ndim() <= 4, "attn_mask must have rank 1 to 4, got " + shapeStr(mask.shape()));
  ctx.check(mask.dtype() == DType::kBool || mask.dtype() == dtype,
            "attn_mask must be bool or " + std::string(dtypeName(dtype)) + " (the query's type), got " +
                dtypeName(mask.dtype()));
  const int64_t last = mask.dim(mask.ndim() - 1);
  ctx.check(last <= total, "attn_mask's last dim " + dimStr(last) + " exceeds the total key length " +
                               dimStr(total) + " (past + current keys)");
  Tensor bias = mask.dtype() == DType::kBool
                    ? ops::where(mask, Tensor::scalar(0.0, dtype, ctx.device), Tensor::scalar(kNegInf, dtype, ctx.device))
                    : mask;
  if (last < total) {
    std::vector<int64_t> pads(2 * static_cast<size_t>(bias.ndim()), 0);
    pads[2 * static_cast<size_t>(bias.ndim()) - 1] = total - last;
    bias = ops::pad(bias, pads, "constant", kNegInf);
  }
  const Shape full{s.batch, s.qHeads, s.qLen, total};
  ctx.check(broadcastsTo(bias.shape(), full), "attn_mask " + shapeStr(mask.shape()) +
                                                  " does not broadcast to [batch, q_heads, q_len, total_len] = " +
                                                  shapeStr(full));
  return bias;
}

// [B, Hkv, T, d] -> [B, Hkv * reps, T, d], each head repeated `reps` times in place (h0 h0 h1 h1).
Tensor repeatHeads(const Tensor& x, int64_t reps) {
  if (reps == 1) return x;
  const Shape& s = x.shape();
  Tensor e = ops::expand(ops::unsqueeze(x, {2}), {s[0], s[1], reps, s[2], s[3]});
  return ops::reshape(e, {s[0], s[1] * reps, s[2], s[3]});
}

Tensors convertAttention(const ConvertContext& ctx, const Tensors& in) {
  Tensor q = requireInput(ctx, in, 0, "Q");
  Tensor k = requireInput(ctx, in, 1, "K");
  Tensor v = requireInput(ctx, in, 2, "V");
  ctx.check(isFloating(q.dtype()), "Q must be floating point, got " + std::string(dtypeName(q.dtype())));
  ctx.check(k.dtype() == q.dtype() && v.dtype() == q.dtype(), "Q, K and V must have one dtype");
  const int rank = q.ndim();
  ctx.check((rank == 3 || rank == 4) && k.ndim() == rank && v.ndim() == rank,
            "Q, K and V must all be 3-D [batch, seq, hidden] or all 4-D [batch, heads, seq, head_size]; got " +
                shapeStr(q.shape()) + ", " + shapeStr(k.shape()) + ", " + shapeStr(v.shape()));
  const bool threeD = rank == 3;
  const int64_t qHeadsAttr = ctx.attrs.getInt("q_num_heads", 0);
  const int64_t kvHeadsAttr = ctx.attrs.getInt("kv_num_heads", 0);
  if (threeD) {
    ctx.check(qHeadsAttr > 0 && kvHeadsAttr > 0,
              "3-D inputs need positive q_num_heads and kv_num_heads attributes, got " + dimStr(qHeadsAttr) +
                  " and " + dimStr(kvHeadsAttr));
    q = splitHeads(ctx, q, qHeadsAttr, "Q");
    k = splitHeads(ctx, k, kvHeadsAttr, "K");
    v = splitHeads(ctx, v, kvHeadsAttr, "V");
  } else {
    ctx.check(ctx.opset < 25 || (!ctx.attrs.has("q_num_heads") && !ctx.attrs.has("kv_num_heads")),
              "q_num_heads and kv_num_heads must not be given for 4-D inputs (opset 25)");
  }
  AttentionShape s;
  s.batch = q.dim(0);
  s.qHeads = q.dim(1);
  s.qLen = q.dim(2);
  s.headSize = q.dim(3);
  s.kvHeads = k.dim(1);
  s.kvLen = k.dim(2);
  s.vHeadSize = v.dim(3);
  ctx.check(k.dim(0) == s.batch && v.dim(0) == s.batch, "Q, K and V have different batch sizes");
  ctx.check(v.dim(1) == s.kvHeads && v.dim(2) == s.kvLen,
            "K " + shapeStr(k.shape()) + " and V " + shapeStr(v.shape()) + " (as [batch, heads, seq, size]) " +
                "must have the same heads and sequence length");
  ctx.check(k.dim(3) == s.headSize, "Q and K head sizes differ (" + dimStr(s.headSize) + " and " +
                                        dimStr(k.dim(3)) + ")");
  ctx.check(s.kvHeads > 0 && s.qHeads % s.kvHeads == 0,
            "the query head count " + dimStr(s.qHeads) + " is not a multiple of the key/value head count " +
                dimStr(s.kvHeads));

  // Key/value cache.
  const bool hasPastK = hasInput(in, 4), hasPastV = hasInput(in, 5);
  ctx.check(hasPastK == hasPastV, "past_key and past_value must be given together");
  if (hasPastK) {
    const Tensor& pk = in[4];
    const Tensor& pv = in[5];
    ctx.check(pk.ndim() == 4 && pv.ndim() == 4 && pk.dim(0) == s.batch && pv.dim(0) == s.batch &&
                  pk.dim(1) == s.kvHeads && pv.dim(1) == s.kvHeads && pk.dim(3) == s.headSize &&
                  pv.dim(3) == s.vHeadSize && pk.dim(2) == pv.dim(2),
              "past_key " + shapeStr(pk.shape()) + " / past_value " + shapeStr(pv.shape()) +
                  " must be [batch, kv_heads, past_len, head_size] / [..., v_head_size] = [" + dimStr(s.batch) +
                  ", " + dimStr(s.kvHeads) + ", P, " + dimStr(s.headSize) + "] / [..., " + dimStr(s.vHeadSize) + "]");
    ctx.check(pk.dtype() == q.dtype() && pv.dtype() == q.dtype(), "past_key and past_value must have Q's dtype");
    s.pastLen = pk.dim(2);
    k = ops::concat({pk, k}, 2);
    v = ops::concat({pv, v}, 2);
  }

  // Padding lengths (opset 24).
  std::vector<int64_t> padLens;
  if (ctx.opset >= 24 && hasInput(in, 6)) {
    const Tensor& lens = in[6];
    ctx.check(!hasPastK, "nonpad_kv_seqlen cannot be combined with past_key / past_value");
    ctx.check(lens.dtype() == DType::kInt64 && lens.ndim() == 1 && lens.dim(0) == s.batch,
              "nonpad_kv_seqlen must be int64 of shape [batch] = [" + dimStr(s.batch) + "], got " +
                  dtypeName(lens.dtype()) + shapeStr(lens.shape()));
    padLens = intsOf(lens);
    for (int64_t n : padLens) {
      ctx.check(n >= 0 && n <= s.kvLen, "nonpad_kv_seqlen value " + dimStr(n) + " is outside [0, " +
                                            dimStr(s.kvLen) + "] (the key length)");
    }
  }

  const bool causal = ctx.attrs.getInt("is_causal", 0) != 0;
  const int64_t left = ctx.opset >= 25 ? ctx.attrs.getInt("left_window_size", -1) : -1;
  const int64_t right = ctx.opset >= 25 ? ctx.attrs.getInt("right_window_size", -1) : -1;
  ctx.check(left >= -1 && right >= -1, "left_window_size and right_window_size must be -1 or >= 0");
  const double softcap = ctx.attrs.getFloat("softcap", 0.0);
  ctx.check(std::isfinite(softcap) && softcap >= 0.0, "softcap must be finite and >= 0 (0: none)");
  const int64_t mode = ctx.attrs.getInt("qk_matmul_output_mode", 0);
  ctx.check(mode >= 0 && mode <= 3, "qk_matmul_output_mode must be 0, 1, 2 or 3, got " + dimStr(mode));
  const double scale = ctx.attrs.has("scale") ? ctx.attrs.getFloat("scale")
                                              : 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(s.headSize, 1)));
  ctx.check(std::isfinite(scale), "scale must be finite");

  // The additive bias: user mask + shape-only bounds.
  Tensor bias = structuralBias(ctx, s, causal, left, right, padLens, q.dtype());
  if (hasInput(in, 3)) {
    Tensor user = userBias(ctx, in[3], s, q.dtype());
    bias = bias.defined() ? ops::add(user, bias) : user;
  }
  // Rows with no attendable key (every bias entry -inf), found on the host: [..., rows, 1].
  Tensor emptyRows;
  if (bias.defined()) {
    const std::vector<double> b = doublesOf(bias);
    const int64_t len = bias.dim(bias.ndim() - 1);
    std::vector<int64_t> empty(static_cast<size_t>(len > 0 ? bias.numel() / len : 0), 1);
    bool any = false;
    for (size_t r = 0; r < empty.size(); ++r) {
      for (int64_t j = 0; j < len && empty[r] != 0; ++j) empty[r] = b[r * static_cast<size_t>(len) + j] == kNegInf;
      any = any || empty[r] != 0;
    }
    if (any) {
      Shape rows = bias.shape();
      rows.back() = 1;
      emptyRows = fromInts(empty, rows, DType::kBool, ctx.device);
    }
  }

  const Tensor present[2] = {k, v};
  const int64_t reps = s.qHeads / s.kvHeads;
  k = repeatHeads(k, reps);
  v = repeatHeads(v, reps);
  // scale * Q K^T, as sqrt(scale) on each side (the reference's rounding) when scale > 0.
  Tensor qk;
  if (scale > 0) {
    const double r = std::sqrt(scale);
    qk = ops::matmul(ops::mul(q, r), ops::transpose(ops::mul(k, r), {0, 1, 3, 2}));
  } else {
    qk = ops::matmul(ops::mul(q, scale), ops::transpose(k, {0, 1, 3, 2}));
  }
  Tensor qkOut = qk;  // mode 0: the raw product
  if (softcap > 0) {
    qk = ops::mul(ops::tanh(ops::div(qk, softcap)), softcap);
    if (mode == 1) qkOut = qk;
  }
  Tensor scores = bias.defined() ? ops::add(qk, bias) : qk;
  if (mode == 2) qkOut = scores;
  const DType softmaxType = ctx.attrs.has("softmax_precision")
                                ? precisionDType(ctx, ctx.attrs.getInt("softmax_precision"), "softmax_precision")
                                : q.dtype();
  if (emptyRows.defined()) scores = ops::where(emptyRows, Tensor::scalar(0.0, scores.dtype(), ctx.device), scores);
  Tensor probs = castTo(ops::softmax(castTo(scores, softmaxType), -1), q.dtype());
  if (emptyRows.defined()) probs = ops::where(emptyRows, Tensor::scalar(0.0, probs.dtype(), ctx.device), probs);
  if (mode == 3) qkOut = probs;
  Tensor y = ops::matmul(probs, v);  // [B, Hq, q, dv]
  if (threeD) y = ops::reshape(ops::transpose(y, {0, 2, 1, 3}), {s.batch, s.qLen, s.qHeads * s.vHeadSize});
  return {y, present[0], present[1], qkOut};
}

Tensors convertRmsNorm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& scale = requireInput(ctx, in, 1, "scale");
  ctx.check(isFloating(x.dtype()) && scale.dtype() == x.dtype(), "X and scale must share one floating-point dtype");
  ctx.check(x.ndim() >= 1, "X must have rank >= 1");
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", -1)}, x.ndim())[0];
  const double eps = ctx.attrs.getFloat("epsilon", 1e-5);
  ctx.check(std::isfinite(eps) && eps >= 0, "epsilon must be finite and >= 0");
  const DType stash = precisionDType(ctx, ctx.attrs.getInt("stash_type", 1), "stash_type");
  const Shape normalized(x.shape().begin() + axis, x.shape().end());
  ctx.check(broadcastsTo(scale.shape(), normalized),
            "scale " + shapeStr(scale.shape()) + " does not broadcast to the normalised dims " + shapeStr(normalized));
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < x.ndim(); ++d) axes.push_back(d);
  // stash_type only widens: a float64 model is not computed in float32.
  const Tensor xs = dtypeSize(stash) > dtypeSize(x.dtype()) ? castTo(x, stash) : x;
  Tensor meanSquare = ops::reduceMean(ops::mul(xs, xs), axes, true);
  Tensor inv = ops::reciprocal(ops::sqrt(ops::add(meanSquare, eps)));
  return one(ops::mul(castTo(ops::mul(xs, inv), x.dtype()), scale));
}

Tensors convertRotaryEmbedding(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  Tensor cosCache = requireInput(ctx, in, 1, "cos_cache");
  Tensor sinCache = requireInput(ctx, in, 2, "sin_cache");
  ctx.check(isFloating(x.dtype()) && cosCache.dtype() == x.dtype() && sinCache.dtype() == x.dtype(),
            "X, cos_cache and sin_cache must share one floating-point dtype");
  ctx.check(x.ndim() == 3 || x.ndim() == 4,
            "X must be [batch, seq, hidden] or [batch, heads, seq, head_size], got " + shapeStr(x.shape()));
  const bool threeD = x.ndim() == 3;
  const int64_t batch = x.dim(0);
  const int64_t seq = threeD ? x.dim(1) : x.dim(2);
  Tensor h = x;  // [B, S, H, D] (3-D input) or [B, H, S, D]
  if (threeD) {
    const int64_t heads = ctx.attrs.getInt("num_heads", 0);
    ctx.check(heads > 0, "a 3-D input needs a positive num_heads attribute");
    ctx.check(x.dim(2) % heads == 0, "hidden size " + dimStr(x.dim(2)) + " is not divisible by num_heads " +
                                         dimStr(heads));
    h = ops::reshape(x, {batch, seq, heads, x.dim(2) / heads});
  }
  const int64_t headSize = h.dim(3);
  int64_t rot = ctx.attrs.getInt("rotary_embedding_dim", 0);
  if (rot == 0) rot = headSize;
  ctx.check(rot > 0 && rot <= headSize && rot % 2 == 0,
            "rotary_embedding_dim " + dimStr(rot) + " must be even and in (0, head_size = " + dimStr(headSize) + "]");
  const int64_t half = rot / 2;
  ctx.check(cosCache.shape() == sinCache.shape(), "cos_cache " + shapeStr(cosCache.shape()) +
                                                      " and sin_cache " + shapeStr(sinCache.shape()) + " differ");
  if (hasInput(in, 3)) {
    const Tensor& pos = in[3];
    ctx.check(pos.dtype() == DType::kInt64 && pos.ndim() == 2 && pos.dim(0) == batch && pos.dim(1) == seq,
              "position_ids must be int64 [batch, seq] = [" + dimStr(batch) + ", " + dimStr(seq) + "], got " +
                  dtypeName(pos.dtype()) + shapeStr(pos.shape()));
    ctx.check(cosCache.ndim() == 2 && cosCache.dim(1) == half,
              "with position_ids, cos_cache must be [max_position, rotary_dim / 2] = [P, " + dimStr(half) +
                  "], got " + shapeStr(cosCache.shape()));
    const int64_t maxPos = cosCache.dim(0);
    for (int64_t p : intsOf(pos)) {
      ctx.check(p >= 0 && p < maxPos, "position id " + dimStr(p) + " is outside the cos/sin cache [0, " +
                                          dimStr(maxPos) + "); use a longer cache");
    }
    cosCache = ops::gather(cosCache, pos, 0);  // [B, S, half]
    sinCache = ops::gather(sinCache, pos, 0);
  } else {
    ctx.check(cosCache.ndim() == 3 && cosCache.dim(0) == batch && cosCache.dim(1) == seq && cosCache.dim(2) == half,
              "without position_ids, cos_cache must be [batch, seq, rotary_dim / 2] = [" + dimStr(batch) + ", " +
                  dimStr(seq) + ", " + dimStr(half) + "], got " + shapeStr(cosCache.shape()));
  }
  // [B, S, 1, half] against [B, S, H, .], or [B, 1, S, half] against [B, H, S, .].
  const int64_t headAxis = threeD ? 2 : 1;
  const Tensor cosB = ops::unsqueeze(cosCache, {headAxis});
  const Tensor sinB = ops::unsqueeze(sinCache, {headAxis});
  const Tensor rotated = rot < headSize ? ops::slice(h, {0}, {rot}, {3}) : h;
  const bool interleaved = ctx.attrs.getInt("interleaved", 0) != 0;
  Tensor x1, x2;
  if (interleaved) {
    x1 = ops::slice(rotated, {0}, {rot}, {3}, {2});
    x2 = ops::slice(rotated, {1}, {rot}, {3}, {2});
  } else {
    x1 = ops::slice(rotated, {0}, {half}, {3});
    x2 = ops::slice(rotated, {half}, {rot}, {3});
  }
  Tensor real = ops::sub(ops::mul(cosB, x1), ops::mul(sinB, x2));
  Tensor imag = ops::add(ops::mul(sinB, x1), ops::mul(cosB, x2));
  Tensor out;
  if (interleaved) {
    const Shape& rs = rotated.shape();
    out = ops::reshape(ops::concat({ops::unsqueeze(real, {4}), ops::unsqueeze(imag, {4})}, 4),
                       {rs[0], rs[1], rs[2], rot});
  } else {
    out = ops::concat({real, imag}, 3);
  }
  if (rot < headSize) out = ops::concat({out, ops::slice(h, {rot}, {headSize}, {3})}, 3);
  return one(threeD ? ops::reshape(out, x.shape()) : out);
}

Tensors convertGelu(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ctx.check(isFloating(x.dtype()), "X must be floating point");
  const std::string approx = ctx.attrs.getString("approximate", "none");
  Tensor inner;
  if (approx == "none") {
    inner = ops::erf(ops::mul(x, 1.0 / std::sqrt(2.0)));  // 0.5 x (1 + erf(x / sqrt 2))
  } else if (approx == "tanh") {  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    const Tensor cube = ops::mul(ops::mul(x, x), x);
    inner = ops::tanh(ops::mul(ops::add(x, ops::mul(cube, 0.044715)), std::sqrt(2.0 / kPi)));
  } else {
    ctx.check(false, "approximate must be \"none\" or \"tanh\", got \"" + approx + "\"");
  }
  return one(ops::mul(ops::mul(x, 0.5), ops::add(inner, 1.0)));
}

}  // namespace

void registerAttentionConverters(ConverterRegistry& r) {
  r.add("Attention", 23, convertAttention);
  r.add("Attention", 24, convertAttention);
  r.add("Attention", 25, convertAttention);
  r.add("RMSNormalization", 23, convertRmsNorm);
  r.add("RotaryEmbedding", 23, convertRotaryEmbedding);
  r.add("Gelu", 20, convertGelu);
}

}  // namespace singa::onnxio
