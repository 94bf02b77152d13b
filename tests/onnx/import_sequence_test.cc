// Sequence and optional values in imported graphs: the Sequence* / Optional* operators against
// hand-computed results, gradients through a sequence (finite differences), and the errors a
// user meets (a sequence fed to a tensor operator, run() on a sequence-typed graph, an index out
// of range). ONNX's own test data for these operators runs in the conformance tier.
#include <gtest/gtest.h>

#include <string>

#include "gradcheck.h"
#include "singa/onnx/import.h"
#include "onnx_model_builder.h"

namespace singa {
namespace {

using namespace singa::test;
using onnxio::Value;

void addSequenceInput(onnx::ModelProto& m, const std::string& name, bool optional = false) {
  auto* v = m.mutable_graph()->add_input();
  v->set_name(name);
  onnx::TypeProto* t = v->mutable_type();
  if (optional) t = t->mutable_optional_type()->mutable_elem_type();
  t->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
}

void addSequenceOutput(onnx::ModelProto& m, const std::string& name) {
  auto* v = m.mutable_graph()->add_output();
  v->set_name(name);
  v->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::DOUBLE);
}

Tensor seqValues(const Shape& shape, double shift) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.9 * static_cast<double>(i) + shift);
  return Tensor::fromVector(v, shape);
}

TEST(OnnxSequence, ConstructInsertEraseAtLength) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "a", {2, 3}, onnx::TensorProto::DOUBLE);
  addInput(m, "b", {1, 3}, onnx::TensorProto::DOUBLE);
  addInit(m, "front", Tensor::fromVector<int64_t>({0}, {}));
  addInit(m, "last", Tensor::fromVector<int64_t>({-1}, {}));
  addNode(m, "SequenceConstruct", {"a", "b"}, {"s2"});
  addNode(m, "SequenceInsert", {"s2", "b", "front"}, {"s3"});  // [b, a, b]
  addNode(m, "SequenceErase", {"s3", "last"}, {"s4"});          // [b, a]
  addNode(m, "SequenceAt", {"s4", "last"}, {"at"});             // a
  addNode(m, "SequenceLength", {"s4"}, {"len"});
  addNode(m, "ConcatFromSequence", {"s4"}, {"cat"})->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(0);
    return a;
  }());
  addOutput(m, "at");
  addOutput(m, "len");
  addOutput(m, "cat");
  addSequenceOutput(m, "s4");
  auto model = onnxio::prepare(m);
  Tensor a = seqValues({2, 3}, 0.1), b = seqValues({1, 3}, 2.0);
  std::vector<Value> out = model->runValues({a, b});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].tensor.toVector<double>(), a.toVector<double>());
  EXPECT_EQ(out[1].tensor.toVector<int64_t>(), std::vector<int64_t>{2});
  std::vector<double> want = b.toVector<double>();
  for (double v : a.toVector<double>()) want.push_back(v);
  EXPECT_EQ(out[2].tensor.shape(), (Shape{3, 3}));
  EXPECT_EQ(out[2].tensor.toVector<double>(), want);
  ASSERT_EQ(out[3].kind, Value::Kind::kSequence);
  ASSERT_EQ(out[3].sequence.size(), 2u);
  EXPECT_EQ(out[3].sequence[0].toVector<double>(), b.toVector<double>());
  // run() (tensors only) names the output that is a sequence.
  try {
    model->run({a, b});
    FAIL() << "run() returned a sequence output as a tensor";
  } catch (const TypeError& e) {
    EXPECT_NE(std::string(e.what()).find("'s4' is a sequence of 2 tensor(s)"), std::string::npos) << e.what();
  }
}

TEST(OnnxSequence, SplitToSequenceAndConcatDifferentiate) {
  // y = Reshape(ConcatFromSequence(SplitToSequence(x, split=[1, 1], axis=0), axis=1), [3, 2]) @ w^T
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {2, 3}, onnx::TensorProto::DOUBLE);
  addInput(m, "w", {4, 2}, onnx::TensorProto::DOUBLE);
  addInit(m, "split", Tensor::fromVector<int64_t>({1, 1}, {2}));
  addInit(m, "shape", Tensor::fromVector<int64_t>({3, 2}, {2}));
  setInt(addNode(m, "SplitToSequence", {"x", "split"}, {"seq"}), "axis", 0);
  setInt(addNode(m, "ConcatFromSequence", {"seq"}, {"c"}), "axis", 1);  // [1, 6]
  addNode(m, "Reshape", {"c", "shape"}, {"c32"});
  addNode(m, "Transpose", {"w"}, {"wt"});
  addNode(m, "MatMul", {"c32", "wt"}, {"y"});
  addOutput(m, "y");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  auto model = onnxio::prepare(m);
  Tensor x = seqValues({2, 3}, 0.3).setRequiresGrad(true);
  Tensor w = seqValues({4, 2}, 1.1).setRequiresGrad(true);
  Tensor ref = ops::matmul(ops::reshape(x, {3, 2}), ops::transpose(w));
  test::expectTensorNear(model->run({x, w})[0], ref, 1e-12, 1e-12);
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; }, {x, w});
}

