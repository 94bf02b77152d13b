// Shape and data-movement ops. Reshape (of a contiguous input), Flatten (likewise), Transpose,
// Squeeze, Unsqueeze, Slice (positive steps) and Split are views that share the input's storage;
// everything else copies. Every op records its ONNX type and attributes when traced and an
// autograd node whose rule maps the gradient back (a view's gradient is the inverse view;
// Slice scatters into zeros; Concat slices; Gather scatter-adds; Tile and Expand sum).
#include <algorithm>
#include <numeric>

#include "singa/core/onnx_dtype.h"
#include "singa/ops/ops.h"
#include "singa/ops/op_util.h"

namespace singa::ops {
namespace {

// A contiguous copy without an autograd or trace record (the calling op records itself).
Tensor contiguousCopy(const Tensor& x) {
  if (x.isContiguous()) return x;
  std::vector<Tensor> outs{Tensor(x.shape(), x.dtype(), x.device())};
  runKernel(OpId::kCopy, x.dtype(), x.device(), {x}, outs);
  return outs[0];
}

// Zeros of `shape`; an empty tensor is returned as allocated (Tensor::zeros rejects some
// empty shapes as non-contiguous).
Tensor zerosOf(const Shape& shape, DType dtype, Device device) {
  return numelOf(shape) == 0 ? Tensor(shape, dtype, device) : Tensor::zeros(shape, dtype, device);
}

// A row-major view of x with `shape` (same numel), copying first when x is not contiguous.
Tensor reshapeView(const Tensor& x, const Shape& shape) {
  Tensor base = contiguousCopy(x);
  return makeView(base, shape, contiguousStrides(shape), base.offset());
}

autograd::BackwardFn reshapeBack(const Shape& xs) {
  return [xs](const std::vector<Tensor>& g) { return std::vector<Tensor>{reshape(g[0], xs, true)}; };
}

std::vector<int64_t> iota(int n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape, bool allowZero) {
  detail::requireDefined("Reshape", x, "input");
  Shape out(shape.size());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == -1) {
      SINGA_CHECK(inferred < 0, ValueError, "Reshape: more than one -1 in the requested shape " << shape);
      inferred = static_cast<int>(i);
      continue;
    }
    if (d == 0 && !allowZero) {
      SINGA_CHECK(static_cast<int>(i) < x.ndim(), ShapeError,
                  "Reshape: 0 at position " << i << " of " << shape << " copies an input dim, but the input "
                                            << x.shape() << " has rank " << x.ndim());
      d = x.shape()[i];
    }
    SINGA_CHECK(d >= 0, ValueError, "Reshape: invalid dimension " << d << " in the requested shape " << shape);
    out[i] = d;
    known = checkedMul(known, d, "Reshape: the requested shape");
  }
  if (inferred >= 0) {
    SINGA_CHECK(known != 0 && x.numel() % known == 0, ShapeError,
                "Reshape: cannot reshape " << x.shape() << " (" << x.numel() << " elements) to " << shape
                                           << ": the -1 dimension cannot be inferred");
    out[inferred] = x.numel() / known;
  }
  SINGA_CHECK(numelOf(out) == x.numel(), ShapeError,
              "Reshape: cannot reshape " << x.shape() << " (" << x.numel() << " elements) to " << shape << " ("
                                         << numelOf(out) << " elements); the element counts must match");
  Attrs attrs{{"shape", std::vector<int64_t>(shape)}};
  if (allowZero) attrs.set("allowzero", int64_t(1));
  return detail::finish1("Reshape", attrs, {x}, reshapeView(x, out), reshapeBack(x.shape()));
}

