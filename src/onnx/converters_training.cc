// The optimizer operators of ONNX's ai.onnx.preview.training domain (Adagrad, Momentum, Adam):
// one update step of tensors X with gradients G and optimizer state, as the ONNX spec writes it.
// They let models that carry their own update rule run; singa's own optimizers live in src/optim.
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// Splits the inputs after R and T into `groups` equal lists (X..., G..., state...).
size_t groupSize(const ConvertContext& ctx, const Tensors& in, size_t groups) {
  ctx.check(in.size() >= 2 + groups && (in.size() - 2) % groups == 0,
            "expects R, T and " + std::to_string(groups) + " equal groups of tensors");
  for (size_t i = 0; i < in.size(); ++i) requireInput(ctx, in, i, i == 0 ? "R" : i == 1 ? "T" : "X, G or state");
  return (in.size() - 2) / groups;
}

Tensors convertAdagrad(const ConvertContext& ctx, const Tensors& in) {
  const size_t n = groupSize(ctx, in, 3);
  const double r = scalarDouble(ctx, in[0], "R");
  const double t = scalarDouble(ctx, in[1], "T");
  const double decay = ctx.attrs.getFloat("decay_factor", 0.0);
  const double eps = ctx.attrs.getFloat("epsilon", 0.0);
  const double norm = ctx.attrs.getFloat("norm_coefficient", 0.0);
  const double rate = r / (1.0 + t * decay);
  Tensors xs, hs;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& x = in[2 + i];
    Tensor g = ops::add(ops::mul(x, norm), in[2 + n + i]);
    Tensor h = ops::add(in[2 + 2 * n + i], ops::mul(g, g));
    Tensor denom = ops::add(ops::sqrt(h), eps);
    xs.push_back(ops::sub(x, ops::mul(ops::div(g, denom), rate)));
    hs.push_back(h);
  }
  xs.insert(xs.end(), hs.begin(), hs.end());
  return xs;
}

Tensors convertMomentum(const ConvertContext& ctx, const Tensors& in) {
  const size_t n = groupSize(ctx, in, 3);
  const double r = scalarDouble(ctx, in[0], "R");
  const double t = scalarDouble(ctx, in[1], "T");
  const double alpha = ctx.attrs.getFloat("alpha");
  const double beta = ctx.attrs.getFloat("beta");
  const double norm = ctx.attrs.getFloat("norm_coefficient");
  const std::string mode = ctx.attrs.getString("mode", "standard");
  ctx.check(mode == "standard" || mode == "nesterov", "mode must be standard or nesterov, got '" + mode + "'");
  const bool nesterov = mode == "nesterov";
  const double betaAdj = t > 0 ? beta : 1.0;
  Tensors xs, vs;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& x = in[2 + i];
    Tensor g = ops::add(ops::mul(x, norm), in[2 + n + i]);
    Tensor v = ops::add(ops::mul(in[2 + 2 * n + i], alpha), ops::mul(g, betaAdj));
    Tensor step = nesterov ? ops::add(g, ops::mul(v, alpha)) : v;
    xs.push_back(ops::sub(x, ops::mul(step, r)));
    vs.push_back(v);
  }
  xs.insert(xs.end(), vs.begin(), vs.end());
  return xs;
}

Tensors convertAdam(const ConvertContext& ctx, const Tensors& in) {
  const size_t n = groupSize(ctx, in, 4);
  const double r = scalarDouble(ctx, in[0], "R");
  const double t = scalarDouble(ctx, in[1], "T");
  const double alpha = ctx.attrs.getFloat("alpha", 0.9);
  const double beta = ctx.attrs.getFloat("beta", 0.999);
  const double eps = ctx.attrs.getFloat("epsilon", 1e-6);
  const double norm = ctx.attrs.getFloat("norm_coefficient", 0.0);
  const double normPost = ctx.attrs.getFloat("norm_coefficient_post", 0.0);
  const double rate = t > 0 ? r * std::sqrt(1.0 - std::pow(beta, t)) / (1.0 - std::pow(alpha, t)) : r;
  Tensors xs, vs, hs;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& x = in[2 + i];
    Tensor g = ops::add(ops::mul(x, norm), in[2 + n + i]);
    Tensor v = ops::add(ops::mul(in[2 + 2 * n + i], alpha), ops::mul(g, 1.0 - alpha));
    Tensor h = ops::add(ops::mul(in[2 + 3 * n + i], beta), ops::mul(ops::mul(g, g), 1.0 - beta));
    Tensor xNew = ops::sub(x, ops::mul(ops::div(v, ops::add(ops::sqrt(h), eps)), rate));
    xs.push_back(ops::mul(xNew, 1.0 - normPost));
    vs.push_back(v);
    hs.push_back(h);
  }
  xs.insert(xs.end(), vs.begin(), vs.end());
  xs.insert(xs.end(), hs.begin(), hs.end());
  return xs;
}

}  // namespace

void registerTrainingConverters(ConverterRegistry& r) {
  r.add("ai.onnx.preview.training:Adagrad", 1, convertAdagrad, false);
  r.add("ai.onnx.preview.training:Momentum", 1, convertMomentum, false);
  r.add("ai.onnx.preview.training:Adam", 1, convertAdam, false);
}

}  // namespace singa::onnxio
