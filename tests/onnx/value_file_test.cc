// readValueFile / writeValueFile against files the onnx package wrote (tests/onnx/value_files,
// from gen_value_files.py: numpy_helper.from_list / from_optional, helper.make_sequence /
// make_map), ONNX's own backend-test folders through the case runner, and hostile files:
// truncated, millions of declared items, huge dims inside an item, files of the wrong kind,
// garbage. Every failure must be a singa::Error naming the file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>  // before onnx-data.pb.h: defines ONNX_API
#include <onnx/onnx-data.pb.h>

#include "singa/core/error.h"
#include "singa/onnx/backend_test.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/onnx/value_file.h"

namespace fs = std::filesystem;

namespace singa {
namespace {

using onnxio::Value;
using onnxio::ValueInfo;

const std::string kFiles = SINGA_ONNX_VALUE_FILES;

std::string fixture(const std::string& name) { return kFiles + "/" + name; }

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ValueInfo declared(const std::string& name, bool sequence, bool optional, DType dtype = DType::kFloat32) {
  ValueInfo vi;
  vi.name = name;
  vi.declared = true;
  vi.sequence = sequence;
  vi.optional = optional;
  vi.hasType = true;
  vi.dtype = dtype;
  return vi;
}
ValueInfo tensorDecl(const std::string& name = "x") { return declared(name, false, false); }
ValueInfo sequenceDecl(const std::string& name = "s") { return declared(name, true, false); }
ValueInfo undeclared() { return ValueInfo(); }

const std::vector<float> kA = {1, 2, 3, 4, 5, 6};  // float32[2, 3], as gen_value_files.py
const std::vector<float> kB = {-1.5f, 0.25f};     // float32[2]
const std::vector<int64_t> kC = {7, 8, 9};        // int64[3]

class ValueFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("singa_value_file_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// The error `fn` throws, as text; fails the test unless it is of type E and names `file`.
template <class E, class Fn>
std::string errorOf(Fn fn, const std::string& file) {
  try {
    fn();
  } catch (const E& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file), std::string::npos) << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception for " << file;
  return "";
}

// A protobuf base-128 varint (a length prefix).
std::string varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7f) | 0x80);
  out += static_cast<char>(v);
  return out;
}

void expectSequence(const Value& v, size_t items) {
  ASSERT_EQ(v.kind, Value::Kind::kSequence) << v.describe();
  ASSERT_EQ(v.sequence.size(), items);
}

TEST_F(ValueFileTest, ReadsSequencesAsOnnxWritesThem) {
  for (const char* name : {"seq_float.pb", "seq_typed_fields.pb"}) {
    SCOPED_TRACE(name);
    for (const ValueInfo& vi : {sequenceDecl(), undeclared()}) {
      Value v = onnxio::readValueFile(fixture(name), vi);
      expectSequence(v, 2);
      EXPECT_EQ(v.sequence[0].shape(), (Shape{2, 3}));
      EXPECT_EQ(v.sequence[0].toVector<float>(), kA);
      EXPECT_EQ(v.sequence[1].toVector<float>(), kB);
    }
  }
  Value empty = onnxio::readValueFile(fixture("seq_empty.pb"), declared("e", true, false, DType::kInt64));
  expectSequence(empty, 0);
  EXPECT_EQ(empty.elemType, DType::kInt64);  // from the declaration
}

TEST_F(ValueFileTest, ReadsOptionalsAsOnnxWritesThem) {
  Value t = onnxio::readValueFile(fixture("opt_tensor.pb"), declared("o", false, true, DType::kInt64));
  ASSERT_TRUE(t.isTensor());
  EXPECT_EQ(t.tensor.toVector<int64_t>(), kC);
  Value s = onnxio::readValueFile(fixture("opt_seq.pb"), declared("o", true, true));
  expectSequence(s, 2);
  EXPECT_EQ(s.sequence[1].toVector<float>(), kB);
  for (const ValueInfo& vi : {declared("o", false, true), declared("o", true, true)}) {
    EXPECT_EQ(onnxio::readValueFile(fixture("opt_none.pb"), vi).kind, Value::Kind::kNone);
  }
  // A bare tensor or sequence file is the optional holding it.
  EXPECT_EQ(onnxio::readValueFile(fixture("tensor.pb"), declared("o", false, true)).tensor.toVector<float>(), kA);
  expectSequence(onnxio::readValueFile(fixture("seq_float.pb"), declared("o", true, true)), 2);
  // The undeclared optional of a sequence (field sequence_value) is read as that sequence.
  expectSequence(onnxio::readValueFile(fixture("opt_seq.pb"), undeclared()), 2);
}

