// Element-wise ONNX operators: unary math and activations, binary arithmetic with broadcasting
// (including the pre-opset-7 `broadcast`/`axis` form), comparisons and logic, and the variadic
// Sum/Mean/Max/Min. Each maps onto one engine op, so gradients flow through all float paths.
#include <algorithm>
#include <cmath>
#include <limits>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;
using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using VariadicFn = Tensor (*)(const std::vector<Tensor>&);

template <UnaryFn F>
Tensors unary(const ConvertContext& ctx, const Tensors& in) {
  return one(F(requireInput(ctx, in, 0, "X")));
}

// Opset < 7: B is broadcast onto A only when broadcast=1, aligned at `axis` when given.
Tensor legacyBroadcast(const ConvertContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset >= 7 || ctx.attrs.getInt("broadcast", 0) == 0 || !ctx.attrs.has("axis")) return b;
  int64_t axis = ctx.attrs.getInt("axis");
  if (axis < 0) axis += a.ndim();
  ctx.check(axis >= 0 && axis <= a.ndim() - b.ndim(),  // no axis + ndim: a crafted axis is near 2^63
            "axis " + std::to_string(ctx.attrs.getInt("axis")) + " does not place B " + shapeStr(b.shape()) +
                " inside A " + shapeStr(a.shape()));
  Shape s = b.shape();
  while (static_cast<int64_t>(s.size()) + axis < a.ndim()) s.push_back(1);
  return ops::reshape(b, s);
}

template <BinaryFn F>
Tensors binary(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  return one(F(a, legacyBroadcast(ctx, a, b)));
}

template <VariadicFn F>
Tensors variadic(const ConvertContext& ctx, const Tensors& in) {
  Tensors xs;
  for (const Tensor& t : in) {
    if (t.defined()) xs.push_back(t);
  }
  ctx.check(!xs.empty(), "needs at least one input");
  if (xs.size() == 1) return one(ops::identity(xs[0]));
  return one(F(xs));
}

Tensors convertPow(const ConvertContext& ctx, const Tensors& in) {
  Tensor a = requireInput(ctx, in, 0, "X");
  Tensor b = legacyBroadcast(ctx, a, requireInput(ctx, in, 1, "Y"));
  if (isFloating(a.dtype())) return one(ops::pow(a, castTo(b, a.dtype())));
  // Integer base: compute in float64, round, and return the base's type (ONNX Pow's output type).
  Tensor r = ops::pow(castTo(a, DType::kFloat64), castTo(b, DType::kFloat64));
  return one(castTo(ops::round(r), a.dtype()));
}

// Integer Div and Mod by zero are undefined in ONNX; the engine's kernels give 0 (never a trap),
// but a model that divides an integer by zero is broken: ValueError naming the op. One pass
// over the divisor, integer dtypes only.
void requireNonZeroDivisor(const ConvertContext& ctx, const Tensor& a, const Tensor& b) {
  if (isFloating(a.dtype()) || isFloating(b.dtype())) return;
  const std::vector<int64_t> v = intsOf(b);
  ctx.check(std::find(v.begin(), v.end(), 0) == v.end(),
            "integer division by zero (the divisor " + shapeStr(b.shape()) + " holds a 0)");
}

Tensors convertDiv(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor b = legacyBroadcast(ctx, a, requireInput(ctx, in, 1, "B"));
  requireNonZeroDivisor(ctx, a, b);
  return one(ops::div(a, b));
}

// Mod with fmod=0 on floats takes the sign of the divisor (Python's %): from the truncated
// remainder r = fmod(a, b), r + b where r is non-zero and its sign differs from b's. Composed from
// engine ops, so both inputs get gradients; 16-bit floats are computed in float32.
Tensor floatFloorMod(const Tensor& a, const Tensor& b) {
  const DType ct = a.dtype() == DType::kFloat16 || a.dtype() == DType::kBFloat16 ? DType::kFloat32 : a.dtype();
  const Tensor af = castTo(a, ct), bf = castTo(b, ct);
  const Tensor r = ops::mod(af, bf, true);
  const Tensor zero = scalarOf(0.0, r);
  const Tensor rd = r.detach(), bd = bf.detach();
  const Tensor differ = ops::logicalXor(ops::less(rd, zero), ops::less(bd, zero));
  const Tensor shift = ops::logicalAnd(differ, ops::logicalNot(ops::equal(rd, zero)));
  return castTo(ops::where(shift, ops::add(r, bf), r), a.dtype());
}

