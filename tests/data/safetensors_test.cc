// safetensors files as a data source: files written by Python's safetensors package
// (tests/fuzz/corpus/safetensors, made by tests/fuzz/gen_safetensors_corpus.py, whose docstring
// gives every value's formula) read element by element; data splits and the safetensors: spec;
// save/load round trips; and damaged files, built here byte by byte, refused with an error that
// names the file and what is wrong.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "singa/core/error.h"
#include "singa/data/dataset.h"
#include "singa/data/safetensors.h"
#include "tests/data/scratch_dir.h"

namespace singa {
namespace {

namespace fs = std::filesystem;

const std::string kSamples = SINGA_SAFETENSORS_SAMPLES;

// The format, written from its description: an 8-byte little-endian header length, the JSON
// header, the data.
std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
std::string fileBytes(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

using test::errorOf;

template <class T>
std::vector<T> valuesOf(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DTypeOf<T>::value);
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

class SafetensorsFiles : public test::ScratchDirTest {};

TEST(Safetensors, ReadsEveryDtypeThePythonPackageWrites) {
  std::map<std::string, Tensor> t = loadSafetensors(kSamples + "/dtypes.safetensors");
  ASSERT_EQ(t.size(), 14u);
  EXPECT_EQ(t["f32"].shape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf<float>(t["f32"]), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1, 1.5f}));
  EXPECT_EQ(valuesOf<double>(t["f64"]), (std::vector<double>{1e10, 1e10 + 0.25, 1e10 + 0.5}));
  ASSERT_EQ(t["f16"].dtype(), DType::kFloat16);
  EXPECT_EQ(t["f16"].shape(), (Shape{2, 2}));
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(static_cast<float>(t["f16"].data<Half>()[i]), static_cast<float>(i) - 1.5f);
  EXPECT_EQ(valuesOf<int8_t>(t["i8"]), (std::vector<int8_t>{-128, -88, -48, -8}));
  EXPECT_EQ(valuesOf<int16_t>(t["i16"]), (std::vector<int16_t>{-30000, -29000, -28000}));
  EXPECT_EQ(valuesOf<int32_t>(t["i32"]), (std::vector<int32_t>{-7, 99993, 199993, 299993}));
  EXPECT_EQ(t["i32"].shape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf<int64_t>(t["i64"]), (std::vector<int64_t>{-5, (int64_t{1} << 40) - 5, (int64_t{1} << 41) - 5}));
  EXPECT_EQ(valuesOf<uint8_t>(t["u8"]), (std::vector<uint8_t>{0, 60, 120, 180, 240}));
  EXPECT_EQ(valuesOf<uint16_t>(t["u16"]), (std::vector<uint16_t>{0, 65535}));
  EXPECT_EQ(valuesOf<uint32_t>(t["u32"]), (std::vector<uint32_t>{7, 4294967295u}));
  EXPECT_EQ(valuesOf<uint64_t>(t["u64"]), (std::vector<uint64_t>{9, UINT64_MAX}));
  EXPECT_EQ(valuesOf<bool>(t["bool"]), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(t["scalar"].ndim(), 0);
  EXPECT_EQ(t["scalar"].item(), 3.5);
  EXPECT_EQ(t["empty"].shape(), (Shape{0, 3}));
  EXPECT_TRUE(loadSafetensors(kSamples + "/no_tensors.safetensors").empty());
}

TEST(Safetensors, ReadsOnlyTheNamedTensors) {
  std::map<std::string, Tensor> t = loadSafetensors(kSamples + "/dtypes.safetensors", {"i64", "u8", "i64"});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t["u8"].at(4), 240);
  const std::string msg = errorOf([&] { loadSafetensors(kSamples + "/dtypes.safetensors", {"weights"}); });
  EXPECT_NE(msg.find("dtypes.safetensors' has no tensor 'weights'; it holds 'u64', 'i64'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'bool'"), std::string::npos) << msg;
}

TEST(Safetensors, SplitsAndSpecsFromPythonFiles) {
  const std::string u8 = kSamples + "/split_u8.safetensors";
  MnistSplit s = loadSafetensorsSplit(u8);
  ASSERT_EQ(s.size(), 6);
  EXPECT_EQ(s.images.dtype(), DType::kUInt8);
  EXPECT_EQ(s.images.shape(), (Shape{6, 1, 4, 4}));
  for (int64_t i = 0; i < 96; ++i) EXPECT_EQ(s.images.at(i), (i * 2) % 256);
  EXPECT_EQ(valuesOf<int64_t>(s.labels), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));