TEST_F(ValueFileTest, TensorFilesStillReadAsTensors) {
  for (const ValueInfo& vi : {tensorDecl(), undeclared()}) {
    Value v = onnxio::readValueFile(fixture("tensor.pb"), vi);
    ASSERT_TRUE(v.isTensor());
    EXPECT_EQ(v.tensor.toVector<float>(), kA);
  }
}

// The written files are byte for byte what numpy_helper writes for the same values.
TEST_F(ValueFileTest, WritesWhatOnnxWrites) {
  const Tensor a = Tensor::fromVector(kA, {2, 3}), b = Tensor::fromVector(kB, {2});
  const Tensor c = Tensor::fromVector(kC, {3});
  struct Case {
    const char* want;
    Value value;
    ValueInfo vi;
  };
  const std::vector<Case> cases = {
      {"want_seq.pb", Value::ofSequence({a, b}), sequenceDecl("y")},
      {"want_opt_seq.pb", Value::ofSequence({a, b}), declared("y", true, true)},
      {"want_opt_tensor.pb", Value(c), declared("y", false, true, DType::kInt64)},
      {"want_opt_none.pb", Value::none(), declared("y", false, true)},
      {"want_tensor.pb", Value(a), tensorDecl("y")},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.want);
    const std::string out = path(k.want);
    onnxio::writeValueFile(k.value, k.vi, out);
    EXPECT_EQ(readBytes(out), readBytes(fixture(k.want)));
    Value back = onnxio::readValueFile(out, k.vi);
    EXPECT_EQ(back.kind, k.value.kind);
  }
  EXPECT_STREQ(onnxio::valueFileKind(Value::none(), tensorDecl()), "OptionalProto");
  EXPECT_STREQ(onnxio::valueFileKind(Value(a), declared("y", false, true)), "OptionalProto");
  EXPECT_STREQ(onnxio::valueFileKind(Value::ofSequence({a}), sequenceDecl()), "SequenceProto");
}

TEST_F(ValueFileTest, WrongKindNamesWhatTheFileHoldsAndTheFix) {
  const std::string seq = fixture("seq_float.pb");
  std::string e = errorOf<TypeError>([&] { onnxio::readValueFile(seq, tensorDecl()); }, seq);
  EXPECT_NE(e.find("holds a SequenceProto"), std::string::npos) << e;
  EXPECT_NE(e.find("give a TensorProto"), std::string::npos) << e;
  const std::string opt = fixture("opt_seq.pb");
  e = errorOf<TypeError>([&] { onnxio::readValueFile(opt, tensorDecl()); }, opt);
  EXPECT_NE(e.find("OptionalProto"), std::string::npos) << e;
  const std::string tensor = fixture("tensor.pb");
  e = errorOf<TypeError>([&] { onnxio::readValueFile(tensor, sequenceDecl()); }, tensor);
  EXPECT_NE(e.find("holds a TensorProto"), std::string::npos) << e;
  EXPECT_NE(e.find("numpy_helper.from_list"), std::string::npos) << e;
  const std::string map = fixture("map.pb");
  e = errorOf<TypeError>([&] { onnxio::readValueFile(map, sequenceDecl()); }, map);
  EXPECT_NE(e.find("MapProto"), std::string::npos) << e;
}

TEST_F(ValueFileTest, UnsupportedKindsAreNotSupportedErrors) {
  const std::string map = fixture("map.pb");
  std::string e = errorOf<NotSupportedError>([&] { onnxio::readValueFile(map, undeclared()); }, map);
  EXPECT_NE(e.find("maps are not supported"), std::string::npos) << e;
  const std::string nested = fixture("seq_nested.pb");
  e = errorOf<NotSupportedError>([&] { onnxio::readValueFile(nested, sequenceDecl()); }, nested);
  EXPECT_NE(e.find("sequence of sequences"), std::string::npos) << e;
  const std::string oo = fixture("opt_of_opt.pb");
  e = errorOf<NotSupportedError>([&] { onnxio::readValueFile(oo, declared("oo", false, true)); }, oo);
  EXPECT_NE(e.find("optional"), std::string::npos) << e;
  const std::string mixed = fixture("seq_mixed_dtypes.pb");
  e = errorOf<TypeError>([&] { onnxio::readValueFile(mixed, undeclared()); }, mixed);
  EXPECT_NE(e.find("item 1 is int64"), std::string::npos) << e;
}

