// kernels/cpu/vec_math.h (the vectorisable float32 exp and sigmoid) against std::exp in double,
// over every float in [-110, 95] at a fine step, random bit patterns and the special values; the
// float32 Sigmoid, Silu and SiluGrad kernels built on it against the same formulas in double; and
// the unary kernels' AVX2 / AVX-512 loops against their baseline build, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/nn_test_util.h"
#include "singa/kernels/cpu/cpu_kernels.h"
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

// The unary kernels' contiguous loops also run as AVX2 / AVX-512 builds (the widest the CPU has);
// with no contraction to FMA they must give the baseline build's bits, forward and backward, for
// every float unary op (a NaN may differ in its sign bit only).
TEST(UnaryKernels, WideLoopsGiveTheBaselineBuildsBits) {
  const std::string isa = cpu::elementwiseLoopIsa();
  if (isa == "baseline") GTEST_SKIP() << "this CPU (or build) runs the baseline loops only: nothing to compare";
  std::vector<float> xs;
  for (double x = -120.0; x <= 120.0; x += 1.0 / 16) xs.push_back(static_cast<float>(x));
  const float inf = std::numeric_limits<float>::infinity();
  xs.insert(xs.end(), {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e-30f, -1e-30f, 1e-40f, -1e-40f, 3e38f, -3e38f});
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof f);
    xs.push_back(f);
  }
  const int64_t n = static_cast<int64_t>(xs.size());
  std::vector<float> ws(xs.size());
  for (size_t i = 0; i < ws.size(); ++i) ws[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.37f;
  struct Case {
    std::string name;
    std::function<Tensor(const Tensor&)> f;
  };
  std::vector<Case> cases;
#define SINGA_WIDE_CASE(A, Name, function, grad, since, desc) \
  cases.push_back({#Name, [](const Tensor& t) { return ops::function(t); }});
  SINGA_FLOAT_UNARY_OPS(SINGA_WIDE_CASE, )
#undef SINGA_WIDE_CASE
  cases.push_back({"Relu", [](const Tensor& t) { return ops::relu(t); }});
  cases.push_back({"Abs", [](const Tensor& t) { return ops::abs(t); }});
  cases.push_back({"Clip", [](const Tensor& t) { return ops::clip(t, -0.5, 6.0); }});
  cases.push_back({"Elu", [](const Tensor& t) { return ops::elu(t, 0.7); }});
  cases.push_back({"Selu", [](const Tensor& t) { return ops::selu(t); }});
  cases.push_back({"LeakyRelu", [](const Tensor& t) { return ops::leakyRelu(t, 0.03); }});
  cases.push_back({"HardSigmoid", [](const Tensor& t) { return ops::hardSigmoid(t, 0.3, 0.6); }});  // a x + b
  cases.push_back({"Celu", [](const Tensor& t) { return ops::celu(t, 1.3); }});
  cases.push_back({"ThresholdedRelu", [](const Tensor& t) { return ops::thresholdedRelu(t, 0.4); }});
  struct Restore {  // the switch back to its setting whatever is thrown
    bool before = cpu::setWideElementwiseLoops(true);
    ~Restore() { cpu::setWideElementwiseLoops(before); }
  } restore;
  auto run = [&](const Case& c, DType dt, bool wide, Tensor* y, Tensor* dx) {
    cpu::setWideElementwiseLoops(wide);
    Tensor x = Tensor::fromVector(xs, {n}).to(dt).setRequiresGrad();
    *y = c.f(x);
    try {
      ops::reduceSum(ops::mul(*y, Tensor::fromVector(ws, {n}).to(dt))).backward();
      *dx = x.grad();
    } catch (const Error&) {
      *dx = Tensor();  // an op without a gradient
    }
  };
  auto sameBits = [&isa](const Tensor& a, const Tensor& b, const std::string& what) {
    ASSERT_EQ(a.defined(), b.defined()) << what;
    if (!a.defined()) return;
    const std::vector<double> u = test::valuesOf(a), v = test::valuesOf(b);
    ASSERT_EQ(u.size(), v.size()) << what;
    int bad = 0;
    for (size_t i = 0; i < u.size() && bad < 5; ++i) {
      if (std::isnan(u[i]) && std::isnan(v[i])) continue;
      if (std::memcmp(&u[i], &v[i], sizeof(double)) != 0) {
        ADD_FAILURE() << what << " at element " << i << ": " << isa << " " << u[i] << ", baseline " << v[i];
        ++bad;
      }
    }
  };
  int withGrad = 0;
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Case& c : cases) {
      const std::string what = c.name + " " + dtypeName(dt);
      Tensor yWide, dWide, yBase, dBase;
      run(c, dt, true, &yWide, &dWide);
      run(c, dt, false, &yBase, &dBase);
      sameBits(yWide, yBase, what + " forward");
      sameBits(dWide, dBase, what + " backward");
      withGrad += dWide.defined();
    }
  }
  EXPECT_GT(cases.size(), 30u);
  EXPECT_GT(withGrad, 50);
}

}  // namespace
}  // namespace singa
