// Finite-difference gradient checking shared by every op test. The function is evaluated in
// float64 (inputs are converted), reduced to a scalar by a fixed random projection, and each
// input element's analytic gradient is compared with a central difference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "singa/singa.h"

namespace singa::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Checks d(sum(f(inputs) * w))/d(inputs[i]) for every input with requiresGrad, against central
/// differences with step `eps`. Inputs are cast to float64 first.
inline void expectGradientsMatch(const Fn& f, std::vector<Tensor> inputs, double eps = 1e-6,
                                 double atol = 1e-5, double rtol = 1e-4) {
  std::vector<bool> wants(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    wants[i] = inputs[i].requiresGrad();
    Tensor c = isFloating(inputs[i].dtype()) ? inputs[i].detach().to(DType::kFloat64).clone()
                                             : inputs[i];
    if (wants[i]) c.setRequiresGrad(true);
    inputs[i] = c;
  }
  Tensor out = f(inputs);
  ASSERT_TRUE(isFloating(out.dtype())) << "gradcheck: output is not floating point";
  // A fixed projection weights every output element differently, so errors cannot cancel.
  Generator g(1234);
  Tensor w(out.shape(), DType::kFloat64);
  uniform_(w, 0.5, 1.5, g);
  auto scalarOf = [&](const Tensor& y) {
    Tensor yc = y.to(DType::kFloat64).contiguous();
    double s = 0;
    for (int64_t k = 0; k < yc.numel(); ++k) s += yc.data<double>()[k] * w.data<double>()[k];
    return s;
  };
  Tensor loss = ops::reduceSum(ops::mul(out, w));
  loss.backward();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!wants[i]) continue;
    Tensor x = inputs[i];
    Tensor analytic = x.grad();
    ASSERT_TRUE(analytic.defined()) << "gradcheck: input " << i << " received no gradient";
    ASSERT_EQ(analytic.shape(), x.shape());
    double* px = x.data<double>();
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double orig = px[k];
      double fp, fm;
      {
        autograd::NoGradGuard ng;
        px[k] = orig + eps;
        fp = scalarOf(f(inputs));
        px[k] = orig - eps;
        fm = scalarOf(f(inputs));
        px[k] = orig;
      }
      const double numeric = (fp - fm) / (2 * eps);
      const double a = analytic.at(k);
      EXPECT_NEAR(a, numeric, atol + rtol * std::fabs(numeric))
          << "gradient of input " << i << " element " << k << " (shape " << shapeStr(x.shape()) << ")";
    }
  }
}

/// Element-wise comparison of two tensors (any dtypes; compared as double).
inline void expectTensorNear(const Tensor& actual, const Tensor& expected, double atol = 1e-5,
                             double rtol = 1e-5) {
  ASSERT_EQ(actual.shape(), expected.shape());
  for (int64_t k = 0; k < expected.numel(); ++k) {
    const double e = expected.at(k), a = actual.at(k);
    if (std::isnan(e)) {
      EXPECT_TRUE(std::isnan(a)) << "element " << k;
      continue;
    }
    EXPECT_NEAR(a, e, atol + rtol * std::fabs(e)) << "element " << k;
  }
}

}  // namespace singa::test
