// Checkpoints: a round trip restores model, optimizer and position; training continued from a
// checkpoint is bit-identical to training straight through; damaged or mismatched checkpoints
// are rejected naming the file and the first bad tensor; the manager keeps the newest K and
// falls back past a damaged newest one; only rank 0 writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/durable_io.h"
#include "singa/nn/nn.h"
#include "singa/optim/adam.h"
#include "singa/optim/sgd.h"
#include "singa/singa.h"

namespace singa::checkpoint {
namespace {
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("singa_ckpt_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

// Conv + BatchNorm (buffers) + Dropout (global RNG) + Linear: every kind of state a checkpoint holds.
std::shared_ptr<Sequential> makeModel(int64_t channels = 3, uint64_t seed = 1) {
  Generator g(seed);
  return std::make_shared<Sequential>(
      std::make_shared<Conv2d>(1, channels, 3, 1, 0, 1, 1, true, g), std::make_shared<BatchNorm2d>(channels),
      std::make_shared<ReLU>(), std::make_shared<Dropout>(0.3), std::make_shared<Flatten>(),
      std::make_shared<Linear>(channels * 16, 3, true, g));
}

// Deterministic batch `step`: inputs [4, 1, 6, 6] and labels [4].
std::pair<Tensor, Tensor> batchAt(int64_t step) {
  std::vector<float> x(4 * 36);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + step));
  std::vector<int64_t> y(4);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>((i + static_cast<size_t>(step)) % 3);
  return {Tensor::fromVector(x, {4, 1, 6, 6}), Tensor::fromVector(y, {4})};
}

void trainSteps(Module& m, Optimizer& opt, int64_t from, int64_t to) {
  for (int64_t s = from; s < to; ++s) {
    auto [x, y] = batchAt(s);
    Tensor loss = crossEntropyLoss(m.forward(x), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
}

TrainingState stateAt(int64_t step) {
  TrainingState s;
  s.epoch = 2;
  s.stepInEpoch = step;
  s.samplesInEpoch = step * 4;
  s.globalStep = step;
  s.batchSize = 4;
  s.rngSeed = globalGenerator().seed();
  s.rngCounter = globalGenerator().counter();
  s.scheduleEpoch = 5;
  s.configJson = R"({"model":"test","lr":0.05})";
  return s;
}

void expectBitIdentical(const Module& a, const Module& b) {
  auto sa = a.stateDict(), sb = b.stateDict();
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [name, t] : sa) {
    const Tensor u = sb.at(name).contiguous(), v = t.contiguous();
    ASSERT_EQ(u.shape(), v.shape()) << name;
    EXPECT_EQ(0, std::memcmp(u.rawData(), v.rawData(), v.nbytes())) << name << " differs";
  }
}

std::string errorOfRead(const std::string& path) {
  try {
    readCheckpoint(path);
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

void flipByteAt(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(Checkpoint, ContinuingFromACheckpointIsBitIdenticalToTrainingThrough) {
  for (const std::string optName : {"sgd", "adam"}) {
    TempDir dir;
    auto make = [&](Module& m) -> std::unique_ptr<Optimizer> {
      if (optName == "adam") return std::make_unique<Adam>(m, 0.01);
      return std::make_unique<SGD>(m, 0.05, 0.9, 0.0, true, 1e-4);
    };
    manualSeed(11);
    auto ref = makeModel();
    auto refOpt = make(*ref);
    trainSteps(*ref, *refOpt, 0, 7);

    manualSeed(11);
    auto a = makeModel();
    auto aOpt = make(*a);
    trainSteps(*a, *aOpt, 0, 3);
    writeCheckpoint(dir / "c", *a, *aOpt, stateAt(3));
    trainSteps(*a, *aOpt, 3, 5);  // diverge the process state after the checkpoint

    manualSeed(999);              // a fresh process: other weights, other RNG position
    auto b = makeModel(3, 77);
    auto bOpt = make(*b);
    Checkpoint c = readCheckpoint(dir / "c");
    restoreModel(c, *b);
    restoreOptimizer(c, *bOpt);
    globalGenerator().setState(c.state.rngSeed, c.state.rngCounter);
    EXPECT_EQ(bOpt->stepCount(), 3);
    trainSteps(*b, *bOpt, 3, 7);
    expectBitIdentical(*ref, *b);
  }
}

TEST(Checkpoint, RoundTripsTrainingStateAndUsesModelNames) {
  TempDir dir;
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  trainSteps(*m, opt, 0, 2);
  TrainingState s = stateAt(2);
  s.rngCounter = 0xfedcba9876543210ull;  // beyond int64
  s.worldSize = 4;
  writeCheckpoint(dir / "c", *m, opt, s);
  Checkpoint c = readCheckpoint(dir / "c");
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.state.stepInEpoch, 2);
  EXPECT_EQ(c.state.samplesInEpoch, 8);
  EXPECT_EQ(c.state.globalStep, 2);
  EXPECT_EQ(c.state.worldSize, 4);
  EXPECT_EQ(c.state.rngCounter, 0xfedcba9876543210ull);
  EXPECT_EQ(c.state.scheduleEpoch, 5);
  EXPECT_TRUE(contains(c.state.configJson, "\"model\":\"test\"")) << c.state.configJson;
  std::vector<std::string> names;
  for (const auto& [n, t] : c.model) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.bias", "0.weight", "1.bias", "1.running_mean", "1.running_var",
                                              "1.weight", "5.bias", "5.weight"}));
  EXPECT_TRUE(c.optimizer.count("0.weight.momentum_buffer") && c.optimizer.count("step"));
  EXPECT_FALSE(fs::exists(dir.path / (".tmp-c-" + std::to_string(::getpid()))));
}

TEST(Checkpoint, DamageIsReportedWithFileAndTensor) {
  TempDir dir;
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  trainSteps(*m, opt, 0, 1);
  const std::string path = dir / "c";
  auto fresh = [&] {
    fs::remove_all(path);
    writeCheckpoint(path, *m, opt, stateAt(1));
  };
  const std::string modelFile = (fs::path(path) / kModelFile).string();

  // A flipped byte in the data of the last tensor "5.weight" (data is in name order).
  fresh();
  flipByteAt(modelFile, fs::file_size(modelFile) - 5);
  std::string e = errorOfRead(path);
  EXPECT_TRUE(contains(e, modelFile) && contains(e, "'5.weight'") && contains(e, "CRC-32")) << e;

  // Truncated: the first incomplete tensor is named.
  fresh();
  fs::resize_file(modelFile, fs::file_size(modelFile) - 100);
  e = errorOfRead(path);
  EXPECT_TRUE(contains(e, modelFile) && contains(e, "truncated") && contains(e, "'5.weight'")) << e;

  // A flipped byte in the header (the JSON).
  fresh();
  flipByteAt(modelFile, 12);
  e = errorOfRead(path);
  EXPECT_TRUE(contains(e, modelFile)) << e;

  // meta.json: corrupted (a changed digit keeps it valid JSON), truncated, missing.
  const std::string metaFile = (fs::path(path) / kMetaFile).string();
  fresh();
  {
    std::string meta = readFile(metaFile);
    auto at = meta.find("\"global_step\": 1");
    ASSERT_NE(at, std::string::npos);
    meta[at + 15] = '7';
    std::ofstream(metaFile, std::ios::binary) << meta;
  }
  e = errorOfRead(path);
  EXPECT_TRUE(contains(e, metaFile) && contains(e, "CRC-32")) << e;
  fresh();
  fs::resize_file(metaFile, 40);
  e = errorOfRead(path);
  EXPECT_TRUE(contains(e, metaFile) && contains(e, "not valid JSON")) << e;
  fresh();
  fs::remove(fs::path(path) / kOptimizerFile);
  e = errorOfRead(path);
  EXPECT_TRUE(contains(e, path) && contains(e, kOptimizerFile)) << e;
  EXPECT_TRUE(contains(errorOfRead(dir / "nothing"), "does not exist"));
}

TEST(Checkpoint, MismatchedModelOrOptimizerNamesTheFirstTensor) {
  TempDir dir;
  auto m = makeModel(3);
  SGD opt(*m, 0.1, 0.9);
  trainSteps(*m, opt, 0, 1);
  writeCheckpoint(dir / "c", *m, opt, stateAt(1));
  Checkpoint c = readCheckpoint(dir / "c");
  const std::string modelFile = (dir.path / "c" / kModelFile).string();

  auto wider = makeModel(4);  // every tensor's shape differs; the first in model order is 0.weight
  try {
    restoreModel(c, *wider);
    FAIL() << "expected a mismatch";
  } catch (const ShapeError& e) {
    EXPECT_TRUE(contains(e.what(), modelFile) && contains(e.what(), "'0.weight'") &&
                contains(e.what(), "[3, 1, 3, 3]") && contains(e.what(), "[4, 1, 3, 3]"))
        << e.what();
  }
  Generator g(1);
  auto other = std::make_shared<Sequential>(std::make_shared<Linear>(6, 3, true, g));
  try {
    restoreModel(c, *other);
    FAIL() << "expected a mismatch";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), modelFile) && contains(e.what(), "first mismatched tensor is '0.weight'")) << e.what();
  }
  Checkpoint extra = c;
  extra.model["9.weight"] = Tensor::zeros({2});
  auto same = makeModel(3);
  try {
    restoreModel(extra, *same);
    FAIL() << "expected a mismatch";
  } catch (const ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "'9.weight'") && contains(e.what(), "model lacks")) << e.what();
  }
  Adam adam(*same, 0.01);
  try {
    restoreOptimizer(c, adam);
    FAIL() << "expected a mismatch";
  } catch (const ValueError& e) {
    EXPECT_TRUE(contains(e.what(), kOptimizerFile) && contains(e.what(), "momentum_buffer")) << e.what();
  }
  // Nothing was copied by the failed restores.
  restoreModel(c, *same);
  expectBitIdentical(*m, *same);
}

