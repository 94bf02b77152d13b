// Reduction ONNX operators. `axes` is an attribute until ReduceSum-13 / the other Reduce*-18 and
// an optional input after; an empty list reduces everything unless noop_with_empty_axes is set.
// ReduceL1/L2/LogSum/LogSumExp/SumSquare are compositions of engine ops (LogSumExp shifted by the
// maximum for stability), so all of them are differentiable.
#include <algorithm>
#include <cstdint>
#include <limits>

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

// Whether reducing `x` over `axes` (all when empty) takes the extremum of an empty set.
bool reducesEmptySet(const Tensor& x, const std::vector<int64_t>& axes) {
  if (x.numel() != 0) return false;
  if (axes.empty()) return true;
  for (int64_t a : axes) {
    if (x.dim(static_cast<int>(a)) == 0) return true;
  }
  return false;
}

// The identity of the reduction over an empty set, as ONNX defines it: the lowest value of the
// type for ReduceMax (-inf for floats, false for bool), the highest for ReduceMin, and -inf for
// ReduceLogSumExp (the log of an empty sum).
template <Reduce R>
Tensor emptyReduction(const ConvertContext& ctx, const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
  const Shape out = reducedShape(x.shape(), axes, keep);
  checkHostBuffer(ctx, numelOf(out), sizeof(int64_t), "the " + shapeStr(out) + " result");
  if (numelOf(out) == 0) return Tensor(out, x.dtype(), x.device());
  double v = 0;
  if (x.dtype() == DType::kBool) {
    v = R == Reduce::kMin ? 1.0 : 0.0;
  } else if (isFloating(x.dtype())) {
    v = R == Reduce::kMin ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  } else {
    ctx.check(R != Reduce::kLogSumExp, std::string("the log-sum-exp of an empty set is -inf, which type ") +
                                           dtypeName(x.dtype()) + " cannot hold (cast the input to float first)");
    const bool isMin = R == Reduce::kMin;
    switch (x.dtype()) {
      case DType::kInt8: v = isMin ? INT8_MAX : INT8_MIN; break;
      case DType::kInt16: v = isMin ? INT16_MAX : INT16_MIN; break;
      case DType::kInt32: v = isMin ? INT32_MAX : INT32_MIN; break;
      case DType::kUInt8: v = isMin ? UINT8_MAX : 0; break;
      case DType::kUInt16: v = isMin ? UINT16_MAX : 0; break;
      case DType::kUInt32: v = isMin ? UINT32_MAX : 0; break;
      case DType::kInt64: {  // not exact in a double: built from int64 values
        const int64_t e = isMin ? INT64_MAX : INT64_MIN;
        return fromInts(std::vector<int64_t>(static_cast<size_t>(numelOf(out)), e), out, x.dtype(), x.device());
      }
      case DType::kUInt64: {
        if (!isMin) break;
        Tensor t(out, x.dtype(), Device::cpu());
        auto* p = static_cast<uint64_t*>(t.rawData());
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = UINT64_MAX;
        return t.to(x.device());
      }
      default: break;
    }
  }
  return Tensor::full(out, v, x.dtype(), x.device());
}

template <Reduce R, int kAxesInputSince>
Tensors convertReduce(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  std::vector<int64_t> axes = ctx.opset >= kAxesInputSince ? intsOf(optionalInput(in, 1))
                                                           : ctx.attrs.getInts("axes", {});
  const bool keep = ctx.attrs.getInt("keepdims", 1) != 0;
  if (axes.empty() && ctx.attrs.getInt("noop_with_empty_axes", 0) != 0) return one(ops::identity(x));
  axes = normalizeAxes(ctx, axes, x.ndim());
  if constexpr (R == Reduce::kMax || R == Reduce::kMin || R == Reduce::kLogSumExp) {
    if (reducesEmptySet(x, axes)) return one(emptyReduction<R>(ctx, x, axes, keep));
  }
  if constexpr (R == Reduce::kMax || R == Reduce::kMin) {
    if (x.dtype() == DType::kBool) {  // max is any, min is all: computed on 0/1 bytes
      const Tensor u = ops::cast(x, DType::kUInt8);
      return one(ops::cast(R == Reduce::kMax ? ops::reduceMax(u, axes, keep) : ops::reduceMin(u, axes, keep),
                           DType::kBool));
    }
  }
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
