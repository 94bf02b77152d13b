// The fine-tuning building blocks, each against an independent reference computed here or by
// PyTorch: label smoothing, gradient clipping by global norm, learning-rate groups, parameter
// name patterns, and the warm-up + decay schedules the Trainer builds.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "singa/singa.h"

namespace singa {
namespace {

constexpr double kPi = 3.14159265358979323846;

TEST(LabelSmoothing, MatchesTheFormulaAndPyTorch) {
  const std::vector<float> x = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f};
  const std::vector<int64_t> y = {1, 2};
  const double eps = 0.1;
  // Reference: mean_i [ -(1 - eps) log p_iy - eps / C sum_c log p_ic ], in double.
  double ref = 0;
  for (int i = 0; i < 2; ++i) {
    double z = 0;
    for (int c = 0; c < 3; ++c) z += std::exp(static_cast<double>(x[i * 3 + c]));
    double sumLog = 0;
    for (int c = 0; c < 3; ++c) sumLog += x[i * 3 + c] - std::log(z);
    ref += -(1 - eps) * (x[i * 3 + y[i]] - std::log(z)) - eps / 3.0 * sumLog;
  }
  ref /= 2;
  Tensor logits = Tensor::fromVector<float>(x, {2, 3}).setRequiresGrad();
  Tensor loss = crossEntropyLoss(logits, Tensor::fromVector<int64_t>(y, {2}), eps);
  EXPECT_NEAR(loss.item(), ref, 1e-6);
  EXPECT_NEAR(loss.item(), 0.4234597086906433, 1e-6);  // torch.nn.functional.cross_entropy(label_smoothing=0.1)
  // d loss / d logits = (softmax - smoothed target) / N; PyTorch gives the same numbers.
  loss.backward();
  const std::vector<float> g = logits.grad().toVector<float>();
  const std::vector<double> torchGrad = {0.0989, -0.1524, 0.0535, -0.0081, 0.0066, 0.0015};
  for (size_t k = 0; k < g.size(); ++k) EXPECT_NEAR(g[k], torchGrad[k], 1e-4) << k;
  // eps = 0 is plain cross-entropy; eps outside [0, 1) is refused.
  EXPECT_EQ(crossEntropyLoss(logits, Tensor::fromVector<int64_t>(y, {2}), 0.0).item(),
            crossEntropyLoss(logits, Tensor::fromVector<int64_t>(y, {2})).item());
  EXPECT_THROW(crossEntropyLoss(logits, Tensor::fromVector<int64_t>(y, {2}), 1.0), ValueError);
}

// Two parameters with gradients [3, 4] and [12]: global norm 13.
Optimizer::NamedParams twoParams() {
  Tensor a = Tensor::fromVector<float>({1, 1}, {2}).setRequiresGrad();
  Tensor b = Tensor::fromVector<float>({1}, {1}).setRequiresGrad();
  a.setGrad(Tensor::fromVector<float>({3, 4}, {2}));
  b.setGrad(Tensor::fromVector<float>({12}, {1}));
  return {{"base.a", a}, {"head.b", b}};
}

TEST(ClipGradNorm, BoundsTheUpdateToTheHandComputedClippedStep) {
  auto params = twoParams();
  SGD sgd(params, /*lr=*/0.5);
  sgd.setMaxGradNorm(1.0);
  sgd.step();
  EXPECT_NEAR(sgd.lastGradNorm(), 13.0, 1e-6);
  const double scale = 1.0 / (13.0 + 1e-6);  // torch.nn.utils.clip_grad_norm_
  EXPECT_NEAR(params[0].second.toVector<float>()[0], 1 - 0.5 * 3 * scale, 1e-6);
  EXPECT_NEAR(params[0].second.toVector<float>()[1], 1 - 0.5 * 4 * scale, 1e-6);
  EXPECT_NEAR(params[1].second.toVector<float>()[0], 1 - 0.5 * 12 * scale, 1e-6);
  // The whole update has norm lr * maxNorm.
  const double da = std::hypot(0.5 * 3 * scale, 0.5 * 4 * scale), db = 0.5 * 12 * scale;
  EXPECT_NEAR(std::hypot(da, db), 0.5, 1e-6);
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  auto params = twoParams();
  EXPECT_NEAR(clipGradNorm(params, 100.0), 13.0, 1e-6);
  EXPECT_EQ(params[0].second.grad().toVector<float>(), (std::vector<float>{3, 4}));
  EXPECT_THROW(clipGradNorm(params, 0.0), ValueError);
}

TEST(LrMultiplier, TheHeadGroupMovesByItsOwnRate) {
  auto params = twoParams();
  SGD sgd(params, /*lr=*/0.1);
  EXPECT_EQ(sgd.setLrMultiplier("head", 10.0), 1);
  sgd.step();
  EXPECT_NEAR(params[0].second.toVector<float>()[0], 1 - 0.1 * 3, 1e-6);
  EXPECT_NEAR(params[1].second.toVector<float>()[0], 1 - 1.0 * 12, 1e-5);
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.1);  // the base lr (what checkpoints record) is unchanged
  EXPECT_THROW(sgd.setLrMultiplier("neck", 2.0), ValueError);
}

