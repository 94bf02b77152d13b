// safetensors encoding/decoding: a hand-built file decodes to the expected values, every dtype
// round-trips, the layout rules the Python reader enforces hold, and damaged input is rejected
// with errors that name the source and the tensor.
#include <gtest/gtest.h>

#include <cstring>

#include "singa/core/safetensors.h"
#include "singa/singa.h"

namespace singa::checkpoint {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// A file written by hand from the format description.
std::string handBuilt(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::string floatBytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.begin(), s.size());
  return s;
}

std::string errorOf(const std::string& bytes) {
  try {
    decodeSafetensors(bytes, "file 'x.safetensors'");
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, DecodesAHandBuiltFile) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[12,20]},)"
      R"("a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  int64_t seven = 7;
  std::string data = floatBytes({1.5f, -2.0f, 0.25f}) + std::string(reinterpret_cast<char*>(&seven), 8);
  std::map<std::string, std::string> meta;
  auto t = decodeSafetensors(handBuilt(header, data), "hand", &meta);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t["a"].shape(), (Shape{3}));
  EXPECT_EQ(t["a"].toVector<float>(), (std::vector<float>{1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(t["b"].dtype(), DType::kInt64);
  EXPECT_EQ(t["b"].ndim(), 0);
  EXPECT_EQ(t["b"].item(), 7.0);
  EXPECT_EQ(meta.at("format"), "pt");
}

TEST(Safetensors, RoundTripsEveryDtypeAndAlignsData) {
  std::map<std::string, Tensor> in;
  const DType all[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                       DType::kInt16,   DType::kInt32,   DType::kInt64,   DType::kUInt8,    DType::kBool};
  int k = 0;
  for (DType dt : all) {
    Tensor t = Tensor::arange(6, DType::kFloat64).reshape({2, 3}).to(dt);
    if (dt == DType::kBool) t = Tensor::fromVector<bool>({true, false, true, true, false, false}, {2, 3});
    in["t" + std::to_string(k++) + "." + dtypeName(dt)] = t;
  }
  in["empty"] = Tensor::zeros({0, 4});
  in["scalar"] = Tensor::scalar(3.5, DType::kFloat64);
  in["strided"] = Tensor::arange(12, DType::kFloat32).reshape({3, 4}).transpose(0, 1);  // non-contiguous
  const std::string bytes = encodeSafetensors(in, {{"format", "pt"}});
  uint64_t headerLen = 0;
  std::memcpy(&headerLen, bytes.data(), 8);
  EXPECT_EQ((8 + headerLen) % 8, 0u) << "data must start 8-byte aligned";
  auto out = decodeSafetensors(bytes, "rt");
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    const Tensor& u = out.at(name);
    EXPECT_EQ(u.shape(), t.shape()) << name;
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    Tensor c = t.contiguous();
    if (c.nbytes()) {
      EXPECT_EQ(0, std::memcmp(u.rawData(), c.rawData(), c.nbytes())) << name;
    }
  }
}

TEST(Safetensors, RejectsDamagedInputNamingSourceAndTensor) {
  const std::string good = encodeSafetensors({{"w", Tensor::ones({4, 4})}, {"v", Tensor::ones({2})}});
  // Truncated in the data: names the tensor whose bytes are missing.
  std::string e = errorOf(good.substr(0, good.size() - 3));
  EXPECT_TRUE(contains(e, "x.safetensors") && contains(e, "truncated") && contains(e, "'w'")) << e;
  // Truncated in the header or before it.
  EXPECT_TRUE(contains(errorOf(good.substr(0, 20)), "truncated"));
  EXPECT_TRUE(contains(errorOf(good.substr(0, 5)), "truncated"));
  // Trailing garbage.
  EXPECT_TRUE(contains(errorOf(good + "xyz"), "follow the last tensor"));
  // Huge header length.
  EXPECT_TRUE(contains(errorOf(le64(1ull << 62) + "{}"), "100 MB"));
  // Not JSON.
  EXPECT_TRUE(contains(errorOf(handBuilt("{nope", "")), "not a JSON object"));
  // Unknown dtype, size mismatch, gap, overlap, negative shape.
  e = errorOf(handBuilt(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x"));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "F8")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "xxxx"));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "needs 8 bytes")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xx"));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "gapped")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                        R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xxx"));
  EXPECT_TRUE(contains(e, "'b'") && contains(e, "overlapping")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "non-negative")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "too large")) << e;
  e = errorOf(handBuilt(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x07", 2)));
  EXPECT_TRUE(contains(e, "'a'") && contains(e, "only 0 and 1")) << e;
  e = errorOf(handBuilt(R"({"__metadata__":{"k":3}})", ""));
  EXPECT_TRUE(contains(e, "__metadata__")) << e;
}

}  // namespace
}  // namespace singa::checkpoint
