// String tensors in imported graphs (Value::Kind::kStrings): the string operators against
// hand-computed results through runValues(), and the errors hostile models and files meet (bad
// attributes, RE2 constructs std::regex cannot honour, text that is no number, string files whose
// sizes lie). onnxruntime is the reference in onnx_string_ort (string_ops_ort.py); ONNX's node
// cases run in the conformance tier.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <string>

#include "onnx_model_builder.h"
#include "singa/core/error.h"
#include "singa/onnx/import.h"
#include "singa/onnx/value_file.h"

namespace singa {
namespace {

using namespace singa::test;
using onnxio::Value;

constexpr int kString = onnx::TensorProto::STRING;

void setString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// Runs `m` on the given values and expects an error of type E whose message holds `needle`.
template <class E>
void expectError(const onnx::ModelProto& m, const std::vector<Value>& in, const std::string& needle) {
  try {
    onnxio::prepare(m)->runValues(in);
    FAIL() << "no error; expected one mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(OnnxStrings, CastConcatSplitEqual) {
  onnx::ModelProto m = makeModel(20);
  addInput(m, "x", {3}, kString);
  addInput(m, "f", {2});
  setInt(addNode(m, "Cast", {"x"}, {"num"}), "to", onnx::TensorProto::DOUBLE);
  setInt(addNode(m, "Cast", {"f"}, {"text"}), "to", kString);
  addNode(m, "StringConcat", {"text", "text"}, {"twice"});
  setString(addNode(m, "StringSplit", {"twice"}, {"parts", "counts"}), "delimiter", "5");
  addNode(m, "Equal", {"parts", "parts"}, {"same"});
  for (const char* o : {"num", "text", "parts", "counts", "same"}) addOutput(m, o);
  auto model = onnxio::prepare(m);
  std::vector<Value> out = model->runValues(
      {Value::ofStrings({3}, {" 1.5e3", "-INF", "nan"}), Tensor::fromVector<float>({2.5f, 0.25f}, {2})});
  ASSERT_EQ(out.size(), 5u);
  std::vector<double> num = out[0].tensor.toVector<double>();
  EXPECT_EQ(num[0], 1500.0);
  EXPECT_TRUE(std::isinf(num[1]) && num[1] < 0);
  EXPECT_TRUE(std::isnan(num[2]));
  ASSERT_TRUE(out[1].isStrings());
  EXPECT_EQ(out[1].strings, (std::vector<std::string>{"2.5", "0.25"}));
  ASSERT_TRUE(out[2].isStrings());
  EXPECT_EQ(out[2].stringShape, (Shape{2, 3}));  // "2.52.5" -> "2.", "2.", ""; "0.250.25" -> "0.2", "0.2", ""
  EXPECT_EQ(out[2].strings, (std::vector<std::string>{"2.", "2.", "", "0.2", "0.2", ""}));
  EXPECT_EQ(out[3].tensor.toVector<int64_t>(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(out[4].tensor.dtype(), DType::kBool);
  EXPECT_EQ(out[4].tensor.numel(), 6);
}

TEST(OnnxStrings, NormalizerAndRegex) {
  onnx::ModelProto m = makeModel(20);
  addInput(m, "x", {4}, kString);
  auto* norm = addNode(m, "StringNormalizer", {"x"}, {"y"});
  setString(norm, "case_change_action", "UPPER");
  auto* stop = norm->add_attribute();
  stop->set_name("stopwords");
  stop->set_type(onnx::AttributeProto::STRINGS);
  stop->add_strings("monday");
  setString(addNode(m, "RegexFullMatch", {"x"}, {"match"}), "pattern", R"([a-z]+day|\d{2,})");
  addOutput(m, "y");
  addOutput(m, "match");
  std::vector<Value> out =
      onnxio::prepare(m)->runValues({Value::ofStrings({4}, {"Monday", "tuesday", "7", "42"})});
  EXPECT_EQ(out[0].strings, (std::vector<std::string>{"TUESDAY", "7", "42"}));
  EXPECT_EQ(out[1].tensor.to(DType::kInt64).toVector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 1}));
}

// std::regex recurses per input byte: a 64 KiB string (the most RegexFullMatch takes) must match
// without overflowing the stack, and a longer one is a clear error.
TEST(OnnxStrings, RegexOnLongStrings) {
  onnx::ModelProto m = makeModel(20);
  addInput(m, "x", {1}, kString);
  setString(addNode(m, "RegexFullMatch", {"x"}, {"y"}), "pattern", "(a|b)*");
  addOutput(m, "y");
  auto model = onnxio::prepare(m);
  std::vector<Value> out = model->runValues({Value::ofStrings({1}, {std::string(size_t{1} << 16, 'a')})});
  EXPECT_EQ(out[0].tensor.to(DType::kInt64).toVector<int64_t>(), std::vector<int64_t>{1});
  expectError<ValueError>(m, {Value::ofStrings({1}, {std::string((size_t{1} << 16) + 1, 'a')})},
                          "singa matches strings of at most 65536 bytes");
}

TEST(OnnxStrings, HostileAttributesAndText) {
  const Value x = Value::ofStrings({2}, {"a", "b"});
  {
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    setString(addNode(m, "StringNormalizer", {"x"}, {"y"}), "case_change_action", "TITLE");
    addOutput(m, "y");
    expectError<ValueError>(m, {x}, "case_change_action must be NONE, LOWER or UPPER");
  }
  for (const char* pattern : {"(?i)abc", "(a)\\1", "\\pL+", "[[:alpha:]]", "(?P<n>a)", "(a+)*", "(x(ab?))+"}) {
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    setString(addNode(m, "RegexFullMatch", {"x"}, {"y"}), "pattern", pattern);
    addOutput(m, "y");
    expectError<ValueError>(m, {x}, "is not supported");
  }
  {
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    setString(addNode(m, "RegexFullMatch", {"x"}, {"y"}), "pattern", "a.c");
    addOutput(m, "y");
    expectError<ValueError>(m, {Value::ofStrings({2}, {"abc", "a\xc3\xa9"})}, "non-ASCII");
  }
  {
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    setInt(addNode(m, "Cast", {"x"}, {"y"}), "to", onnx::TensorProto::FLOAT);
    addOutput(m, "y");
    expectError<ValueError>(m, {Value::ofStrings({2}, {"1", "Hello"})}, "'Hello' is not a number");
  }
  {
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    setInt(addNode(m, "StringSplit", {"x"}, {"y", "n"}), "maxsplit", -2);
    addOutput(m, "y");
    addOutput(m, "n");
    expectError<ValueError>(m, {x}, "maxsplit must be >= 0");
  }
  {  // LabelEncoder: keys and values of different lengths, and two keys_* attributes
    onnx::ModelProto m = makeModel(20);
    auto* ml = m.add_opset_import();
    ml->set_domain("ai.onnx.ml");
    ml->set_version(2);
    addInput(m, "x", {2}, kString);
    auto* n = addNode(m, "LabelEncoder", {"x"}, {"y"});
    n->set_domain("ai.onnx.ml");
    auto* keys = n->add_attribute();
    keys->set_name("keys_strings");
    keys->set_type(onnx::AttributeProto::STRINGS);
    keys->add_strings("a");
    keys->add_strings("b");
    setInts(n, "values_int64s", {1});
    addOutput(m, "y");
    expectError<ValueError>(m, {x}, "keys and values differ in length (2 and 1)");
    setInts(n, "keys_int64s", {1});
    expectError<ValueError>(m, {x}, "exactly one keys_* attribute must be set, got 2");
  }
  {  // a float tensor where the graph declares strings, and strings fed to a tensor operator
    onnx::ModelProto m = makeModel(20);
    addInput(m, "x", {2}, kString);
    addNode(m, "Relu", {"x"}, {"y"});
    addOutput(m, "y");
    expectError<TypeError>(m, {Tensor::fromVector<float>({1, 2}, {2})}, "expects string[2]");
    expectError<TypeError>(m, {x}, "this operator takes tensors");
  }
}

TEST(OnnxStrings, HostileStringFiles) {
  onnxio::ValueInfo vi;
  vi.name = "x";
  auto parse = [&](const onnx::TensorProto& p) { return onnxio::parseValueFile(p.SerializeAsString(), "x.pb", vi); };
  onnx::TensorProto p;
  p.set_data_type(kString);
  p.add_dims(2);
  p.add_string_data("a");
  p.add_string_data("b");
  Value ok = parse(p);
  ASSERT_TRUE(ok.isStrings());
  EXPECT_EQ(ok.strings, (std::vector<std::string>{"a", "b"}));
  p.add_string_data("c");  // 3 strings for dims [2]: not taken as a tensor at all
  EXPECT_THROW(parse(p), Error);
  onnx::TensorProto huge;
  huge.set_data_type(kString);
  huge.add_dims(int64_t{1} << 20);
  huge.add_dims(int64_t{1} << 20);
  try {
    onnxio::ValueInfo declared = vi;
    declared.declared = true;
    declared.isString = true;
    onnxio::parseValueFile(huge.SerializeAsString(), "huge.pb", declared);
    FAIL() << "2^40 strings accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.pb"), std::string::npos) << e.what();
  }
  // A STRING initializer whose dims disagree with its strings: a clear error at prepare().
  onnx::ModelProto m = makeModel(20);
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("k");
  init->set_data_type(kString);
  init->add_dims(4);
  init->add_string_data("only one");
  addNode(m, "Identity", {"k"}, {"y"});
  addOutput(m, "y");
  try {
    onnxio::prepare(m);
    FAIL() << "a STRING initializer with 1 string for dims [4] was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("call for 4 strings, string_data holds 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace singa