  MnistData d = loadDataSpec("safetensors:" + kSamples + "/split_f32.safetensors");
  EXPECT_EQ(d.test.size(), 0);  // a training split only
  ASSERT_EQ(d.train.images.shape(), (Shape{4, 3, 2, 2}));
  for (int64_t i = 0; i < 48; ++i) EXPECT_EQ(d.train.images.at(i), static_cast<double>(i) / 8 - 2);
  EXPECT_EQ(valuesOf<int64_t>(d.train.labels), (std::vector<int64_t>{3, 0, 2, 1}));
  EXPECT_EQ(loadEvalSplit("safetensors:" + u8).size(), 6);

  // Token ids under other keys.
  d = loadDataSpec("safetensors:" + kSamples + "/tokens.safetensors:input_ids,targets");
  ASSERT_EQ(d.train.images.dtype(), DType::kInt64);
  ASSERT_EQ(d.train.images.shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(d.train.images.data<int64_t>()[i], i * 1000003);
  EXPECT_EQ(valuesOf<int64_t>(d.train.labels), (std::vector<int64_t>{1, 0, 1}));

  std::string msg = errorOf([&] { loadDataSpec("safetensors:" + kSamples + "/tokens.safetensors"); });
  EXPECT_NE(msg.find("has no tensor 'images'; it holds 'input_ids', 'targets'; name the images and labels with "
                     "safetensors:FILE:IMAGES_KEY,LABELS_KEY"),
            std::string::npos)
      << msg;
  msg = errorOf([&] { loadDataSpec("safetensors:" + u8 + ":images,"); });
  EXPECT_NE(msg.find("use safetensors:FILE or safetensors:FILE:IMAGES_KEY,LABELS_KEY"), std::string::npos) << msg;
  msg = errorOf([&] { loadDataSpec("safetensors:"); });
  EXPECT_NE(msg.find("use safetensors:FILE"), std::string::npos) << msg;
  msg = errorOf([&] { loadDataSpec("safetensors:/nonexistent/d.safetensors"); });
  EXPECT_NE(msg.find("safetensors file '/nonexistent/d.safetensors' does not exist"), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, SaveLoadRoundTrip) {
  std::map<std::string, Tensor> in = loadSafetensors(kSamples + "/dtypes.safetensors");
  // A non-contiguous view is written as its elements in order.
  Tensor m = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  in["transposed"] = makeView(m, {3, 2}, {1, 3}, 0);
  in["bf16"] = Tensor({3}, DType::kBFloat16);
  for (int i = 0; i < 3; ++i) in["bf16"].data<BFloat16>()[i] = BFloat16(static_cast<float>(i) * 0.5f - 1);
  const std::string path = (dir_ / "out.safetensors").string();
  saveSafetensors(path, in);
  std::map<std::string, Tensor> out = loadSafetensors(path);
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    const Tensor c = t.contiguous();
    ASSERT_EQ(out[name].dtype(), c.dtype());
    ASSERT_EQ(out[name].shape(), c.shape());
    EXPECT_EQ(std::memcmp(out[name].rawData(), c.rawData(), c.nbytes()), 0);
  }
  EXPECT_EQ(valuesOf<float>(out["transposed"]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Replaced whole; a directory in the way is named.
  saveSafetensors(path, {{"x", Tensor::ones({2})}});
  EXPECT_EQ(loadSafetensors(path).size(), 1u);
  const std::string msg = errorOf([&] { saveSafetensors(dir_.string(), {{"x", Tensor::ones({2})}}); });
  EXPECT_NE(msg.find(dir_.string()), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, DamagedFilesAreRefusedNamingFileAndProblem) {
  const std::string f32x4 = raw(std::vector<float>{1, 2, 3, 4});
  const std::string a = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  const std::string good = fileBytes("{" + a + "}", f32x4);
  struct Case {
    const char* name;
    std::string bytes;
    const char* want;
  };
  std::string hugeLen = good;
  hugeLen.replace(0, 8, le64(uint64_t{1} << 63));
  std::string pastEnd = good;
  pastEnd.replace(0, 8, le64(good.size() - 8 + 1));
  const std::vector<Case> cases = {
      {"empty file", "", "fewer than the 8-byte header length"},
      {"short file", "abc", "fewer than the 8-byte header length"},
      {"header length past the end", pastEnd, "is truncated: its header needs"},
      {"huge header length", hugeLen, "exceeds the 100 MB limit"},
      {"not json", fileBytes("hello", ""), "its header is not a JSON object"},
      {"a json array", fileBytes("[1, 2]", ""), "its header is not a JSON object"},
      {"a json string", fileBytes("\"a\"", ""), "its header is not a JSON object"},
      {"deep nesting", fileBytes(std::string(5000, '[') + std::string(5000, ']'), ""), "nests JSON more than 16"},
      {"repeated name", fileBytes("{" + a + "," + a + "}", f32x4), "names tensor 'a' twice"},
      {"offsets past the data", fileBytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})", f32x4),
       "starts at data byte 8 but the previous tensor ends at 0"},
      {"end past the data", fileBytes(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", f32x4),
       "needs data bytes [0, 32) but the file holds 16"},
      {"begin after end", fileBytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})", f32x4),
       "end before they begin"},
      {"overlapping tensors",
       fileBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                 f32x4),
       "overlapping or gapped data_offsets"},
      {"size disagrees with shape", fileBytes(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", f32x4),
       "needs 24 bytes but data_offsets [0, 16] hold 16"},
      {"negative dimension", fileBytes(R"({"a":{"dtype":"F32","shape":[-4,-1],"data_offsets":[0,16]}})", f32x4),
       "not a non-negative integer"},
      {"dimension past int64", fileBytes(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,16]}})", f32x4),
       "not a non-negative integer"},
      {"shape whose size overflows",
       fileBytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})", f32x4),
       "is too large to be real"},
      {"zero-size shape whose strides overflow",
       fileBytes(R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""),
       "is too large to be real"},
      {"fractional dimension", fileBytes(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,16]}})", f32x4),
       "not a non-negative integer"},
      {"unknown dtype", fileBytes(R"({"a":{"dtype":"C64","shape":[16],"data_offsets":[0,16]}})", f32x4),
       "tensor 'a' has dtype 'C64', which singa does not read"},
      {"no dtype", fileBytes(R"({"a":{"shape":[4],"data_offsets":[0,16]}})", f32x4), "has no string 'dtype'"},
      {"entry not an object", fileBytes(R"({"a":[1,2]})", f32x4), "not a JSON object"},
      {"metadata not strings", fileBytes(R"({"__metadata__":{"k":1}})", ""), "__metadata__ entry 'k' is not a string"},
      {"bool byte 2", fileBytes(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2)),
       "(BOOL) holds byte 2"},
      {"trailing bytes", good + "xyz", "3 bytes follow the last tensor's data"},
      {"truncated data", good.substr(0, good.size() - 1), "is truncated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = write("bad.safetensors", c.bytes);
    const std::string msg = errorOf([&] { loadSafetensors(path); });
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_NE(msg.find("safetensors file '" + path + "'"), std::string::npos) << msg;
  }
  EXPECT_EQ(loadSafetensors(write("good.safetensors", good)).at("a").at(3), 4.0);
  // A directory or a FIFO is refused up front (a FIFO would block a reader forever).
  EXPECT_NE(errorOf([&] { loadSafetensors(dir_.string()); }).find("is not a regular file (it is a directory)"),
            std::string::npos);
  const std::string fifo = (dir_ / "fifo.safetensors").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(errorOf([&] { loadSafetensors(fifo); }).find("is not a regular file (it is a FIFO)"), std::string::npos);
}