Tensors convertMod(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  requireNonZeroDivisor(ctx, a, b);
  const bool fmod = ctx.attrs.getInt("fmod", 0) != 0;
  if (!fmod && isFloating(a.dtype())) {
    ctx.check(a.dtype() == b.dtype(), std::string("A and B must have the same type, got ") + dtypeName(a.dtype()) +
                                          " and " + dtypeName(b.dtype()));
    return one(floatFloorMod(a, b));
  }
  return one(ops::mod(a, b, fmod));
}

Tensors convertElu(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::elu(requireInput(ctx, in, 0, "X"), ctx.attrs.getFloat("alpha", 1.0)));
}

Tensors convertSelu(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::selu(requireInput(ctx, in, 0, "X"),
                       ctx.attrs.getFloat("alpha", 1.67326319217681884765625),
                       ctx.attrs.getFloat("gamma", 1.05070102214813232421875)));
}

Tensors convertLeakyRelu(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::leakyRelu(requireInput(ctx, in, 0, "X"), ctx.attrs.getFloat("alpha", 0.01)));
}

Tensors convertHardSigmoid(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::hardSigmoid(requireInput(ctx, in, 0, "X"), ctx.attrs.getFloat("alpha", 0.2),
                              ctx.attrs.getFloat("beta", 0.5)));
}

Tensors convertCelu(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::celu(requireInput(ctx, in, 0, "X"), ctx.attrs.getFloat("alpha", 1.0)));
}

Tensors convertThresholdedRelu(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::thresholdedRelu(requireInput(ctx, in, 0, "X"), ctx.attrs.getFloat("alpha", 1.0)));
}

Tensors convertClip(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  std::optional<double> lo;
  std::optional<double> hi;
  if (ctx.opset < 11) {
    if (ctx.attrs.has("min")) lo = ctx.attrs.getFloat("min");
    if (ctx.attrs.has("max")) hi = ctx.attrs.getFloat("max");
  } else {
    if (hasInput(in, 1)) lo = scalarDouble(ctx, in[1], "min");
    if (hasInput(in, 2)) hi = scalarDouble(ctx, in[2], "max");
  }
  return one(ops::clip(x, lo, hi));
}

Tensors convertPRelu(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  Tensor slope = requireInput(ctx, in, 1, "slope");
  // Opset < 7 allowed a [C] slope for an [N, C, ...] input (per-channel); align it to axis 1.
  if (ctx.opset < 7 && slope.ndim() == 1 && x.ndim() > 2 && slope.dim(0) == x.dim(1) && slope.dim(0) != 1) {
    Shape s{slope.dim(0)};
    for (int i = 2; i < x.ndim(); ++i) s.push_back(1);
    slope = ops::reshape(slope, s);
  }
  return one(ops::prelu(x, slope));
}

Tensors convertShrink(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const double lambd = ctx.attrs.getFloat("lambd", 0.5);
  const double bias = ctx.attrs.getFloat("bias", 0.0);
  Tensor low = ops::less(x, scalarOf(-lambd, x));
  Tensor high = ops::greater(x, scalarOf(lambd, x));
  Tensor zero = scalarOf(0.0, x);
  return one(ops::where(low, ops::add(x, scalarOf(bias, x)),
                        ops::where(high, ops::sub(x, scalarOf(bias, x)), zero)));
}

Tensors convertIsNaN(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  std::vector<double> v = doublesOf(x);
  for (double& d : v) d = std::isnan(d) ? 1.0 : 0.0;
  return one(fromDoubles(v, x.shape(), DType::kBool, x.device()));
}

Tensors convertIsInf(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const bool neg = ctx.attrs.getInt("detect_negative", 1) != 0;
  const bool pos = ctx.attrs.getInt("detect_positive", 1) != 0;
  std::vector<double> v = doublesOf(x);
  for (double& d : v) d = std::isinf(d) && ((d > 0 && pos) || (d < 0 && neg)) ? 1.0 : 0.0;
  return one(fromDoubles(v, x.shape(), DType::kBool, x.device()));
}

