// Reduction ONNX operators. `axes` is an attribute until ReduceSum-13 / the other Reduce*-18 and
// an optional input after; an empty list reduces everything unless noop_with_empty_axes is set.
// ReduceL1/L2/LogSum/LogSumExp/SumSquare are compositions of engine ops (LogSumExp shifted by the
// maximum for stability), so all of them are differentiable.
#include <algorithm>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSum, kLogSumExp };

// The output shape of reducing `shape` over `axes` (all when empty).
Shape reducedShape(const Shape& shape, const std::vector<int64_t>& axes, bool keepDims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!reduced) {
      out.push_back(shape[d]);
    } else if (keepDims) {
      out.push_back(1);
    }
  }
  return out;
}

template <Reduce R, int kAxesInputSince>
Tensors convertReduce(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  std::vector<int64_t> axes = ctx.opset >= kAxesInputSince ? intsOf(optionalInput(in, 1))
                                                           : ctx.attrs.getInts("axes", {});
  const bool keep = ctx.attrs.getInt("keepdims", 1) != 0;
  if (axes.empty() && ctx.attrs.getInt("noop_with_empty_axes", 0) != 0) return one(ops::identity(x));
  axes = normalizeAxes(ctx, axes, x.ndim());
  switch (R) {
    case Reduce::kSum: return one(ops::reduceSum(x, axes, keep));
    case Reduce::kMean: return one(ops::reduceMean(x, axes, keep));
    case Reduce::kMax: return one(ops::reduceMax(x, axes, keep));
    case Reduce::kMin: return one(ops::reduceMin(x, axes, keep));
    case Reduce::kProd: return one(ops::reduceProd(x, axes, keep));
    case Reduce::kSumSquare: return one(ops::reduceSum(ops::mul(x, x), axes, keep));
    case Reduce::kL1: return one(ops::reduceSum(ops::abs(x), axes, keep));
    case Reduce::kL2: {
      if (!isFloating(x.dtype())) {
        Tensor r = ops::sqrt(ops::reduceSum(castTo(ops::mul(x, x), DType::kFloat64), axes, keep));
        return one(castTo(r, x.dtype()));
      }
      return one(ops::sqrt(ops::reduceSum(ops::mul(x, x), axes, keep)));
    }
    case Reduce::kLogSum: return one(ops::log(ops::reduceSum(x, axes, keep)));
    case Reduce::kLogSumExp: {
      Tensor m = ops::reduceMax(x, axes, true).detach();
      Tensor s = ops::reduceSum(ops::exp(ops::sub(x, m)), axes, true);
      Tensor r = ops::add(ops::log(s), m);
      return one(keep ? r : ops::reshape(r, reducedShape(x.shape(), axes, false)));
    }
  }
  return {};
}

template <bool kMax>
Tensors convertArg(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const int64_t axis = ctx.attrs.getInt("axis", 0);
  const bool keep = ctx.attrs.getInt("keepdims", 1) != 0;
  const bool last = ctx.attrs.getInt("select_last_index", 0) != 0;
  return one(kMax ? ops::argmax(x, axis, keep, last) : ops::argmin(x, axis, keep, last));
}

}  // namespace

void registerReduceConverters(ConverterRegistry& r) {
  r.add("ReduceSum", 1, convertReduce<Reduce::kSum, 13>);
  r.add("ReduceMean", 1, convertReduce<Reduce::kMean, 18>);
  r.add("ReduceMax", 1, convertReduce<Reduce::kMax, 18>);
  r.add("ReduceMin", 1, convertReduce<Reduce::kMin, 18>);
  r.add("ReduceProd", 1, convertReduce<Reduce::kProd, 18>);
  r.add("ReduceSumSquare", 1, convertReduce<Reduce::kSumSquare, 18>);
  r.add("ReduceL1", 1, convertReduce<Reduce::kL1, 18>);
  r.add("ReduceL2", 1, convertReduce<Reduce::kL2, 18>);
  r.add("ReduceLogSum", 1, convertReduce<Reduce::kLogSum, 18>);
  r.add("ReduceLogSumExp", 1, convertReduce<Reduce::kLogSumExp, 18>);
  r.add("ArgMax", 1, convertArg<true>);
  r.add("ArgMin", 1, convertArg<false>);
}

}  // namespace singa::onnxio
