// Shape and data-movement ONNX operators. Many changed form across opsets: values that were
// attributes became inputs (Reshape 5, Slice 10, Pad 11, Squeeze/Unsqueeze/Split 13, Pad axes
// 18); each converter reads both forms. Input values that fix a shape are read as int64 on the
// CPU; the data path stays on engine ops so gradients flow.
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

Tensors convertReshape(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  Shape shape = ctx.opset < 5 ? ctx.attrs.getInts("shape") : intsOf(requireInput(ctx, in, 1, "shape"));
  return one(ops::reshape(x, shape, ctx.attrs.getInt("allowzero", 0) != 0));
}

Tensors convertFlatten(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  int64_t axis = ctx.attrs.getInt("axis", 1);
  if (axis < 0) axis += x.ndim();
  ctx.check(axis >= 0 && axis <= x.ndim(), "axis out of range for input " + shapeStr(x.shape()));
  return one(ops::flatten(x, axis));
}

Tensors convertTranspose(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::transpose(requireInput(ctx, in, 0, "data"), ctx.attrs.getInts("perm", {})));
}

Tensors convertSqueeze(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  std::vector<int64_t> axes = intsFromAttrOrInput(ctx, in, 1, "axes");
  return one(ops::squeeze(x, normalizeAxes(ctx, axes, x.ndim())));
}

Tensors convertUnsqueeze(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  std::vector<int64_t> axes = intsFromAttrOrInput(ctx, in, 1, "axes");
  const int outRank = x.ndim() + static_cast<int>(axes.size());
  return one(ops::unsqueeze(x, normalizeAxes(ctx, axes, outRank)));
}

Tensors convertConcat(const ConvertContext& ctx, const Tensors& in) {
  Tensors xs;
  for (const Tensor& t : in) {
    if (t.defined()) xs.push_back(t);
  }
  ctx.check(!xs.empty(), "needs at least one input");
  return one(ops::concat(xs, ctx.attrs.getInt("axis", 1)));
}

Tensors convertSplit(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", 0)}, x.ndim())[0];
  std::vector<int64_t> sizes = intsFromAttrOrInput(ctx, in, 1, "split");
  const int64_t n = x.dim(static_cast<int>(axis));
  if (sizes.empty()) {
    const int64_t k = ctx.attrs.getInt("num_outputs", static_cast<int64_t>(ctx.numOutputs));
    ctx.check(k > 0 && k == static_cast<int64_t>(ctx.numOutputs),
              "num_outputs " + std::to_string(k) + " must be positive and equal the node's " +
                  std::to_string(ctx.numOutputs) + " outputs");
    // Equal pieces; from opset 18 a remainder makes the last piece smaller.
    const int64_t piece = ctx.opset >= 18 ? (n + k - 1) / k : n / k;
    ctx.check(ctx.opset >= 18 || n % k == 0, "axis size " + std::to_string(n) +
                                                 " does not split into " + std::to_string(k) + " equal parts");
    int64_t left = n;
    for (int64_t i = 0; i < k; ++i) {
      sizes.push_back(std::min(piece, left));
      left -= sizes.back();
    }
  }
  return ops::split(x, axis, sizes);
}

Tensors convertSlice(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  if (ctx.opset < 10) {
    return one(ops::slice(x, ctx.attrs.getInts("starts"), ctx.attrs.getInts("ends"),
                          ctx.attrs.getInts("axes", {})));
  }
  return one(ops::slice(x, intsOf(requireInput(ctx, in, 1, "starts")), intsOf(requireInput(ctx, in, 2, "ends")),
                        intsOf(optionalInput(in, 3)), intsOf(optionalInput(in, 4))));
}

