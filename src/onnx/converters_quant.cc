// Quantization ONNX operators: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and the
// integer / quantized compute ops (ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul). The
// integer arithmetic runs through the engine's float64 Conv / MatMul (exact for 8-bit operands)
// and the requantisation (round half to even, saturate) on the CPU. These are inference-only.
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// The saturation range of an integer dtype.
void rangeOf(DType t, double& lo, double& hi) {
  switch (t) {
    case DType::kUInt8: lo = 0; hi = 255; return;
    case DType::kInt8: lo = -128; hi = 127; return;
    case DType::kInt16: lo = -32768; hi = 32767; return;
    case DType::kInt32: lo = -2147483648.0; hi = 2147483647.0; return;
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

// The quantization axis (only meaningful for a per-axis, 1-D scale).
int axisFor(const ConvertContext& ctx, const Tensor& scale, const Tensor& x) {
  if (scale.numel() <= 1) return 0;
  return static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", 1)}, x.ndim())[0]);
}

Tensors convertQuantizeLinear(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const Tensor& scale = requireInput(ctx, in, 1, "y_scale");
  const Tensor zp = optionalInput(in, 2);
  const int axis = axisFor(ctx, scale, x);
  const DType outType = zp.defined() ? zp.dtype() : DType::kUInt8;
  // Divide in the input's own float type (as ONNX does), then round half to even.
  const DType ft = isFloating(x.dtype()) ? x.dtype() : DType::kFloat32;
  Tensor q = ops::div(castTo(x, ft), castTo(alongAxis(scale, axis, x.ndim()), ft));
  std::vector<double> v = doublesOf(q);
  for (double& d : v) d = std::nearbyint(d);
  Tensor r = fromDoubles(v, q.shape(), DType::kFloat64);
  if (zp.defined()) r = ops::add(r, castTo(alongAxis(zp, axis, x.ndim()), DType::kFloat64));
  return one(requantize(doublesOf(r), r.shape(), outType, x.device()));
}

Tensors convertDequantizeLinear(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  const Tensor& scale = requireInput(ctx, in, 1, "x_scale");
  const Tensor zp = optionalInput(in, 2);
  const int axis = axisFor(ctx, scale, x);
  Tensor d = castTo(x, DType::kFloat32);
  if (zp.defined()) d = ops::sub(d, castTo(alongAxis(zp, axis, x.ndim()), DType::kFloat32));
  return one(ops::mul(d, castTo(alongAxis(scale, axis, x.ndim()), DType::kFloat32)));
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
