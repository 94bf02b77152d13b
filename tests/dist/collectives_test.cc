// Every collective, every dtype, on the backend the launcher gives (local for a plain process,
// mpi under mpirun -np 2 / -np 3). Inputs are small integers so sums and averages are exact in
// every dtype and the expected values are known in closed form.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "singa/comm/mpi_communicator.h"
#include "tests/dist/dist_env.h"

namespace singa {
namespace {

using test::comm;

const DType kDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                         DType::kInt8,    DType::kInt32,   DType::kInt64,   DType::kUInt8};
const int64_t kSizes[] = {1, 2, 7, 1000, 65537};

/// Rank r's value at i for the sum tests: (r + 1) * (i % 5 + 1).
double inputAt(int r, int64_t i) { return (r + 1) * static_cast<double>(i % 5 + 1); }

Tensor filled(int64_t n, DType dt, const std::function<double(int64_t)>& f) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = f(i);
  return Tensor::fromVector<double>(v, {n}).to(dt);
}

TEST(Collectives, AllReduceSumEveryDType) {
  const int n = comm().worldSize(), r = comm().rank();
  for (DType dt : kDTypes) {
    for (int64_t size : kSizes) {
      Tensor t = filled(size, dt, [&](int64_t i) { return inputAt(r, i); });
      comm().allReduce(t, ReduceOp::kSum);
      std::vector<double> got = t.toVector<double>();
      for (int64_t i = 0; i < size; ++i) {
        const double want = static_cast<double>(i % 5 + 1) * n * (n + 1) / 2;
        ASSERT_EQ(got[static_cast<size_t>(i)], want) << dtypeName(dt) << " size " << size << " at " << i;
      }
    }
  }
}

TEST(Collectives, AllReduceAverageFloatDTypes) {
  const int n = comm().worldSize(), r = comm().rank();
  for (DType dt : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    Tensor t = filled(1003, dt, [&](int64_t i) { return 2.0 * inputAt(r, i); });
    comm().allReduce(t, ReduceOp::kAverage);
    std::vector<double> got = t.toVector<double>();
    for (int64_t i = 0; i < 1003; ++i) {
      ASSERT_EQ(got[static_cast<size_t>(i)], static_cast<double>(i % 5 + 1) * (n + 1)) << dtypeName(dt) << " at " << i;
    }
  }
}

TEST(Collectives, AverageOfIntegersIsATypeError) {
  Tensor t = Tensor::zeros({4}, DType::kInt32);
  EXPECT_THROW(comm().allReduce(t, ReduceOp::kAverage), TypeError);
}

TEST(Collectives, BroadcastFromEveryRoot) {
  const int n = comm().worldSize(), r = comm().rank();
  for (DType dt : kDTypes) {
    for (int root = 0; root < n; ++root) {
      // Values that fit int8 and float16 exactly for roots up to 3 (the tests run on up to 4 ranks).
      Tensor t = filled(777, dt, [&](int64_t i) { return (r % 4) * 30 + (i % 30); });
      comm().broadcast(t, root);
      std::vector<double> got = t.toVector<double>();
      for (int64_t i = 0; i < 777; ++i) {
        ASSERT_EQ(got[static_cast<size_t>(i)], (root % 4) * 30 + (i % 30)) << dtypeName(dt) << " root " << root;
      }
    }
  }
}

TEST(Collectives, BroadcastBadRootIsAnError) {
  Tensor t = Tensor::zeros({3});
  EXPECT_THROW(comm().broadcast(t, comm().worldSize()), CommError);
}

TEST(Collectives, AllGatherEveryDType) {
  const int n = comm().worldSize(), r = comm().rank();
  for (DType dt : kDTypes) {
    Tensor t = filled(6, dt, [&](int64_t i) { return r * 10 + i; }).reshape({2, 3});
    Tensor all = comm().allGather(t);
    ASSERT_EQ(all.shape(), (Shape{static_cast<int64_t>(n), 2, 3})) << dtypeName(dt);
    std::vector<double> got = all.toVector<double>();
    for (int q = 0; q < n; ++q) {
      for (int64_t i = 0; i < 6; ++i) ASSERT_EQ(got[static_cast<size_t>(q * 6 + i)], q * 10 + i) << dtypeName(dt);
    }
  }
}

TEST(Collectives, BarrierCompletes) {
  for (int i = 0; i < 5; ++i) comm().barrier();
}

