// Global-norm gradient clipping (see clip_grad.h). Each gradient's sum of squares is one reduction
// on its own device and dtype (no float64 kernels needed there); the sums are added in double.
#include "singa/optim/clip_grad.h"

#include <cmath>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/ops/ops.h"

namespace singa {

double gradNorm(const std::vector<std::pair<std::string, Tensor>>& params) {
  autograd::NoGradGuard noGrad;
  double sumSquares = 0.0;
  for (const auto& [name, p] : params) {
    if (!p.requiresGrad() || !p.grad().defined()) continue;
    const Tensor g = p.grad();
    sumSquares += ops::reduceSum(ops::mul(g, g)).item();
  }
  return std::sqrt(sumSquares);
}

double clipGradNorm(const std::vector<std::pair<std::string, Tensor>>& params, double maxNorm) {
  SINGA_CHECK(maxNorm > 0.0 && std::isfinite(maxNorm), ValueError,
              "clipGradNorm: the maximum norm must be a finite number > 0, got " << maxNorm);
  const double norm = gradNorm(params);
  SINGA_CHECK(std::isfinite(norm), ValueError,
              "clipGradNorm: the gradients' norm is " << norm
                                                      << " (a NaN or infinite gradient); lower the learning rate");
  if (norm <= maxNorm) return norm;
  const double scale = maxNorm / (norm + 1e-6);
  autograd::NoGradGuard noGrad;
  for (const auto& [name, p] : params) {
    if (!p.requiresGrad() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    g.copyFrom(ops::mul(g, scale));  // in place: a distributed optimizer's gradient is a bucket view
  }
  return norm;
}

}  // namespace singa