TEST(NamePattern, NamesPrefixesAndGlobs) {
  EXPECT_TRUE(matchesNamePattern("base.conv1.W", "base"));
  EXPECT_TRUE(matchesNamePattern("base.conv1.W", "base.conv1"));
  EXPECT_FALSE(matchesNamePattern("baseline.W", "base"));
  EXPECT_TRUE(matchesNamePattern("base.conv1.W", "*conv*"));
  EXPECT_TRUE(matchesNamePattern("head.weight", "head.w?ight"));
  EXPECT_FALSE(matchesNamePattern("head.weight", "*.bias"));
  EXPECT_TRUE(matchesNamePattern("anything", ""));
  EXPECT_THROW(selectNames({"a.w", "b.w"}, "c*", "--freeze"), ValueError);
  EXPECT_EQ(selectNames({"a.w", "b.w", "a.b"}, "a", "--freeze"), (std::vector<std::string>{"a.w", "a.b"}));
}

TEST(Schedule, LinearWarmupThenCosine) {
  auto params = twoParams();
  SGD sgd(params, 0.2);
  TrainerOptions o;
  o.epochs = 3;
  o.lrSchedule = "cosine";
  o.warmupEpochs = 1;  // 10 steps per epoch: 10 warm-up steps, then cosine over 20
  auto s = makeSchedule(o, sgd, 10);
  ASSERT_NE(s, nullptr);
  EXPECT_NEAR(sgd.lr(), 0.02, 1e-12);  // count 0: lr * warmupStartFactor
  for (int64_t t = 0; t < 10; ++t) EXPECT_NEAR(s->lrAt(t), 0.2 * (0.1 + 0.9 * t / 10.0), 1e-12) << t;
  for (int64_t t = 10; t <= 30; ++t) {
    EXPECT_NEAR(s->lrAt(t), 0.2 * (1 + std::cos(kPi * (t - 10) / 20.0)) / 2, 1e-12) << t;
  }
  EXPECT_NEAR(s->lrAt(30), 0.0, 1e-12);
}

TEST(Schedule, WarmupThenStepDecay) {
  auto params = twoParams();
  SGD sgd(params, 1.0);
  TrainerOptions o;
  o.lrSchedule = "step";
  o.warmupSteps = 4;
  o.warmupStartFactor = 0.0;
  auto s = makeSchedule(o, sgd, 5);  // decay x0.1 every epoch of 5 steps, after 4 warm-up steps
  const std::vector<double> want = {0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01};
  for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(s->lrAt(static_cast<int64_t>(t)), want[t], 1e-12) << t;
  o.lrSchedule = "none";
  o.warmupSteps = 0;
  EXPECT_EQ(makeSchedule(o, sgd, 5), nullptr);
}

}  // namespace
}  // namespace singa