TEST(Collectives, FloatSumIsBitIdenticalOnEveryRank) {
  // Values whose float sum depends on the order: every rank must still get the same bits.
  const int r = comm().rank();
  Tensor t = filled(4099, DType::kFloat32, [&](int64_t i) { return std::sin(0.37 * i + r) * std::pow(10.0, r % 3); });
  comm().allReduce(t, ReduceOp::kAverage);
  Tensor all = comm().allGather(t);
  Tensor first = all.slice(0, 0, 1).contiguous();
  for (int q = 1; q < comm().worldSize(); ++q) {
    Tensor other = all.slice(0, q, q + 1).contiguous();
    ASSERT_EQ(std::memcmp(first.rawData(), other.rawData(), first.nbytes()), 0) << "rank " << q << " differs";
  }
}

TEST(Collectives, AllReduceOfManyPiecesIsExact) {
  // 1.3 M doubles (10 MB): many 128 KiB pieces of the shared-memory path and an odd tail.
  const int n = comm().worldSize(), r = comm().rank();
  const int64_t size = 1300001;
  Tensor t = filled(size, DType::kFloat64, [&](int64_t i) { return inputAt(r, i) + static_cast<double>(i); });
  comm().allReduce(t, ReduceOp::kSum);
  const double* got = t.data<double>();
  for (int64_t i = 0; i < size; ++i) {
    const double want = static_cast<double>(i % 5 + 1) * n * (n + 1) / 2 + static_cast<double>(n) * i;
    ASSERT_EQ(got[i], want) << "at " << i;
  }
}

TEST(Collectives, SharedMemoryAndMpiTransportsGiveTheSameBits) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  if (mpi == nullptr) GTEST_SKIP() << "the mpi backend's two transports";
  const char* env = std::getenv("SINGA_MPI_SHM");
  const bool disabled = env != nullptr && std::string(env) == "0";
  // With every rank on one node (tests/dist) the shared-memory transport must be in use; across
  // nodes (tests/multinode) it is not, and HierarchicalAndFlatTransportsGiveTheSameBits runs.
  ASSERT_EQ(mpi->sharedMemoryActive(), !disabled && mpi->nodeCount() == 1);
  if (disabled) GTEST_SKIP() << "SINGA_MPI_SHM=0";
  if (mpi->nodeCount() > 1) GTEST_SKIP() << "ranks on " << mpi->hostLayout();
  const int r = comm().rank();
  // Shared memory, MPI (alltoall) and, with two ranks, the direct MPI_Allreduce for float32 /
  // float64 (1.5 M elements: 6 or 12 MB, so the direct path needs its limit raised).
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    for (ReduceOp op : {ReduceOp::kAverage, ReduceOp::kSum}) {
      SCOPED_TRACE(std::string(dtypeName(dt)) + (op == ReduceOp::kSum ? " sum" : " average"));
      Tensor a = filled(1500007, dt, [&](int64_t i) { return std::sin(0.37 * i + r) * std::pow(10.0, r % 3); });
      Tensor b = a.clone(), c = a.clone();
      mpi->setDirectAllReduceMaxBytes(0);
      ASSERT_EQ(mpi->transportFor(a.numel(), dt), MpiCommunicator::kTransportShared);
      comm().allReduce(a, op);
      mpi->useSharedMemory(false);
      ASSERT_EQ(mpi->transportFor(b.numel(), dt), MpiCommunicator::kTransportMpi);
      comm().allReduce(b, op);
      mpi->useSharedMemory(true);
      mpi->setDirectAllReduceMaxBytes(int64_t{1} << 30);
      const bool direct = comm().worldSize() == 2 && (dt == DType::kFloat32 || dt == DType::kFloat64);
      ASSERT_EQ(mpi->transportFor(c.numel(), dt) == MpiCommunicator::kTransportDirect, direct);
      comm().allReduce(c, op);
      mpi->setDirectAllReduceMaxBytes(MpiCommunicator::kDefaultDirectMaxBytes);
      ASSERT_TRUE(mpi->sharedMemoryActive());
      ASSERT_EQ(std::memcmp(a.rawData(), b.rawData(), a.nbytes()), 0) << "shared memory vs MPI";
      ASSERT_EQ(std::memcmp(a.rawData(), c.rawData(), a.nbytes()), 0) << "shared memory vs direct";
    }
  }
}

