// The CPU allocator's cache of large blocks (device.h): reuse, limits and the memory ceiling.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "singa/core/device.h"
#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/core/tensor.h"

namespace singa {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// A float tensor of `bytes` bytes (a multiple of 4).
Tensor block(size_t bytes) { return Tensor({static_cast<int64_t>(bytes / 4)}, DType::kFloat32); }

class CpuCache : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cpuCacheStats().limitBytes == 0) GTEST_SKIP() << "this build caches nothing (AddressSanitizer)";
    releaseCpuCache();
    limit_ = cpuCacheStats().limitBytes;
  }
  void TearDown() override {
    if (limit_ != 0) setCpuCacheLimit(limit_);
    setMemoryLimit(0);
    releaseCpuCache();
  }
  size_t limit_ = 0;
};

TEST_F(CpuCache, AFreedLargeBlockServesTheNextRequestOfItsSize) {
  const CpuCacheStats before = cpuCacheStats();
  void* first = nullptr;
  {
    Tensor t = block(40 * kMiB + 4);
    first = t.rawData();
    std::memset(first, 0x5a, 40 * kMiB + 4);
  }
  // Rounded up to 2 MiB granules, kept, not counted as in use.
  EXPECT_EQ(cpuCacheStats().cachedBytes, 42 * kMiB);
  const size_t inUse = cpuBytesInUse();
  Tensor again = block(41 * kMiB);  // the same granule count
  EXPECT_EQ(again.rawData(), first);
  EXPECT_EQ(cpuCacheStats().cachedBytes, 0u);
  EXPECT_EQ(cpuBytesInUse(), inUse + 41 * kMiB);
  EXPECT_EQ(cpuCacheStats().hits, before.hits + 1);
  EXPECT_EQ(cpuCacheStats().misses, before.misses + 1);
  // The memory is the caller's: writes and reads over all of it.
  float* f = again.data<float>();
  const int64_t n = again.numel();
  for (int64_t i = 0; i < n; i += 4099) f[i] = static_cast<float>(i);
  f[n - 1] = -1.0f;
  for (int64_t i = 0; i < n - 1; i += 4099) ASSERT_EQ(f[i], static_cast<float>(i));
  EXPECT_EQ(f[n - 1], -1.0f);
}

TEST_F(CpuCache, OtherSizesAndSmallBlocksDoNotTakeACachedBlock) {
  { Tensor t = block(40 * kMiB); }
  const CpuCacheStats s0 = cpuCacheStats();
  ASSERT_EQ(s0.cachedBytes, 40 * kMiB);
  {
    Tensor other = block(50 * kMiB);
    Tensor small = block(kMiB);
    EXPECT_EQ(cpuCacheStats().misses, s0.misses + 1);
    EXPECT_EQ(cpuCacheStats().hits, s0.hits);
    EXPECT_EQ(cpuCacheStats().cachedBytes, 40 * kMiB);
  }
  EXPECT_EQ(cpuCacheStats().cachedBytes, 90 * kMiB);
  releaseCpuCache();
  EXPECT_EQ(cpuCacheStats().cachedBytes, 0u);
}

TEST_F(CpuCache, TheLimitBoundsWhatIsKeptOldestFirst) {
  setCpuCacheLimit(100 * kMiB);
  auto a = std::make_unique<Tensor>(block(40 * kMiB));
  auto b = std::make_unique<Tensor>(block(42 * kMiB));
  auto c = std::make_unique<Tensor>(block(44 * kMiB));
  void* bData = b->rawData();
  a.reset();
  b.reset();
  EXPECT_EQ(cpuCacheStats().cachedBytes, 82 * kMiB);
  c.reset();  // 126 MiB would pass the limit: the oldest (a's block) is unmapped
  EXPECT_EQ(cpuCacheStats().cachedBytes, 86 * kMiB);
  const size_t misses = cpuCacheStats().misses;
  Tensor a2 = block(40 * kMiB);
  EXPECT_EQ(cpuCacheStats().misses, misses + 1);
  Tensor b2 = block(42 * kMiB);
  EXPECT_EQ(b2.rawData(), bData);
  EXPECT_EQ(cpuCacheStats().misses, misses + 1);
  setCpuCacheLimit(0);
  EXPECT_EQ(cpuCacheStats().cachedBytes, 0u);
  { Tensor t = block(40 * kMiB); }
  EXPECT_EQ(cpuCacheStats().cachedBytes, 0u);  // a limit of 0 keeps nothing
}

TEST_F(CpuCache, CachedBlocksGiveWayUnderTheMemoryLimit) {
  { Tensor t = block(60 * kMiB); }
  ASSERT_EQ(cpuCacheStats().cachedBytes, 60 * kMiB);
  setMemoryLimit(cpuBytesInUse() + 100 * kMiB);
  {
    // 70 MiB live + 60 MiB cached would pass the 100 MiB left: the cached block goes.
    Tensor t = block(70 * kMiB);
    EXPECT_EQ(cpuCacheStats().cachedBytes, 0u);
    // Past the limit is still a MemoryError naming the sizes, cache or not.
    try {
      Tensor u = block(40 * kMiB);
      FAIL() << "no error past the memory limit";
    } catch (const MemoryError& e) {
      EXPECT_NE(std::string(e.what()).find("MiB"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(cpuCacheStats().cachedBytes, 70 * kMiB);
}

}  // namespace
}  // namespace singa