// Pad mode "wrap": along each axis, output position i reads input (i - begin) mod len, a Gather
// (so gradients flow): periodic also for pads wider than the axis (as onnxruntime; NumPy's pad,
// which the ONNX reference calls, repeats differently there); a negative pad crops that periodic
// extension.
Tensor wrapPad(const ConvertContext& ctx, const Tensor& x, const std::vector<int64_t>& pads) {
  const int nd = x.ndim();
  ctx.check(pads.size() == 2 * static_cast<size_t>(nd), "pads has " + std::to_string(pads.size()) +
                                                            " values; it needs 2 per input dim (" +
                                                            std::to_string(2 * nd) + ")");
  Tensor y = x;
  for (int a = 0; a < nd; ++a) {
    const int64_t begin = pads[a], end = pads[a + nd], len = x.dim(a);
    if (begin == 0 && end == 0) continue;
    int64_t padTotal = 0, outLen = 0;
    ctx.check(!__builtin_add_overflow(begin, end, &padTotal) && !__builtin_add_overflow(len, padTotal, &outLen),
              "pads " + shapeStr(pads) + " overflow a 64-bit size");
    ctx.check(outLen >= 0, "pads " + shapeStr(pads) + " crop more than the input " + shapeStr(x.shape()) + " holds");
    ctx.check(len > 0 || outLen == 0, "mode 'wrap' cannot pad an empty axis " + std::to_string(a));
    checkHostBuffer(ctx, outLen, sizeof(int64_t), "the wrap indices");
    std::vector<int64_t> idx(static_cast<size_t>(outLen));
    for (int64_t i = 0; i < outLen; ++i) idx[static_cast<size_t>(i)] = (((i - begin) % len) + len) % len;
    y = ops::gather(y, intsTensor(idx, {outLen}, x.device()), a);
  }
  return y;
}

Tensors convertPad(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const std::string mode = ctx.attrs.getString("mode", "constant");
  std::vector<int64_t> pads;
  double value = 0.0;
  if (ctx.opset < 11) {
    pads = ctx.attrs.has("pads") ? ctx.attrs.getInts("pads") : ctx.attrs.getInts("paddings");
    value = ctx.attrs.getFloat("value", 0.0);
  } else {
    pads = intsOf(requireInput(ctx, in, 1, "pads"));
    if (hasInput(in, 2)) value = scalarDouble(ctx, in[2], "constant_value");
    if (hasInput(in, 3)) {
      // Opset 18: pads only for the listed axes.
      std::vector<int64_t> axes = normalizeAxes(ctx, intsOf(in[3]), x.ndim());
      ctx.check(pads.size() == 2 * axes.size(), "pads must hold 2 values per listed axis");
      std::vector<int64_t> full(2 * static_cast<size_t>(x.ndim()), 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        full[axes[i]] = pads[i];
        full[axes[i] + x.ndim()] = pads[i + axes.size()];
      }
      pads = full;
    }
  }
  if (mode == "wrap") return one(wrapPad(ctx, x, pads));
  return one(ops::pad(x, pads, mode, value));
}

Tensors convertTile(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::tile(requireInput(ctx, in, 0, "input"), intsOf(requireInput(ctx, in, 1, "repeats"))));
}

Tensors convertExpand(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::expand(requireInput(ctx, in, 0, "input"), intsOf(requireInput(ctx, in, 1, "shape"))));
}

Tensors convertShape(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const int64_t r = x.ndim();
  int64_t start = ctx.attrs.getInt("start", 0);
  int64_t end = ctx.attrs.getInt("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(x.shape()[d]);
  return one(intsTensor(dims, {-1}, x.device()));
}

Tensors convertSize(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  return one(intsTensor({x.numel()}, {}, x.device()));
}

// Cast's and CastLike's float8 options (opset 19: saturate; opset 24: round_mode for float8e8m0).
CastParams castParamsOf(const ConvertContext& ctx) {
  CastParams p;
  p.saturate = ctx.attrs.getInt("saturate", 1) != 0;
  const std::string mode = ctx.attrs.getString("round_mode", "up");
  ctx.check(mode == "up" || mode == "down" || mode == "nearest",
            "round_mode '" + mode + "' is not one of up, down, nearest");
  p.e8m0Rounding = mode == "up" ? 0 : mode == "down" ? 1 : 2;
  return p;
}

Tensors convertCast(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(ctx.attrs.has("to"), "attribute 'to' is required");
  return one(ops::cast(x, dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("to"))), castParamsOf(ctx)));
}

Tensors convertCastLike(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::cast(requireInput(ctx, in, 0, "input"), requireInput(ctx, in, 1, "target_type").dtype(),
                       castParamsOf(ctx)));
}

