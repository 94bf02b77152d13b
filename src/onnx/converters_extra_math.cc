// ONNX operators composed from engine ops so that gradients flow through the tape: CumProd (a
// masked product over a [.., n, n] view of the axis), LpNormalization, Mish, Swish, SwiGLU and
// GroupNormalization. Integer CumProd has no gradient and runs on the CPU. float16/bfloat16 are
// storage types in the engine: those inputs are computed in float32 and cast back (a cast between
// float types is differentiable).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

bool isHalfLike(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// The dtype a float input is computed in: float32 for the 16-bit storage types.
DType computeType(DType t) { return isHalfLike(t) ? DType::kFloat32 : t; }

void requireFloat(const ConvertContext& ctx, const Tensor& t, const char* what) {
  ctx.check(isFloating(t.dtype()), std::string(what) + " must be a floating-point tensor, got " +
                                       dtypeName(t.dtype()) + " (cast it to float first)");
}

// ---- CumProd ----------------------------------------------------------------------------------

// Integer cumulative product along `axis` on the CPU; products wrap modulo 2^bits, as NumPy's.
template <class V>
std::vector<V> cumProdHost(const std::vector<V>& v, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                           bool reverse) {
  std::vector<V> out(v.size(), V(1));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      uint64_t acc = 1;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t kk = reverse ? n - 1 - k : k;
        const size_t at = static_cast<size_t>((o * n + kk) * inner + i);
        if (exclusive) out[at] = static_cast<V>(acc);
        acc *= static_cast<uint64_t>(v[at]);
        if (!exclusive) out[at] = static_cast<V>(acc);
      }
    }
  }
  return out;
}

template <class V>
Tensor cumProdIntegers(const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse) {
  const std::vector<V> v = x.toVector<V>();
  return Tensor::fromVector(cumProdHost(v, outer, n, inner, exclusive, reverse), x.shape()).to(x.device());
}

Tensors convertCumProd(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  ctx.check(x.ndim() >= 1, "x must have rank >= 1, got a 0-d tensor");
  const int axis = static_cast<int>(
      normalizeAxes(ctx, {scalarInt(ctx, requireInput(ctx, in, 1, "axis"), "axis")}, x.ndim())[0]);
  const bool exclusive = ctx.attrs.getInt("exclusive", 0) != 0;
  const bool reverse = ctx.attrs.getInt("reverse", 0) != 0;
  const Shape& s = x.shape();
  const int64_t n = s[axis];
  if (!isFloating(x.dtype())) {
    int64_t inner = 1, outer = 1;
    for (int d = axis + 1; d < x.ndim(); ++d) inner *= s[d];
    for (int d = 0; d < axis; ++d) outer *= s[d];
    checkHostBuffer(ctx, x.numel(), sizeof(uint64_t), "the CumProd result");
    switch (x.dtype()) {
      case DType::kInt32: return one(cumProdIntegers<int32_t>(x, outer, n, inner, exclusive, reverse));
      case DType::kInt64: return one(cumProdIntegers<int64_t>(x, outer, n, inner, exclusive, reverse));
      case DType::kUInt32: return one(cumProdIntegers<uint32_t>(x, outer, n, inner, exclusive, reverse));
      case DType::kUInt64: return one(cumProdIntegers<uint64_t>(x, outer, n, inner, exclusive, reverse));
      default:
        ctx.check(false, std::string("x of type ") + dtypeName(x.dtype()) +
                             " is not supported (ONNX CumProd takes float, int32/64 and uint32/64)");
    }
  }
  if (x.numel() == 0) return one(ops::identity(x));  // nothing to multiply, whatever n is
  // Float: y[.., k] = prod_j m[k, j], where m[k, j] = x[.., j] for the j that position k takes in
  // and 1 elsewhere. The [.., n, n] intermediate is bounded like a host buffer (n <= numel).
  checkHostBuffer(ctx, checkedMul(x.numel(), n, "CumProd: the [.., n, n] product table"), sizeof(float),
                  "the [.., " + std::to_string(n) + ", " + std::to_string(n) + "] product table");
  std::vector<double> take(static_cast<size_t>(n * n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < n; ++j) {
      const bool taken = reverse ? (exclusive ? j > k : j >= k) : (exclusive ? j < k : j <= k);
      take[static_cast<size_t>(k * n + j)] = taken ? 1.0 : 0.0;
    }
  }
  const DType ct = computeType(x.dtype());
  const int last = x.ndim() - 1;
  Tensor xm = moveAxis(castTo(x, ct), axis, last);                  // [.., n]
  Shape table = xm.shape();
  table.insert(table.end() - 1, n);                                   // [.., n(k), n(j)]
  Tensor rows = ops::expand(ops::unsqueeze(xm, {last}), table);
  Tensor mask = ops::cast(fromDoubles(take, {n, n}, DType::kFloat32, x.device()), DType::kBool);
  Tensor y = ops::reduceProd(ops::where(mask, rows, scalarOf(1.0, rows)), {last + 1}, false);  // [.., n]
  return one(castTo(moveAxis(y, last, axis), x.dtype()));
}

