// Hostile IDX files and data-set directories: a FIFO or /dev/zero in place of a file, gzip files
// whose header and stream disagree (a bomb, a stream cut short), headers that declare gigabytes
// in a few bytes, data sets whose parts do not fit together. Each must be refused quickly with an
// error naming the file, allocating no more than the header declares. Readers that could hang
// run in a forked child with a deadline, so a regression fails instead of hanging.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "singa/core/memory_limit.h"
#include "singa/data/dataset.h"
#include "singa/data/idx.h"
#include "hostile/child_process.h"
#include "singa/singa.h"

// AddressSanitizer (GCC's __SANITIZE_ADDRESS__, clang's __has_feature) reserves terabytes of
// address space for its shadow memory, so tests that lower RLIMIT_AS skip that part under it.
#if defined(__SANITIZE_ADDRESS__)
#define SINGA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SINGA_TEST_ASAN 1
#endif
#endif
#ifndef SINGA_TEST_ASAN
#define SINGA_TEST_ASAN 0
#endif

namespace singa {
namespace {
namespace fs = std::filesystem;

using test::contains;
using test::inChild;

// A scratch directory named after the running test.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("singa_hostile_idx_") {}
};

std::string readInChild(const std::string& path, uint32_t magic = 0) {
  return inChild([&] {
    Tensor t = readIdx(path, magic);
    return "ok " + shapeStr(t.shape());
  });
}

std::string header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::string out;
  auto put32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
  };
  put32(magic);
  for (uint32_t d : dims) put32(d);
  return out;
}

// Writes `head` then `zeros` zero bytes, gzip-compressed (zeros compress about 1000:1).
void writeGzip(const std::string& path, const std::string& head, uint64_t zeros) {
  gzFile f = gzopen(path.c_str(), "wb9");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, head.data(), static_cast<unsigned>(head.size())), static_cast<int>(head.size()));
  const std::string chunk(1 << 20, '\0');
  for (uint64_t left = zeros; left > 0;) {
    const auto n = static_cast<unsigned>(std::min<uint64_t>(left, chunk.size()));
    ASSERT_EQ(gzwrite(f, chunk.data(), n), static_cast<int>(n));
    left -= n;
  }
  gzclose(f);
}

void writePlain(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

TEST(HostileIdx, SpecialFilesAreRefusedWithoutHanging) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);  // opening it waits for a writer
  std::string got = readInChild(dir / "fifo");
  EXPECT_TRUE(contains(got, "IoError") && contains(got, dir / "fifo") && contains(got, "FIFO")) << got;

  fs::create_symlink("/dev/zero", dir / "zero.gz");  // zeros forever: a bad magic, but never EOF
  got = readInChild(dir / "zero.gz");
  EXPECT_TRUE(contains(got, "IoError") && contains(got, "zero.gz") && contains(got, "character device")) << got;

  fs::create_directory(dir / "dir");
  got = readInChild(dir / "dir");
  EXPECT_TRUE(contains(got, "IoError") && contains(got, "directory")) << got;

  // A data-set directory whose files are special files names the first one, on one line.
  for (const std::string& stem : mnistFileStems()) fs::create_symlink("/dev/zero", dir / stem);
  got = inChild([&] {
    loadMnistDir(dir.path.string());
    return std::string("ok");
  });
  EXPECT_TRUE(contains(got, "IoError") && contains(got, "train-images-idx3-ubyte' is not a regular file") &&
              !contains(got, "\n"))
      << got;
}

TEST(HostileIdx, GzipWhoseStreamHoldsMoreThanTheHeaderDeclares) {
  TempDir dir;
  // Declares 10 bytes; the stream inflates to 64 MiB. Only the 10 (and one more) are inflated.
  const std::string path = dir / "bomb.gz";
  writeGzip(path, header(kIdxLabelsMagic, {10}), uint64_t{64} << 20);
  const std::string got = inChild([&] {
    setMemoryLimit(1 << 20);  // the header's size fits; the stream's would not
    readIdx(path, kIdxLabelsMagic);
    return std::string("ok");
  });
  EXPECT_TRUE(contains(got, "IoError") && contains(got, path) && contains(got, "after the 10 data bytes") &&
              contains(got, "decompressed data holds more than the header declares"))
      << got;
}

TEST(HostileIdx, SmallGzipDeclaringHugeDimsIsRefusedBeforeAllocating) {
  TempDir dir;
  // 60000 x 28 x 28 needs 47 MB; a few hundred compressed bytes cannot hold it.
  const std::string path = dir / "claims.gz";
  writeGzip(path, header(kIdxImagesMagic, {60000, 28, 28}), 1000);
  const std::string got = inChild([&] {
    // Under an address-space limit below the claim, allocating it would fail outright (not under
    // AddressSanitizer, whose shadow memory needs terabytes of address space).
#if !SINGA_TEST_ASAN
    rlimit as{uint64_t{40} << 20, uint64_t{40} << 20};
    ::setrlimit(RLIMIT_AS, &as);
#endif
    readIdx(path, kIdxImagesMagic);
    return std::string("ok");
  });
  EXPECT_TRUE(contains(got, "IoError") && contains(got, path) && contains(got, "[60000, 28, 28]") &&
              contains(got, "inflates to at most"))
      << got;
}