Tensors convertBitShift(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& y = requireInput(ctx, in, 1, "Y");
  const std::string dir = ctx.attrs.getString("direction", "");
  ctx.check(dir == "LEFT" || dir == "RIGHT", "direction must be LEFT or RIGHT, got '" + dir + "'");
  Shape shape = broadcastShapes(x.shape(), y.shape(), "BitShift");
  Tensor xb = ops::expand(x, shape);
  Tensor yb = ops::expand(y, shape);
  std::vector<int64_t> a = intsOf(xb);
  std::vector<int64_t> b = intsOf(yb);
  const int bits = static_cast<int>(dtypeSize(x.dtype()) * 8);
  const DType t = x.dtype();
  // Signed types shift arithmetically (a[i] is sign-extended); a shift that is negative or at
  // least the width (a huge unsigned one) empties the value: 0, or -1 for a negative value
  // shifted right. Never a C++ shift by an out-of-range amount.
  const bool isSigned = t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
  const bool left = dir == "LEFT";
  for (size_t i = 0; i < a.size(); ++i) {
    const int64_t s = b[i];
    const bool out = s < 0 || s >= bits;
    uint64_t v;
    if (isSigned && !left) {
      v = static_cast<uint64_t>(out ? (a[i] < 0 ? -1 : 0) : a[i] >> s);
    } else {
      v = out ? 0 : (left ? static_cast<uint64_t>(a[i]) << s : static_cast<uint64_t>(a[i]) >> s);
    }
    if (bits < 64) v &= (uint64_t{1} << bits) - 1;
    a[i] = static_cast<int64_t>(v);
  }
  return one(fromInts(a, shape, x.dtype(), x.device()));
}

Tensors convertWhere(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::where(requireInput(ctx, in, 0, "condition"), requireInput(ctx, in, 1, "X"),
                        requireInput(ctx, in, 2, "Y")));
}

}  // namespace

void registerElementwiseConverters(ConverterRegistry& r) {
  struct U {
    const char* name;
    ConvertFn fn;
  };
  const U unaries[] = {
      {"Abs", unary<ops::abs>},   {"Neg", unary<ops::neg>},   {"Sign", unary<ops::sign>},
      {"Relu", unary<ops::relu>}, {"Identity", unary<ops::identity>},
  };
  for (const U& u : unaries) r.add(u.name, 1, u.fn);
  // The float unary list (op_list.h): the ONNX op type is the op's name. Rounding has zero
  // gradient almost everywhere; it is still recorded by the engine.
#define SINGA_FLOAT_UNARY_CONVERTER(A, Name, function, grad, since, desc) \
  if (since > 0) r.add(#Name, since, unary<ops::function>);
  SINGA_FLOAT_UNARY_OPS(SINGA_FLOAT_UNARY_CONVERTER, )
#undef SINGA_FLOAT_UNARY_CONVERTER
  r.add("Not", 1, unary<ops::logicalNot>);

  r.add("Elu", 1, convertElu);
  r.add("Selu", 1, convertSelu);
  r.add("LeakyRelu", 1, convertLeakyRelu);
  r.add("HardSigmoid", 1, convertHardSigmoid);
  r.add("Celu", 12, convertCelu);
  r.add("ThresholdedRelu", 10, convertThresholdedRelu);
  r.add("Clip", 1, convertClip);
  r.add("PRelu", 1, convertPRelu);
  r.add("Shrink", 9, convertShrink);
  r.add("IsNaN", 9, convertIsNaN);
  r.add("IsInf", 10, convertIsInf);
  r.add("BitShift", 11, convertBitShift);

  r.add("Add", 1, binary<ops::add>);
  r.add("Sub", 1, binary<ops::sub>);
  r.add("Mul", 1, binary<ops::mul>);
  r.add("Div", 1, convertDiv);
  r.add("Pow", 1, convertPow);
  r.add("Mod", 10, convertMod);
  r.add("Equal", 1, binary<ops::equal>);
  r.add("Less", 1, binary<ops::less>);
  r.add("LessOrEqual", 12, binary<ops::lessOrEqual>);
  r.add("Greater", 1, binary<ops::greater>);
  r.add("GreaterOrEqual", 12, binary<ops::greaterOrEqual>);
  r.add("And", 1, binary<ops::logicalAnd>);
  r.add("Or", 1, binary<ops::logicalOr>);
  r.add("Xor", 1, binary<ops::logicalXor>);
  r.add("Where", 9, convertWhere);

  r.add("Sum", 1, variadic<ops::sum>);
  r.add("Mean", 1, variadic<ops::mean>);
  r.add("Max", 1, variadic<ops::max>);
  r.add("Min", 1, variadic<ops::min>);
}

}  // namespace singa::onnxio
