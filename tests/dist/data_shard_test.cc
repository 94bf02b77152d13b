// The input pipeline across ranks, run as 1, 2 and 3 processes: in every epoch of a Trainer run
// each sample is trained on exactly once over all ranks (the batches' indices are gathered and
// counted), and every rank's batch holds what the data set gives for that sample index, seed and
// epoch (augmentations drawn per sample, independent of rank and worker count).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "singa/comm/communicator.h"
#include "singa/data/loader.h"
#include "singa/data/source.h"
#include "singa/nn/nn.h"
#include "singa/train/trainer.h"
#include "tests/dist/dist_env.h"

namespace singa {
namespace {

using test::comm;

constexpr int64_t kSamples = 360;  // divisible by 1, 2 and 3 ranks x batch 10: no sample left out
constexpr int64_t kBatch = 10;
constexpr int64_t kEpochs = 2;
constexpr uint64_t kSeed = 5;

std::shared_ptr<TensorDataset> makeData() {
  Tensor images({kSamples, 1, 10, 10}, DType::kUInt8);
  std::vector<int64_t> labels(kSamples);
  uint8_t* p = images.data<uint8_t>();
  for (int64_t i = 0; i < images.numel(); ++i) p[i] = static_cast<uint8_t>((i * 7919) % 251);
  for (int64_t i = 0; i < kSamples; ++i) labels[static_cast<size_t>(i)] = i % 4;
  auto data = std::make_shared<TensorDataset>(images, Tensor::fromVector<int64_t>(labels, {kSamples}), "shard test");
  TransformOptions t;
  t.crop = 8;
  t.randomCrop = true;
  t.hflip = true;
  data->setTransforms(t);
  return data;
}

TEST(DataShards, EverySampleOncePerEpochAcrossRanks) {
  auto data = makeData();
  auto model = std::make_shared<Sequential>();
  model->add(std::make_shared<Flatten>());
  model->add(std::make_shared<Linear>(64, 4));
  TrainerOptions o;
  o.epochs = kEpochs;
  o.batchSize = kBatch;
  o.seed = kSeed;
  o.workers = 2;  // batches from worker threads
  o.quiet = true;
  Trainer trainer(model, o, &comm());
  std::vector<std::vector<int64_t>> seen(kEpochs);
  int64_t mismatches = 0;
  trainer.onStep([&](const StepInfo& s) {
    ASSERT_NE(s.batch, nullptr);
    const Batch& b = *s.batch;
    const int64_t numel = 64;
    for (size_t k = 0; k < b.indices.size(); ++k) {
      seen[static_cast<size_t>(s.epoch)].push_back(b.indices[k]);
      // The sample as a lone load on this thread gives it: same seed, epoch and index.
      std::vector<float> expect(numel);
      Generator g = sampleGenerator(kSeed, s.epoch, b.indices[k]);
      data->load(b.indices[k], /*train=*/true, g, expect.data());
      if (std::memcmp(expect.data(), b.images.data<float>() + static_cast<int64_t>(k) * numel,
                      sizeof(float) * numel) != 0) {
        ++mismatches;
      }
      if (b.labels.data<int64_t>()[k] != data->label(b.indices[k])) ++mismatches;
    }
  });
  trainer.fit(std::shared_ptr<const Dataset>(data));
  EXPECT_EQ(mismatches, 0) << "batch contents differ from the per-sample loads";
  for (int64_t e = 0; e < kEpochs; ++e) {
    const std::vector<int64_t>& mine = seen[static_cast<size_t>(e)];
    ASSERT_EQ(static_cast<int64_t>(mine.size()), kSamples / comm().worldSize());
    Tensor all = comm().allGather(Tensor::fromVector<int64_t>(mine, {static_cast<int64_t>(mine.size())}));
    std::vector<int64_t> counts(kSamples, 0);
    for (int64_t idx : all.toVector<int64_t>()) {
      ASSERT_TRUE(idx >= 0 && idx < kSamples) << idx;
      ++counts[static_cast<size_t>(idx)];
    }
    for (int64_t i = 0; i < kSamples; ++i) {
      EXPECT_EQ(counts[static_cast<size_t>(i)], 1) << "epoch " << e << ": sample " << i << " seen "
                                                   << counts[static_cast<size_t>(i)] << " times over "
                                                   << comm().worldSize() << " ranks";
    }
  }
}

}  // namespace
}  // namespace singa
