// CIFAR binary and NumPy .npy sources: the formats as their writers produce them (numpy.save's
// header layout, the CIFAR binary records), values checked element by element, and every kind
// of damaged file refused with an error naming it.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "singa/core/error.h"
#include "singa/data/cifar.h"
#include "singa/data/dataset.h"
#include "singa/data/npy.h"
#include "tests/data/scratch_dir.h"

namespace singa {
namespace {

namespace fs = std::filesystem;

// numpy.save's layout: magic, version, header length, the dict padded with spaces and ended by
// '\n' so that the data starts at a multiple of 64 bytes.
std::string npyBytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = 8 + (major == 1 ? 2 : 4);
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const size_t len = header.size();
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((len >> (8 * i)) & 0xFF);
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class ScratchDir : public test::ScratchDirTest {};

using test::errorOf;

TEST(Npy, ReadsWhatNumpySaveWrites) {
  const std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  Tensor t = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw(f)), "f");
  ASSERT_EQ(t.dtype(), DType::kFloat32);
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t.at(i), f[static_cast<size_t>(i)]);

  const std::vector<uint8_t> u = {0, 1, 2, 200, 255, 7, 8, 9};
  t = parseNpy(npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 2, 2), }", raw(u), 2), "u");
  ASSERT_EQ(t.dtype(), DType::kUInt8);
  ASSERT_EQ(t.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(t.at(3), 200);
  EXPECT_EQ(t.at(4), 255);

  const std::vector<int64_t> l = {3, 0, 9, 1};
  t = parseNpy(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", raw(l), 3), "l");
  ASSERT_EQ(t.dtype(), DType::kInt64);
  ASSERT_EQ(t.shape(), (Shape{4}));
  EXPECT_EQ(t.at(2), 9);

  // Keys in another order, double quotes, a 0-d array and an empty one.
  const std::vector<double> d = {2.5};
  t = parseNpy(npyBytes("{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f8\"}", raw(d)), "d");
  EXPECT_EQ(t.ndim(), 0);
  EXPECT_EQ(t.item(), 2.5);
  t = parseNpy(npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 5), }", ""), "e");
  EXPECT_EQ(t.shape(), (Shape{0, 5}));

  // Bool bytes other than 0 and 1 are normalised (a byte of 2 read as bool is undefined).
  const std::vector<uint8_t> b = {0, 1, 2, 255};
  t = parseNpy(npyBytes("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", raw(b)), "b");
  EXPECT_EQ(t.at(2), 1);
  EXPECT_EQ(t.at(3), 1);
}

TEST(Npy, FilesWrittenByNumpy) {
  // Written by numpy.save / numpy.lib.format.write_array (tests/fuzz/corpus/npy, the fuzzer's seeds).
  const std::string dir = SINGA_NPY_SAMPLES;
  Tensor t = loadNpy(dir + "/uint8_4d.npy");  // np.arange(18, dtype=uint8).reshape(2, 1, 3, 3)
  ASSERT_EQ(t.shape(), (Shape{2, 1, 3, 3}));
  for (int64_t i = 0; i < 18; ++i) EXPECT_EQ(t.at(i), i);
  t = loadNpy(dir + "/float32_2d.npy");  // np.linspace(-1, 1, 6, dtype=float32).reshape(2, 3)
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(static_cast<float>(t.at(i)), -1.0f + 0.4f * static_cast<float>(i));
  t = loadNpy(dir + "/v2_float32.npy");  // format 2.0, ones((2, 2))
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.at(3), 1.0);
  t = loadNpy(dir + "/scalar_f8.npy");
  EXPECT_EQ(t.ndim(), 0);
  EXPECT_EQ(t.item(), 2.5);
  t = loadNpy(dir + "/bool.npy");
  EXPECT_EQ(t.dtype(), DType::kBool);
  EXPECT_EQ(t.at(1), 0);
  EXPECT_EQ(loadNpy(dir + "/empty_i4.npy").shape(), (Shape{0, 5}));
  EXPECT_NE(errorOf([&] { loadNpy(dir + "/fortran.npy"); }).find("numpy.ascontiguousarray"), std::string::npos);
  EXPECT_NE(errorOf([&] { loadNpy(dir + "/bigendian.npy"); }).find("big-endian"), std::string::npos);
  EXPECT_NE(errorOf([&] { loadNpy(dir + "/missing.npy"); }).find("missing.npy"), std::string::npos);
}