TEST_F(ValueFileTest, HostileFilesAreClearErrors) {
  const std::string whole = readBytes(fixture("seq_float.pb"));
  // Truncated at every length: an error or (for prefixes that are whole messages) a value, never a crash.
  for (size_t n = 1; n < whole.size(); ++n) {
    const std::string p = write("cut.pb", whole.substr(0, n));
    try {
      onnxio::readValueFile(p, sequenceDecl());
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  const std::string cut = write("half.pb", whole.substr(0, whole.size() / 2));
  errorOf<IoError>([&] { onnxio::readValueFile(cut, sequenceDecl()); }, cut);

  // More items than a sequence file may hold, each an empty tensor (2 bytes apiece).
  std::string many;
  for (int64_t i = 0; i <= onnxio::kMaxSequenceItems; ++i) many += std::string("\x1a\x00", 2);
  const std::string manyPath = write("many.pb", many);
  std::string e = errorOf<IoError>([&] { onnxio::readValueFile(manyPath, sequenceDecl()); }, manyPath);
  EXPECT_NE(e.find("more than the"), std::string::npos) << e;
  // The same inside an optional's sequence_value (field 5).
  std::string inner = many.substr(0, 2 * 100) + many;  // > the bound
  std::string opt = std::string("\x2a", 1) + varint(inner.size());
  opt += inner;
  const std::string optPath = write("many_opt.pb", opt);
  e = errorOf<IoError>([&] { onnxio::readValueFile(optPath, declared("o", true, true)); }, optPath);
  EXPECT_NE(e.find("more than the"), std::string::npos) << e;

  // An item claiming 2^40 x 2^40 floats with no data: refused before allocating.
  onnx::SequenceProto sp;
  sp.set_elem_type(onnx::SequenceProto::TENSOR);
  onnx::TensorProto* t = sp.add_tensor_values();
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(int64_t{1} << 40);
  t->add_dims(int64_t{1} << 40);
  const std::string hugePath = write("huge_dims.pb", sp.SerializeAsString());
  e = errorOf<IoError>([&] { onnxio::readValueFile(hugePath, sequenceDecl()); }, hugePath);
  EXPECT_NE(e.find("item 0"), std::string::npos) << e;

  // An OptionalProto of one tensor may not hold several.
  onnx::OptionalProto two;
  two.set_elem_type(onnx::OptionalProto::TENSOR);
  std::string twoBytes = two.SerializeAsString();
  for (int i = 0; i < 2; ++i) {
    onnx::TensorProto x;
    onnxio::toTensorProto(Tensor::fromVector(kB, {2}), "", &x);
    onnx::OptionalProto one;
    *one.mutable_tensor_value() = x;
    twoBytes += one.SerializeAsString();  // field 3 twice
  }
  const std::string twoPath = write("two.pb", twoBytes);
  e = errorOf<IoError>([&] { onnxio::readValueFile(twoPath, declared("o", false, true)); }, twoPath);
  EXPECT_NE(e.find("at most one"), std::string::npos) << e;

  // Garbage of every declared kind: a singa::Error, never a crash.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string junk(static_cast<size_t>(1 + rng() % 64), '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    if (round % 2) junk = whole.substr(0, rng() % whole.size()) + junk;  // a plausible start
    const std::string p = write("junk.pb", junk);
    for (const ValueInfo& vi : {tensorDecl(), sequenceDecl(), declared("o", true, true), undeclared()}) {
      try {
        onnxio::readValueFile(p, vi);
      } catch (const Error&) {
      }
    }
  }

  // Not a regular file, or missing.
  errorOf<IoError>([&] { onnxio::readValueFile(dir_.string(), sequenceDecl()); }, dir_.string());
  const std::string fifo = path("fifo.pb");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  errorOf<IoError>([&] { onnxio::readValueFile(fifo, declared("o", false, true)); }, fifo);
  errorOf<IoError>([&] { onnxio::readValueFile(path("missing.pb"), sequenceDecl()); }, "missing.pb");
}

// ONNX's own backend-test folders with sequence and optional inputs and outputs, through the case
// runner (which reads them with readValueFile and compares kind by kind).
TEST(ValueFileCases, DebianBackendCasesWithSequencesAndOptionalsPass) {
  const std::string root = SINGA_ONNX_TESTDATA_NODE;
  if (!fs::is_directory(root)) GTEST_SKIP() << "no ONNX backend test data at " << root;
  int ran = 0;
  for (const char* name : {"test_identity_sequence", "test_identity_opt", "test_optional_get_element",
                           "test_optional_get_element_sequence", "test_optional_has_element",
                           "test_optional_has_element_empty", "test_sequence_insert_at_back",
                           "test_sequence_insert_at_front"}) {
    const std::string dir = root + "/" + name;
    if (!fs::is_directory(dir)) continue;
    ++ran;
    onnxio::CaseResult r = onnxio::runBackendCase(dir);
    EXPECT_EQ(r.status, onnxio::CaseStatus::kPass) << name << ": " << r.reason;
  }
  EXPECT_GT(ran, 0) << "none of the cases is in " << root;
}

}  // namespace
}  // namespace singa