// Across nodes (tests/multinode: 2 hosts x 2 ranks): the hierarchical path (node sums in shared
// memory, a running sum passed from node to node) against the flat MPI path and, for float32, the
// rank-ordered sum computed here from every rank's inputs.
TEST(Collectives, HierarchicalAndFlatTransportsGiveTheSameBits) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  if (mpi == nullptr || mpi->nodeCount() == 1) GTEST_SKIP() << "needs ranks on several nodes (tests/multinode)";
  const char* env = std::getenv("SINGA_MPI_HIER");
  if (env != nullptr && std::string(env) == "0") GTEST_SKIP() << "SINGA_MPI_HIER=0";
  // One rank per node (nothing to sum within one) or ranks placed round-robin: the flat path.
  if (mpi->nodeCount() == comm().worldSize() || !mpi->nodesConsecutive()) {
    EXPECT_FALSE(mpi->hierarchicalActive()) << mpi->hostLayout();
    GTEST_SKIP() << "ranks on " << mpi->hostLayout() << ": the flat path";
  }
  ASSERT_TRUE(mpi->hierarchicalActive()) << mpi->hostLayout();
  const int n = comm().worldSize(), r = comm().rank();
  auto value = [](int rank, int64_t i) { return std::sin(0.37 * i + rank) * std::pow(10.0, rank % 3); };
  mpi->setDirectAllReduceMaxBytes(0);
  // 1.5 M elements: two pieces of running sum for 4-byte sums; 5 and 1: fewer than the ranks.
  for (int64_t size : {int64_t{1500007}, int64_t{5}, int64_t{1}}) {
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32}) {
      for (ReduceOp op : {ReduceOp::kAverage, ReduceOp::kSum}) {
        if (op == ReduceOp::kAverage && !isFloating(dt)) continue;
        SCOPED_TRACE(std::string(dtypeName(dt)) + (op == ReduceOp::kSum ? " sum of " : " average of ") +
                     std::to_string(size));
        auto input = [&](int64_t i) { return dt == DType::kInt32 ? std::round(value(r, i) * 100) : value(r, i); };
        Tensor a = filled(size, dt, input);
        Tensor b = a.clone();
        ASSERT_EQ(mpi->transportFor(a.numel(), dt), MpiCommunicator::kTransportHierarchical);
        comm().allReduce(a, op);
        mpi->useHierarchical(false);
        ASSERT_EQ(mpi->transportFor(b.numel(), dt), MpiCommunicator::kTransportMpi);
        comm().allReduce(b, op);
        mpi->useHierarchical(true);
        ASSERT_EQ(std::memcmp(a.rawData(), b.rawData(), a.nbytes()), 0) << "hierarchical vs flat MPI";
        if (dt == DType::kFloat32 && op == ReduceOp::kSum) {
          const float* got = a.data<float>();
          for (int64_t i = 0; i < size; ++i) {
            float want = static_cast<float>(value(0, i));
            for (int q = 1; q < n; ++q) want += static_cast<float>(value(q, i));
            ASSERT_EQ(std::memcmp(&got[i], &want, sizeof want), 0) << "at " << i << ": " << got[i] << " vs " << want;
          }
        }
      }
    }
  }
  mpi->setDirectAllReduceMaxBytes(MpiCommunicator::kDefaultDirectMaxBytes);
}

TEST(Collectives, HostLayoutNamesTheHostsAndTheirRanks) {
  EXPECT_EQ(formatHostLayout({0, 0, 1, 1}, {"a", "b"}), "2 hosts: a[0,1] b[2,3]");
  EXPECT_EQ(formatHostLayout({0, 1, 0, 1}, {"a", "b"}), "2 hosts: a[0,2] b[1,3]");
  EXPECT_EQ(formatHostLayout({0, 0, 0, 0, 1, 0}, {"vm", "x"}), "2 hosts: vm[0-3,5] x[4]");
  EXPECT_EQ(formatHostLayout({0}, {"vm"}), "1 host: vm[0]");
  const std::string layout = comm().hostLayout();
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  const int nodes = mpi != nullptr ? mpi->nodeCount() : 1;
  EXPECT_EQ(layout.rfind(std::to_string(nodes) + (nodes == 1 ? " host: " : " hosts: "), 0), 0u) << layout;
  EXPECT_NE(layout.find(hostName() + "["), std::string::npos) << layout;
}