// ---- LpNormalization --------------------------------------------------------------------------

Tensors convertLpNormalization(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  requireFloat(ctx, x, "input");
  ctx.check(x.ndim() >= 1, "input must have rank >= 1, got a 0-d tensor");
  const int64_t p = ctx.attrs.getInt("p", 2);
  ctx.check(p == 1 || p == 2, "attribute p must be 1 or 2, got " + std::to_string(p));
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", -1)}, x.ndim())[0];
  const Tensor xc = castTo(x, computeType(x.dtype()));
  // The norm is replaced by 1 where it is 0 (the output is 0 there, as ONNX defines) before the
  // square root, so neither the value nor the gradient sees a division by zero.
  Tensor acc = ops::reduceSum(p == 1 ? ops::abs(xc) : ops::mul(xc, xc), {axis}, true);
  const Tensor zero = scalarOf(0.0, acc);
  const Tensor isZero = ops::equal(acc, zero);
  Tensor safe = ops::where(isZero, scalarOf(1.0, acc), acc);
  Tensor norm = p == 1 ? safe : ops::sqrt(safe);
  Tensor y = ops::where(isZero, zero, ops::div(xc, norm));
  return one(castTo(y, x.dtype()));
}

// ---- activations ------------------------------------------------------------------------------

Tensor swish(const Tensor& x, double alpha) {
  return ops::mul(x, ops::sigmoid(alpha == 1.0 ? x : ops::mul(x, alpha)));
}

Tensors convertMish(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  requireFloat(ctx, x, "X");
  const Tensor xc = castTo(x, computeType(x.dtype()));
  return one(castTo(ops::mul(xc, ops::tanh(ops::softplus(xc))), x.dtype()));
}

double alphaAttr(const ConvertContext& ctx) {
  const double alpha = ctx.attrs.getFloat("alpha", 1.0);
  ctx.check(std::isfinite(alpha), "attribute alpha must be finite, got " + std::to_string(alpha));
  return alpha;
}

Tensors convertSwish(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  requireFloat(ctx, x, "X");
  return one(castTo(swish(castTo(x, computeType(x.dtype())), alphaAttr(ctx)), x.dtype()));
}

Tensors convertSwiGLU(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  requireFloat(ctx, a, "A");
  ctx.check(a.dtype() == b.dtype(), std::string("A and B must have the same type, got ") + dtypeName(a.dtype()) +
                                        " and " + dtypeName(b.dtype()));
  ctx.check(a.shape() == b.shape(), "A " + shapeStr(a.shape()) + " and B " + shapeStr(b.shape()) +
                                        " must have the same shape (SwiGLU does not broadcast)");
  const DType ct = computeType(a.dtype());
  return one(castTo(ops::mul(swish(castTo(a, ct), alphaAttr(ctx)), castTo(b, ct)), a.dtype()));
}

// ---- GroupNormalization -----------------------------------------------------------------------