TEST(CheckpointManager, KeepsNewestKAndFallsBackPastADamagedNewest) {
  TempDir dir;
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  CheckpointManager mgr(dir.path.string(), 2);
  fs::create_directories(dir.path / ".tmp-step-000000000009-123");  // left by a killed writer
  for (int64_t s = 1; s <= 4; ++s) {
    trainSteps(*m, opt, s - 1, s);
    EXPECT_EQ(mgr.save(*m, opt, stateAt(s)), dir / CheckpointManager::entryName(s));
  }
  EXPECT_EQ(mgr.list(), (std::vector<std::string>{dir / "step-000000000004", dir / "step-000000000003"}));
  EXPECT_FALSE(fs::exists(dir.path / ".tmp-step-000000000009-123"));
  // Saving the same step again replaces it in place.
  EXPECT_EQ(mgr.save(*m, opt, stateAt(4)), dir / "step-000000000004");
  EXPECT_EQ(mgr.list().size(), 2u);

  std::vector<std::string> skipped;
  auto newest = mgr.loadNewestValid(&skipped);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->state.globalStep, 4);
  EXPECT_TRUE(skipped.empty());

  const std::string f = dir / "step-000000000004/model.safetensors";
  flipByteAt(f, fs::file_size(f) - 1);
  newest = mgr.loadNewestValid(&skipped);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->state.globalStep, 3);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_TRUE(contains(skipped[0], "step-000000000004") && contains(skipped[0], "CRC-32")) << skipped[0];

  CheckpointManager empty((dir.path / "none").string(), 1);
  EXPECT_FALSE(empty.loadNewestValid().has_value());
  EXPECT_THROW(CheckpointManager(dir.path.string(), 0), ValueError);
}

TEST(CheckpointManager, OnlyRankZeroWrites) {
  TempDir dir;
  auto m = makeModel();
  SGD opt(*m, 0.1);
  CheckpointManager rank1((dir.path / "r").string(), 2, /*rank=*/1, /*worldSize=*/2);
  EXPECT_EQ(rank1.save(*m, opt, stateAt(1)), "");
  EXPECT_FALSE(fs::exists(dir.path / "r"));
  CheckpointManager rank0((dir.path / "r").string(), 2, 0, 2);
  rank0.save(*m, opt, stateAt(1));
  EXPECT_EQ(readCheckpoint(rank0.list().at(0)).state.worldSize, 2);
  EXPECT_EQ(rank1.loadNewestValid()->state.globalStep, 1);  // every rank reads
  EXPECT_THROW(CheckpointManager("x", 1, 2, 2), ValueError);
}

}  // namespace
}  // namespace singa::checkpoint
