// The communicator of the device under test: NCCL for cuda:N (bootstrapped over MPI), or, with
// SINGA_GPUTEST_DEVICE=cpu (the device check's dry run, CI), the MPI backend. One process (a world
// of one, no mpirun needed) or any number of ranks under mpirun. Checks:
//   - a collective sees what the kernels queued just before it wrote (the NCCL stream waits for
//     the compute stream), including a length just copied to the device (the start-up sync);
//   - sum, average, broadcast and all-gather values for the job's world size;
//   - float16/bfloat16 gradient compression through DistributedOptimizer on the device, against
//     the same optimizer on the CPU;
//   - the collectives work from a thread of their own (the gradient exchange's) as well.
#include <thread>

#include "gpu_test_util.h"
#include "singa/comm/distributed_optimizer.h"

namespace singa {
namespace {

using gputest::expectClose;
using gputest::gpu;

Communicator& comm() {
  static std::unique_ptr<Communicator> c = makeCommunicator(gpu().isCuda() ? "nccl" : "mpi", gpu());
  return *c;
}

TEST(DeviceComm, AllGatherSeesTheKernelsQueuedJustBefore) {
  SINGA_REQUIRE_GPU();
  // 48 dependent kernels over 16 M elements, then at once the collective: if the NCCL stream did
  // not wait for the compute stream it would copy values from partway through the chain.
  Tensor y = Tensor::full({1 << 24}, 1.0, DType::kFloat32, gpu());
  for (int i = 0; i < 48; ++i) y = ops::add(ops::mul(y, 1.0001), 0.5);
  const Tensor all = comm().allGather(y);
  ASSERT_EQ(all.shape(), (Shape{comm().worldSize(), 1 << 24}));
  const Tensor mine = ops::slice(all, {comm().rank()}, {comm().rank() + 1}, {0}, {1}).reshape({1 << 24});
  expectClose(y.to(Device::cpu()), mine.contiguous(), 0, 0, "all-gathered copy of the last kernel's output");
}

TEST(DeviceComm, SumAverageAndBroadcastForTheWorldSize) {
  SINGA_REQUIRE_GPU();
  const int r = comm().rank(), n = comm().worldSize();
  Tensor t = Tensor::full({1000}, r + 1.0, DType::kFloat32).to(gpu());  // just copied to the device
  comm().allReduce(t, ReduceOp::kSum);
  expectClose(Tensor::full({1000}, n * (n + 1) / 2.0, DType::kFloat32), t, 0, 0, "sum");
  Tensor a = Tensor::full({7}, 2.0 * r, DType::kFloat64).to(gpu());
  comm().allReduce(a, ReduceOp::kAverage);
  expectClose(Tensor::full({7}, n - 1.0, DType::kFloat64), a, 1e-12, 0, "average");
  // The start-up pattern (a length, then bytes): broadcast right after the host-to-device copy.
  Tensor len = Tensor::fromVector<int64_t>({r == 0 ? 12345 : -1}, {1}).to(gpu());
  comm().broadcast(len, 0);
  EXPECT_EQ(static_cast<int64_t>(len.item()), 12345);
}

TEST(DeviceComm, CollectivesFromAnotherThreadUseTheRanksDevice) {
  SINGA_REQUIRE_GPU();
  Tensor t = Tensor::full({4096}, 1.0, DType::kFloat32, gpu());
  t = ops::mul(t, 3.0);
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      comm().allReduce(t, ReduceOp::kAverage);
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
  expectClose(Tensor::full({4096}, 3.0, DType::kFloat32), t, 0, 0, "average from a second thread");
}

// Two micro-batches of a small model with accumulation (so a world of one exchanges too).
std::vector<Tensor> trainCompressed(Device device, Communicator& c, DType compression) {
  manualSeed(11);
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(8, 16), std::make_shared<ReLU>(),
                                          std::make_shared<Linear>(16, 4));
  net->to(device);
  DistributedOptions o;
  o.compression = compression;
  o.accumulationSteps = 2;
  DistributedOptimizer opt(std::make_unique<SGD>(*net, 0.1, 0.9), c, o, net.get());
  for (int step = 0; step < 4; ++step) {
    const Tensor x = gputest::randomTensor({5, 8}, DType::kFloat32, -1, 1, 100 + step).to(device);
    const Tensor labels = Tensor::fromVector<int64_t>({0, 1, 2, 3, 1}, {5}).to(device);
    if (step % 2 == 0) opt.zeroGrad();
    ops::softmaxCrossEntropy(net->forward(x), labels).backward();
    opt.step();
  }
  std::vector<Tensor> out;
  for (const auto& [name, p] : net->namedParameters()) out.push_back(p.to(Device::cpu()));
  return out;
}

TEST(DeviceComm, HalfPrecisionGradientCompressionMatchesTheCpu) {
  SINGA_REQUIRE_GPU();
  if (comm().worldSize() != 1) GTEST_SKIP() << "compared with a single CPU process";
  auto local = makeLocalCommunicator();
  for (DType c : {DType::kFloat16, DType::kBFloat16}) {
    const std::vector<Tensor> want = trainCompressed(Device::cpu(), *local, c);
    const std::vector<Tensor> got = trainCompressed(gpu(), comm(), c);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      // Rounding to 16 bits can land on either side for gradients that differ in the last float
      // bits (GEMM order): one 16-bit step of the largest gradient times lr, at most.
      const std::vector<float> w = want[i].toVector<float>(), g = got[i].toVector<float>();
      for (size_t k = 0; k < w.size(); ++k) {
        ASSERT_NEAR(w[k], g[k], c == DType::kFloat16 ? 2e-3 : 2e-2) << dtypeName(c) << " parameter " << i;
      }
    }
  }
}

}  // namespace
}  // namespace singa