TEST(Collectives, DirectAllReduceIsTheDefaultForSmallBuffersOfTwoRanks) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  if (mpi == nullptr) GTEST_SKIP() << "the mpi backend's transports";
  const bool two = comm().worldSize() == 2 && mpi->nodeCount() == 1;  // not across hosts
  EXPECT_EQ(mpi->transportFor(1 << 18, DType::kFloat32) == MpiCommunicator::kTransportDirect, two);
  EXPECT_EQ(mpi->transportFor(1 << 18, DType::kInt64) == MpiCommunicator::kTransportDirect, two);
  EXPECT_NE(mpi->transportFor(1 << 18, DType::kFloat16), MpiCommunicator::kTransportDirect);  // summed in float
  EXPECT_NE(mpi->transportFor(int64_t{1} << 22, DType::kFloat32), MpiCommunicator::kTransportDirect);  // 16 MiB
  // Exact results through it: integers and a float average with a value per rank.
  Tensor ints = filled(1001, DType::kInt64, [&](int64_t i) { return static_cast<double>(i * (comm().rank() + 1)); });
  comm().allReduce(ints, ReduceOp::kSum);
  const int n = comm().worldSize();
  const int64_t* iv = ints.data<int64_t>();
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(iv[i], i * n * (n + 1) / 2) << "at " << i;
  Tensor avg = filled(77, DType::kFloat64, [&](int64_t i) { return 0.25 * static_cast<double>(comm().rank()) + i; });
  comm().allReduce(avg, ReduceOp::kAverage);
  for (int64_t i = 0; i < 77; ++i) ASSERT_EQ(avg.data<double>()[i], 0.125 * (n - 1) + static_cast<double>(i)) << i;
}

TEST(Collectives, RanksOnDifferentTransportsAreDetected) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  if (mpi == nullptr || !mpi->sharedMemoryActive()) GTEST_SKIP() << "needs the shared-memory transport";
  mpi->setDirectAllReduceMaxBytes(0);
  if (comm().rank() == 1) mpi->useSharedMemory(false);
  Tensor t = Tensor::ones({16});
  try {
    comm().allReduce(t);
    FAIL() << "ranks on different transports were not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0 called allReduce(sum) of 16 float32 through shared memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1 called allReduce(sum) of 16 float32 through MPI"), std::string::npos) << msg;
  }
  mpi->useSharedMemory(true);
  comm().allReduce(t);
  EXPECT_EQ(t.toVector<float>()[0], static_cast<float>(comm().worldSize()));
  if (comm().worldSize() == 2) {  // one rank with the direct MPI_Allreduce path, one without
    if (comm().rank() == 0) mpi->setDirectAllReduceMaxBytes(MpiCommunicator::kDefaultDirectMaxBytes);
    try {
      comm().allReduce(t);
      FAIL() << "ranks on different transports were not detected";
    } catch (const CommError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("rank 0 called allReduce(sum) of 16 float32 through MPI_Allreduce"), std::string::npos) << msg;
      EXPECT_NE(msg.find("rank 1 called allReduce(sum) of 16 float32 through shared memory"), std::string::npos) << msg;
    }
  }
  mpi->setDirectAllReduceMaxBytes(MpiCommunicator::kDefaultDirectMaxBytes);
  comm().allReduce(t);
}

TEST(Collectives, NonContiguousTensorIsAnError) {
  if (comm().backend() != "mpi") GTEST_SKIP() << "checked by the mpi backend";
  Tensor t = Tensor::zeros({4, 6}).transpose(0, 1);
  EXPECT_THROW(comm().allReduce(t), CommError);
}

TEST(Collectives, MismatchedSizesAreDetected) {
  if (comm().worldSize() == 1) GTEST_SKIP() << "needs two ranks";
  const int r = comm().rank();
  Tensor t = Tensor::ones({r == 1 ? 20 : 10});
  try {
    comm().allReduce(t);
    FAIL() << "a mismatched all-reduce was not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mismatched collectives"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1 called allReduce(sum) of 20 float32"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 0 called allReduce(sum) of 10 float32"), std::string::npos) << msg;
  }
  // The communicator is still usable: nothing moved.
  Tensor ok = Tensor::ones({5});
  comm().allReduce(ok);
  EXPECT_EQ(ok.toVector<float>()[0], static_cast<float>(comm().worldSize()));
}

