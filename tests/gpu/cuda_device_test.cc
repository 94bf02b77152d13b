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
