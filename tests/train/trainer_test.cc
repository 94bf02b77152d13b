// The Trainer's loop on a small synthetic problem (4 features, the label is the largest one):
// frozen parameters stay bit-identical while the head learns, the schedule the loop applies is the
// warm-up formula, early stopping ends the run after PATIENCE epochs without improvement, and the
// best checkpoint kept is the epoch with the best validation accuracy.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <vector>

#include "singa/checkpoint/checkpoint.h"
#include "singa/singa.h"

namespace singa {
namespace {

MnistSplit syntheticData(int64_t n) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * 4));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < 4; ++c) x[static_cast<size_t>(i * 4 + c)] = u(gen);
    int64_t best = 0;
    for (int64_t c = 1; c < 4; ++c) best = x[static_cast<size_t>(i * 4 + c)] > x[static_cast<size_t>(i * 4 + best)] ? c : best;
    y[static_cast<size_t>(i)] = best;
  }
  return MnistSplit{Tensor::fromVector<float>(x, {n, 1, 2, 2}), Tensor::fromVector<int64_t>(y, {n})};
}

// A "pretrained" base and a new head, named as FineTuneModel names them.
class TinyNet : public Module {
 public:
  TinyNet() {
    base = registerModule("base", std::make_shared<Linear>(4, 8));
    head = registerModule("head", std::make_shared<Linear>(8, 4));
  }
  Tensor forward(const Tensor& x) override { return head->forward(ops::relu(base->forward(ops::flatten(x, 1)))); }
  std::shared_ptr<Linear> base, head;
};

TrainerOptions quietOptions() {
  TrainerOptions o;
  o.batchSize = 8;
  o.quiet = true;
  o.lr = 0.5;
  return o;
}

TEST(Trainer, FrozenBaseStaysFixedWhileTheHeadLearns) {
  manualSeed(1);
  auto model = std::make_shared<TinyNet>();
  const std::vector<float> base0 = model->base->weight().toVector<float>();
  const std::vector<float> head0 = model->head->weight().toVector<float>();
  TrainerOptions o = quietOptions();
  o.epochs = 2;
  o.freeze = {"base"};
  o.headLr = 1.0;
  Trainer trainer(model, o);
  const MnistSplit data = syntheticData(64);
  int steps = 0;
  trainer.onStep([&](const StepInfo&) { ++steps; });
  trainer.fit(data, &data);
  EXPECT_EQ(steps, 16);
  EXPECT_EQ(model->base->weight().toVector<float>(), base0);
  EXPECT_NE(model->head->weight().toVector<float>(), head0);
  EXPECT_FALSE(model->base->weight().requiresGrad());
  EXPECT_DOUBLE_EQ(trainer.optimizer().lrMultiplier("head.weight"), 2.0);  // --head-lr 1.0 over --lr 0.5
  EXPECT_DOUBLE_EQ(trainer.optimizer().lrMultiplier("base.weight"), 1.0);
}

TEST(Trainer, TheLoopAppliesTheWarmupSchedule) {
  manualSeed(2);
  TrainerOptions o = quietOptions();
  o.lr = 0.1;
  o.warmupSteps = 4;
  o.warmupStartFactor = 0.0;
  Trainer trainer(std::make_shared<TinyNet>(), o);
  std::vector<double> lrs;
  trainer.onStep([&](const StepInfo& s) { lrs.push_back(s.lr); });
  const MnistSplit data = syntheticData(64);
  trainer.fit(data);
  ASSERT_EQ(lrs.size(), 8u);
  for (size_t k = 0; k < lrs.size(); ++k) {  // after update k+1 the lr is the one for count k+1
    const double want = k + 1 < 4 ? 0.1 * static_cast<double>(k + 1) / 4.0 : 0.1;
    EXPECT_NEAR(lrs[k], want, 1e-12) << k;
  }
}

TEST(Trainer, EarlyStoppingEndsAfterPatienceEpochsWithoutImprovement) {
  manualSeed(3);
  TrainerOptions o = quietOptions();
  o.lr = 0.0;  // the accuracy never improves after the first epoch
  o.epochs = 10;
  o.earlyStoppingPatience = 2;
  Trainer trainer(std::make_shared<TinyNet>(), o);
  const MnistSplit data = syntheticData(64);
  const TrainResult r = trainer.fit(data, &data);
  EXPECT_TRUE(r.stoppedEarly);
  EXPECT_EQ(r.epochsRun, 3);
  EXPECT_EQ(r.bestEpoch, 0);
}