Tensors convertConstantOfShape(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& shapeInput = requireInput(ctx, in, 0, "input");
  ctx.check(shapeInput.ndim() == 1, "input must be a 1-D shape, got a tensor of shape " + shapeStr(shapeInput.shape()));
  Shape shape = intsOf(shapeInput);
  for (int64_t d : shape) ctx.check(d >= 0, "the requested shape " + shapeStr(shape) + " has a negative dim");
  double value = 0.0;
  DType dtype = DType::kFloat32;
  if (ctx.attrs.has("value")) {
    const Tensor& v = ctx.attrs.getTensor("value");
    dtype = v.dtype();
    value = scalarDouble(ctx, v, "attribute 'value'");
  }
  if (!isFloating(dtype) && ctx.attrs.has("value")) {
    checkHostBuffer(ctx, numelOf(shape), sizeof(int64_t), "the output " + shapeStr(shape));
    return one(fromInts(std::vector<int64_t>(static_cast<size_t>(numelOf(shape)),
                                             scalarInt(ctx, ctx.attrs.getTensor("value"), "attribute 'value'")),
                        shape, dtype, in[0].device()));
  }
  Tensor t = ops::constantOfShape(shape, value, dtype);
  return one(t.device() == ctx.device ? t : t.to(ctx.device));
}

Tensors convertConstant(const ConvertContext& ctx, const Tensors& in) {
  const Attrs& a = ctx.attrs;
  if (a.has("value")) return one(a.getTensor("value").to(ctx.device).clone());
  if (a.has("value_float")) return one(fromDoubles({a.getFloat("value_float")}, {}, DType::kFloat32, ctx.device));
  if (a.has("value_int")) return one(intsTensor({a.getInt("value_int")}, {}, ctx.device));
  if (a.has("value_floats")) {
    std::vector<double> v = a.getFloats("value_floats");
    return one(fromDoubles(v, {static_cast<int64_t>(v.size())}, DType::kFloat32, ctx.device));
  }
  if (a.has("value_ints")) return one(intsTensor(a.getInts("value_ints"), {-1}, ctx.device));
  ctx.check(false, "only tensor, float(s) and int(s) values are supported (no strings, no sparse)");
  return {};
}

// DepthToSpace / SpaceToDepth `blocksize`: required, >= 1, and small enough that blocksize^2
// cannot overflow (no tensor dim exceeds 2^31 blocks squared anyway).
int64_t blocksizeOf(const ConvertContext& ctx) {
  ctx.check(ctx.attrs.has("blocksize"), "attribute 'blocksize' is required");
  const int64_t b = ctx.attrs.getInt("blocksize");
  ctx.check(b >= 1 && b <= (int64_t{1} << 31), "blocksize must lie in [1, 2^31], got " + std::to_string(b));
  return b;
}

Tensors convertDepthToSpace(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(x.ndim() == 4, "needs a 4-D input, got " + shapeStr(x.shape()));
  const int64_t b = blocksizeOf(ctx);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  ctx.check(b <= c && c % (b * b) == 0, "channels (" + std::to_string(c) + ") must be divisible by blocksize^2 (" +
                                            std::to_string(b) + "^2)");
  const std::string mode = ctx.attrs.getString("mode", "DCR");
  ctx.check(mode == "DCR" || mode == "CRD", "mode must be DCR or CRD, got '" + mode + "'");
  const bool crd = mode == "CRD";
  Tensor t = crd ? ops::reshape(x, {n, c / (b * b), b, b, h, w}) : ops::reshape(x, {n, b, b, c / (b * b), h, w});
  t = crd ? ops::transpose(t, {0, 1, 4, 2, 5, 3}) : ops::transpose(t, {0, 3, 4, 1, 5, 2});
  return one(ops::reshape(t, {n, c / (b * b), h * b, w * b}));
}

Tensors convertSpaceToDepth(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(x.ndim() == 4, "needs a 4-D input, got " + shapeStr(x.shape()));
  const int64_t b = blocksizeOf(ctx);
  const std::string mode = ctx.attrs.getString("mode", "DCR");
  ctx.check(mode == "DCR" || mode == "CRD", "mode must be DCR or CRD, got '" + mode + "'");
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  ctx.check(h % b == 0 && w % b == 0, "spatial dims must be divisible by blocksize");
  checkedMul(c, b * b, "SpaceToDepth output channels");
  Tensor t = ops::reshape(x, {n, c, h / b, b, w / b, b});
  // Output channel: DCR (bh * b + bw) * c + ch, CRD (ch * b + bh) * b + bw.
  t = mode == "CRD" ? ops::transpose(t, {0, 1, 3, 5, 2, 4}) : ops::transpose(t, {0, 3, 5, 1, 2, 4});
  return one(ops::reshape(t, {n, c * b * b, h / b, w / b}));
}