// Opset 18 gives scale and bias per group, opset 21 per channel; both become [1, C, 1, ..].
Tensor channelParam(const ConvertContext& ctx, const Tensor& t, const char* what, int64_t channels, int64_t groups,
                    int rank) {
  const bool perGroup = ctx.opset < 21;
  const int64_t want = perGroup ? groups : channels;
  ctx.check(t.ndim() == 1 && t.dim(0) == want,
            std::string(what) + " must have shape [" + std::to_string(want) + "] (one value per " +
                (perGroup ? "group" : "channel") + " at opset " + std::to_string(ctx.opset) + "), got " +
                shapeStr(t.shape()));
  Tensor c = t;
  if (perGroup && groups != channels) {
    c = ops::reshape(ops::expand(ops::reshape(t, {groups, 1}), {groups, channels / groups}), {channels});
  }
  Shape s(static_cast<size_t>(rank), 1);
  s[1] = channels;
  return ops::reshape(c, s);
}

Tensors convertGroupNormalization(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& scale = requireInput(ctx, in, 1, "scale");
  const Tensor& bias = requireInput(ctx, in, 2, "bias");
  requireFloat(ctx, x, "X");
  ctx.check(x.ndim() >= 2, "X must be [N, C, ...] (rank >= 2), got " + shapeStr(x.shape()));
  ctx.check(ctx.attrs.has("num_groups"), "attribute num_groups is required");
  const int64_t groups = ctx.attrs.getInt("num_groups");
  const int64_t n = x.dim(0), channels = x.dim(1);
  ctx.check(groups >= 1 && groups <= std::max<int64_t>(channels, 1) && channels % groups == 0,
            "num_groups = " + std::to_string(groups) + " must be >= 1 and divide the " + std::to_string(channels) +
                " channels of X " + shapeStr(x.shape()));
  const double eps = ctx.attrs.getFloat("epsilon", 1e-5);
  ctx.check(std::isfinite(eps) && eps >= 0, "attribute epsilon must be finite and >= 0, got " + std::to_string(eps));
  DType stash = computeType(x.dtype());
  if (ctx.opset >= 21) {
    const int64_t code = ctx.attrs.getInt("stash_type", 1);
    ctx.check(code == 1 || code == 11, "attribute stash_type must be 1 (float) or 11 (double), got " +
                                           std::to_string(code));
    stash = dtypeFromOnnx(static_cast<int>(code));
  }
  const int rank = x.ndim();
  const Tensor g = channelParam(ctx, castTo(scale, x.dtype()), "scale", channels, groups, rank);
  const Tensor b = channelParam(ctx, castTo(bias, x.dtype()), "bias", channels, groups, rank);
  // Stage 1 in the stash type over [N, G, C/G * spatial]; stage 2 in X's type.
  const int64_t rows = checkedMul(n, groups, "GroupNormalization: N * num_groups");
  const int64_t perGroup = rows == 0 ? 0 : x.numel() / rows;
  Tensor xs = ops::reshape(castTo(x, stash), {n, groups, perGroup});
  Tensor mean = ops::reduceMean(xs, {2}, true);
  Tensor d = ops::sub(xs, mean);
  Tensor var = ops::reduceMean(ops::mul(d, d), {2}, true);
  Tensor normed = ops::div(d, ops::sqrt(ops::add(var, scalarOf(eps, var))));
  const DType ct = computeType(x.dtype());
  Tensor y = ops::reshape(castTo(normed, ct), x.shape());
  y = ops::add(ops::mul(y, castTo(g, ct)), castTo(b, ct));
  return one(castTo(y, x.dtype()));
}

}  // namespace

void registerExtraMathConverters(ConverterRegistry& r) {
  r.add("CumProd", 26, convertCumProd);
  r.add("LpNormalization", 1, convertLpNormalization);
  r.add("Mish", 18, convertMish);
  r.add("Swish", 24, convertSwish);
  r.add("SwiGLU", 28, convertSwiGLU);
  r.add("GroupNormalization", 18, convertGroupNormalization);
}

}  // namespace singa::onnxio