Tensor flatten(const Tensor& x, int64_t axis) {
  detail::requireDefined("Flatten", x, "input");
  const int r = x.ndim();
  SINGA_CHECK(axis >= -r && axis <= r, ValueError,
              "Flatten: axis " << axis << " is out of range for rank " << r << " (valid: " << -r << " to " << r << ")");
  const int64_t a = axis < 0 ? axis + r : axis;
  Shape fixed{1, 1};
  for (int i = 0; i < r; ++i) fixed[i < a ? 0 : 1] *= x.shape()[i];
  return detail::finish1("Flatten", Attrs{{"axis", a}}, {x}, reshapeView(x, fixed), reshapeBack(x.shape()));
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& permIn) {
  detail::requireDefined("Transpose", x, "input");
  const int r = x.ndim();
  std::vector<int64_t> perm = permIn;
  if (perm.empty()) {
    perm = iota(r);
    std::reverse(perm.begin(), perm.end());
  }
  SINGA_CHECK(static_cast<int>(perm.size()) == r, ValueError,
              "Transpose: perm has " << perm.size() << " entries but the input " << x.shape() << " has rank " << r);
  std::vector<bool> seen(r, false);
  for (int64_t& p : perm) {
    p = normalizeAxis(p, r, "Transpose");
    SINGA_CHECK(!seen[p], ValueError, "Transpose: perm lists axis " << p << " twice; it must be a permutation of 0.."
                                                                   << r - 1);
    seen[p] = true;
  }
  Shape shape(r);
  std::vector<int64_t> strides(r), inverse(r);
  for (int i = 0; i < r; ++i) {
    shape[i] = x.shape()[perm[i]];
    strides[i] = x.strides()[perm[i]];
    inverse[perm[i]] = i;
  }
  Tensor y = makeView(x, shape, strides, x.offset());
  return detail::finish1("Transpose", Attrs{{"perm", perm}}, {x}, y, [inverse](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{transpose(g[0], inverse)};
  });
}

Tensor squeeze(const Tensor& x, const std::vector<int64_t>& axesIn) {
  detail::requireDefined("Squeeze", x, "input");
  const int r = x.ndim();
  std::vector<bool> drop(r, false);
  std::vector<int64_t> axes;
  if (axesIn.empty()) {
    for (int i = 0; i < r; ++i) drop[i] = x.shape()[i] == 1;
  } else {
    for (int64_t a : axesIn) {
      const int n = normalizeAxis(a, r, "Squeeze");
      SINGA_CHECK(x.shape()[n] == 1, ShapeError,
                  "Squeeze: axis " << a << " of " << x.shape() << " has size " << x.shape()[n] << ", not 1");
      drop[n] = true;
    }
  }
  Shape shape;
  std::vector<int64_t> strides;
  for (int i = 0; i < r; ++i) {
    if (drop[i]) {
      axes.push_back(i);
    } else {
      shape.push_back(x.shape()[i]);
      strides.push_back(x.strides()[i]);
    }
  }
  return detail::finish1("Squeeze", Attrs{{"axes", axes}}, {x}, makeView(x, shape, strides, x.offset()),
                         reshapeBack(x.shape()));
}

Tensor unsqueeze(const Tensor& x, const std::vector<int64_t>& axesIn) {
  detail::requireDefined("Unsqueeze", x, "input");
  const int r = x.ndim() + static_cast<int>(axesIn.size());
  std::vector<bool> insert(r, false);
  std::vector<int64_t> axes;
  for (int64_t a : axesIn) {
    const int n = normalizeAxis(a, r, "Unsqueeze");
    SINGA_CHECK(!insert[n], ValueError, "Unsqueeze: axis " << a << " is listed twice");
    insert[n] = true;
  }
  Shape shape(r);
  std::vector<int64_t> strides(r);
  int src = x.ndim() - 1;
  int64_t inner = 1;  // stride of an inserted dim: that of the dims after it, times their size
  for (int i = r - 1; i >= 0; --i) {
    if (insert[i]) {
      shape[i] = 1;
      strides[i] = inner;
    } else {
      shape[i] = x.shape()[src];
      strides[i] = x.strides()[src];
      inner = strides[i] * std::max<int64_t>(shape[i], 1);
      --src;
    }
  }
  for (int i = 0; i < r; ++i) {
    if (insert[i]) axes.push_back(i);
  }
  return detail::finish1("Unsqueeze", Attrs{{"axes", axes}}, {x}, makeView(x, shape, strides, x.offset()),
                         reshapeBack(x.shape()));
}

