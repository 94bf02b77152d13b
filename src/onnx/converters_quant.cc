// Quantization ONNX operators: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and the
// integer / quantized compute ops (ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul). The
// integer arithmetic runs through the engine's float64 Conv / MatMul (exact for 8-bit operands)
// and the requantisation (round half to even, saturate) on the CPU. These are inference-only.
#include <cmath>

#include "singa/core/narrow_types.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// The saturation range of an integer dtype (QuantizeLinear's table).
void rangeOf(DType t, double& lo, double& hi) {
  switch (t) {
    case DType::kUInt8: lo = 0; hi = 255; return;
    case DType::kInt8: lo = -128; hi = 127; return;
    case DType::kUInt16: lo = 0; hi = 65535; return;
    case DType::kInt16: lo = -32768; hi = 32767; return;
    case DType::kInt32: lo = -2147483648.0; hi = 2147483647.0; return;
    case DType::kUInt4: lo = 0; hi = 15; return;
    case DType::kInt4: lo = -8; hi = 7; return;
    case DType::kUInt2: lo = 0; hi = 3; return;
    case DType::kInt2: lo = -2; hi = 1; return;
    default: lo = -1e300; hi = 1e300; return;
  }
}

// Rounds half to even, saturates to `dtype` and builds the tensor.
Tensor requantize(const std::vector<double>& v, const Shape& shape, DType dtype, Device device) {
  double lo, hi;
  rangeOf(dtype, lo, hi);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::clamp(std::nearbyint(v[i]), lo, hi);
  return fromDoubles(out, shape, dtype, device);
}

// A per-axis parameter (scale / zero point) shaped to broadcast against an input of rank `ndim`.
Tensor alongAxis(const Tensor& p, int axis, int ndim) {
  if (p.ndim() == 0 || p.numel() == 1) return ops::reshape(p, {});
  SINGA_CHECK(axis >= 0 && axis < ndim, ShapeError,
              "a per-axis scale or zero point of " << p.numel() << " values needs an input of rank > " << axis
                                                   << ", got rank " << ndim);
  Shape s(static_cast<size_t>(ndim), 1);
  s[axis] = p.numel();
  return ops::reshape(p, s);
}

// QuantizeLinear's / DequantizeLinear's scale or zero point laid out to broadcast against `x`:
// per tensor (a scalar or one value), per axis (1-D, the length of x's `axis`), or blocked (x's
// rank, x's shape but ceil(D / block_size) along `axis`: each value repeated block_size times).
Tensor paramLayout(const ConvertContext& ctx, const Tensor& p, const Tensor& x, const char* what) {
  const int64_t block = ctx.attrs.getInt("block_size", 0);
  ctx.check(block >= 0, "block_size must be positive, got " + std::to_string(block));
  if (p.ndim() == 0 || (p.ndim() == 1 && p.numel() == 1 && block == 0)) return ops::reshape(p, {});
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", 1)}, x.ndim())[0]);
  if (block == 0) {
    ctx.check(p.ndim() == 1 && p.dim(0) == x.dim(axis),
              std::string(what) + " of shape " + shapeStr(p.shape()) + " is neither a scalar nor per-axis along axis " +
                  std::to_string(axis) + " of the input " + shapeStr(x.shape()) +
                  " (blocked quantization needs the block_size attribute)");
    return alongAxis(p, axis, x.ndim());
  }
  ctx.check(p.ndim() == x.ndim(), std::string(what) + " of shape " + shapeStr(p.shape()) +
                                      " must have the input's rank for blocked quantization, input " + shapeStr(x.shape()));
  const int64_t d = x.dim(axis), s = p.dim(axis);
  for (int i = 0; i < x.ndim(); ++i) {
    ctx.check(i == axis || p.dim(i) == x.dim(i), std::string(what) + " of shape " + shapeStr(p.shape()) +
                                                     " differs from the input " + shapeStr(x.shape()) +
                                                     " outside the blocked axis " + std::to_string(axis));
  }
  ctx.check(block <= d + 1 && (d + block - 1) / block == s,
            "block_size " + std::to_string(block) + " gives ceil(" + std::to_string(d) + " / " + std::to_string(block) +
                ") blocks along axis " + std::to_string(axis) + ", but " + what + " has " + std::to_string(s));
  // [.., S, ..] -> [.., S, 1, ..] -> [.., S, B, ..] -> [.., S * B, ..] -> the first D.
  Shape withBlock = p.shape();
  withBlock.insert(withBlock.begin() + axis + 1, 1);
  Shape expanded = withBlock;
  expanded[static_cast<size_t>(axis) + 1] = block;
  Shape merged = p.shape();
  merged[static_cast<size_t>(axis)] = checkedMul(s, block, "the blocked scale");
  Tensor e = ops::reshape(ops::expand(ops::reshape(p, withBlock), expanded), merged);
  return ops::slice(e, {0}, {d}, {axis});
}