TEST_F(SafetensorsFiles, SplitsAreCheckedAsNpySplitsAre) {
  const std::string images = R"("images":{"dtype":"U8","shape":[3,1,2,2],"data_offsets":[0,12]})";
  const std::string px(12, '\x07');
  auto split = [&](const std::string& labels, const std::string& labelBytes, const std::string& img = "",
                   const std::string& imgBytes = "") {
    const std::string i = img.empty() ? images : img;
    const std::string p = write("s.safetensors", fileBytes("{" + i + "," + labels + "}", (img.empty() ? px : imgBytes) + labelBytes));
    return errorOf([&] { loadSafetensorsSplit(p); });
  };
  auto labels = [](const char* dtype, const char* shape, size_t begin, size_t end) {
    return std::string(R"("labels":{"dtype":")") + dtype + R"(","shape":)" + shape + R"(,"data_offsets":[)" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
  };
  const std::string three = raw(std::vector<int64_t>{0, 1, 2});
  EXPECT_EQ(split(labels("I64", "[3]", 12, 36), three), "(no error)");
  EXPECT_NE(split(labels("I64", "[3]", 12, 36), raw(std::vector<int64_t>{0, -1, 2})).find("tensor 'labels' holds label -1 at 1"),
            std::string::npos);
  EXPECT_NE(split(labels("I64", "[2]", 12, 28), raw(std::vector<int64_t>{0, 1})).find("labels must be one integer per image ([3])"),
            std::string::npos);
  EXPECT_NE(split(labels("I64", "[3,1]", 12, 36), three).find("labels of shape [3, 1]"), std::string::npos);
  EXPECT_NE(split(labels("F32", "[3]", 12, 24), raw(std::vector<float>{0, 1, 2})).find("float32 labels; save integers"),
            std::string::npos);
  EXPECT_NE(split(R"("label":{"dtype":"I64","shape":[3],"data_offsets":[12,36]})", three)
                .find("has no tensor 'labels'; it holds 'images', 'label'"),
            std::string::npos);
  const std::string lab = labels("I64", "[3]", 24, 48);
  EXPECT_NE(split(lab, three, R"("images":{"dtype":"F64","shape":[3,1],"data_offsets":[0,24]})", std::string(24, '\0'))
                .find("tensor 'images' holds float64 images; save uint8"),
            std::string::npos);
  EXPECT_NE(split(lab, three, R"("images":{"dtype":"F32","shape":[6],"data_offsets":[0,24]})", std::string(24, '\0'))
                .find("holds an array of shape [6]; images need a leading sample axis"),
            std::string::npos);
  EXPECT_NE(split(lab, three, R"("images":{"dtype":"I64","shape":[3,1],"data_offsets":[0,24]})",
                  raw(std::vector<int64_t>{4, -9, 1}))
                .find("holds token id -9 at 1"),
            std::string::npos);
  EXPECT_NE(split(labels("I64", "[3]", 12, 36), three, R"("images":{"dtype":"I32","shape":[3,1,1],"data_offsets":[0,12]})",
                  raw(std::vector<int32_t>{1, 2, 3}))
                .find("token ids are one sequence per sample ([N, T])"),
            std::string::npos);
  EXPECT_EQ(split(labels("U8", "[3]", 12, 15), std::string("\x01\x00\x02", 3)), "(no error)");
}

}  // namespace
}  // namespace singa
