// IDX reader and data-set loading on small files written here (plain and gzip), including the
// error paths a user meets: truncated files, bad magic numbers, a missing data set.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "singa/data/dataset.h"
#include "singa/data/idx.h"
#include "singa/singa.h"

namespace singa {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/singa_idx_test_XXXXXX";
    char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    path_ = d ? d : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<unsigned char> idxBytes(uint32_t magic, const std::vector<uint32_t>& dims,
                                    const std::vector<unsigned char>& data) {
  std::vector<unsigned char> out;
  auto put32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
  };
  put32(magic);
  for (uint32_t d : dims) put32(d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void writeFile(const std::string& path, const std::vector<unsigned char>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
      ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    }
    gzclose(f);
  } else {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

std::vector<unsigned char> iota(size_t n, unsigned start = 0) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((start + i) % 256);
  return v;
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected IoError";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Writes a complete small MNIST-style directory: `ntrain`/`ntest` images of 3 x 4.
void writeMnistDir(const TempDir& dir, int64_t ntrain, int64_t ntest, bool gzip) {
  const std::string ext = gzip ? ".gz" : "";
  writeFile(dir.file("train-images-idx3-ubyte" + ext),
            idxBytes(kIdxImagesMagic, {uint32_t(ntrain), 3, 4}, iota(size_t(ntrain) * 12)), gzip);
  std::vector<unsigned char> trainLabels(static_cast<size_t>(ntrain));
  for (int64_t i = 0; i < ntrain; ++i) trainLabels[i] = static_cast<unsigned char>(i % 10);
  writeFile(dir.file("train-labels-idx1-ubyte" + ext), idxBytes(kIdxLabelsMagic, {uint32_t(ntrain)}, trainLabels),
            gzip);
  writeFile(dir.file("t10k-images-idx3-ubyte" + ext),
            idxBytes(kIdxImagesMagic, {uint32_t(ntest), 3, 4}, iota(size_t(ntest) * 12, 7)), gzip);
  std::vector<unsigned char> testLabels(static_cast<size_t>(ntest), 9);
  writeFile(dir.file("t10k-labels-idx1-ubyte" + ext), idxBytes(kIdxLabelsMagic, {uint32_t(ntest)}, testLabels),
            gzip);
}

TEST(Idx, ReadsPlainAndGzip) {
  TempDir dir;
  const auto data = iota(2 * 3 * 4, 250);
  for (bool gz : {false, true}) {
    const std::string path = dir.file(gz ? "img.gz" : "img");
    writeFile(path, idxBytes(kIdxImagesMagic, {2, 3, 4}, data), gz);
    Tensor t = readIdx(path, kIdxImagesMagic);
    EXPECT_EQ(t.dtype(), DType::kUInt8);
    EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
    for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(t.data<uint8_t>()[i], data[i]) << "element " << i;
    // Either MNIST magic is accepted when none is asked for.
    EXPECT_EQ(readIdx(path).shape(), (Shape{2, 3, 4}));
  }
  const std::string labels = dir.file("labels");
  writeFile(labels, idxBytes(kIdxLabelsMagic, {5}, {1, 2, 3, 4, 9}), false);
  Tensor l = readIdx(labels, kIdxLabelsMagic);
  EXPECT_EQ(l.shape(), (Shape{5}));
  EXPECT_EQ(l.at(4), 9);
}

TEST(Idx, TruncatedFileNamesFileAndSizes) {
  TempDir dir;
  for (bool gz : {false, true}) {
    const std::string path = dir.file(gz ? "short.gz" : "short");
    writeFile(path, idxBytes(kIdxImagesMagic, {3, 2, 2}, iota(5)), gz);
    const std::string msg = errorOf([&] { readIdx(path, kIdxImagesMagic); });
    EXPECT_TRUE(contains(msg, path)) << msg;
    EXPECT_TRUE(contains(msg, "truncated")) << msg;
    EXPECT_TRUE(contains(msg, "12")) << msg;       // expected data bytes
    EXPECT_TRUE(contains(msg, "found 5")) << msg;  // what was there
    EXPECT_TRUE(contains(msg, "[3, 2, 2]")) << msg;
  }
  // A header cut in the middle of the dimensions.
  const std::string path = dir.file("header");
  auto bytes = idxBytes(kIdxImagesMagic, {3, 2, 2}, {});
  bytes.resize(9);
  writeFile(path, bytes, false);
  const std::string msg = errorOf([&] { readIdx(path); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "truncated")) << msg;
  // An empty file.
  writeFile(path, {}, false);
  EXPECT_TRUE(contains(errorOf([&] { readIdx(path); }), "truncated"));
}

TEST(Idx, BadMagicAndTrailingBytes) {
  TempDir dir;
  const std::string path = dir.file("bad");
  writeFile(path, idxBytes(0x00000804, {1, 1, 1, 1}, {0}), false);
  std::string msg = errorOf([&] { readIdx(path, kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "magic") && contains(msg, "0x00000804") &&
              contains(msg, "0x00000803"))
      << msg;
  EXPECT_TRUE(contains(errorOf([&] { readIdx(path); }), "magic"));
  // A labels file where images are expected.
  writeFile(path, idxBytes(kIdxLabelsMagic, {2}, {1, 2}), true);
  msg = errorOf([&] { readIdx(path, kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, "0x00000801") && contains(msg, "0x00000803")) << msg;
  // A float IDX file (type byte 0x0D) is not MNIST.
  writeFile(path, idxBytes(0x00000D01, {1}, {0, 0, 0, 0}), false);
  EXPECT_TRUE(contains(errorOf([&] { readIdx(path); }), "type byte"));
  // Trailing bytes mean the dimensions lie.
  writeFile(path, idxBytes(kIdxLabelsMagic, {2}, {1, 2, 3}), false);
  EXPECT_TRUE(contains(errorOf([&] { readIdx(path, kIdxLabelsMagic); }), "after the 2 data bytes"));
  // A missing file.
  msg = errorOf([&] { readIdx(dir.file("nope")); });
  EXPECT_TRUE(contains(msg, dir.file("nope")) && contains(msg, "does not exist")) << msg;
  // A corrupt gzip stream.
  auto gzBytes = idxBytes(kIdxLabelsMagic, {100}, iota(100));
  writeFile(path, gzBytes, true);
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 12, SEEK_SET);
  const unsigned char junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::fwrite(junk, 1, sizeof junk, f);
  std::fclose(f);
  EXPECT_THROW(readIdx(path, kIdxLabelsMagic), IoError);
}

TEST(Dataset, LoadsDirectoryPlainOrGzip) {
  for (bool gz : {false, true}) {
    TempDir dir;
    writeMnistDir(dir, 12, 5, gz);
    MnistData d = loadMnistDir(dir.path());
    EXPECT_EQ(d.dir, dir.path());
    EXPECT_EQ(d.train.images.shape(), (Shape{12, 1, 3, 4}));
    EXPECT_EQ(d.train.images.dtype(), DType::kUInt8);
    EXPECT_EQ(d.train.labels.shape(), (Shape{12}));
    EXPECT_EQ(d.train.labels.dtype(), DType::kInt64);
    EXPECT_EQ(d.train.size(), 12);
    EXPECT_EQ(d.test.size(), 5);
    EXPECT_EQ(d.train.labels.at(11), 1);
    EXPECT_EQ(d.test.labels.at(0), 9);
    EXPECT_EQ(d.train.images.at(13), 13);
    EXPECT_EQ(d.test.images.at(0), 7);
  }
}

TEST(Dataset, CountMismatchIsAnError) {
  TempDir dir;
  writeMnistDir(dir, 6, 2, false);
  writeFile(dir.file("train-labels-idx1-ubyte"), idxBytes(kIdxLabelsMagic, {5}, iota(5)), false);
  try {
    loadMnistDir(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(contains(msg, "6 images") && contains(msg, "5 labels")) << msg;
  }
}

TEST(Dataset, MissingDataListsEveryFileAndTheHint) {
  const std::string missingDir = "/nonexistent/singa-data-dir";
  std::string msg = errorOf([&] { loadMnistDir(missingDir); });
  for (const std::string& stem : mnistFileStems()) {
    EXPECT_TRUE(contains(msg, stem)) << msg;
    EXPECT_TRUE(contains(msg, stem + ".gz")) << msg;
  }
  EXPECT_TRUE(contains(msg, missingDir)) << msg;
  EXPECT_TRUE(contains(msg, "apt-get install dataset-fashion-mnist")) << msg;
  EXPECT_FALSE(contains(msg, "\n")) << "errors are one line: " << msg;

  // A directory with one file missing names it, and still lists everything.
  TempDir dir;
  writeMnistDir(dir, 4, 2, true);
  ASSERT_EQ(::unlink(dir.file("t10k-labels-idx1-ubyte.gz").c_str()), 0);
  msg = errorOf([&] { loadMnistDir(dir.path()); });
  EXPECT_TRUE(contains(msg, "lacks t10k-labels-idx1-ubyte")) << msg;
  EXPECT_TRUE(contains(msg, "train-images-idx3-ubyte.gz")) << msg;
  EXPECT_TRUE(contains(msg, dir.path())) << msg;
  EXPECT_TRUE(contains(msg, "apt-get install dataset-fashion-mnist")) << msg;
}

TEST(Dataset, ResolveDataSpec) {
  EXPECT_EQ(resolveDataSpec(""), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(resolveDataSpec("fashion-mnist"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(resolveDataSpec("mnist:/data/mnist"), "/data/mnist");
  EXPECT_EQ(resolveDataSpec("/some/dir"), "/some/dir");
  EXPECT_THROW(resolveDataSpec("mnist:"), ValueError);
}

TEST(Dataset, FashionMnistIfInstalled) {
  struct stat st {};
  if (::stat(kDefaultDataDir, &st) != 0) {
    GTEST_SKIP() << kDefaultDataDir << " is absent (apt-get install dataset-fashion-mnist provides it)";
  }
  MnistData d = loadDataSpec("fashion-mnist");
  EXPECT_EQ(d.train.images.shape(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(d.test.images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(d.train.size(), 60000);
  EXPECT_EQ(d.test.size(), 10000);
  for (const MnistSplit* s : {&d.train, &d.test}) {
    const int64_t* p = s->labels.data<int64_t>();
    std::vector<int64_t> counts(10, 0);
    for (int64_t i = 0; i < s->size(); ++i) {
      ASSERT_TRUE(p[i] >= 0 && p[i] <= 9) << "label " << p[i] << " at " << i;
      counts[p[i]]++;
    }
    for (int64_t c : counts) EXPECT_GT(c, 0);
  }
}

}  // namespace
}  // namespace singa