// The dtype named by an optional `output_dtype` attribute (0 or absent: none).
DType outputDtypeAttr(const ConvertContext& ctx, DType dflt) {
  const int64_t t = ctx.attrs.getInt("output_dtype", 0);
  return t == 0 ? dflt : dtypeFromOnnx(static_cast<int>(t));
}

Tensors convertQuantizeLinear(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const Tensor& scale = requireInput(ctx, in, 1, "y_scale");
  const Tensor zp = optionalInput(in, 2);
  const DType outType = outputDtypeAttr(ctx, zp.defined() ? zp.dtype() : DType::kUInt8);
  if (zp.defined()) {
    ctx.check(zp.dtype() == outType, std::string("output_dtype ") + dtypeName(outType) + " differs from y_zero_point's " +
                                         dtypeName(zp.dtype()));
    ctx.check(zp.shape() == scale.shape() || (zp.numel() == 1 && scale.numel() == 1),
              "y_zero_point of shape " + shapeStr(zp.shape()) + " differs from y_scale's " + shapeStr(scale.shape()));
  }
  ctx.check(outType != DType::kFloat8E8M0 && !isFloating(outType) && outType != DType::kBool &&
                outType != DType::kInt64 && outType != DType::kUInt32 && outType != DType::kUInt64,
            std::string("cannot quantize to ") + dtypeName(outType));
  // x / y_scale in the precision attribute's type, else y_scale's (float32 for a float8e8m0 scale),
  // rounded once from the exact quotient; then round half to even (integers) or Cast's rounding.
  DType precision = scale.dtype() == DType::kFloat8E8M0 || !isFloating(scale.dtype()) ? DType::kFloat32 : scale.dtype();
  if (ctx.attrs.getInt("precision", 0) != 0) precision = dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("precision")));
  ctx.check(isFloating(precision), std::string("precision ") + dtypeName(precision) + " is not a float type");
  const std::vector<double> xv = doublesOf(x);
  const std::vector<double> sv = doublesOf(ops::expand(paramLayout(ctx, scale, x, "y_scale"), x.shape()));
  std::vector<double> q(xv.size());
  for (size_t i = 0; i < q.size(); ++i) q[i] = xv[i] / sv[i];
  q = doublesOf(castTo(fromDoubles(q, x.shape(), DType::kFloat64), precision));
  std::vector<double> zv(q.size(), 0.0);
  if (zp.defined()) zv = doublesOf(ops::expand(paramLayout(ctx, zp, x, "y_zero_point"), x.shape()));
  if (narrow::isNarrowFloat(outType)) {
    for (size_t i = 0; i < q.size(); ++i) q[i] += zv[i];
    CastParams cp;
    cp.saturate = ctx.attrs.getInt("saturate", 1) != 0;
    return one(ops::cast(fromDoubles(q, x.shape(), DType::kFloat64), outType, cp).to(x.device()));
  }
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::nearbyint(q[i]) + zv[i];
  return one(requantize(q, x.shape(), outType, x.device()));
}

Tensors convertDequantizeLinear(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const Tensor& scale = requireInput(ctx, in, 1, "x_scale");
  const Tensor zp = optionalInput(in, 2);
  if (zp.defined()) {
    ctx.check(zp.dtype() == x.dtype(), std::string("x_zero_point's type ") + dtypeName(zp.dtype()) + " differs from x's " +
                                           dtypeName(x.dtype()));
  }
  const DType outType = outputDtypeAttr(ctx, isFloating(scale.dtype()) ? scale.dtype() : DType::kFloat32);
  ctx.check(isFloating(outType), std::string("output_dtype ") + dtypeName(outType) + " is not a float type");
  // (x - x_zero_point) * x_scale: exact in float32 for every narrow and 8/16-bit x, then rounded
  // once to the output type.
  Tensor d = castTo(x, DType::kFloat32);
  if (zp.defined()) d = ops::sub(d, castTo(paramLayout(ctx, zp, x, "x_zero_point"), DType::kFloat32));
  Tensor y = ops::mul(d, castTo(paramLayout(ctx, scale, x, "x_scale"), DType::kFloat32));
  return one(castTo(y, outType));
}

Tensors convertDynamicQuantizeLinear(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const std::vector<double> v = doublesOf(x);
  double mn = 0.0, mx = 0.0;
  for (double d : v) {
    mn = std::min(mn, d);
    mx = std::max(mx, d);
  }
  // float32 arithmetic throughout, as ONNX's reference computes it.
  const float fmx = static_cast<float>(mx), fmn = static_cast<float>(mn);
  const float scale = (fmx == fmn ? 1.0f : fmx - fmn) / 255.0f;
  const float zp0 = 0.0f - fmn / scale;
  const double zp = std::nearbyint(std::clamp(static_cast<double>(zp0), 0.0, 255.0));
  std::vector<double> q(v.size());
  for (size_t i = 0; i < v.size(); ++i) q[i] = std::nearbyint(static_cast<double>(static_cast<float>(v[i]) / scale)) + zp;
  return {requantize(q, x.shape(), DType::kUInt8, x.device()), fromDoubles({scale}, {}, DType::kFloat32, x.device()),
          fromDoubles({zp}, {}, DType::kUInt8, x.device())};
}

