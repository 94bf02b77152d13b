// Size arithmetic and the allocation ceiling (core/shape.h, core/memory_limit.h) and the
// regular-file reader (core/file_read.h): the mechanisms every crafted size and path goes through.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "singa/core/device.h"
#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/memory_limit.h"
#include "singa/core/tensor.h"

namespace singa {
namespace {

namespace fs = std::filesystem;

std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SizeArithmetic, NumelRefusesWhatWouldWrap) {
  EXPECT_EQ(numelOf({2, 3, 4}), 24);
  EXPECT_EQ(numelOf({}), 1);
  // 2^32 * 2^32 wraps to 0 in int64: the count a 0-byte "successful" output once had.
  EXPECT_THROW(numelOf({int64_t{1} << 32, int64_t{1} << 32}), ShapeError);
  EXPECT_THROW(numelOf({int64_t{1} << 62, 4}), ShapeError);
  EXPECT_THROW(numelOf({3, -1}), ShapeError);
  // A zero dimension makes the count 0 even after a partial product overflowed.
  EXPECT_EQ(numelOf({int64_t{1} << 40, int64_t{1} << 40, 0}), 0);
  EXPECT_EQ(numelOf({std::numeric_limits<int64_t>::max(), 1}), std::numeric_limits<int64_t>::max());
}

TEST(SizeArithmetic, CheckedOperations) {
  EXPECT_EQ(checkedMul(1 << 20, 1 << 20, "t"), int64_t{1} << 40);
  EXPECT_THROW(checkedMul(int64_t{1} << 40, int64_t{1} << 40, "t"), ShapeError);
  EXPECT_THROW(checkedMul(-1, 2, "t"), ShapeError);
  EXPECT_EQ(checkedAdd(std::numeric_limits<int64_t>::max() - 1, 1, "t"), std::numeric_limits<int64_t>::max());
  EXPECT_THROW(checkedAdd(std::numeric_limits<int64_t>::max(), 1, "t"), ShapeError);
  EXPECT_EQ(checkedBytes(1 << 20, 8, "t"), size_t{8} << 20);
  EXPECT_THROW(checkedBytes(int64_t{1} << 62, 4, "t"), ShapeError);
  // Strides of [0, 2^40, 2^40] overflow although the tensor holds nothing.
  EXPECT_THROW(contiguousStrides({0, int64_t{1} << 40, int64_t{1} << 40}), ShapeError);
}

// Restores the default ceiling whatever a test set.
struct LimitGuard {
  ~LimitGuard() { setMemoryLimit(0); }
};

TEST(MemoryLimit, TensorsPastTheCeilingAreRefusedNamingSizeAndLimit) {
  LimitGuard guard;
  setMemoryLimit(size_t{64} << 20);
  EXPECT_EQ(memoryLimit(), size_t{64} << 20);
  Tensor ok({1024, 1024}, DType::kFloat32);  // 4 MiB
  const std::string msg = messageOf([] { Tensor big({int64_t{1} << 21, int64_t{1} << 21}, DType::kFloat32); });
  EXPECT_NE(msg.find("float32[2097152, 2097152] tensor would need 16 TiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("64 MiB"), std::string::npos) << msg;
  EXPECT_THROW(Tensor({int64_t{1} << 21, int64_t{1} << 21}, DType::kFloat32), MemoryError);
  // The limit counts what is held at once: 15 x 4 MiB fit next to `ok`, a 16th of 8 MiB not.
  std::vector<Tensor> held;
  for (int i = 0; i < 14; ++i) held.emplace_back(Shape{1024, 1024}, DType::kFloat32);
  EXPECT_THROW(Tensor({2048, 1024}, DType::kFloat32), MemoryError);
  held.clear();
  EXPECT_NO_THROW(Tensor({2048, 1024}, DType::kFloat32));
}

TEST(MemoryLimit, DefaultIsThisMachinesMemory) {
  LimitGuard guard;
  setMemoryLimit(0);
  const size_t phys = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  EXPECT_LE(memoryLimit(), phys);
  EXPECT_GT(memoryLimit(), size_t{0});
  EXPECT_EQ(formatBytes(16.0 * 1024 * 1024 * 1024 * 1024), "16 TiB");
  EXPECT_EQ(formatBytes(1536.0 * 1024 * 1024), "1.5 GiB");
  EXPECT_EQ(formatBytes(312), "312 bytes");
}

class FileReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("singa_file_read_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(FileReadTest, ReadsRegularFilesAndRanges) {
  std::ofstream(path("f.bin"), std::ios::binary) << "0123456789";
  EXPECT_EQ(readRegularFile(path("f.bin"), "test file", 100), "0123456789");
  EXPECT_EQ(readRegularFileRange(path("f.bin"), "test file", 2, 3), "234");
  EXPECT_EQ(readRegularFileRange(path("f.bin"), "test file", 4, -1), "456789");
  EXPECT_NE(messageOf([&] { readRegularFile(path("f.bin"), "test file", 5); }).find("more than the 5 bytes"),
            std::string::npos);
  EXPECT_NE(messageOf([&] { readRegularFileRange(path("f.bin"), "test file", 8, 5); }).find("offset 8 + length 5"),
            std::string::npos);
  EXPECT_THROW(readRegularFileRange(path("f.bin"), "test file", 11, 0), IoError);
  EXPECT_THROW(readRegularFileRange(path("f.bin"), "test file", 0, int64_t{1} << 40), IoError);
}

// A FIFO would block open() or read() forever and /dev/zero never ends: both are refused at once
// (the test would hang, and ctest time it out, without the check).
TEST_F(FileReadTest, RefusesFifosDevicesAndDirectories) {
  ASSERT_EQ(::mkfifo(path("pipe").c_str(), 0600), 0);
  EXPECT_NE(messageOf([&] { readRegularFile(path("pipe"), "model file", 100); }).find("(it is a FIFO)"), std::string::npos);
  fs::create_symlink("/dev/zero", path("zero"));
  EXPECT_NE(messageOf([&] { readRegularFile(path("zero"), "model file", 100); }).find("character device"),
            std::string::npos);
  EXPECT_NE(messageOf([&] { readRegularFile(dir_.string(), "model file", 100); }).find("(it is a directory)"),
            std::string::npos);
  EXPECT_NE(messageOf([&] { readRegularFile(path("missing"), "model file", 100); }).find("does not exist"),
            std::string::npos);
}

TEST_F(FileReadTest, CanonicalPathResolvesLinks) {
  std::ofstream(path("target"), std::ios::binary) << "x";
  fs::create_symlink(path("target"), path("link"));
  EXPECT_EQ(canonicalPath(path("link"), "file"), fs::canonical(path("target")).string());
  EXPECT_THROW(canonicalPath(path("nothing"), "file"), IoError);
}

}  // namespace
}  // namespace singa