// A linear probe whose weights the epoch hook sets, so each epoch's validation accuracy is known.
class Probe : public Module {
 public:
  Probe() { head = registerModule("head", std::make_shared<Linear>(4, 4, /*bias=*/false)); }
  Tensor forward(const Tensor& x) override { return head->forward(ops::flatten(x, 1)); }
  std::shared_ptr<Linear> head;
};

Tensor scaledIdentity(float s) {
  std::vector<float> w(16, 0.0f);
  for (int i = 0; i < 4; ++i) w[static_cast<size_t>(i * 5)] = s;
  return Tensor::fromVector<float>(w, {4, 4});
}

TEST(Trainer, KeepsTheCheckpointOfTheBestEpoch) {
  const std::string dir = testing::TempDir() + "/trainer_keep_best";
  std::filesystem::remove_all(dir);
  auto model = std::make_shared<Probe>();
  model->head->weight().copyFrom(Tensor::zeros({4, 4}));  // epoch 1: ties, class 0 (about 25%)
  TrainerOptions o = quietOptions();
  o.lr = 0.0;
  o.epochs = 4;
  o.checkpoint.dir = dir;
  o.checkpoint.keep = 1;
  o.checkpoint.keepBest = true;
  Trainer trainer(model, o);
  // Epoch 2 validates the identity (100%), epoch 3 its negation (0%), epoch 4 zeros again.
  const std::vector<float> next = {1.0f, -1.0f, 0.0f, 0.0f};
  std::vector<double> accuracy;
  trainer.onEpoch([&](const EpochInfo& e) {
    accuracy.push_back(e.validation.accuracy);
    autograd::NoGradGuard noGrad;
    model->head->weight().copyFrom(scaledIdentity(next[static_cast<size_t>(e.epoch)]));
  });
  const MnistSplit data = syntheticData(64);
  const TrainResult r = trainer.fit(data, &data);
  ASSERT_EQ(accuracy.size(), 4u);
  EXPECT_DOUBLE_EQ(accuracy[1], 1.0);
  EXPECT_DOUBLE_EQ(accuracy[2], 0.0);
  EXPECT_EQ(r.bestEpoch, 1);
  ASSERT_EQ(r.bestCheckpoint, dir + "/best");
  const checkpoint::Checkpoint best = checkpoint::readCheckpoint(r.bestCheckpoint);
  EXPECT_EQ(best.state.epoch, 2);
  EXPECT_EQ(best.model.at("head.weight").toVector<float>(), scaledIdentity(1.0f).toVector<float>());
  EXPECT_NE(best.state.configJson.find("\"best\""), std::string::npos);
  // Pruning keeps one step checkpoint (the last epoch's) and never the best one.
  checkpoint::CheckpointManager manager(dir, 1);
  ASSERT_EQ(manager.list().size(), 1u);
  EXPECT_EQ(checkpoint::readCheckpoint(manager.list()[0]).state.epoch, 4);
}

// A wide hidden layer (8 x 65,536 floats, 2 MiB per activation) that notes the CPU bytes in use
// each time a forward pass starts.
class WideNet : public Module {
 public:
  WideNet() {
    a = registerModule("a", std::make_shared<Linear>(4, 65536));
    b = registerModule("b", std::make_shared<Linear>(65536, 4));
  }
  Tensor forward(const Tensor& x) override {
    inUseAtForward.push_back(cpuBytesInUse());
    return b->forward(ops::relu(a->forward(ops::flatten(x, 1))));
  }
  std::shared_ptr<Linear> a, b;
  std::vector<size_t> inUseAtForward;
};

TEST(Trainer, BenchmarkStepsDoNotKeepThePreviousStepsGraph) {
  // Each timed step starts with the same tensors alive: the previous step's loss, and the
  // activations its graph saved for backward (4 MiB here), are gone. Holding that loss across the
  // next step had doubled the benchmark's peak memory.
  manualSeed(4);
  auto model = std::make_shared<WideNet>();
  TrainerOptions o = quietOptions();
  o.momentum = 0.9;
  o.benchmarkWarmupSteps = 1;
  o.benchmarkSteps = 4;
  Trainer trainer(model, o);
  trainer.benchmark(syntheticData(64));
  const std::vector<size_t>& seen = model->inUseAtForward;
  ASSERT_EQ(seen.size(), 5u);  // one warm-up step, four timed steps
  for (size_t i = 2; i < seen.size(); ++i) {
    EXPECT_LE(seen[i], seen[1] + (size_t{64} << 10)) << "timed step " << i << " started with "
                                                     << (seen[i] - seen[1]) << " more bytes in use than the first";
  }
}

}  // namespace
}  // namespace singa
