// The input pipeline: batches from worker threads equal the batches loaded on the caller (for any
// number of workers, with random augmentations on); errors from a worker reach next(); bad
// samples are left out and counted with skipBadSamples; a resumed epoch continues with the same
// batches; prefetching is bounded; token ids pass through as int64; top-k accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include "singa/core/error.h"
#include "singa/data/loader.h"
#include "singa/data/source.h"
#include "singa/nn/loss.h"

namespace singa {
namespace {

std::shared_ptr<TensorDataset> images(int64_t n, int64_t channels, int64_t size) {
  Tensor x({n, channels, size, size}, DType::kUInt8);
  uint8_t* p = x.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<uint8_t>((i * 2654435761ULL) >> 7);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % 7;
  return std::make_shared<TensorDataset>(x, Tensor::fromVector<int64_t>(labels, {n}), "test images");
}

std::vector<Batch> epoch(DataLoader& loader, int64_t e, int64_t start = 0) {
  loader.setEpoch(e, start);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

bool same(const Batch& a, const Batch& b) {
  return a.step == b.step && a.indices == b.indices && a.images.shape() == b.images.shape() &&
         std::memcmp(a.images.rawData(), b.images.rawData(), a.images.nbytes()) == 0 &&
         a.labels.toVector<int64_t>() == b.labels.toVector<int64_t>();
}

TEST(Pipeline, WorkersGiveTheBatchesOfTheCallerWithAugmentation) {
  auto data = images(103, 3, 12);
  TransformOptions t;
  t.resize = 11;
  t.crop = 9;
  t.randomCrop = true;
  t.hflip = true;
  data->setTransforms(t);
  DataLoaderOptions o;
  o.batchSize = 8;
  o.seed = 3;
  o.augment = true;
  o.dropLast = false;
  o.workers = 0;
  DataLoader reference(data, o);
  const std::vector<Batch> ref0 = epoch(reference, 0), ref1 = epoch(reference, 1);
  ASSERT_EQ(ref0.size(), 13u);
  EXPECT_EQ(ref0.back().labels.numel(), 103 - 12 * 8);
  EXPECT_EQ(ref0[0].images.shape(), (Shape{8, 3, 9, 9}));
  // Random augmentation: the epochs differ for the same sample.
  bool differs = false;
  for (const Batch& b : ref1) {
    for (size_t k = 0; k < b.indices.size(); ++k) {
      for (const Batch& a : ref0) {
        for (size_t m = 0; m < a.indices.size(); ++m) {
          if (a.indices[m] == b.indices[k] &&
              std::memcmp(a.images.data<float>() + m * 243, b.images.data<float>() + k * 243, 243 * 4) != 0) {
            differs = true;
          }
        }
      }
    }
  }
  EXPECT_TRUE(differs) << "random crop and flip gave every sample the same view in two epochs";
  for (int workers : {1, 3}) {
    o.workers = workers;
    o.prefetch = 2;
    DataLoader loader(data, o);
    EXPECT_EQ(loader.workers(), workers);
    const std::vector<Batch> b0 = epoch(loader, 0), b1 = epoch(loader, 1);
    ASSERT_EQ(b0.size(), ref0.size());
    for (size_t s = 0; s < b0.size(); ++s) EXPECT_TRUE(same(b0[s], ref0[s])) << workers << " workers, step " << s;
    for (size_t s = 0; s < b1.size(); ++s) EXPECT_TRUE(same(b1[s], ref1[s])) << workers << " workers, step " << s;
    // Random access gives the same batch.
    loader.setEpoch(1);
    EXPECT_TRUE(same(loader.batch(4), ref1[4]));
    // Resuming mid-epoch continues with the same batches.
    const std::vector<Batch> tail = epoch(loader, 1, 5);
    ASSERT_EQ(tail.size(), ref1.size() - 5);
    for (size_t s = 0; s < tail.size(); ++s) EXPECT_TRUE(same(tail[s], ref1[s + 5]));
    const PipelineStats st = loader.stats();
    EXPECT_EQ(st.workers, workers);
    EXPECT_GT(st.samples, 0);
  }
  // Without augmentation the crop is central and nothing flips: the same view every epoch.
  o.augment = false;
  o.workers = 2;
  DataLoader eval(data, o);
  const std::vector<Batch> e0 = epoch(eval, 0), e1 = epoch(eval, 1);
  const float* first = nullptr;
  for (const Batch& b : e0) {
    for (size_t k = 0; k < b.indices.size(); ++k) {
      if (b.indices[k] == 17) first = b.images.data<float>() + k * 243;
    }
  }
  ASSERT_NE(first, nullptr);
  for (const Batch& b : e1) {
    for (size_t k = 0; k < b.indices.size(); ++k) {
      if (b.indices[k] == 17) {
        EXPECT_EQ(std::memcmp(first, b.images.data<float>() + k * 243, 243 * 4), 0);
      }
    }
  }
}

/// A data set whose samples `bad` fail to load (like a corrupt file) and that counts loads.
class FlakyDataset : public Dataset {
 public:
  FlakyDataset(int64_t n, std::set<int64_t> bad, int64_t slow = -1) : n_(n), bad_(std::move(bad)), slow_(slow) {}
  int64_t size() const override { return n_; }
  int64_t label(int64_t i) const override { return i % 3; }
  Shape sampleShape() const override { return {2}; }
  void load(int64_t i, bool, Generator&, void* out) const override {
    ++loads;
    if (i == slow_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (bad_.count(i)) SINGA_THROW(IoError, "cannot decode " << describe(i) << ": corrupt data");
    float* o = static_cast<float*>(out);
    o[0] = static_cast<float>(i);
    o[1] = -static_cast<float>(i);
  }
  std::string describe(int64_t i) const override { return "'img" + std::to_string(i) + ".jpg'"; }
  std::string source() const override { return "flaky"; }
  bool decodes() const override { return true; }
  mutable std::atomic<int64_t> loads{0};

 private:
  int64_t n_;
  std::set<int64_t> bad_;
  int64_t slow_;  ///< this sample takes 200 ms (other workers finish later batches first)
};

TEST(Pipeline, AWorkersErrorReachesNextNamingTheSample) {
  auto data = std::make_shared<FlakyDataset>(40, std::set<int64_t>{13});
  DataLoaderOptions o;
  o.batchSize = 4;
  o.shuffle = false;
  o.workers = 2;
  DataLoader loader(data, o);
  Batch b;
  int64_t steps = 0;
  try {
    while (loader.next(b)) ++steps;
    FAIL() << "no error for the bad sample";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("'img13.jpg'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(steps, 3);  // batches 0-2 are fine, batch 3 holds sample 13
}

TEST(Pipeline, SkipBadSamplesLeavesThemOutAndCountsThem) {
  // Sample 1 is slow, so the second worker has finished batch 3 (samples 13, 14) before batch 0:
  // the bad samples must still be listed in epoch order.
  auto data = std::make_shared<FlakyDataset>(40, std::set<int64_t>{1, 13, 14}, /*slow=*/1);
  DataLoaderOptions o;
  o.batchSize = 4;
  o.shuffle = false;
  o.workers = 2;
  o.prefetch = 6;
  o.skipBadSamples = true;
  DataLoader loader(data, o);
  const std::vector<Batch> batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 10u);
  std::vector<int64_t> all;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.images.dim(0), b.labels.numel());
    for (size_t k = 0; k < b.indices.size(); ++k) {
      all.push_back(b.indices[k]);
      EXPECT_EQ(b.images.data<float>()[2 * k], static_cast<float>(b.indices[k]));
      EXPECT_EQ(b.labels.data<int64_t>()[k], b.indices[k] % 3);
    }
  }
  EXPECT_EQ(batches[0].skipped, 1);
  EXPECT_EQ(batches[0].labels.numel(), 3);
  EXPECT_EQ(batches[3].skipped, 2);
  EXPECT_EQ(all.size(), 37u);
  for (int64_t bad : {1, 13, 14}) EXPECT_EQ(std::count(all.begin(), all.end(), bad), 0);
  const PipelineStats s = loader.stats();
  EXPECT_EQ(s.skipped, 3);
  ASSERT_EQ(s.skippedSamples.size(), 3u);
  EXPECT_NE(s.skippedSamples[0].find("'img1.jpg'"), std::string::npos) << s.skippedSamples[0];
  EXPECT_NE(s.skippedSamples[1].find("'img13.jpg'"), std::string::npos) << s.skippedSamples[1];
  EXPECT_NE(s.skippedSamples[2].find("'img14.jpg'"), std::string::npos) << s.skippedSamples[2];
}

TEST(Pipeline, PrefetchIsBounded) {
  auto data = std::make_shared<FlakyDataset>(400, std::set<int64_t>{});
  DataLoaderOptions o;
  o.batchSize = 4;
  o.workers = 3;
  o.prefetch = 2;
  DataLoader loader(data, o);
  Batch b;
  ASSERT_TRUE(loader.next(b));  // starts the workers; they may run at most 2 batches ahead of the cursor
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE(data->loads.load(), (1 + 2) * 4);
  EXPECT_GE(data->loads.load(), 4);
}

TEST(Pipeline, TokenIdsPassThroughAsInt64) {
  const int64_t n = 12, t = 5;
  std::vector<int64_t> ids(static_cast<size_t>(n * t));
  std::iota(ids.begin(), ids.end(), int64_t{1} << 40);
  std::vector<int64_t> labels(static_cast<size_t>(n), 1);
  auto data = std::make_shared<TensorDataset>(Tensor::fromVector<int64_t>(ids, {n, t}),
                                              Tensor::fromVector<int64_t>(labels, {n}), "tokens");
  EXPECT_EQ(data->sampleDType(), DType::kInt64);
  DataLoaderOptions o;
  o.batchSize = 4;
  o.workers = 1;
  DataLoader loader(data, o);
  for (const Batch& b : epoch(loader, 0)) {
    ASSERT_EQ(b.images.dtype(), DType::kInt64);
    ASSERT_EQ(b.images.shape(), (Shape{4, t}));
    for (size_t k = 0; k < b.indices.size(); ++k) {
      for (int64_t j = 0; j < t; ++j) {
        EXPECT_EQ(b.images.data<int64_t>()[static_cast<int64_t>(k) * t + j], ids[static_cast<size_t>(b.indices[k] * t + j)]);
      }
    }
  }
  // int32 ids are widened.
  std::vector<int32_t> small(static_cast<size_t>(n * t));
  std::iota(small.begin(), small.end(), -7);
  TensorDataset narrow(Tensor::fromVector<int32_t>(small, {n, t}), Tensor::fromVector<int64_t>(labels, {n}));
  std::vector<int64_t> row(static_cast<size_t>(t));
  Generator g(0);
  narrow.load(3, false, g, row.data());
  for (int64_t j = 0; j < t; ++j) EXPECT_EQ(row[static_cast<size_t>(j)], small[static_cast<size_t>(3 * t + j)]);
  // Image transforms need images.
  TransformOptions crop;
  crop.crop = 2;
  EXPECT_THROW(data->setTransforms(crop), ValueError);
}

TEST(Pipeline, IdentityPathIsTheOldScaling) {
  auto data = images(9, 1, 6);
  DataLoaderOptions o;
  o.batchSize = 9;
  o.shuffle = false;
  DataLoader loader(data, o);
  Batch b = loader.batch(0);
  Tensor raw({9, 1, 6, 6}, DType::kUInt8);
  uint8_t* p = raw.data<uint8_t>();
  for (int64_t i = 0; i < raw.numel(); ++i) p[i] = static_cast<uint8_t>((i * 2654435761ULL) >> 7);
  for (int64_t i = 0; i < raw.numel(); ++i) ASSERT_EQ(b.images.data<float>()[i], static_cast<float>(p[i]) / 255.0f);
}

TEST(Pipeline, SampleGeneratorsDiffer) {
  std::set<uint64_t> firsts;
  for (uint64_t seed : {0u, 1u}) {
    for (int64_t e : {0, 1}) {
      for (int64_t i : {0, 1, 2}) firsts.insert(sampleGenerator(seed, e, i).nextU64());
    }
  }
  EXPECT_EQ(firsts.size(), 12u);
  EXPECT_EQ(sampleGenerator(4, 2, 9).nextU64(), sampleGenerator(4, 2, 9).nextU64());
}

TEST(TopK, MatchesASortingReference) {
  Generator g(11);
  const int64_t n = 200, c = 9;
  std::vector<float> logits(static_cast<size_t>(n * c));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (float& v : logits) v = static_cast<float>(g.nextBelow(5));  // many ties
  for (int64_t& l : labels) l = static_cast<int64_t>(g.nextBelow(c));
  const Tensor lt = Tensor::fromVector<float>(logits, {n, c}), yt = Tensor::fromVector<int64_t>(labels, {n});
  for (int64_t k : {1, 3, 5, 9}) {
    int64_t expect = 0;
    for (int64_t i = 0; i < n; ++i) {
      // Stable order by descending logit: ties keep the lower index first.
      std::vector<int64_t> order(static_cast<size_t>(c));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return logits[static_cast<size_t>(i * c + a)] > logits[static_cast<size_t>(i * c + b)];
      });
      const auto pos = std::find(order.begin(), order.end(), labels[static_cast<size_t>(i)]) - order.begin();
      expect += pos < k ? 1 : 0;
    }
    EXPECT_EQ(countTopK(lt, yt, k), expect) << "k = " << k;
  }
  EXPECT_EQ(countTopK(lt, yt, 1), countCorrect(lt, yt));
  EXPECT_EQ(countTopK(lt, yt, 9), n);
}

}  // namespace
}  // namespace singa
