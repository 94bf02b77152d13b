// Reductions: ReduceSum/Mean/Max/Min/Prod over a set of axes (negative allowed, empty = all),
// ArgMax/ArgMin along one axis, and sumTo, the inverse of broadcasting used by backward rules.
// Gradients: sum/mean expand the output gradient back over the reduced axes; max/min route it to
// the first extremum of each group and prod multiplies by the product of the other elements
// (dedicated kernels, so neither needs a division by x).
#include <algorithm>

#include "singa/ops/ops.h"
#include "singa/ops/op_util.h"

namespace singa::ops {
namespace {

// Normalised, sorted, de-duplicated axes; all axes when `axes` is empty.
std::vector<int64_t> reduceAxes(const char* op, const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int i = 0; i < x.ndim(); ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalizeAxis(a, std::max(x.ndim(), 1), op));
  std::sort(out.begin(), out.end());
  SINGA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), ValueError,
              op << ": axis listed twice in the reduction axes of a tensor of shape " << x.shape());
  if (x.ndim() == 0) out.clear();  // a scalar reduces to itself
  return out;
}

Shape reducedShape(const Shape& in, const std::vector<int64_t>& axes, bool keepDims) {
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool red = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    if (!red) {
      out.push_back(in[i]);
    } else if (keepDims) {
      out.push_back(1);
    }
  }
  return out;
}

// Runs Reduce* forward; `backward` builds the input gradient from (x, gy in keepdims shape).
using ReduceGrad = std::function<Tensor(const Tensor& x, const Tensor& gyKeep, const std::vector<int64_t>& axes)>;

Tensor reduceOp(OpId kernel, const Tensor& x, const std::vector<int64_t>& axesIn, bool keepDims,
                ReduceGrad grad) {
  const char* op = opName(kernel);
  detail::requireDefined(op, x, "input");
  const std::vector<int64_t> axes = reduceAxes(op, x, axesIn);
  Attrs attrs{{"axes", axes}, {"keepdims", int64_t(keepDims ? 1 : 0)}};  // for the trace
  const KernelParams kp = ReduceParams{axes};
  const Shape outShape = reducedShape(x.shape(), axes, keepDims);
  Tensor y = detail::runOp1(kernel, x.dtype(), {x}, outShape, x.dtype(), Attrs(), &kp);
  autograd::BackwardFn bw;
  if (grad && isFloating(x.dtype())) {
    const Shape keepShape = reducedShape(x.shape(), axes, true);
    bw = [x, axes, keepShape, grad](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{grad(x, reshape(g[0], keepShape, true), axes)};
    };
  }
  return detail::finish1(op, attrs, {x}, y, bw);
}

// Zeros of `shape`; an empty tensor is returned as allocated (Tensor::zeros rejects some
// empty shapes as non-contiguous).
Tensor zerosOf(const Shape& shape, DType dtype, Device device) {
  return numelOf(shape) == 0 ? Tensor(shape, dtype, device) : Tensor::zeros(shape, dtype, device);
}

// Gradient kernels (ReduceMaxGrad, ReduceProdGrad) want x, gy contiguous and dx zeroed.
Tensor reduceGradKernel(OpId kernel, const Tensor& x, const Tensor& gyKeep,
                        const std::vector<int64_t>& axes) {
  Tensor xc = x.detach().contiguous();
  Tensor gc = gyKeep.contiguous();
  std::vector<Tensor> outs{zerosOf(x.shape(), x.dtype(), x.device())};
  const KernelParams kp = ReduceParams{axes};
  runKernel(kernel, x.dtype(), x.device(), {xc, gc}, outs, Attrs(), &kp);
  return outs[0];
}

Tensor argOp(OpId kernel, const Tensor& x, int64_t axis, bool keepDims, bool selectLast) {
  const char* op = opName(kernel);
  detail::requireDefined(op, x, "input");
  SINGA_CHECK(x.ndim() > 0, ShapeError, op << ": input must have at least one dimension, got a scalar");
  const int64_t a = normalizeAxis(axis, x.ndim(), op);
  Attrs attrs{{"axis", a}, {"keepdims", int64_t(keepDims ? 1 : 0)},
              {"select_last_index", int64_t(selectLast ? 1 : 0)}};  // for the trace
  const KernelParams kp = ArgReduceParams{a, selectLast};
  Tensor y =
      detail::runOp1(kernel, x.dtype(), {x}, reducedShape(x.shape(), {a}, keepDims), DType::kInt64, Attrs(), &kp);
  return detail::finish1(op, attrs, {x}, y, nullptr);
}

}  // namespace