TEST(Npy, DamagedFilesAreRefusedNamingTheProblem) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data = raw(std::vector<float>{1, 2});
  struct Case {
    const char* name;
    std::string bytes;
    const char* want;
  };
  std::string badMagic = npyBytes(ok, data);
  badMagic[1] = 'X';
  std::string hugeLen = npyBytes(ok, data);
  hugeLen[8] = '\xff';
  hugeLen[9] = '\xff';
  const std::vector<Case> cases = {
      {"not npy", "hello world, not an array", "no \\x93NUMPY magic"},
      {"bad magic", badMagic, "no \\x93NUMPY magic"},
      {"version 4", [&] { std::string s = npyBytes(ok, data); s[6] = 4; return s; }(), "version 4.0 is not supported"},
      {"ends in header", npyBytes(ok, data).substr(0, 40), "ends inside its header"},
      {"header length past the file", hugeLen, "ends inside its header"},
      {"big-endian", npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", data), "big-endian"},
      {"fortran order", npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", data), "Fortran-order"},
      {"complex", npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data), "is not supported"},
      {"structured", npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data),
       "malformed .npy header"},
      {"unknown key", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data),
       "unknown key 'x'"},
      {"repeated key", npyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data),
       "repeats 'descr'"},
      {"missing shape", npyBytes("{'descr': '<f4', 'fortran_order': False}", data), "lacks 'shape'"},
      {"negative dim", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data),
       "a dimension (a non-negative integer)"},
      {"dim past int64", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", data),
       "does not fit 64 bits"},
      {"shape overflows", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data),
       "more elements than a 64-bit count"},
      {"short data", npyBytes(ok, data.substr(0, 5)), "truncated"},
      {"trailing data", npyBytes(ok, data + "xyz"), "trailing bytes"},
      {"text after dict", npyBytes(ok + " junk", data), "text after the closing"},
      {"unterminated string", npyBytes("{'descr: '<f4'", data), "malformed .npy header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string msg = errorOf([&] { parseNpy(c.bytes, "'x.npy'"); });
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_NE(msg.find("x.npy"), std::string::npos) << msg;
  }
}

TEST_F(ScratchDir, NpySpecLoadsImagesAndLabels) {
  std::vector<uint8_t> px(3 * 1 * 4 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 5);
  const std::string images = write("x.npy", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1, 4, 4), }", raw(px)));
  const std::string labels = write("y.npy", npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                                                     raw(std::vector<int32_t>{2, 0, 1})));
  MnistData d = loadDataSpec("npy:" + images + "," + labels);
  ASSERT_EQ(d.train.size(), 3);
  EXPECT_EQ(d.test.size(), 0);
  EXPECT_EQ(d.train.labels.dtype(), DType::kInt64);
  EXPECT_EQ(d.train.labels.at(0), 2);
  EXPECT_EQ(d.train.images.at(17), 85);
  EXPECT_EQ(loadEvalSplit("npy:" + images + "," + labels).size(), 3);

  const std::string wrongCount = write("y2.npy", npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                                                          raw(std::vector<int64_t>{0, 1})));
  EXPECT_NE(errorOf([&] { loadDataSpec("npy:" + images + "," + wrongCount); }).find("one integer per image ([3])"),
            std::string::npos);
  const std::string negative = write("y3.npy", npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                                                        raw(std::vector<int64_t>{0, -1, 1})));
  EXPECT_NE(errorOf([&] { loadDataSpec("npy:" + images + "," + negative); }).find("holds label -1"), std::string::npos);
  const std::string floatLabels = write("y4.npy", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                                                           raw(std::vector<float>{0, 1, 2})));
  EXPECT_NE(errorOf([&] { loadDataSpec("npy:" + images + "," + floatLabels); }).find("save integers"), std::string::npos);
  EXPECT_NE(errorOf([&] { loadDataSpec("npy:" + images); }).find("two files, one comma"), std::string::npos);
  EXPECT_NE(errorOf([&] { loadDataSpec("npy:" + images + ",/nonexistent/y.npy"); }).find("/nonexistent/y.npy"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { loadDataSpec("imagenet:/data"); }).find("unknown kind 'imagenet'"), std::string::npos);
}

