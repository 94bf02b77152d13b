// DistributedOptimizer against a single-process reference computed in the same process: K steps
// on N ranks with per-rank batch B equal K steps on one rank with batch N*B over the same
// samples (the loader's strided shards of one permutation), within 1e-5 relative; repeated runs
// and all ranks are bit-identical; compression and accumulation variants; layout mismatch.
#include "singa/comm/distributed_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "singa/comm/mpi_communicator.h"
#include "singa/core/rng.h"
#include "singa/data/loader.h"
#include "singa/nn/nn.h"
#include "singa/ops/ops.h"
#include "singa/optim/sgd.h"
#include "tests/dist/dist_env.h"

namespace singa {
namespace {

using test::comm;

constexpr int64_t kSamples = 768;
constexpr int64_t kSteps = 4;
constexpr int64_t kRankBatch = 32;

struct Data {
  Tensor images, labels;
};

const Data& data() {
  static Data d = [] {
    Generator g(123);
    Data x;
    x.images = Tensor({kSamples, 1, 12, 12});
    normal_(x.images, 0.0, 1.0, g);
    std::vector<int64_t> labels(kSamples);
    for (auto& l : labels) l = static_cast<int64_t>(g.nextBelow(10));
    x.labels = Tensor::fromVector<int64_t>(labels, {kSamples});
    return x;
  }();
  return d;
}

std::shared_ptr<Module> makeNet(int64_t classes = 10) {
  manualSeed(7);
  return std::make_shared<Sequential>(std::make_shared<Conv2d>(1, 4, 3), std::make_shared<ReLU>(),
                                      std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
                                      std::make_shared<Linear>(100, 32), std::make_shared<ReLU>(),
                                      std::make_shared<Linear>(32, classes));
}

void train(Module& m, Optimizer& opt, DataLoader& loader, int64_t steps) {
  loader.setEpoch(0);
  Batch b;
  for (int64_t s = 0; s < steps; ++s) {
    ASSERT_TRUE(loader.next(b));
    Tensor loss = crossEntropyLoss(m.forward(b.images), b.labels);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
}

/// Parameters after K single-process steps with batch N * kRankBatch.
std::map<std::string, Tensor> reference() {
  auto net = makeNet();
  SGD opt(*net, 0.05, 0.9);
  DataLoader loader(data().images, data().labels, kRankBatch * comm().worldSize(), true, 5, 0, 1);
  train(*net, opt, loader, kSteps);
  return net->stateDict();
}

/// Parameters after K distributed steps (micro-batch kRankBatch / accumulation per rank).
std::map<std::string, Tensor> distributed(DistributedOptions o, CommStats* stats = nullptr) {
  auto net = makeNet();
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.05, 0.9), comm(), o, net.get());
  DataLoader loader(data().images, data().labels, kRankBatch / o.accumulationSteps, true, 5, comm().rank(),
                    comm().worldSize());
  train(*net, opt, loader, kSteps * o.accumulationSteps);
  if (stats) *stats = opt.stats();
  return net->stateDict();
}

double maxRelDiff(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  double worst = 0;
  for (const auto& [name, t] : b) {
    std::vector<double> x = a.at(name).toVector<double>(), y = t.toVector<double>();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      diff = std::max(diff, std::abs(x[i] - y[i]));
      scale = std::max(scale, std::abs(y[i]));
    }
    worst = std::max(worst, diff / std::max(scale, 1e-12));
  }
  return worst;
}

bool bitIdentical(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  for (const auto& [name, t] : b) {
    Tensor x = a.at(name).contiguous(), y = t.contiguous();
    if (x.nbytes() != y.nbytes() || std::memcmp(x.rawData(), y.rawData(), x.nbytes()) != 0) return false;
  }
  return true;
}

TEST(DistributedOptimizer, MatchesOneRankWithTheGlobalBatch) {
  DistributedOptions o;
  o.bucketBytes = o.firstBucketBytes = 4096;  // several buckets for this small net
  CommStats stats;
  auto got = distributed(o, &stats);
  auto want = reference();
  EXPECT_LT(maxRelDiff(got, want), 1e-5);
  if (comm().worldSize() > 1) {
    EXPECT_EQ(stats.exchanges, kSteps);
    EXPECT_GT(stats.buckets, kSteps);  // more than one bucket per step
  }
}

TEST(DistributedOptimizer, RunsAreBitIdenticalAndRanksAgree) {
  DistributedOptions o;
  o.bucketBytes = o.firstBucketBytes = 4096;
  auto a = distributed(o), b = distributed(o);
  EXPECT_TRUE(bitIdentical(a, b));
  for (const auto& [name, t] : a) {
    Tensor all = comm().allGather(t.contiguous());
    for (int q = 1; q < comm().worldSize(); ++q) {
      Tensor x = all.slice(0, 0, 1).contiguous(), y = all.slice(0, q, q + 1).contiguous();
      EXPECT_EQ(std::memcmp(x.rawData(), y.rawData(), x.nbytes()), 0) << name << " differs on rank " << q;
    }
  }
}