TEST(OnnxSequence, SplitWithoutLengthsAndStacking) {
  // SplitToSequence without `split`, keepdims=0: x [3, 2] -> three [2]; stacked on a new axis 1
  // -> [2, 3] = x^T.
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {3, 2}, onnx::TensorProto::DOUBLE);
  auto* sp = addNode(m, "SplitToSequence", {"x"}, {"seq"});
  setInt(sp, "axis", 0);
  setInt(sp, "keepdims", 0);
  auto* st = addNode(m, "ConcatFromSequence", {"seq"}, {"y"});
  setInt(st, "axis", 1);
  setInt(st, "new_axis", 1);
  addOutput(m, "y");
  auto model = onnxio::prepare(m);
  Tensor x = seqValues({3, 2}, 0.5);
  Tensor y = model->run({x})[0];
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  test::expectTensorNear(y, ops::transpose(x).contiguous(), 0, 0);
}

TEST(OnnxSequence, OptionalsAndIdentity) {
  onnx::ModelProto m = makeModel(16);
  addSequenceInput(m, "maybe", /*optional=*/true);
  addNode(m, "OptionalHasElement", {"maybe"}, {"has"});
  addNode(m, "Identity", {"maybe"}, {"same"});
  addOutput(m, "has");
  auto* out = m.mutable_graph()->add_output();
  out->set_name("same");
  *out->mutable_type() = m.graph().input(0).type();
  auto model = onnxio::prepare(m);
  EXPECT_EQ(model->inputs()[0].str(), "optional<sequence<float64[?]>>");
  std::vector<Value> got = model->runValues({Value::ofSequence({seqValues({2}, 0.0), seqValues({3}, 1.0)})});
  EXPECT_TRUE(got[0].tensor.toVector<bool>()[0]);
  ASSERT_EQ(got[1].kind, Value::Kind::kSequence);
  EXPECT_EQ(got[1].sequence[1].toVector<double>(), seqValues({3}, 1.0).toVector<double>());
  got = model->runValues({Value::none()});
  EXPECT_FALSE(got[0].tensor.toVector<bool>()[0]);
  EXPECT_EQ(got[1].kind, Value::Kind::kNone);
  // A tensor where the graph declares a sequence: named, with the declared type.
  try {
    model->runValues({Value(seqValues({2}, 0.0))});
    FAIL() << "a tensor was accepted for a sequence input";
  } catch (const TypeError& e) {
    EXPECT_NE(std::string(e.what()).find("'maybe' expects optional<sequence<float64[?]>>"), std::string::npos)
        << e.what();
  }
}

TEST(OnnxSequence, EmptySequenceKeepsItsElementTypeAndConstructNeedsInputs) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "a", {2}, onnx::TensorProto::DOUBLE);
  setInt(addNode(m, "SequenceEmpty", {}, {"e"}, "empty"), "dtype", onnx::TensorProto::INT64);
  addNode(m, "SequenceInsert", {"e", "a"}, {"s"}, "insert");
  addNode(m, "SequenceLength", {"s"}, {"n"});
  addOutput(m, "n");
  auto model = onnxio::prepare(m);
  try {
    model->run({seqValues({2}, 0.0)});
    FAIL() << "a float64 tensor went into an int64 sequence";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'insert' (SequenceInsert)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the inserted tensor is float64, the sequence holds int64"), std::string::npos) << msg;
  }
  onnx::ModelProto m2 = makeModel(13);
  addNode(m2, "SequenceConstruct", {}, {"s"}, "make");
  addNode(m2, "SequenceLength", {"s"}, {"n"});
  addOutput(m2, "n");
  auto model2 = onnxio::prepare(m2);
  EXPECT_THROW(model2->run({}), ValueError);
}

TEST(OnnxSequence, OptionalTensorInputRunsThroughRun) {
  onnx::ModelProto m = makeModel(16);
  auto* v = m.mutable_graph()->add_input();
  v->set_name("maybe");
  v->mutable_type()->mutable_optional_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::DOUBLE);
  addNode(m, "OptionalGetElement", {"maybe"}, {"x"});
  addNode(m, "Neg", {"x"}, {"y"});
  addOutput(m, "y");
  auto model = onnxio::prepare(m);
  Tensor x = seqValues({3}, 0.2);
  test::expectTensorNear(model->run({x})[0], ops::neg(x), 0, 0);
  // The empty optional: a clear error from OptionalGetElement.
  EXPECT_THROW(model->runValues({Value::none()}), ValueError);
}

TEST(OnnxSequence, ErrorsNameTheNode) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "a", {2}, onnx::TensorProto::DOUBLE);
  addInit(m, "pos", Tensor::fromVector<int64_t>({3}, {}));
  addNode(m, "SequenceConstruct", {"a", "a"}, {"s"}, "make");
  addNode(m, "SequenceAt", {"s", "pos"}, {"at"}, "pick");
  addOutput(m, "at");
  auto model = onnxio::prepare(m);
  try {
    model->run({seqValues({2}, 0.0)});
    FAIL() << "an out-of-range position was accepted";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'pick' (SequenceAt)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("position 3 is outside [-2, 1]"), std::string::npos) << msg;
  }
  // A sequence where a tensor operator expects a tensor.
  onnx::ModelProto m2 = makeModel(13);
  addInput(m2, "a", {2}, onnx::TensorProto::DOUBLE);
  addNode(m2, "SequenceConstruct", {"a"}, {"s"}, "make");
  addNode(m2, "Relu", {"s"}, {"y"}, "act");
  addOutput(m2, "y");
  auto model2 = onnxio::prepare(m2);
  try {
    model2->run({seqValues({2}, 0.0)});
    FAIL() << "a sequence was fed to Relu";
  } catch (const TypeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'act' (Relu): input 's' is a sequence of 1 tensor(s); this operator takes tensors"),
              std::string::npos)
        << msg;
  }
}

}  // namespace
}  // namespace singa