TEST(Collectives, MismatchedOperationsAreDetected) {
  if (comm().worldSize() == 1) GTEST_SKIP() << "needs two ranks";
  Tensor t = Tensor::ones({8});
  try {
    if (comm().rank() == 0) {
      comm().broadcast(t, 0);
    } else {
      comm().allReduce(t);
    }
    FAIL() << "a broadcast meeting an all-reduce was not detected";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0 called broadcast"), std::string::npos) << e.what();
  }
}


// ---- exchange buffers (comm.exchangeBuffer: the DistributedOptimizer's buckets) ---------------

/// Under mpirun every rank runs on this node, so the mpi backend puts exchange buffers in shared
/// memory unless SINGA_MPI_SHM=0.
bool expectSharedBuffers() {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  return mpi != nullptr && mpi->sharedMemoryActive();
}

TEST(Collectives, ExchangeBufferAllReduceIsExactForEveryDType) {
  const int n = comm().worldSize(), r = comm().rank();
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  std::vector<DType> dtypes(std::begin(kDTypes), std::end(kDTypes));
  dtypes.push_back(DType::kBool);
  for (DType dt : dtypes) {
    for (int64_t size : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}, int64_t{65537}}) {
      SCOPED_TRACE(std::string(dtypeName(dt)) + " size " + std::to_string(size));
      Tensor t = comm().exchangeBuffer(size, dt, Device::cpu());
      ASSERT_EQ(t.shape(), (Shape{size}));
      ASSERT_EQ(t.dtype(), dt);
      if (mpi != nullptr) {
        ASSERT_EQ(mpi->isSharedExchangeBuffer(t), expectSharedBuffers());
      }
      std::vector<double> zeros = t.toVector<double>();
      for (double z : zeros) ASSERT_EQ(z, 0.0);
      // Several rounds on the same buffer (its counters advance), values written in place as a
      // backward pass writes gradients into a bucket.
      for (int round = 0; round < 3; ++round) {
        t.copyFrom(filled(size, dt, [&](int64_t i) { return inputAt(r, i + round); }));
        comm().allReduce(t, ReduceOp::kSum);
        std::vector<double> got = t.toVector<double>();
        for (int64_t i = 0; i < size; ++i) {
          const double want = dt == DType::kBool ? 1.0 : static_cast<double>((i + round) % 5 + 1) * n * (n + 1) / 2;
          ASSERT_EQ(got[static_cast<size_t>(i)], want) << "round " << round << " at " << i;
        }
      }
      if (!isFloating(dt)) continue;
      t.copyFrom(filled(size, dt, [&](int64_t i) { return 2.0 * inputAt(r, i); }));
      comm().allReduce(t, ReduceOp::kAverage);
      std::vector<double> got = t.toVector<double>();
      for (int64_t i = 0; i < size; ++i) {
        ASSERT_EQ(got[static_cast<size_t>(i)], static_cast<double>(i % 5 + 1) * (n + 1)) << "average at " << i;
      }
    }
  }
}

TEST(Collectives, ExchangeBufferGivesTheBitsOfAnOrdinaryTensor) {
  const int r = comm().rank();
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    for (ReduceOp op : {ReduceOp::kAverage, ReduceOp::kSum}) {
      SCOPED_TRACE(std::string(dtypeName(dt)) + (op == ReduceOp::kSum ? " sum" : " average"));
      Tensor values = filled(300007, dt, [&](int64_t i) { return std::sin(0.37 * i + r) * std::pow(10.0, r % 3); });
      Tensor shared = comm().exchangeBuffer(values.numel(), dt, Device::cpu());
      shared.copyFrom(values);
      Tensor plain = values.clone();
      comm().allReduce(shared, op);
      comm().allReduce(plain, op);
      ASSERT_EQ(std::memcmp(shared.rawData(), plain.rawData(), plain.nbytes()), 0);
    }
  }
}

TEST(Collectives, PartOfAnExchangeBufferTakesTheUsualPath) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm());
  const int n = comm().worldSize(), r = comm().rank();
  Tensor t = comm().exchangeBuffer(100, DType::kFloat32, Device::cpu());
  t.copyFrom(filled(100, DType::kFloat32, [&](int64_t i) { return inputAt(r, i); }));
  Tensor part = t.slice(0, 10, 60);  // a view into the shared pages, not the whole buffer
  if (mpi != nullptr) {
    EXPECT_FALSE(mpi->isSharedExchangeBuffer(part));
  }
  comm().allReduce(part, ReduceOp::kSum);
  std::vector<double> got = t.toVector<double>();
  for (int64_t i = 0; i < 100; ++i) {
    const double want = i >= 10 && i < 60 ? static_cast<double>(i % 5 + 1) * n * (n + 1) / 2 : inputAt(r, i);
    ASSERT_EQ(got[static_cast<size_t>(i)], want) << "at " << i;
  }
  Tensor whole = t.reshape({10, 10});  // a full-size view is the buffer itself
  if (mpi != nullptr) {
    EXPECT_EQ(mpi->isSharedExchangeBuffer(whole), expectSharedBuffers());
  }
}