Tensor slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
             const std::vector<int64_t>& axesIn, const std::vector<int64_t>& stepsIn) {
  detail::requireDefined("Slice", x, "input");
  const int r = x.ndim();
  const size_t n = starts.size();
  std::vector<int64_t> axes = axesIn.empty() ? iota(static_cast<int>(n)) : axesIn;
  std::vector<int64_t> steps = stepsIn.empty() ? std::vector<int64_t>(n, 1) : stepsIn;
  SINGA_CHECK(ends.size() == n && axes.size() == n && steps.size() == n, ValueError,
              "Slice: starts, ends, axes and steps must have the same length (got " << n << ", " << ends.size()
                                                                                << ", " << axes.size() << ", "
                                                                                << steps.size() << ")");
  SINGA_CHECK(r > 0 || n == 0, ShapeError, "Slice: the input is a 0-d tensor (a scalar); it has no axis to slice");
  Shape shape = x.shape();
  std::vector<int64_t> strides = x.strides();
  std::vector<int64_t> first(r, 0), stride(r, 1);  // effective start and step per axis
  int64_t offset = x.offset();
  bool negative = false;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < n; ++i) {
    const int a = normalizeAxis(axes[i], r, "Slice");
    SINGA_CHECK(!seen[a], ValueError, "Slice: axis " << axes[i] << " is listed twice");
    seen[a] = true;
    axes[i] = a;
    const int64_t d = x.shape()[a];
    SINGA_CHECK(steps[i] != 0, ValueError, "Slice: step 0 on axis " << a << "; steps must be non-zero");
    // A step longer than the axis takes at most one element: clamping it to the axis size keeps
    // the result and keeps the length and stride arithmetic below from overflowing.
    const int64_t bound = std::max<int64_t>(d, 1);
    const int64_t step = std::clamp<int64_t>(steps[i], -bound, bound);
    int64_t s = starts[i] < 0 ? starts[i] + d : starts[i];
    int64_t e = ends[i] < 0 ? (ends[i] < -d ? -1 : ends[i] + d) : ends[i];
    int64_t len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      len = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      len = s > e ? (s - e - step - 1) / (-step) : 0;
      negative = negative || len > 1;
    }
    if (len > 0) {
      offset += s * x.strides()[a];
      first[a] = s;
    }
    shape[a] = len;
    stride[a] = step;
    strides[a] = x.strides()[a] * step;
  }
  Tensor view = makeView(x, shape, strides, offset);
  if (negative) {  // negative strides stay internal: other kernels expect non-negative ones
    std::vector<Tensor> outs{Tensor(shape, x.dtype(), x.device())};
    runKernel(OpId::kCopy, x.dtype(), x.device(), {view}, outs);
    view = outs[0];
  } else {
    for (int i = 0; i < r; ++i) {
      if (shape[i] <= 1) strides[i] = std::abs(strides[i]);  // a one-element negative step
    }
    view = makeView(x, shape, strides, offset);
  }
  Attrs attrs{{"starts", starts}, {"ends", ends}, {"axes", axes}, {"steps", steps}};
  const Shape xs = x.shape();
  return detail::finish1("Slice", attrs, {x}, view, [xs, shape, first, stride](const std::vector<Tensor>& g) {
    // dx: zeros with g written through the same window of a contiguous tensor of x's shape.
    Tensor dx = zerosOf(xs, g[0].dtype(), g[0].device());
    const std::vector<int64_t> cs = contiguousStrides(xs);
    int64_t off = 0;
    std::vector<int64_t> st(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      off += first[i] * cs[i];
      st[i] = cs[i] * stride[i];
    }
    std::vector<Tensor> outs{makeView(dx, shape, st, off)};
    runKernel(OpId::kStridedCopy, g[0].dtype(), g[0].device(), {g[0]}, outs);
    return std::vector<Tensor>{dx};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  SINGA_CHECK(!xs.empty(), ValueError, "Concat: needs at least one input");
  for (const Tensor& t : xs) detail::requireDefined("Concat", t, "an input");
  const Tensor& x0 = xs[0];
  const int r = x0.ndim();
  SINGA_CHECK(r > 0, ShapeError, "Concat: inputs must have at least one dimension, got a scalar");
  const int a = normalizeAxis(axis, r, "Concat");
  Shape out = x0.shape();
  out[a] = 0;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    SINGA_CHECK(t.ndim() == r, ShapeError,
                "Concat: input " << i << " has rank " << t.ndim() << " (shape " << t.shape() << ") but input 0 has rank "
                                 << r << " (shape " << x0.shape() << "); all inputs need the same rank");
    SINGA_CHECK(t.dtype() == x0.dtype(), TypeError,
                "Concat: input " << i << " is " << dtypeName(t.dtype()) << " but input 0 is " << dtypeName(x0.dtype()));
    for (int d = 0; d < r; ++d) {
      SINGA_CHECK(d == a || t.shape()[d] == x0.shape()[d], ShapeError,
                  "Concat: input " << i << " has shape " << t.shape() << " and input 0 " << x0.shape()
                                   << "; all dims except axis " << a << " must match");
    }
    out[a] += t.shape()[a];
    inputs.push_back(contiguousCopy(t));
  }
  Attrs attrs{{"axis", int64_t(a)}};  // for the trace
  const KernelParams kp = AxisParams{a};
  Tensor y = detail::runOp1(OpId::kConcat, x0.dtype(), inputs, out, x0.dtype(), Attrs(), &kp);
  std::vector<int64_t> sizes;
  for (const Tensor& t : xs) sizes.push_back(t.shape()[a]);
  return detail::finish1("Concat", attrs, xs, y, [a, sizes](const std::vector<Tensor>& g) {
    std::vector<Tensor> gs;
    int64_t begin = 0;
    for (int64_t n : sizes) {
      gs.push_back(slice(g[0], {begin}, {begin + n}, {a}));
      begin += n;
    }
    return gs;
  });
}

