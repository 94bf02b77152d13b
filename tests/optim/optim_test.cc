// Optimizers against hand-written references of PyTorch's update rules over three steps with
// different gradients (float64, so agreement is to rounding), skipping of parameters without
// gradients, state dict round trip and its errors, and the multithreaded kernel path.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "singa/nn/nn.h"
#include "singa/optim/adam.h"
#include "singa/optim/sgd.h"
#include "singa/singa.h"

namespace singa {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<double> gradAt(int step, size_t n) {
  std::vector<double> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = std::sin(1.0 + 0.7 * static_cast<double>(i) + 1.3 * step) * (i % 2 ? 2.0 : 0.5);
  return g;
}

std::vector<double> initialValues(size_t n) {
  std::vector<double> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = 0.3 * static_cast<double>(i) - 0.5;
  return p;
}

// Runs `steps` optimizer steps on one float64 parameter with gradients gradAt(step).
std::vector<double> runOptimizer(const std::function<std::unique_ptr<Optimizer>(Optimizer::NamedParams)>& make,
                                 size_t n, int steps, DType dtype = DType::kFloat64) {
  Tensor p = Tensor::fromVector(initialValues(n), {static_cast<int64_t>(n)}).to(dtype).clone();
  p.setRequiresGrad(true);
  auto opt = make({{"w", p}});
  for (int s = 0; s < steps; ++s) {
    p.setGrad(Tensor::fromVector(gradAt(s, n), {static_cast<int64_t>(n)}).to(dtype).clone());
    opt->step();
  }
  EXPECT_EQ(opt->stepCount(), steps);
  return p.toVector<double>();
}

struct SgdRef {
  double lr, momentum, dampening, wd;
  bool nesterov;
  std::vector<double> run(size_t n, int steps) const {
    std::vector<double> p = initialValues(n), buf(n);
    for (int s = 0; s < steps; ++s) {
      std::vector<double> g = gradAt(s, n);
      for (size_t i = 0; i < n; ++i) {
        double d = g[i] + wd * p[i];
        if (momentum != 0) {
          buf[i] = s == 0 ? d : momentum * buf[i] + (1 - dampening) * d;
          d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
      }
    }
    return p;
  }
};

struct AdamRef {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  std::vector<double> run(size_t n, int steps) const {
    std::vector<double> p = initialValues(n), m(n), v(n);
    for (int s = 0; s < steps; ++s) {
      std::vector<double> g = gradAt(s, n);
      const int t = s + 1;
      for (size_t i = 0; i < n; ++i) {
        if (decoupled) p[i] *= 1 - lr * wd;
        else g[i] += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
        p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
      }
    }
    return p;
  }
};

void expectClose(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol * (1 + std::fabs(b[i]))) << "element " << i;
}

TEST(SGD, MatchesReferenceOverThreeSteps) {
  const std::vector<SgdRef> cases{{0.1, 0, 0, 0, false},     {0.1, 0.9, 0, 0, false}, {0.05, 0.9, 0.3, 0, false},
                                  {0.1, 0.8, 0, 0, true},    {0.1, 0, 0, 0.01, false}, {0.1, 0.9, 0, 0.05, true},
                                  {0.02, 0.5, 0.1, 0.1, false}};
  for (const SgdRef& c : cases) {
    auto got = runOptimizer(
        [&](Optimizer::NamedParams ps) {
          return std::make_unique<SGD>(std::move(ps), c.lr, c.momentum, c.dampening, c.nesterov, c.wd);
        },
        7, 3);
    SCOPED_TRACE(testing::Message() << "momentum " << c.momentum << " dampening " << c.dampening << " nesterov "
                                    << c.nesterov << " wd " << c.wd);
    expectClose(got, c.run(7, 3), 1e-12);
    // float32 agrees to float rounding.
    auto got32 = runOptimizer(
        [&](Optimizer::NamedParams ps) {
          return std::make_unique<SGD>(std::move(ps), c.lr, c.momentum, c.dampening, c.nesterov, c.wd);
        },
        7, 3, DType::kFloat32);
    expectClose(got32, c.run(7, 3), 1e-6);
  }
}

TEST(SGD, LargeTensorUsesTheParallelPathCorrectly) {
  const size_t n = (1 << 17) + 3;
  SgdRef ref{0.1, 0.9, 0, 0.01, true};
  auto got = runOptimizer(
      [&](Optimizer::NamedParams ps) { return std::make_unique<SGD>(std::move(ps), 0.1, 0.9, 0, true, 0.01); }, n, 3);
  expectClose(got, ref.run(n, 3), 1e-12);
}

TEST(Adam, AdamAndAdamWMatchReferenceOverThreeSteps) {
  const std::vector<AdamRef> cases{{1e-3, 0.9, 0.999, 1e-8, 0, false},
                                   {0.01, 0.8, 0.99, 1e-6, 0.1, false},
                                   {0.01, 0.9, 0.999, 1e-8, 0.01, true},
                                   {0.05, 0.5, 0.9, 1e-3, 0.2, true}};
  for (const AdamRef& c : cases) {
    SCOPED_TRACE(testing::Message() << "lr " << c.lr << " wd " << c.wd << " decoupled " << c.decoupled);
    auto make = [&](Optimizer::NamedParams ps) -> std::unique_ptr<Optimizer> {
      if (c.decoupled) return std::make_unique<AdamW>(std::move(ps), c.lr, c.b1, c.b2, c.eps, c.wd);
      return std::make_unique<Adam>(std::move(ps), c.lr, c.b1, c.b2, c.eps, c.wd);
    };
    expectClose(runOptimizer(make, 9, 3), c.run(9, 3), 1e-12);
    expectClose(runOptimizer(make, 9, 3, DType::kFloat32), c.run(9, 3), 1e-5);
  }
  const size_t n = (1 << 17) + 5;
  AdamRef big{0.01, 0.9, 0.999, 1e-8, 0.01, true};
  expectClose(runOptimizer([](Optimizer::NamedParams ps) { return std::make_unique<AdamW>(std::move(ps), 0.01); },
                           n, 3),
              big.run(n, 3), 1e-12);
}

TEST(Optimizer, SkipsParametersWithoutGradientOrFrozen) {
  Tensor a = Tensor::ones({3}, DType::kFloat64).setRequiresGrad(true);
  Tensor b = Tensor::ones({3}, DType::kFloat64).setRequiresGrad(true);
  Tensor c = Tensor::ones({3}, DType::kFloat64).setRequiresGrad(true);
  Adam opt({{"a", a}, {"b", b}, {"c", c}}, 0.1);
  a.setGrad(Tensor::ones({3}, DType::kFloat64));
  c.setGrad(Tensor::ones({3}, DType::kFloat64));
  c.setRequiresGrad(false);  // frozen after its gradient was computed
  opt.step();
  EXPECT_NE(a.at(0), 1.0);
  EXPECT_EQ(b.at(0), 1.0);
  EXPECT_EQ(c.at(0), 1.0);
  auto state = opt.stateDict();
  EXPECT_TRUE(state.count("a.exp_avg"));
  EXPECT_FALSE(state.count("b.exp_avg"));
  EXPECT_EQ(state.at("a.step").item(), 1);
  opt.zeroGrad();
  EXPECT_FALSE(a.grad().defined());
  opt.step();  // nothing has a gradient: no update, but the counter moves
  EXPECT_EQ(opt.stepCount(), 2);
  EXPECT_EQ(opt.stateDict().at("a.step").item(), 1);
}

TEST(Optimizer, FromModuleAndLr) {
  Linear fc(3, 2);
  SGD opt(fc, 0.5, 0.9);
  ASSERT_EQ(opt.namedParameters().size(), 2u);
  EXPECT_EQ(opt.namedParameters()[0].first, "weight");
  EXPECT_EQ(opt.lr(), 0.5);
  opt.setLr(0.25);
  EXPECT_EQ(opt.lr(), 0.25);
  EXPECT_THROW(opt.setLr(-1), ValueError);
  EXPECT_THROW(SGD(fc, 0.1, 0.0, 0.0, true), ValueError);  // Nesterov without momentum
  EXPECT_THROW(Adam(fc, 0.1, 1.0), ValueError);
  Tensor dup = Tensor::ones({1}).setRequiresGrad(true);
  EXPECT_THROW(SGD({{"x", dup}, {"x", dup}}, 0.1), ValueError);
}

// Two optimizers: one runs 3 steps; the other runs 2, is saved and restored into a fresh
// optimizer (and fresh parameters), which then runs step 3. Both must end identical.
template <class MakeOpt>
void checkRoundTrip(MakeOpt make) {
  const size_t n = 5;
  Tensor p1 = Tensor::fromVector(initialValues(n), {5}).setRequiresGrad(true);
  auto opt1 = make(Optimizer::NamedParams{{"layer.weight", p1}});
  Tensor p2 = Tensor::fromVector(initialValues(n), {5}).setRequiresGrad(true);
  auto opt2 = make(Optimizer::NamedParams{{"layer.weight", p2}});
  for (int s = 0; s < 2; ++s) {
    p2.setGrad(Tensor::fromVector(gradAt(s, n), {5}));
    opt2->step();
  }
  std::map<std::string, Tensor> saved;
  for (auto& [k, t] : opt2->stateDict()) saved[k] = t.clone();
  Tensor p3 = p2.clone().setRequiresGrad(true);
  auto opt3 = make(Optimizer::NamedParams{{"layer.weight", p3}});
  opt3->loadStateDict(saved);
  EXPECT_EQ(opt3->stepCount(), 2);
  for (int s = 0; s < 3; ++s) {
    p1.setGrad(Tensor::fromVector(gradAt(s, n), {5}));
    opt1->step();
  }
  p3.setGrad(Tensor::fromVector(gradAt(2, n), {5}));
  opt3->step();
  for (int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(p3.at(i), p1.at(i)) << "element " << i;
}

TEST(Optimizer, StateDictRoundTrip) {
  checkRoundTrip([](Optimizer::NamedParams ps) { return std::make_unique<SGD>(std::move(ps), 0.1, 0.9, 0, true); });
  checkRoundTrip([](Optimizer::NamedParams ps) { return std::make_unique<AdamW>(std::move(ps), 0.01); });
  Tensor p = Tensor::ones({2}).setRequiresGrad(true);
  SGD opt({{"conv1.weight", p}}, 0.1, 0.9);
  p.setGrad(Tensor::ones({2}));
  opt.step();
  auto state = opt.stateDict();
  EXPECT_TRUE(state.count("conv1.weight.momentum_buffer"));
  EXPECT_EQ(state.at("step").dtype(), DType::kInt64);
  EXPECT_EQ(state.at("step").item(), 1);
  EXPECT_NEAR(state.at("lr").item(), 0.1, 1e-15);
  // The lr is restored too.
  SGD other({{"conv1.weight", Tensor::ones({2}).setRequiresGrad(true)}}, 0.7, 0.9);
  other.loadStateDict(state);
  EXPECT_NEAR(other.lr(), 0.1, 1e-15);
}

TEST(Optimizer, LoadStateDictErrorsNameTheFirstMismatch) {
  Tensor w = Tensor::ones({2, 3}).setRequiresGrad(true);
  Adam opt({{"fc.weight", w}}, 0.1);
  w.setGrad(Tensor::ones({2, 3}));
  opt.step();
  const auto good = opt.stateDict();
  auto expectError = [&](const std::map<std::string, Tensor>& s, const std::string& part) {
    try {
      opt.loadStateDict(s);
      ADD_FAILURE() << "expected an error mentioning " << part;
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  auto noStep = good;
  noStep.erase("step");
  expectError(noStep, "missing 'step'");
  auto extra = good;
  extra["fc.weight.momentum_buffer"] = Tensor::zeros({2, 3});
  expectError(extra, "unexpected 'fc.weight.momentum_buffer'");
  auto partial = good;
  partial.erase("fc.weight.exp_avg_sq");
  expectError(partial, "missing 'fc.weight.exp_avg_sq'");
  auto wrongShape = good;
  wrongShape["fc.weight.exp_avg"] = Tensor::zeros({3, 2});
  expectError(wrongShape, "[3, 2]");
  expectError(wrongShape, "[2, 3]");
  EXPECT_THROW(opt.loadStateDict(wrongShape), ShapeError);
  // A failed load left the state alone.
  EXPECT_EQ(opt.stateDict().at("fc.weight.exp_avg").shape(), (Shape{2, 3}));
  // An optimizer state without per-parameter entries (never stepped) loads fine.
  Adam fresh({{"fc.weight", w}}, 0.1);
  opt.loadStateDict(fresh.stateDict());
  EXPECT_FALSE(opt.stateDict().count("fc.weight.exp_avg"));
}

}  // namespace
}  // namespace singa