// (t - zeroPoint) in float64, with a per-channel zero point along `axis`.
Tensor centered(const Tensor& t, const Tensor& zp, int axis) {
  Tensor d = castTo(t, DType::kFloat64);
  if (!zp.defined()) return d;
  return ops::sub(d, castTo(alongAxis(zp, axis, t.ndim()), DType::kFloat64));
}

ops::ConvParams convParamsOf(const ConvertContext& ctx) {
  ops::ConvParams p;
  p.strides = ctx.attrs.getInts("strides", {});
  p.pads = ctx.attrs.getInts("pads", {});
  p.dilations = ctx.attrs.getInts("dilations", {});
  p.group = ctx.attrs.getInt("group", 1);
  p.autoPad = ctx.attrs.getString("auto_pad", "NOTSET");
  return p;
}

// The float64 integer product of a conv on centred operands (x zero point scalar, w per output channel).
Tensor intConv(const ConvertContext& ctx, const Tensor& x, const Tensor& xzp, const Tensor& w, const Tensor& wzp) {
  return ops::conv(centered(x, xzp, 1), centered(w, wzp, 0), Tensor(), convParamsOf(ctx));
}

Tensors convertConvInteger(const ConvertContext& ctx, const Tensors& in) {
  Tensor y = intConv(ctx, requireInput(ctx, in, 0, "x"), optionalInput(in, 2), requireInput(ctx, in, 1, "w"),
                     optionalInput(in, 3));
  return one(requantize(doublesOf(y), y.shape(), DType::kInt32, y.device()));
}

Tensors convertMatMulInteger(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  // a_zero_point is per row of A (axis -2), b_zero_point per column of B (axis -1).
  Tensor ac = centered(a, optionalInput(in, 2), std::max(a.ndim() - 2, 0));
  Tensor bc = centered(b, optionalInput(in, 3), b.ndim() - 1);
  Tensor y = ops::matmul(ac, bc);
  return one(requantize(doublesOf(y), y.shape(), DType::kInt32, y.device()));
}

Tensors convertQLinearMatMul(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "a");
  const Tensor& b = requireInput(ctx, in, 3, "b");
  const Tensor& yzp = requireInput(ctx, in, 7, "y_zero_point");
  Tensor acc = ops::matmul(centered(a, in[2], std::max(a.ndim() - 2, 0)), centered(b, in[5], b.ndim() - 1));
  Tensor scale = ops::div(ops::mul(castTo(requireInput(ctx, in, 1, "a_scale"), DType::kFloat64),
                                   castTo(requireInput(ctx, in, 4, "b_scale"), DType::kFloat64)),
                          castTo(requireInput(ctx, in, 6, "y_scale"), DType::kFloat64));
  Tensor y = ops::add(ops::mul(acc, scale), castTo(yzp, DType::kFloat64));
  return one(requantize(doublesOf(y), y.shape(), yzp.dtype(), a.device()));
}

Tensors convertQLinearConv(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const Tensor& w = requireInput(ctx, in, 3, "w");
  const Tensor& yzp = requireInput(ctx, in, 7, "y_zero_point");
  Tensor acc = intConv(ctx, x, in[2], w, in[5]);
  if (hasInput(in, 8)) acc = ops::add(acc, alongAxis(castTo(in[8], DType::kFloat64), 1, acc.ndim()));
  Tensor wScale = alongAxis(castTo(requireInput(ctx, in, 4, "w_scale"), DType::kFloat64), 1, acc.ndim());
  Tensor scale = ops::div(ops::mul(castTo(requireInput(ctx, in, 1, "x_scale"), DType::kFloat64), wScale),
                          castTo(requireInput(ctx, in, 6, "y_scale"), DType::kFloat64));
  Tensor y = ops::add(ops::mul(acc, scale), castTo(yzp, DType::kFloat64));
  return one(requantize(doublesOf(y), y.shape(), yzp.dtype(), x.device()));
}

}  // namespace

void registerQuantConverters(ConverterRegistry& r) {
  r.add("QuantizeLinear", 10, convertQuantizeLinear, false);
  r.add("DequantizeLinear", 10, convertDequantizeLinear);
  r.add("DynamicQuantizeLinear", 11, convertDynamicQuantizeLinear, false);
  r.add("ConvInteger", 10, convertConvInteger, false);
  r.add("MatMulInteger", 10, convertMatMulInteger, false);
  r.add("QLinearMatMul", 10, convertQLinearMatMul, false);
  r.add("QLinearConv", 10, convertQLinearConv, false);
}

}  // namespace singa::onnxio