TEST(DistributedOptimizer, WithoutOverlapGivesTheSameBits) {
  DistributedOptions o;
  o.bucketBytes = o.firstBucketBytes = 4096;
  auto overlapped = distributed(o);
  o.overlap = false;
  EXPECT_TRUE(bitIdentical(distributed(o), overlapped));
}

TEST(DistributedOptimizer, BucketsAreLaunchedDuringBackward) {
  if (comm().worldSize() == 1) GTEST_SKIP() << "no buckets for a world of one";
  auto net = makeNet();
  DistributedOptions o;
  o.bucketBytes = o.firstBucketBytes = 4096;
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.05), comm(), o, net.get());
  ASSERT_GT(opt.numBuckets(), 1u);
  // Reverse registration order: the last Linear's parameters come first.
  EXPECT_EQ(opt.bucketParameters(0).front(), "6.bias");
  DataLoader loader(data().images, data().labels, kRankBatch, true, 5, comm().rank(), comm().worldSize());
  Batch b;
  ASSERT_TRUE(loader.next(b));
  Tensor loss = crossEntropyLoss(net->forward(b.images), b.labels);
  opt.zeroGrad();
  loss.backward();
  EXPECT_EQ(opt.launchedBuckets(), opt.numBuckets());  // every bucket left during backward
  opt.step();
  EXPECT_EQ(opt.stats().buckets, static_cast<int64_t>(opt.numBuckets()));
}

TEST(DistributedOptimizer, FirstBucketIsSmallAndTheOthersFillUp) {
  // The tutorial CNN's layout: 20 KB, 1.6 MB, 100 KB and 2 KB of gradients, last layer first.
  manualSeed(3);
  auto net = std::make_shared<Sequential>(std::make_shared<Conv2d>(1, 20, 5), std::make_shared<ReLU>(),
                                          std::make_shared<MaxPool2d>(2), std::make_shared<Conv2d>(20, 50, 5),
                                          std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
                                          std::make_shared<Flatten>(), std::make_shared<Linear>(800, 500, false),
                                          std::make_shared<ReLU>(), std::make_shared<Linear>(500, 10, false));
  auto buckets = [&](const DistributedOptions& o) {
    DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.1), comm(), o, net.get());
    std::vector<std::vector<std::string>> names;
    for (size_t b = 0; b < opt.numBuckets(); ++b) names.push_back(opt.bucketParameters(b));
    return names;
  };
  using Names = std::vector<std::vector<std::string>>;
  DistributedOptions o;
  o.accumulationSteps = 2;  // buckets on a world of one too
  // Defaults (1 MiB, then 25 MB): the big fc layer closes the first bucket, so its exchange
  // overlaps with the convolutions' backward; the rest waits for the end of backward.
  EXPECT_EQ(buckets(o), (Names{{"9.weight", "7.weight"}, {"3.bias", "3.weight", "0.bias", "0.weight"}}));
  o.firstBucketBytes = o.bucketBytes;  // one 25 MB bucket: everything after backward
  EXPECT_EQ(buckets(o), (Names{{"9.weight", "7.weight", "3.bias", "3.weight", "0.bias", "0.weight"}}));
  o.firstBucketBytes = o.bucketBytes = 20000;  // exactly 9.weight's bytes close a bucket
  EXPECT_EQ(buckets(o), (Names{{"9.weight"}, {"7.weight"}, {"3.bias", "3.weight"}, {"0.bias", "0.weight"}}));
  o.compression = DType::kFloat16;  // sizes count the wire bytes: half of them
  EXPECT_EQ(buckets(o), (Names{{"9.weight", "7.weight"}, {"3.bias", "3.weight"}, {"0.bias", "0.weight"}}));
}

TEST(DistributedOptimizer, HalfPrecisionCompressionStaysClose) {
  for (DType c : {DType::kFloat16, DType::kBFloat16}) {
    DistributedOptions o;
    o.compression = c;
    auto got = distributed(o);
    EXPECT_LT(maxRelDiff(got, reference()), c == DType::kFloat16 ? 5e-3 : 3e-2) << dtypeName(c);
  }
}

TEST(DistributedOptimizer, AccumulationMatchesTheLargerBatch) {
  DistributedOptions o;
  o.accumulationSteps = 2;
  CommStats stats;
  auto got = distributed(o, &stats);
  EXPECT_LT(maxRelDiff(got, reference()), 1e-5);
  EXPECT_EQ(stats.exchanges, kSteps);  // one exchange per k micro-steps
}

TEST(DistributedOptimizer, LayoutMismatchNamesTheFirstDifference) {
  if (comm().worldSize() == 1) GTEST_SKIP() << "needs two ranks";
  auto net = makeNet(comm().rank() == 1 ? 11 : 10);
  try {
    DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.05), comm(), {}, net.get());
    FAIL() << "a different model on rank 1 was not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 1's parameters differ from rank 0's"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'6.weight' float32 [10, 32]"), std::string::npos) << msg;
  }
}