TEST(Collectives, ExchangeBufferOnOneRankAndPlainTensorOnAnotherIsDetected) {
  if (!expectSharedBuffers()) GTEST_SKIP() << "needs shared exchange buffers";
  Tensor shared = comm().exchangeBuffer(16, DType::kFloat32, Device::cpu());
  Tensor plain = Tensor::ones({16});
  try {
    comm().allReduce(comm().rank() == 0 ? shared : plain);
    FAIL() << "an exchange buffer meeting an ordinary tensor was not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0 called allReduce(sum) of 16 float32 on exchange buffer #"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1 called allReduce(sum) of 16 float32 through"), std::string::npos) << msg;
  }
  comm().allReduce(shared);  // still usable
}

TEST(Collectives, DifferentExchangeBuffersOfOneSizeAreDetected) {
  if (!expectSharedBuffers()) GTEST_SKIP() << "needs shared exchange buffers";
  Tensor a = comm().exchangeBuffer(64, DType::kFloat32, Device::cpu());
  Tensor b = comm().exchangeBuffer(64, DType::kFloat32, Device::cpu());
  try {
    comm().allReduce(comm().rank() == 1 ? b : a);
    FAIL() << "rank 1 reducing another exchange buffer than the others was not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0 called allReduce(sum) of 64 float32 on exchange buffer #"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1 called allReduce(sum) of 64 float32 on exchange buffer #"), std::string::npos) << msg;
  }
}

TEST(Collectives, ExchangeBufferOverwrittenRightAfterEachAllReduce) {
  // A rank writes its buffer again as soon as allReduce returns (the next backward does): the
  // others must have finished reading it by then. Many short rounds, values that change per round.
  const int n = comm().worldSize(), r = comm().rank();
  Tensor t = comm().exchangeBuffer(1031, DType::kInt64, Device::cpu());
  int64_t* p = t.data<int64_t>();
  for (int64_t round = 0; round < 400; ++round) {
    for (int64_t i = 0; i < 1031; ++i) p[i] = (r + 1) * (round * 1031 + i);
    comm().allReduce(t, ReduceOp::kSum);
    for (int64_t i = 0; i < 1031; ++i) {
      ASSERT_EQ(p[i], (round * 1031 + i) * n * (n + 1) / 2) << "round " << round << " at " << i;
    }
  }
}

TEST(Collectives, MismatchedExchangeBufferSizesAreDetected) {
  if (!expectSharedBuffers()) GTEST_SKIP() << "needs shared exchange buffers";
  try {
    Tensor t = comm().exchangeBuffer(comm().rank() == 1 ? 2000 : 1000, DType::kFloat32, Device::cpu());
    FAIL() << "exchange buffers of different sizes were not detected";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 1 called exchangeBuffer of 2000 float32"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 0 called exchangeBuffer of 1000 float32"), std::string::npos) << msg;
  }
}

TEST(Collectives, ExchangeBufferOutlivesItsCommunicator) {
  if (comm().backend() != "mpi") GTEST_SKIP() << "the mpi backend's shared buffers";
  const int n = comm().worldSize();
  Tensor t;
  {
    auto second = makeMpiCommunicator(detectRankInfo());  // MPI is already initialised: no re-init
    t = second->exchangeBuffer(4099, DType::kFloat64, Device::cpu());
    t.copyFrom(filled(4099, DType::kFloat64, [&](int64_t i) { return static_cast<double>(i); }));
    second->allReduce(t, ReduceOp::kSum);
  }
  // The mapping stays until the last view goes; the values are still there and writable.
  Tensor view = t.slice(0, 4000, 4099);
  t = Tensor();
  std::vector<double> got = view.toVector<double>();
  for (int64_t i = 0; i < 99; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], static_cast<double>((4000 + i) * n));
  view.copyFrom(Tensor::zeros({99}, DType::kFloat64));
  EXPECT_EQ(view.toVector<double>()[98], 0.0);
}

}  // namespace
}  // namespace singa
