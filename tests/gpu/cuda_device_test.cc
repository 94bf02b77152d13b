// The CUDA device layer: caching allocator (blocks are reused, not returned to the driver; the
// counters follow), the per-device stream, events, TF32 switch, and errors for bad devices.
// Built only with the CUDA backend (it uses kernels/cuda/cuda_device.h directly).
#include "gpu/gpu_test_util.h"
#include "singa/kernels/cuda/cuda_device.h"

namespace singa {
namespace {

using gputest::gpu;

TEST(CudaDevice, CachingAllocatorReusesBlocks) {
  SINGA_REQUIRE_GPU();
  const size_t before = cuda::bytesInUse(0);
  void* first = nullptr;
  {
    Tensor t({1000, 1000}, DType::kFloat32, gpu());
    first = t.rawData();
    EXPECT_GE(cuda::bytesInUse(0), before + 4000000);
  }
  EXPECT_EQ(cuda::bytesInUse(0), before);
  EXPECT_GE(cuda::cachedBytes(0), size_t{4000000});
  Tensor again({1000, 1000}, DType::kFloat32, gpu());
  EXPECT_EQ(again.rawData(), first) << "a freed block of the same size class should be handed out again";
  EXPECT_GE(cuda::peakBytes(0), cuda::bytesInUse(0));
  cuda::emptyCache();
  EXPECT_EQ(cuda::cachedBytes(0), size_t{0});
}

TEST(CudaDevice, StreamEventsAndTf32Switch) {
  SINGA_REQUIRE_GPU();
  EXPECT_NE(cuda::stream(0), nullptr);
  EXPECT_EQ(cuda::stream(0), cuda::stream(0));
  Tensor t = Tensor::full({1 << 20}, 3.0, DType::kFloat32, gpu());
  cuda::Event done(0);
  done.record();
  cudaStream_t other = nullptr;
  ASSERT_EQ(cudaStreamCreate(&other), cudaSuccess);
  done.waitOn(other);
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  cudaStreamDestroy(other);
  done.synchronize();
  EXPECT_EQ(t.at((1 << 20) - 1), 3.0);
  EXPECT_FALSE(cuda::allowTF32()) << "TF32 must be off by default";
  cuda::setAllowTF32(true);
  EXPECT_TRUE(cuda::allowTF32());
  cuda::setAllowTF32(false);
}

// Work that keeps the stream busy for a while: 48 dependent kernels over 16 M elements.
Tensor busyChain() {
  Tensor y = Tensor::full({1 << 24}, 1.0, DType::kFloat32, gpu());
  for (int i = 0; i < 48; ++i) y = ops::add(ops::mul(y, 1.0001), 0.5);
  return y;
}

TEST(CudaDevice, NoHiddenHostWaitsInCopiesLabelChecksAndGather) {
  SINGA_REQUIRE_GPU();
  // Each call below used to wait for the GPU to finish everything queued before it: a
  // host-to-device copy (behind the previous one's staging buffer), and the label and index
  // checks (reading a flag back). Now each returns while the queued kernels still run.
  const Tensor x = gputest::randomTensor({64, 10}, DType::kFloat32).to(gpu());
  const Tensor labels = Tensor::fromVector<int64_t>(std::vector<int64_t>(64, 3), {64});
  const Tensor idx = Tensor::fromVector<int64_t>({1, 0, 2}, {3});
  std::vector<float> host(3 << 20, 1.0f);  // bigger than one staging block
  for (int round = 0; round < 3; ++round) {
    Tensor busy = busyChain();
    const Tensor l = labels.to(gpu());                                 // small copy
    const Tensor big = Tensor::fromVector(host, {3 << 20}).to(gpu());  // chunked copy
    const Tensor again = labels.to(gpu());                             // another, right after
    const Tensor loss = ops::softmaxCrossEntropy(x, l);
    const Tensor g = ops::gather(x, idx.to(gpu()), 1);
    EXPECT_EQ(cudaStreamQuery(cuda::stream(0)), cudaErrorNotReady)
        << "round " << round << ": the host waited for the queued kernels";
    // And the values are right once read.
    EXPECT_EQ(big.at((3 << 20) - 1), 1.0);
    EXPECT_EQ(again.at(63), 3.0);
    EXPECT_TRUE(std::isfinite(loss.item()));
    EXPECT_EQ(g.shape(), (Shape{64, 3}));
  }
}

TEST(CudaDevice, BadDeviceIndexIsAClearError) {
  SINGA_REQUIRE_GPU();
  const int n = cuda::deviceCount();
  try {
    Tensor t({4}, DType::kFloat32, Device::cuda(n));
    ADD_FAILURE() << "allocating on cuda:" << n << " should fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GPU(s) are visible"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace singa