std::vector<Tensor> split(const Tensor& x, int64_t axis, const std::vector<int64_t>& sizesIn, int64_t numOutputs) {
  detail::requireDefined("Split", x, "input");
  const int a = normalizeAxis(axis, x.ndim(), "Split");
  const int64_t d = x.ndim() ? x.shape()[a] : 1;
  std::vector<int64_t> sizes = sizesIn;
  if (sizes.empty()) {
    SINGA_CHECK(numOutputs > 0, ValueError, "Split: give either the piece sizes or a positive number of outputs");
    const int64_t chunk = (d + numOutputs - 1) / numOutputs;  // the last piece may be smaller (ONNX 18)
    for (int64_t i = 0; i < numOutputs; ++i) sizes.push_back(std::clamp<int64_t>(d - i * chunk, 0, chunk));
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    SINGA_CHECK(s >= 0, ValueError, "Split: negative piece size " << s);
    total = checkedAdd(total, s, "Split: the sum of the piece sizes");
  }
  SINGA_CHECK(total == d, ShapeError,
              "Split: piece sizes sum to " << total << " but axis " << a << " of " << x.shape() << " has " << d);
  std::vector<Tensor> outs;
  int64_t begin = 0;
  for (int64_t s : sizes) {
    Shape shape = x.shape();
    shape[a] = s;
    outs.push_back(makeView(x, shape, x.strides(), x.offset() + (s > 0 ? begin * x.strides()[a] : 0)));
    begin += s;
  }
  detail::finish("Split", Attrs{{"split", sizes}, {"axis", int64_t(a)}}, {x}, outs,
                 [a](const std::vector<Tensor>& g) { return std::vector<Tensor>{concat(g, a)}; });
  return outs;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode, double value) {
  detail::requireDefined("Pad", x, "input");
  const int r = x.ndim();
  SINGA_CHECK(static_cast<int>(pads.size()) == 2 * r, ValueError,
              "Pad: pads has " << pads.size() << " entries; a rank-" << r << " input " << x.shape() << " needs " << 2 * r
                               << " ([begin_0..begin_n, end_0..end_n])");
  SINGA_CHECK(mode == "constant" || mode == "reflect" || mode == "edge", ValueError,
              "Pad: unknown mode '" << mode << "' (use constant, reflect or edge)");
  Shape out(r);
  for (int i = 0; i < r; ++i) {
    const int64_t d = x.shape()[i], b = pads[i], e = pads[i + r];
    const __int128 size = static_cast<__int128>(d) + b + e;  // pads may be anything a model says
    SINGA_CHECK(size <= INT64_MAX, ShapeError,
                "Pad: pads " << b << ", " << e << " on axis " << i << " of " << x.shape() << " overflow the axis size");
    out[i] = static_cast<int64_t>(size);
    SINGA_CHECK(size >= 0, ShapeError,
                "Pad: pads " << b << ", " << e << " crop more than axis " << i << " of " << x.shape() << " holds");
    if (mode == "reflect" && (b > 0 || e > 0)) {
      SINGA_CHECK(b < d && e < d, ShapeError,
                  "Pad: reflect pads on axis " << i << " (" << b << ", " << e << ") must be smaller than its size " << d
                                               << " in " << x.shape());
    }
    if (mode == "edge" && (b > 0 || e > 0)) {
      SINGA_CHECK(d > 0, ShapeError, "Pad: edge mode cannot pad the empty axis " << i << " of " << x.shape());
    }
  }
  Attrs attrs{{"pads", pads}, {"mode", mode}, {"value", value}};  // for the trace
  const PadMode padMode =
      mode == "constant" ? PadMode::kConstant : (mode == "reflect" ? PadMode::kReflect : PadMode::kEdge);
  const KernelParams kp = PadParams{pads, padMode, value};
  Tensor y = detail::runOp1(OpId::kPad, x.dtype(), {x}, out, x.dtype(), Attrs(), &kp);
  const Shape xs = x.shape();
  return detail::finish1("Pad", attrs, {x}, y, [xs, kp](const std::vector<Tensor>& g) {
    const PadParams& p = std::get<PadParams>(kp);
    if (p.mode == PadMode::kConstant) {
      std::vector<int64_t> back(p.pads.size());
      for (size_t i = 0; i < p.pads.size(); ++i) back[i] = -p.pads[i];
      return std::vector<Tensor>{pad(g[0], back, "constant", 0.0)};
    }
    std::vector<Tensor> outs{zerosOf(xs, g[0].dtype(), g[0].device())};
    runKernel(OpId::kPadGrad, g[0].dtype(), g[0].device(), {g[0]}, outs, Attrs(), &kp);
    return outs;
  });
}

Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis) {
  detail::requireDefined("Gather", x, "input");
  detail::requireDefined("Gather", indices, "indices");
  SINGA_CHECK(indices.dtype() == DType::kInt32 || indices.dtype() == DType::kInt64, TypeError,
              "Gather: indices must be int32 or int64, got " << dtypeName(indices.dtype()));
  SINGA_CHECK(x.ndim() > 0, ShapeError, "Gather: the input must have at least one dimension, got a scalar");
  const int a = normalizeAxis(axis, x.ndim(), "Gather");
  Shape out(x.shape().begin(), x.shape().begin() + a);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), x.shape().begin() + a + 1, x.shape().end());
  Attrs attrs{{"axis", int64_t(a)}};  // for the trace
  const KernelParams kp = AxisParams{a};
  Tensor y = detail::runOp1(OpId::kGather, x.dtype(), {contiguousCopy(x), contiguousCopy(indices)}, out, x.dtype(),
                            Attrs(), &kp);
  const Shape xs = x.shape();
  return detail::finish1("Gather", attrs, {x, indices}, y, [xs, indices, kp](const std::vector<Tensor>& g) {
    std::vector<Tensor> outs{zerosOf(xs, g[0].dtype(), g[0].device())};
    runKernel(OpId::kGatherGrad, g[0].dtype(), g[0].device(), {contiguousCopy(g[0]), contiguousCopy(indices)}, outs,
              Attrs(), &kp);
    return std::vector<Tensor>{outs[0], Tensor()};
  });
}

