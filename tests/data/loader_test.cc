// DataLoader: seeded per-epoch order, disjoint equal shards across ranks, [0, 1] scaling,
// limit, resume from a step, and option errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "singa/data/loader.h"
#include "singa/singa.h"

namespace singa {
namespace {

// n samples of shape [1, 2, 2]: sample i holds bytes 4i .. 4i+3 (mod 256); label i % 251.
void makeData(int64_t n, Tensor& images, Tensor& labels) {
  images = Tensor({n, 1, 2, 2}, DType::kUInt8);
  labels = Tensor({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) images.data<uint8_t>()[i * 4 + k] = static_cast<uint8_t>((4 * i + k) % 256);
    labels.data<int64_t>()[i] = i % 251;
  }
}

std::vector<int64_t> epochOrder(DataLoader& loader, int64_t epoch) {
  loader.setEpoch(epoch);
  return loader.shardIndices();
}

TEST(DataLoader, PermutationIsSeededAndChangesPerEpoch) {
  Tensor images, labels;
  makeData(100, images, labels);
  DataLoader a(images, labels, 10, true, 42);
  DataLoader b(images, labels, 10, true, 42);
  DataLoader c(images, labels, 10, true, 43);
  const auto a0 = epochOrder(a, 0), a1 = epochOrder(a, 1);
  EXPECT_EQ(a0, epochOrder(b, 0));
  EXPECT_EQ(a1, epochOrder(b, 1));
  EXPECT_NE(a0, a1);
  EXPECT_NE(epochOrder(c, 0), a0);
  // Going back to an epoch reproduces it.
  EXPECT_EQ(epochOrder(a, 0), a0);
  // It is a permutation.
  std::vector<int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  // The documented construction: Fisher-Yates over a Generator state of (seed, epoch); seeds do
  // not share epochs' orders (seed 41's epoch 2 is not seed 42's epoch 1).
  EXPECT_EQ(epochPermutation(100, 42, 1), a1);
  EXPECT_NE(epochPermutation(100, 41, 2), a1);
  // No shuffling: identity order every epoch.
  DataLoader plain(images, labels, 10, false);
  EXPECT_EQ(epochOrder(plain, 3), epochPermutation(100, 0, 0, false));
  EXPECT_EQ(epochOrder(plain, 3)[7], 7);
}

void checkShards(int64_t n, int world, int64_t batch) {
  Tensor images, labels;
  makeData(n, images, labels);
  for (int64_t epoch : {0, 1}) {
    std::set<int64_t> seen;
    int64_t steps = -1;
    for (int r = 0; r < world; ++r) {
      DataLoader loader(images, labels, batch, true, 7, r, world, true);
      loader.setEpoch(epoch);
      if (steps < 0) steps = loader.stepsPerEpoch();
      EXPECT_EQ(loader.stepsPerEpoch(), steps) << "rank " << r;
      EXPECT_EQ(loader.shardSize(), n / world);
      for (int64_t idx : loader.shardIndices()) {
        EXPECT_TRUE(seen.insert(idx).second) << "sample " << idx << " on two ranks (world " << world << ")";
      }
      // The batches deliver exactly the shard's first steps * batch samples.
      int64_t count = 0;
      Batch b;
      while (loader.next(b)) {
        for (int64_t k = 0; k < b.labels.numel(); ++k) {
          EXPECT_EQ(b.labels.at(k), loader.shardIndices()[count + k] % 251);
        }
        count += b.labels.numel();
      }
      EXPECT_EQ(count, steps * batch);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), (n / world) * world);
  }
}

TEST(DataLoader, ShardsAreDisjointAndCoverTheData) {
  checkShards(60, 2, 5);
  checkShards(60, 3, 5);
  checkShards(61, 3, 4);  // one sample left out per epoch; equal steps on every rank
  checkShards(60, 1, 7);
}

TEST(DataLoader, BatchesAreScaledFloatAndLabelsInt64) {
  Tensor images, labels;
  makeData(70, images, labels);
  DataLoader loader(images, labels, 8, true, 3);
  EXPECT_EQ(loader.stepsPerEpoch(), 8);  // 70 / 8, last partial batch dropped
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.step, 0);
  EXPECT_EQ(b.images.dtype(), DType::kFloat32);
  EXPECT_EQ(b.images.shape(), (Shape{8, 1, 2, 2}));
  EXPECT_EQ(b.labels.dtype(), DType::kInt64);
  EXPECT_EQ(b.labels.shape(), (Shape{8}));
  for (int64_t i = 0; i < 8; ++i) {
    const int64_t idx = loader.shardIndices()[i];
    EXPECT_EQ(b.labels.at(i), idx % 251);
    for (int k = 0; k < 4; ++k) {
      const float v = b.images.data<float>()[i * 4 + k];
      EXPECT_FLOAT_EQ(v, static_cast<float>((4 * idx + k) % 256) / 255.0f);
      EXPECT_GE(v, 0.0f);
      EXPECT_LE(v, 1.0f);
    }
  }
  // The source stays uint8 (the loader never converts the whole data set).
  EXPECT_EQ(images.dtype(), DType::kUInt8);
}

TEST(DataLoader, DropLastFalseKeepsTheShortBatch) {
  Tensor images, labels;
  makeData(70, images, labels);
  DataLoaderOptions o;
  o.batchSize = 8;
  o.dropLast = false;
  o.worldSize = 2;
  o.rank = 1;
  DataLoader loader(images, labels, o);
  EXPECT_EQ(loader.shardSize(), 35);
  EXPECT_EQ(loader.stepsPerEpoch(), 5);
  EXPECT_EQ(loader.batch(4).images.dim(0), 3);
}

TEST(DataLoader, LimitAndResumeFromStep) {
  Tensor images, labels;
  makeData(100, images, labels);
  DataLoaderOptions o;
  o.batchSize = 4;
  o.seed = 11;
  o.limit = 30;
  DataLoader loader(images, labels, o);
  EXPECT_EQ(loader.numSamples(), 30);
  EXPECT_EQ(loader.stepsPerEpoch(), 7);
  for (int64_t idx : loader.shardIndices()) EXPECT_LT(idx, 30);

  loader.setEpoch(2);
  Batch third = loader.batch(2);
  loader.setEpoch(2, 2);
  EXPECT_EQ(loader.currentStep(), 2);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.step, 2);
  for (int64_t i = 0; i < b.images.numel(); ++i) EXPECT_EQ(b.images.at(i), third.images.at(i));
  int64_t rest = 1;
  while (loader.next(b)) ++rest;
  EXPECT_EQ(rest, 5);  // steps 2..6
  EXPECT_FALSE(loader.next(b));
}

TEST(DataLoader, BadOptionsAreErrors) {
  Tensor images, labels;
  makeData(10, images, labels);
  EXPECT_THROW(DataLoader(images, labels, 0), ValueError);
  EXPECT_THROW(DataLoader(images, labels, 2, true, 0, 2, 2), ValueError);
  EXPECT_THROW(DataLoader(images, labels, 20), ValueError);  // fewer samples than one batch
  Tensor shortLabels({9}, DType::kInt64);
  EXPECT_THROW(DataLoader(images, shortLabels, 2), ShapeError);
  DataLoader ok(images, labels, 2);
  EXPECT_THROW(ok.setEpoch(0, 6), ValueError);
  EXPECT_THROW(ok.batch(5), ValueError);
}

}  // namespace
}  // namespace singa
