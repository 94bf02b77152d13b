// kernels/cpu/vec_math.h (the vectorisable float32 exp and sigmoid) against std::exp in double,
// over every float in [-110, 95] at a fine step, random bit patterns and the special values; and
// the float32 Sigmoid, Silu and SiluGrad kernels built on it against the same formulas in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "singa/kernels/cpu/vec_math.h"
#include "singa/singa.h"

namespace singa {
namespace {

constexpr double kUlp = 1.0 / (1 << 23);  // float's relative spacing at 1

// |got - want| within `ulps` float ulps of want (relative), or, where want is below float's
// normal range, within a few of the smallest denormal.
void expectClose(float x, float got, double want, double ulps) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "x " << x;
    return;
  }
  if (want > std::numeric_limits<float>::max()) {
    EXPECT_EQ(got, std::numeric_limits<float>::infinity()) << "x " << x;
    return;
  }
  const double tol = std::max(ulps * kUlp * want, 4.0 * std::numeric_limits<float>::denorm_min());
  EXPECT_NEAR(static_cast<double>(got), want, tol) << "x " << x;
}

TEST(VecMath, ExpMatchesStdExpAcrossTheRange) {
  double worst = 0;
  for (double xd = -110.0; xd <= 95.0; xd += 1.0 / 1024) {
    const float x = static_cast<float>(xd);
    const double want = std::exp(static_cast<double>(x));
    const float got = cpu::expVec(x);
    expectClose(x, got, want, 3.0);
    if (want > 1e-37 && want < 1e38) worst = std::max(worst, std::fabs(got - want) / want / kUlp);
  }
  EXPECT_LT(worst, 3.0);
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const float x = cpu::bitsToFloat(static_cast<uint32_t>(rng()));
    expectClose(x, cpu::expVec(x), std::exp(static_cast<double>(x)), 3.0);
  }
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(cpu::expVec(inf), inf);
  EXPECT_EQ(cpu::expVec(-inf), 0.0f);
  EXPECT_EQ(cpu::expVec(0.0f), 1.0f);
  EXPECT_EQ(cpu::expVec(89.0f), inf);
  EXPECT_GT(cpu::expVec(88.7f), 3.3e38f);
  EXPECT_TRUE(std::isnan(cpu::expVec(std::numeric_limits<float>::quiet_NaN())));
}

TEST(VecMath, SigmoidSiluKernelsMatchDoubleFormulas) {
  std::vector<float> xs;
  for (double x = -120.0; x <= 120.0; x += 1.0 / 64) xs.push_back(static_cast<float>(x));
  const float inf = std::numeric_limits<float>::infinity();
  xs.insert(xs.end(), {0.0f, -0.0f, inf, -inf, 1e-30f, -1e-30f});
  const int64_t n = static_cast<int64_t>(xs.size());
  const Tensor x = Tensor::fromVector(xs, {n});
  const std::vector<float> sig = ops::sigmoid(x).toVector<float>();
  const std::vector<float> silu = ops::silu(x).toVector<float>();
  Tensor xg = x.detach().setRequiresGrad();
  ops::reduceSum(ops::silu(xg)).backward();
  const std::vector<float> dsilu = xg.grad().toVector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double v = xs[static_cast<size_t>(i)];
    const double s = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    expectClose(xs[i], sig[i], s, 4.0);
    if (v == -std::numeric_limits<double>::infinity()) {
      EXPECT_TRUE(std::isnan(silu[i])) << "x * sigmoid(x) is -inf * 0 at -inf, as the two ops give";
      continue;
    }
    // Where s is below float's smallest denormal it is 0, so x s is 0 for any float formula.
    const double underflow = 2.0 * (1.0 + std::fabs(v)) * std::numeric_limits<float>::denorm_min();
    const double siluWant = v * s;
    if (siluWant < 0) {
      EXPECT_NEAR(silu[i], siluWant, std::max(4.0 * kUlp * -siluWant, underflow)) << "x " << v;
    } else {
      expectClose(xs[i], silu[i], siluWant, 4.0);
    }
    if (std::isinf(v)) continue;  // x (1 - s) is 0 * inf there
    const double dWant = s * (1.0 + v * (1.0 - s));
    // 1 - s cancels for large x (s rounds to within half an ulp of 1): x (1 - s) is off by up to
    // |x| ulps, as in any float formula of this shape.
    EXPECT_NEAR(dsilu[i], dWant, 8.0 * kUlp * s * (1.0 + std::fabs(v)) + underflow) << "x " << v;
  }
}

}  // namespace
}  // namespace singa