Tensors convertEyeLike(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(x.ndim() == 2, "needs a 2-D input, got " + shapeStr(x.shape()));
  const DType dtype = ctx.attrs.has("dtype") ? dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("dtype")))
                                             : x.dtype();
  const int64_t k = ctx.attrs.getInt("k", 0);
  const int64_t rows = x.dim(0), cols = x.dim(1);
  std::vector<double> v(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t i = 0; i < rows && k > -rows && k < cols; ++i) {  // a k beyond the matrix: all zeros
    if (i + k >= 0 && i + k < cols) v[static_cast<size_t>(i * cols + i + k)] = 1.0;
  }
  return one(fromDoubles(v, {rows, cols}, dtype, x.device()));  // x is on the model's device
}

Tensors convertRange(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& s = requireInput(ctx, in, 0, "start");
  const DType dtype = s.dtype();
  if (isFloating(dtype)) {
    const double start = scalarDouble(ctx, s, "start");
    const double limit = scalarDouble(ctx, requireInput(ctx, in, 1, "limit"), "limit");
    const double delta = scalarDouble(ctx, requireInput(ctx, in, 2, "delta"), "delta");
    ctx.check(std::isfinite(start) && std::isfinite(limit) && std::isfinite(delta) && delta != 0.0,
              "start, limit and delta must be finite and delta non-zero, got start " + std::to_string(start) +
                  ", limit " + std::to_string(limit) + ", delta " + std::to_string(delta));
    const double count = std::max(std::ceil((limit - start) / delta), 0.0);
    ctx.check(count < 9.0e18, "the range from " + std::to_string(start) + " to " + std::to_string(limit) +
                                  " by " + std::to_string(delta) + " has too many elements");
    const auto n = static_cast<int64_t>(count);
    checkHostBuffer(ctx, n, sizeof(double), "the range");
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i) * delta;
    return one(fromDoubles(v, {n}, dtype, s.device()));
  }
  const int64_t start = scalarInt(ctx, s, "start");
  const int64_t limit = scalarInt(ctx, requireInput(ctx, in, 1, "limit"), "limit");
  const int64_t delta = scalarInt(ctx, requireInput(ctx, in, 2, "delta"), "delta");
  ctx.check(delta != 0, "delta must not be 0");
  // Exact count in 128 bits: limit - start may not fit int64. Each value lies between start and
  // limit, so stepping from one to the next cannot overflow (i * delta could).
  const __int128 span = static_cast<__int128>(limit) - start;
  const __int128 count = span == 0 || (span > 0) != (delta > 0) ? 0 : (span + delta - (delta > 0 ? 1 : -1)) / delta;
  ctx.check(count <= INT64_MAX, "the range has too many elements");
  const auto n = static_cast<int64_t>(count);
  checkHostBuffer(ctx, n, sizeof(int64_t), "the range");
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0, value = start; i < n; ++i) {
    v[static_cast<size_t>(i)] = value;
    if (i + 1 < n) value += delta;
  }
  return one(fromInts(v, {n}, dtype, s.device()));
}

}  // namespace

void registerShapeConverters(ConverterRegistry& r) {
  r.add("Reshape", 1, convertReshape);
  r.add("Flatten", 1, convertFlatten);
  r.add("Transpose", 1, convertTranspose);
  r.add("Squeeze", 1, convertSqueeze);
  r.add("Unsqueeze", 1, convertUnsqueeze);
  r.add("Concat", 1, convertConcat);
  r.add("Split", 2, convertSplit);
  r.add("Slice", 1, convertSlice);
  r.add("Pad", 2, convertPad);
  r.add("Tile", 6, convertTile);
  r.add("Expand", 8, convertExpand);
  r.add("Shape", 1, convertShape);
  r.add("Size", 1, convertSize);
  r.add("Cast", 6, convertCast);
  r.add("CastLike", 15, convertCastLike);
  r.add("ConstantOfShape", 9, convertConstantOfShape);
  r.add("Constant", 1, convertConstant);
  r.add("DepthToSpace", 1, convertDepthToSpace);
  r.add("SpaceToDepth", 1, convertSpaceToDepth);
  r.add("EyeLike", 9, convertEyeLike);
  r.add("Range", 11, convertRange);
}

}  // namespace singa::onnxio