Tensor reduceSum(const Tensor& x, const std::vector<int64_t>& axes, bool keepDims) {
  return reduceOp(OpId::kReduceSum, x, axes, keepDims, [](const Tensor& xi, const Tensor& g, const std::vector<int64_t>&) {
    return expand(g, xi.shape());
  });
}

Tensor reduceMean(const Tensor& x, const std::vector<int64_t>& axes, bool keepDims) {
  return reduceOp(OpId::kReduceMean, x, axes, keepDims, [](const Tensor& xi, const Tensor& g, const std::vector<int64_t>& ax) {
    int64_t n = 1;
    for (int64_t a : ax) n *= xi.shape()[a];
    return mul(expand(g, xi.shape()), 1.0 / static_cast<double>(std::max<int64_t>(n, 1)));
  });
}

Tensor reduceMax(const Tensor& x, const std::vector<int64_t>& axes, bool keepDims) {
  return reduceOp(OpId::kReduceMax, x, axes, keepDims, [](const Tensor& xi, const Tensor& g, const std::vector<int64_t>& ax) {
    return reduceGradKernel(OpId::kReduceMaxGrad, xi, g, ax);
  });
}

Tensor reduceMin(const Tensor& x, const std::vector<int64_t>& axes, bool keepDims) {
  return reduceOp(OpId::kReduceMin, x, axes, keepDims, [](const Tensor& xi, const Tensor& g, const std::vector<int64_t>& ax) {
    return reduceGradKernel(OpId::kReduceMinGrad, xi, g, ax);
  });
}

Tensor reduceProd(const Tensor& x, const std::vector<int64_t>& axes, bool keepDims) {
  return reduceOp(OpId::kReduceProd, x, axes, keepDims, [](const Tensor& xi, const Tensor& g, const std::vector<int64_t>& ax) {
    return reduceGradKernel(OpId::kReduceProdGrad, xi, g, ax);
  });
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepDims, bool selectLastIndex) {
  return argOp(OpId::kArgMax, x, axis, keepDims, selectLastIndex);
}

Tensor argmin(const Tensor& x, int64_t axis, bool keepDims, bool selectLastIndex) {
  return argOp(OpId::kArgMin, x, axis, keepDims, selectLastIndex);
}

Tensor sumTo(const Tensor& x, const Shape& shape) {
  detail::requireDefined("sumTo", x, "input");
  if (x.shape() == shape) return x;
  const int nx = x.ndim(), ns = static_cast<int>(shape.size());
  SINGA_CHECK(ns <= nx, ShapeError, "sumTo: cannot sum " << x.shape() << " down to the larger rank " << shape);
  std::vector<int64_t> axes;
  for (int i = 0; i < nx; ++i) {
    const int j = i - (nx - ns);
    if (j < 0) {
      axes.push_back(i);
    } else if (shape[j] == 1 && x.shape()[i] != 1) {
      axes.push_back(i);
    } else {
      SINGA_CHECK(shape[j] == x.shape()[i], ShapeError,
                  "sumTo: " << shape << " does not broadcast to " << x.shape() << " (dimension " << j << ")");
    }
  }
  // Not traced: a backward-rule helper. Still differentiable (its gradient expands back).
  const KernelParams kp = ReduceParams{axes};
  Tensor y =
      detail::runOp1(OpId::kReduceSum, x.dtype(), {x}, reducedShape(x.shape(), axes, true), x.dtype(), Attrs(), &kp);
  y = makeView(y, shape, contiguousStrides(shape), 0);
  std::vector<Tensor> outs{y};
  const Shape xs = x.shape();
  autograd::record("SumTo", {x}, outs, [xs](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{expand(g[0], xs)};
  });
  return outs[0];
}

}  // namespace singa::ops