TEST(DistributedOptimizer, GradientsAreBucketViewsThatAccumulateWithoutZeroGrad) {
  // After step() a parameter's gradient is a view of its bucket (no copy). A second backward
  // without zeroGrad() must still accumulate onto the averaged gradient, and the next step must
  // exchange avg(g1) + avg(g2) -- the same as with gradients in their own memory.
  manualSeed(5);
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(6, 3));
  const int r = comm().rank(), n = comm().worldSize();
  auto lossAt = [&](double shift) {
    Tensor x = Tensor::fromVector(std::vector<float>(12, static_cast<float>(r + shift)), {2, 6});
    return ops::reduceSum(net->forward(x));
  };
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.0), comm(), {}, net.get());  // lr 0: only gradients
  const Tensor w = net->namedParameters()[0].second;
  opt.zeroGrad();
  lossAt(0.0).backward();
  opt.step();
  // d/dW sum(x W^T + b) = sum over the batch of x: 2 * (r + shift) per element; averaged over ranks.
  const double avg1 = 2.0 * (n - 1) / 2.0, avg2 = 2.0 * ((n - 1) / 2.0 + 1.0);
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(avg1));
  lossAt(1.0).backward();  // no zeroGrad: accumulates onto the view
  opt.step();
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(avg1 + avg2));
  // After zeroGrad() backward writes the gradient straight into the bucket slot (the memory the
  // view after step() points at): no copy into the bucket. (One rank has no buckets.)
  const void* slot = w.grad().rawData();
  opt.zeroGrad();
  lossAt(0.0).backward();
  if (n > 1) {
    EXPECT_EQ(w.grad().rawData(), slot);
    // With every rank on this node (mpirun here) the buckets are shared exchange buffers.
    auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
    ASSERT_NE(mpi, nullptr);
    EXPECT_EQ(mpi->isSharedExchangeBuffer(opt.bucketTensor(0)), mpi->sharedMemoryActive());
  }
  opt.step();
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(avg1));
}

TEST(DistributedOptimizer, MicroBatchesAccumulateInPlaceInTheBucket) {
  // With accumulation, zeroGrad() at the start of the window points each gradient at a zeroed
  // view of its bucket slot; both micro-batches' gradients sum there (no copy), and the
  // exchange averages that sum over the micro-batches and ranks.
  manualSeed(5);
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(6, 3));
  const int r = comm().rank(), n = comm().worldSize();
  auto lossAt = [&](double shift) {
    Tensor x = Tensor::fromVector(std::vector<float>(12, static_cast<float>(r + shift)), {2, 6});
    return ops::reduceSum(net->forward(x));
  };
  DistributedOptions o;
  o.accumulationSteps = 2;
  o.overlap = false;
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.0), comm(), o, net.get());
  const Tensor w = net->namedParameters()[0].second;
  ASSERT_EQ(opt.numBuckets(), 1u);
  const Tensor& bucket = opt.bucketTensor(0);
  auto inBucket = [&](const Tensor& t) {
    const char* p = static_cast<const char*>(t.rawData());
    const char* lo = static_cast<const char*>(bucket.rawData());
    return p >= lo && p + t.nbytes() <= lo + bucket.nbytes();
  };
  opt.zeroGrad();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_TRUE(inBucket(w.grad()));
  for (float v : w.grad().toVector<float>()) ASSERT_EQ(v, 0.0f);
  lossAt(0.0).backward();  // dW = 2 r per element
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(2.0 * r));
  opt.step();      // first micro-step: no exchange
  opt.zeroGrad();  // inside the window: keeps the gradient
  lossAt(1.0).backward();  // + 2 (r + 1)
  EXPECT_TRUE(inBucket(w.grad()));
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(2.0 * r + 2.0 * (r + 1)));
  opt.step();
  // avg over ranks of (4r + 2), halved for the two micro-batches: 2 mean(r) + 1.
  const double want = 2.0 * (n - 1) / 2.0 + 1.0;
  for (float v : w.grad().toVector<float>()) ASSERT_FLOAT_EQ(v, static_cast<float>(want));
  EXPECT_EQ(opt.stats().exchanges, 1);
}

TEST(DistributedOptimizer, StartsFromRankZerosWeights) {
  manualSeed(1000 + comm().rank());  // different initialisation on every rank
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(4, 3));
  auto want = comm().allGather(net->stateDict().at("0.weight").contiguous()).slice(0, 0, 1).contiguous();
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.1), comm(), {}, net.get());
  Tensor w = net->stateDict().at("0.weight").contiguous();
  EXPECT_EQ(std::memcmp(w.rawData(), want.rawData(), w.nbytes()), 0);
}

TEST(DistributedOptimizer, BatchNormStatisticsAreAveraged) {
  auto bn = std::make_shared<BatchNorm2d>(3);
  Tensor mean = bn->stateDict().at("running_mean");
  mean.fill(static_cast<double>(comm().rank()));
  averageBuffers(comm(), *bn);
  const double want = (comm().worldSize() - 1) / 2.0;
  for (float v : mean.toVector<float>()) EXPECT_FLOAT_EQ(v, static_cast<float>(want));
}

}  // namespace
}  // namespace singa
