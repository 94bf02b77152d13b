// LR schedules: the lr sequence an optimizer sees, warmup, and resuming at a count.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "singa/optim/lr_schedule.h"
#include "singa/optim/sgd.h"
#include "singa/singa.h"

namespace singa {
namespace {

std::vector<double> sequence(LRSchedule& s, Optimizer& opt, int steps) {
  std::vector<double> out{opt.lr()};
  for (int i = 0; i < steps; ++i) {
    s.step();
    out.push_back(opt.lr());
  }
  return out;
}

void expectSeq(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "count " << i;
}

Optimizer::NamedParams oneParam() { return {{"w", Tensor::ones({1}).setRequiresGrad(true)}}; }

TEST(LRSchedule, StepLR) {
  SGD opt(oneParam(), 0.1);
  StepLR s(opt, 2, 0.5);
  expectSeq(sequence(s, opt, 6), {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125});
  EXPECT_EQ(s.lastEpoch(), 6);
  EXPECT_THROW(StepLR(opt, 0), ValueError);
}

TEST(LRSchedule, CosineAnnealing) {
  SGD opt(oneParam(), 1.0);
  CosineAnnealingLR s(opt, 4, 0.1);
  std::vector<double> want;
  const double pi = std::acos(-1.0);
  for (int t = 0; t <= 4; ++t) want.push_back(0.1 + 0.9 * (1 + std::cos(pi * t / 4)) / 2);
  want.push_back(0.1);  // held at etaMin after tMax
  expectSeq(sequence(s, opt, 5), want);
  EXPECT_NEAR(want[2], 0.55, 1e-12);
}

TEST(LRSchedule, LinearWarmupThenSchedule) {
  SGD opt(oneParam(), 0.4);
  StepLR s(opt, 2, 0.1, /*warmupSteps=*/4, /*warmupStartFactor=*/0.0);
  expectSeq(sequence(s, opt, 7), {0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.04, 0.04});
  SGD opt2(oneParam(), 1.0);
  ConstantLR w(opt2, 2, 0.5);
  expectSeq(sequence(w, opt2, 3), {0.5, 0.75, 1.0, 1.0});
}

TEST(LRSchedule, ResumeAtCount) {
  SGD opt(oneParam(), 1.0);
  CosineAnnealingLR s(opt, 10);
  for (int i = 0; i < 3; ++i) s.step();
  const double at3 = opt.lr();
  SGD opt2(oneParam(), 1.0);
  CosineAnnealingLR r(opt2, 10);
  r.setLastEpoch(3);
  EXPECT_DOUBLE_EQ(opt2.lr(), at3);
  s.step();
  r.step();
  EXPECT_DOUBLE_EQ(opt2.lr(), opt.lr());
}

}  // namespace
}  // namespace singa