// CIFAR binary records: [label bytes][1024 red][1024 green][1024 blue].
std::string cifarRecords(int labelBytes, const std::vector<int>& labels, int seed) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labelBytes == 2) out += static_cast<char>(labels[i] / 5);  // the coarse label
    out += static_cast<char>(labels[i]);
    for (int p = 0; p < 3072; ++p) out += static_cast<char>((p * 7 + static_cast<int>(i) * 13 + seed) & 0xFF);
  }
  return out;
}

TEST_F(ScratchDir, Cifar10And100) {
  for (int b = 1; b <= 5; ++b) write("data_batch_" + std::to_string(b) + ".bin", cifarRecords(1, {b, 9, 0}, b));
  write("test_batch.bin", cifarRecords(1, {4, 5}, 9));
  MnistData d = loadDataSpec("cifar10:" + dir_.string());
  ASSERT_EQ(d.train.size(), 15);
  ASSERT_EQ(d.test.size(), 2);
  EXPECT_EQ(d.train.images.shape(), (Shape{15, 3, 32, 32}));
  EXPECT_EQ(d.train.labels.at(3), 2);  // data_batch_2's first record
  EXPECT_EQ(d.train.labels.at(4), 9);
  // Record 1 of data_batch_2 (sample 4): pixel p of it is (p * 7 + 1 * 13 + 2) & 0xFF; p = 1024 is
  // the first green value, [4, 1, 0, 0].
  EXPECT_EQ(d.train.images.at(4 * 3072 + 1024), (1024 * 7 + 13 + 2) & 0xFF);
  EXPECT_EQ(d.test.labels.at(1), 5);

  // A truncated batch, a CIFAR-100 label byte, a missing file: each named.
  write("data_batch_3.bin", cifarRecords(1, {1, 2}, 3).substr(0, 5000));
  std::string msg = errorOf([&] { loadDataSpec("cifar10:" + dir_.string()); });
  EXPECT_NE(msg.find("data_batch_3.bin' holds 5000 bytes"), std::string::npos) << msg;
  write("data_batch_3.bin", cifarRecords(1, {1, 42}, 3));
  msg = errorOf([&] { loadDataSpec("cifar10:" + dir_.string()); });
  EXPECT_NE(msg.find("record 1 has label 42"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cifar100:DIR"), std::string::npos) << msg;
  fs::remove(dir_ / "test_batch.bin");
  msg = errorOf([&] { loadDataSpec("cifar10:" + dir_.string()); });
  EXPECT_NE(msg.find("missing " + (dir_ / "test_batch.bin").string()), std::string::npos) << msg;

  write("train.bin", cifarRecords(2, {99, 0, 57}, 1));
  write("test.bin", cifarRecords(2, {12}, 2));
  d = loadDataSpec("cifar100:" + dir_.string());
  ASSERT_EQ(d.train.size(), 3);
  EXPECT_EQ(d.train.labels.at(0), 99);  // the fine label, not the coarse one
  EXPECT_EQ(d.train.labels.at(2), 57);
  EXPECT_EQ(d.train.images.at(3072 + 5), (5 * 7 + 13 + 1) & 0xFF);
  // CIFAR-10 files read as CIFAR-100 (3073-byte records) are not a whole number of 3074-byte ones.
  write("train.bin", cifarRecords(1, {1, 2}, 1));
  msg = errorOf([&] { loadDataSpec("cifar100:" + dir_.string()); });
  EXPECT_NE(msg.find("CIFAR-10 file: use cifar10:DIR"), std::string::npos) << msg;
}

}  // namespace
}  // namespace singa
