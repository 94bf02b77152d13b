// The CPU allocator's cache of large blocks (device.h): reuse, limits and the memory ceiling; a
// Storage's contents held in another layout (Storage::setLayout).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

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

// A test layout: the elements reversed, after one zero of padding.
class Reversed final : public StorageLayout {
 public:
  using StorageLayout::StorageLayout;
  void toPlain(void* plain) const override {
    ++calls;
    if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // readers arrive meanwhile
    const auto* src = static_cast<const float*>(buffer().readData()) + 1;
    const size_t n = buffer().bytes() / sizeof(float) - 1;
    for (size_t i = 0; i < n; ++i) static_cast<float*>(plain)[i] = src[n - 1 - i];
  }
  bool sameAs(const StorageLayout& o) const override { return dynamic_cast<const Reversed*>(&o) != nullptr; }
  std::shared_ptr<const StorageLayout> over(std::shared_ptr<Storage> b) const override {
    return std::make_shared<Reversed>(std::move(b));
  }
  mutable std::atomic<int> calls{0};
  bool slow = false;
};

std::shared_ptr<Reversed> reversedOf(const std::vector<float>& v) {
  auto buf = std::make_shared<Storage>((v.size() + 1) * sizeof(float), Device::cpu());
  auto* p = static_cast<float*>(buf->data());
  p[0] = 0.0f;
  for (size_t i = 0; i < v.size(); ++i) p[1 + i] = v[v.size() - 1 - i];
  return std::make_shared<Reversed>(buf);
}

TEST(StorageLayout, ThePlainMemoryIsWrittenOnFirstUse) {
  const std::vector<float> want{1.5f, -2.0f, 3.25f, 4.0f};
  Tensor t({4}, DType::kFloat32);
  const Storage& st = *t.impl().storage;
  const uint64_t before = *st.version();
  auto layout = reversedOf(want);
  st.setLayout(layout);
  EXPECT_GT(*st.version(), before) << "new contents must move the version (derived caches go stale)";
  EXPECT_EQ(st.layout(), layout);
  EXPECT_EQ(layout->calls.load(), 0);
  EXPECT_EQ(t.toVector<float>(), want);  // a read writes the plain memory once
  EXPECT_EQ(layout->calls.load(), 1);
  EXPECT_EQ(st.layout(), nullptr);
  EXPECT_EQ(t.toVector<float>(), want);
  EXPECT_EQ(layout->calls.load(), 1);

  // A writer gets the contents first, then its write stands.
  st.setLayout(reversedOf(want));
  t.data<float>()[0] = 9.0f;
  EXPECT_EQ(t.toVector<float>(), (std::vector<float>{9.0f, -2.0f, 3.25f, 4.0f}));

  // Memory handed outside the engine (untrack) is written first; an untracked storage takes no layout.
  st.setLayout(reversedOf(want));
  st.untrack();
  EXPECT_EQ(st.layout(), nullptr);
  EXPECT_EQ(std::memcmp(st.readData(), want.data(), 16), 0);
  EXPECT_THROW(st.setLayout(reversedOf(want)), ValueError);
}

TEST(StorageLayout, AReleasedBlockComesBackOnlyWhenRead) {
  // A fresh output handed to a layout gives its memory back until something reads it; under a
  // memory limit that read fails with MemoryError and keeps the contents for a later read.
  std::vector<float> want(1 << 20);  // 4 MiB
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(i % 1000) - 500.0f;
  Tensor t({static_cast<int64_t>(want.size())}, DType::kFloat32);
  auto layout = reversedOf(want);
  const size_t before = cpuBytesInUse();
  t.impl().storage->setLayout(layout, true);
  EXPECT_LE(cpuBytesInUse() + want.size() * sizeof(float), before) << "the plain block was not given back";
  setMemoryLimit(cpuBytesInUse() + (1 << 20));
  EXPECT_THROW(t.impl().storage->readData(), MemoryError);
  EXPECT_NE(t.impl().storage->layout(), nullptr) << "a failed read lost the contents";
  setMemoryLimit(0);
  EXPECT_EQ(t.toVector<float>(), want);
  EXPECT_EQ(layout->calls.load(), 1);
}

TEST(StorageLayout, ConcurrentReadersWriteThePlainMemoryOnce) {
  std::vector<float> want(4096);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(i) * 0.5f;
  for (int round = 0; round < 5; ++round) {
    Tensor t({4096}, DType::kFloat32);
    auto layout = reversedOf(want);
    layout->slow = true;
    t.impl().storage->setLayout(layout);
    std::vector<std::thread> readers;
    std::vector<int> ok(4, 0);
    std::atomic<int> ready{0};
    for (int r = 0; r < 4; ++r) {
      readers.emplace_back([&, r] {
        ++ready;
        while (ready.load() < 4) std::this_thread::yield();  // all four ask at once
        const auto* p = static_cast<const float*>(t.impl().storage->readData());
        ok[r] = std::memcmp(p, want.data(), want.size() * sizeof(float)) == 0;
      });
    }
    for (auto& th : readers) th.join();
    EXPECT_EQ(layout->calls.load(), 1);
    for (int r = 0; r < 4; ++r) EXPECT_TRUE(ok[r]) << "reader " << r << " saw the memory before it was written";
  }
}

}  // namespace
}  // namespace singa
