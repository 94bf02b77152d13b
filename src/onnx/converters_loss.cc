// Loss ONNX operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13), with
// class weights, ignore_index and none/sum/mean reductions. The picked log-probabilities are one
// engine Gather over the flattened input (indices and per-element weights are built on the CPU),
// so gradients reach the scores.
#include <algorithm>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// loss[n, d...] = -x[n, target[n, d...], d...] * w, reduced as ONNX specifies.
Tensor nllLoss(const ConvertContext& ctx, const Tensor& x, const Tensor& target, const Tensor& weight) {
  ctx.check(x.ndim() >= 2, "input must be [N, C, ...], got " + shapeStr(x.shape()));
  ctx.check(target.ndim() == x.ndim() - 1, "target must be [N, ...] (input rank - 1), got " +
                                              shapeStr(target.shape()));
  const int64_t c = x.dim(1);
  int64_t inner = 1;  // the spatial extent d1 * d2 * ...
  for (int d = 2; d < x.ndim(); ++d) inner *= x.dim(d);
  for (int d = 0; d < target.ndim(); ++d) {
    ctx.check(target.dim(d) == x.dim(d == 0 ? 0 : d + 1), "target " + shapeStr(target.shape()) +
                                                              " must be [N, d1, ...] of input " + shapeStr(x.shape()));
  }
  ctx.check(!weight.defined() || (weight.ndim() == 1 && weight.dim(0) == c),
            "weight must be [C] = [" + std::to_string(c) + "], got " + (weight.defined() ? shapeStr(weight.shape()) : ""));
  const std::vector<int64_t> t = intsOf(target);
  const std::vector<double> wv = weight.defined() ? doublesOf(weight) : std::vector<double>();
  const bool hasIgnore = ctx.attrs.has("ignore_index");
  const int64_t ignore = ctx.attrs.getInt("ignore_index", 0);
  std::vector<int64_t> flat(t.size());
  std::vector<double> w(t.size());
  double wsum = 0.0;
  for (size_t j = 0; j < t.size(); ++j) {
    const int64_t b = static_cast<int64_t>(j) / std::max<int64_t>(inner, 1);
    const int64_t d = static_cast<int64_t>(j) % std::max<int64_t>(inner, 1);
    if (hasIgnore && t[j] == ignore) {
      flat[j] = 0;
      w[j] = 0.0;
      continue;
    }
    ctx.check(t[j] >= 0 && t[j] < c, "target " + std::to_string(t[j]) + " is out of range for " +
                                         std::to_string(c) + " classes");
    flat[j] = (b * c + t[j]) * inner + d;
    w[j] = wv.empty() ? 1.0 : wv[static_cast<size_t>(t[j])];
    wsum += w[j];
  }
  Tensor picked = ops::gather(ops::reshape(x, {x.numel()}), intsTensor(flat, target.shape(), x.device()), 0);
  Tensor loss = ops::mul(ops::neg(picked), fromDoubles(w, target.shape(), x.dtype(), x.device()));
  const std::string red = ctx.attrs.getString("reduction", "mean");
  ctx.check(red == "none" || red == "sum" || red == "mean", "reduction must be none, sum or mean, got '" + red + "'");
  if (red == "none") return loss;
  Tensor total = ops::reduceSum(loss, {}, false);
  if (red == "sum") return total;
  return ops::div(total, scalarOf(wsum, total));
}

Tensors convertNll(const ConvertContext& ctx, const Tensors& in) {
  return one(nllLoss(ctx, requireInput(ctx, in, 0, "input"), requireInput(ctx, in, 1, "target"),
                     optionalInput(in, 2)));
}

Tensors convertSce(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& scores = requireInput(ctx, in, 0, "scores");
  Tensor logProb = ops::logSoftmax(scores, 1);
  Tensor loss = nllLoss(ctx, logProb, requireInput(ctx, in, 1, "labels"), optionalInput(in, 2));
  return {loss, logProb};
}

}  // namespace

void registerLossConverters(ConverterRegistry& r) {
  r.add("NegativeLogLikelihoodLoss", 12, convertNll);
  r.add("SoftmaxCrossEntropyLoss", 12, convertSce);
}

}  // namespace singa::onnxio