TEST(HostileIdx, TruncatedGzipStreamIsRefused) {
  TempDir dir;
  const std::string full = dir / "full.gz";
  std::string data = header(kIdxImagesMagic, {100, 28, 28});
  for (int i = 0; i < 100 * 28 * 28; ++i) data.push_back(static_cast<char>(i * 7919 % 251));  // poorly compressible
  {
    gzFile f = gzopen(full.c_str(), "wb");
    ASSERT_EQ(gzwrite(f, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
    gzclose(f);
  }
  const std::string cut = dir / "cut.gz";
  fs::copy_file(full, cut);
  fs::resize_file(cut, fs::file_size(full) / 2);
  const std::string got = readInChild(cut, kIdxImagesMagic);
  EXPECT_TRUE(contains(got, "IoError") && contains(got, cut)) << got;
  EXPECT_TRUE(contains(readInChild(full, kIdxImagesMagic), "ok [100, 28, 28]"));
}

TEST(HostileIdx, DeclaredSizePastTheMemoryCeilingIsAMemoryErrorNamingTheFile) {
  TempDir dir;
  const std::string path = dir / "big";
  writePlain(path, header(kIdxImagesMagic, {64, 128, 128}) + std::string(64 * 128 * 128, '\1'));
  const std::string got = inChild([&] {
    setMemoryLimit(64 * 1024);
    readIdx(path, kIdxImagesMagic);
    return std::string("ok");
  });
  EXPECT_TRUE(contains(got, "MemoryError") && contains(got, path) && contains(got, "[64, 128, 128]")) << got;
}

TEST(HostileIdx, PlainFileWithTrailingBytesIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir / "long";
  writePlain(path, header(kIdxLabelsMagic, {65536}) + std::string(65537, '\1'));
  const std::string got = inChild([&] {
    setMemoryLimit(1 << 10);  // below the header's size: the file's size alone shows it is wrong
    readIdx(path, kIdxLabelsMagic);
    return std::string("ok");
  });
  EXPECT_TRUE(contains(got, "IoError") && contains(got, "after the 65536 data bytes")) << got;
}

// A small MNIST-style directory; `edit` may replace any of its four files.
void writeDir(const TempDir& dir, int64_t n, uint32_t rows, uint32_t cols, uint32_t testRows, uint8_t testLabel) {
  writePlain(dir / "train-images-idx3-ubyte",
             header(kIdxImagesMagic, {uint32_t(n), rows, cols}) + std::string(size_t(n) * rows * cols, '\1'));
  std::string labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(i % 10));
  writePlain(dir / "train-labels-idx1-ubyte", header(kIdxLabelsMagic, {uint32_t(n)}) + labels);
  writePlain(dir / "t10k-images-idx3-ubyte",
             header(kIdxImagesMagic, {2, testRows, cols}) + std::string(size_t(2) * testRows * cols, '\1'));
  writePlain(dir / "t10k-labels-idx1-ubyte", header(kIdxLabelsMagic, {2}) + std::string(2, char(testLabel)));
}

std::string loadError(const TempDir& dir) {
  try {
    loadMnistDir(dir.path.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HostileDataset, PartsThatDoNotFitTogetherAreRefusedNamingTheFile) {
  {
    TempDir dir;
    writeDir(dir, 12, 4, 4, 4, 3);
    EXPECT_EQ(loadError(dir), "no error");
  }
  {
    TempDir dir;  // test images of another size: the model is built for the training images
    writeDir(dir, 12, 4, 4, 5, 3);
    const std::string e = loadError(dir);
    EXPECT_TRUE(contains(e, "t10k-images-idx3-ubyte") && contains(e, "5 x 4") && contains(e, "4 x 4")) << e;
  }
  {
    TempDir dir;  // a test label no training label reaches: the model has 10 classes
    writeDir(dir, 12, 4, 4, 4, 200);
    const std::string e = loadError(dir);
    EXPECT_TRUE(contains(e, "t10k-labels-idx1-ubyte") && contains(e, "label 200") && contains(e, "10 classes")) << e;
  }
  {
    TempDir dir;  // images of 0 x 4 pixels
    writeDir(dir, 12, 0, 4, 0, 3);
    const std::string e = loadError(dir);
    EXPECT_TRUE(contains(e, "train-images-idx3-ubyte") && contains(e, "0 x 4")) << e;
  }
}

}  // namespace
}  // namespace singa