Tensor cast(const Tensor& x, DType dtype) { return cast(x, dtype, CastParams{}); }

Tensor cast(const Tensor& x, DType dtype, const CastParams& params) {
  detail::requireDefined("Cast", x, "input");
  SINGA_CHECK(params.e8m0Rounding <= 2, ValueError,
              "Cast: e8m0Rounding " << int{params.e8m0Rounding} << " is not 0 (up), 1 (down) or 2 (nearest)");
  Attrs attrs{{"to", int64_t{onnxElementType(dtype)}}};
  if (!params.saturate) attrs.set("saturate", int64_t{0});
  static const char* const kRounding[] = {"up", "down", "nearest"};
  if (params.e8m0Rounding != 0) attrs.set("round_mode", std::string(kRounding[params.e8m0Rounding]));
  const KernelParams kp = params;
  Tensor y = detail::runOp1(OpId::kCopy, x.dtype(), {x}, x.shape(), dtype, Attrs(), &kp);
  autograd::BackwardFn bw;
  if (isFloating(x.dtype()) && isFloating(dtype)) {
    const DType from = x.dtype();
    bw = [from](const std::vector<Tensor>& g) { return std::vector<Tensor>{cast(g[0], from)}; };
  }
  return detail::finish1("Cast", attrs, {x}, y, bw);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  detail::requireDefined("Expand", x, "input");
  const Shape out = broadcastShapes(x.shape(), shape, "Expand");
  // A broadcast view (stride 0 on expanded dims), materialised by Copy.
  std::vector<int64_t> strides(out.size(), 0);
  const size_t lead = out.size() - x.shape().size();
  for (size_t i = 0; i < x.shape().size(); ++i) {
    strides[lead + i] = x.shape()[i] == out[lead + i] ? x.strides()[i] : 0;
  }
  std::vector<Tensor> outs{Tensor(out, x.dtype(), x.device())};
  runKernel(OpId::kCopy, x.dtype(), x.device(), {makeView(x, out, strides, x.offset())}, outs);
  const Shape xs = x.shape();
  return detail::finish1("Expand", Attrs{{"shape", std::vector<int64_t>(shape)}}, {x}, outs[0],
                         [xs](const std::vector<Tensor>& g) { return std::vector<Tensor>{sumTo(g[0], xs)}; });
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& repeats) {
  detail::requireDefined("Tile", x, "input");
  const int r = x.ndim();
  SINGA_CHECK(static_cast<int>(repeats.size()) == r, ValueError,
              "Tile: repeats has " << repeats.size() << " entries but the input " << x.shape() << " has rank " << r);
  Shape out(r), split;
  std::vector<int64_t> sumAxes;
  for (int i = 0; i < r; ++i) {
    SINGA_CHECK(repeats[i] >= 0, ValueError, "Tile: negative repeat " << repeats[i] << " on axis " << i);
    out[i] = checkedMul(x.shape()[i], repeats[i], "Tile: an output dim (input dim times repeats)");
    split.push_back(repeats[i]);
    split.push_back(x.shape()[i]);
    sumAxes.push_back(2 * i);
  }
  Attrs attrs{{"repeats", repeats}};
  Tensor y = detail::runOp1(OpId::kTile, x.dtype(), {x}, out, x.dtype());
  return detail::finish1("Tile", attrs, {x}, y, [split, sumAxes](const std::vector<Tensor>& g) {
    // out index = t * d + i on each axis: view g as [r0, d0, r1, d1, ...] and sum the r's.
    return std::vector<Tensor>{reduceSum(reshape(g[0], split, true), sumAxes, false)};
  });
}

Tensor shapeOf(const Tensor& x) {
  detail::requireDefined("Shape", x, "input");
  Tensor y = Tensor::fromVector<int64_t>(x.shape(), {static_cast<int64_t>(x.ndim())});
  if (!x.device().isCpu()) y = y.to(x.device());
  return detail::finish1("Shape", Attrs(), {x}, y, nullptr);
}

Tensor constantOfShape(const Shape& shape, double value, DType dtype) {
  for (int64_t d : shape) {
    SINGA_CHECK(d >= 0, ShapeError, "ConstantOfShape: negative dimension in " << shape);
  }
  Tensor y = numelOf(shape) == 0 ? Tensor(shape, dtype) : Tensor::full(shape, value, dtype);
  Tensor shapeTensor = Tensor::fromVector<int64_t>(shape, {static_cast<int64_t>(shape.size())});
  return detail::finish1("ConstantOfShape", Attrs{{"value", Tensor::full({1}, value, dtype)}}, {shapeTensor}, y,
                         nullptr);
}

}  // namespace singa::ops
