// The bitwise, BitCast, CumProd, LpNormalization, Mish, Swish, SwiGLU, GroupNormalization, Mod
// (fmod=0 on floats) and empty/bool ReduceMax/Min converters: values against small references
// worked out by hand from the ONNX definitions, gradients of the float compositions against
// finite differences (float64), and hostile attributes or inputs rejected with a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "onnx_model_builder.h"
#include "singa/onnx/import.h"

namespace singa {
namespace {

using namespace singa::test;

// ---- helpers ----------------------------------------------------------------------------------

// A one-node model (node "n") over initializers `inits`; run() returns its outputs.
struct OneNode {
  onnx::ModelProto model;
  onnx::NodeProto* node;
  OneNode(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& inits, int opset) {
    model = makeModel(opset);
    std::vector<std::string> ins;
    for (const auto& [name, t] : inits) {
      ins.push_back(name);
      addInit(model, name, t);
    }
    node = addNode(model, op, ins, {"y"}, "n");
    addOutput(model, "y");
  }
  OneNode(const OneNode&) = delete;
  OneNode& operator=(const OneNode&) = delete;
  Tensor run() { return onnxio::prepare(model)->run({})[0]; }
};

// The message of the ValueError `m` throws; it must name the node and each of `words`.
void expectRejected(OneNode& m, const std::string& op, const std::vector<std::string>& words) {
  std::string msg;
  try {
    m.run();
    ADD_FAILURE() << op << ": no exception";
    return;
  } catch (const ValueError& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << op << ": threw the wrong type: " << e.what();
    return;
  }
  EXPECT_NE(msg.find("node 'n' (" + op + ")"), std::string::npos) << msg;
  for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

struct GradIn {
  std::string name;
  Tensor value;
  bool grad = true;
};

// Gradients of one node `op` with graph inputs `ins` (floats as float64) against finite differences.
void checkGradients(const std::string& op, std::vector<GradIn> ins, int opset,
                    const std::function<void(onnx::NodeProto*)>& attrs = nullptr) {
  onnx::ModelProto m = makeModel(opset);
  std::vector<std::string> names;
  std::vector<Tensor> values;
  for (GradIn& in : ins) {
    if (isFloating(in.value.dtype())) in.value = in.value.to(DType::kFloat64);
    const int type = in.value.dtype() == DType::kInt64 ? onnx::TensorProto::INT64 : onnx::TensorProto::DOUBLE;
    addInput(m, in.name, in.value.shape(), type);
    names.push_back(in.name);
    values.push_back(in.grad ? in.value.clone().setRequiresGrad(true) : in.value);
  }
  auto* node = addNode(m, op, names, {"y"}, "n");
  if (attrs) attrs(node);
  addOutput(m, "y");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  auto model = onnxio::prepare(m);
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; }, values, 1e-6, 1e-5, 1e-4);
}

Tensor wave(const Shape& shape, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.7 * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}

Tensor i64(const std::vector<int64_t>& v, const Shape& shape) { return Tensor::fromVector<int64_t>(v, shape); }
Tensor f32(const std::vector<float>& v, const Shape& shape) { return Tensor::fromVector<float>(v, shape); }

void setTo(onnx::NodeProto* n, int onnxType) { setInt(n, "to", onnxType); }

// ---- bitwise ------------------------------------------------------------------------------------

TEST(ExtraOps, BitwiseUint64BroadcastKeepsHighBits) {
  const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull, lo = 0x0FF00FF00FF00FF0ull;
  Tensor a = Tensor::fromVector<uint64_t>({hi, lo, ~0ull, 0ull, 1ull, 1ull << 63}, {3, 2});
  Tensor b = Tensor::fromVector<uint64_t>({lo, hi}, {2});  // broadcast over the rows
  const std::vector<std::pair<const char*, std::function<uint64_t(uint64_t, uint64_t)>>> cases{
      {"BitwiseAnd", [](uint64_t x, uint64_t y) { return x & y; }},
      {"BitwiseOr", [](uint64_t x, uint64_t y) { return x | y; }},
      {"BitwiseXor", [](uint64_t x, uint64_t y) { return x ^ y; }}};
  const std::vector<uint64_t> av = a.toVector<uint64_t>(), bv = b.toVector<uint64_t>();
  for (const auto& [op, f] : cases) {
    OneNode m(op, {{"a", a}, {"b", b}}, 18);
    Tensor y = m.run();
    ASSERT_EQ(y.dtype(), DType::kUInt64) << op;
    ASSERT_EQ(y.shape(), (Shape{3, 2})) << op;
    const std::vector<uint64_t> yv = y.toVector<uint64_t>();
    for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(yv[i], f(av[i], bv[i % 2])) << op << " element " << i;
  }
}

TEST(ExtraOps, BitwiseNotOfSignedAndUnsigned) {
  OneNode s("BitwiseNot", {{"x", Tensor::fromVector<int16_t>({0, -1, 5, -32768}, {4})}}, 18);
  EXPECT_EQ(s.run().toVector<int16_t>(), (std::vector<int16_t>{-1, 0, -6, 32767}));
  OneNode u("BitwiseNot", {{"x", Tensor::fromVector<uint8_t>({0, 255, 0x0F}, {3})}}, 18);
  EXPECT_EQ(u.run().toVector<uint8_t>(), (std::vector<uint8_t>{255, 0, 0xF0}));
}

TEST(ExtraOps, BitwiseRejectsFloatsAndMixedTypes) {
  OneNode f("BitwiseAnd", {{"a", f32({1}, {1})}, {"b", f32({1}, {1})}}, 18);
  expectRejected(f, "BitwiseAnd", {"integer tensor", "float32"});
  OneNode mixed("BitwiseOr", {{"a", i64({1}, {1})}, {"b", Tensor::fromVector<int32_t>({1}, {1})}}, 18);
  expectRejected(mixed, "BitwiseOr", {"same type", "int64", "int32"});
}

// The MemoryError of the allocation ceiling, naming the node.
void expectMemoryError(OneNode& m, const std::string& op) {
  try {
    m.run();
    ADD_FAILURE() << op << ": no exception";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("would need"), std::string::npos) << msg;
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
  }
}

TEST(ExtraOps, BitwiseBroadcastBeyondTheCeilingIsRefused) {
  // [2^20, 1] & [1, 2^20] of int8: a 1 TiB result from two 1 MiB inputs.
  const int64_t n = int64_t{1} << 20;
  OneNode m("BitwiseAnd", {{"a", Tensor(Shape{n, 1}, DType::kInt8)}, {"b", Tensor(Shape{1, n}, DType::kInt8)}}, 18);
  expectMemoryError(m, "BitwiseAnd");
}

TEST(ExtraOps, EmptySetReductionBeyondTheCeilingIsRefused) {
  OneNode m("ReduceMax", {{"x", Tensor(Shape{0, int64_t{1} << 40}, DType::kFloat32)}, {"axes", i64({0}, {1})}}, 18);
  expectMemoryError(m, "ReduceMax");
}

TEST(ExtraOps, BitCastKeepsTheBits) {
  OneNode m("BitCast", {{"x", f32({1.0f, -2.5f, 0.0f}, {3})}}, 26);
  setTo(m.node, onnx::TensorProto::INT32);
  Tensor y = m.run();
  ASSERT_EQ(y.dtype(), DType::kInt32);
  const std::vector<int32_t> yv = y.toVector<int32_t>();
  for (size_t i = 0; i < 3; ++i) {
    const float f = std::vector<float>{1.0f, -2.5f, 0.0f}[i];
    int32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    EXPECT_EQ(yv[i], bits);
  }
  EXPECT_EQ(yv[0], 0x3f800000);
}

TEST(ExtraOps, BitCastRejectsOtherWidthsAndUnknownTypes) {
  OneNode wide("BitCast", {{"x", f32({1.0f}, {1})}}, 26);
  setTo(wide.node, onnx::TensorProto::INT64);
  expectRejected(wide, "BitCast", {"float32", "int64", "same bit width"});
  OneNode bad("BitCast", {{"x", f32({1.0f}, {1})}}, 26);
  setInt(bad.node, "to", int64_t{1} << 40);
  expectRejected(bad, "BitCast", {"'to'", "not an ONNX data type"});
  OneNode missing("BitCast", {{"x", f32({1.0f}, {1})}}, 26);
  expectRejected(missing, "BitCast", {"'to'", "required"});
}

// ---- CumProd ------------------------------------------------------------------------------------

TEST(ExtraOps, CumProdExclusiveAndReverseFollowTheSpecExample) {
  // The ONNX example: [1, 2, 3] -> [1, 2, 6], exclusive [1, 1, 2], reverse [6, 6, 3], both [6, 3, 1].
  const std::vector<std::vector<double>> want{{1, 2, 6}, {1, 1, 2}, {6, 6, 3}, {6, 3, 1}};
  for (int mode = 0; mode < 4; ++mode) {
    for (DType dt : {DType::kFloat32, DType::kInt32}) {
      OneNode m("CumProd", {{"x", Tensor::fromVector<float>({1, 2, 3}, {3}).to(dt)}, {"axis", i64({0}, {})}}, 26);
      setInt(m.node, "exclusive", mode & 1);
      setInt(m.node, "reverse", (mode >> 1) & 1);
      Tensor y = m.run();
      ASSERT_EQ(y.dtype(), dt);
      for (int k = 0; k < 3; ++k) EXPECT_EQ(y.at(k), want[mode][k]) << "mode " << mode << " " << dtypeName(dt);
    }
  }
}

TEST(ExtraOps, CumProdGradientsWithZerosAndBothDirections) {
  Tensor x = wave({2, 3, 4});
  std::vector<double> v = x.toVector<double>();
  v[5] = 0.0;  // a zero: the gradient needs no division by x
  x = Tensor::fromVector(v, {2, 3, 4});
  for (int mode = 0; mode < 4; ++mode) {
    for (int64_t axis : {1, -1}) {
      checkGradients("CumProd", {{"x", x}, {"axis", i64({axis}, {}), false}}, 26, [mode](onnx::NodeProto* n) {
        setInt(n, "exclusive", mode & 1);
        setInt(n, "reverse", (mode >> 1) & 1);
      });
    }
  }
}

TEST(ExtraOps, CumProdRejectsBadAxis) {
  OneNode m("CumProd", {{"x", f32({1, 2}, {2})}, {"axis", i64({3}, {})}}, 26);
  expectRejected(m, "CumProd", {"axis"});
  OneNode none("CumProd", {{"x", f32({1, 2}, {2})}}, 26);
  expectRejected(none, "CumProd", {"axis"});
}

TEST(ExtraOps, CumProdOfAnEmptyTensorAllocatesNothing) {
  // [0, 2^40]: no element, but a long axis; the [n, n] selection table must not be built.
  Tensor x(Shape{0, int64_t{1} << 40}, DType::kFloat32);
  OneNode m("CumProd", {{"x", x}, {"axis", i64({1}, {})}}, 26);
  EXPECT_EQ(m.run().shape(), x.shape());
}

// ---- LpNormalization, activations -------------------------------------------------------------

TEST(ExtraOps, LpNormalizationValuesAndZeroRows) {
  OneNode m("LpNormalization", {{"x", f32({3, 4, 0, 0, 1, -1}, {3, 2})}}, 22);
  setInt(m.node, "p", 2);
  expectTensorNear(m.run(), f32({0.6f, 0.8f, 0, 0, std::sqrt(0.5f), -std::sqrt(0.5f)}, {3, 2}));
  OneNode l1("LpNormalization", {{"x", f32({3, 1, 0, 0}, {2, 2})}}, 22);
  setInt(l1.node, "p", 1);
  setInt(l1.node, "axis", 0);
  expectTensorNear(l1.run(), f32({1, 1, 0, 0}, {2, 2}));
}

TEST(ExtraOps, LpNormalizationGradients) {
  for (int64_t p : {1, 2}) {
    for (int64_t axis : {0, -1}) {
      checkGradients("LpNormalization", {{"x", wave({3, 4}, 1.0, 0.1)}}, 22, [p, axis](onnx::NodeProto* n) {
        setInt(n, "p", p);
        setInt(n, "axis", axis);
      });
    }
  }
}

TEST(ExtraOps, LpNormalizationRejectsOtherP) {
  OneNode m("LpNormalization", {{"x", f32({1, 2}, {2})}}, 22);
  setInt(m.node, "p", 3);
  expectRejected(m, "LpNormalization", {"p must be 1 or 2", "3"});
}

TEST(ExtraOps, ActivationValues) {
  const float x = 0.7f;
  OneNode mish("Mish", {{"x", f32({x}, {1})}}, 22);
  EXPECT_NEAR(mish.run().at(0), x * std::tanh(std::log1p(std::exp(x))), 1e-6);
  OneNode swish("Swish", {{"x", f32({x}, {1})}}, 24);
  setFloat(swish.node, "alpha", 2.0f);
  EXPECT_NEAR(swish.run().at(0), x / (1 + std::exp(-2 * x)), 1e-6);
  OneNode glu("SwiGLU", {{"a", f32({x}, {1})}, {"b", f32({3}, {1})}}, 28);
  EXPECT_NEAR(glu.run().at(0), 3 * x / (1 + std::exp(-x)), 1e-6);
}

TEST(ExtraOps, ActivationGradients) {
  checkGradients("Mish", {{"x", wave({2, 5}, 3.0)}}, 22);
  checkGradients("Swish", {{"x", wave({2, 5}, 3.0)}}, 24, [](onnx::NodeProto* n) { setFloat(n, "alpha", 0.5f); });
  checkGradients("SwiGLU", {{"a", wave({2, 5}, 3.0)}, {"b", wave({2, 5}, 1.0, 0.5)}}, 28,
                 [](onnx::NodeProto* n) { setFloat(n, "alpha", 1.5f); });
}

TEST(ExtraOps, SwiGLURejectsShapeMismatch) {
  OneNode m("SwiGLU", {{"a", f32({1, 2}, {2})}, {"b", f32({1}, {1})}}, 28);
  expectRejected(m, "SwiGLU", {"same shape", "[2]", "[1]"});
}

// ---- GroupNormalization ------------------------------------------------------------------------

TEST(ExtraOps, GroupNormalizationValues) {
  // One instance, 4 channels of 1 element, 2 groups: each pair is normalised to [-1, 1].
  OneNode m("GroupNormalization",
            {{"x", f32({1, 3, 10, 20}, {1, 4, 1})}, {"s", f32({1, 2, 3, 4}, {4})}, {"b", f32({0, 0, 1, 1}, {4})}}, 21);
  setInt(m.node, "num_groups", 2);
  setFloat(m.node, "epsilon", 0.0f);
  expectTensorNear(m.run(), f32({-1, 2, -2, 5}, {1, 4, 1}));
  // Opset 18: scale and bias per group.
  OneNode g("GroupNormalization", {{"x", f32({1, 3, 10, 20}, {1, 4, 1})}, {"s", f32({2, 3}, {2})}, {"b", f32({0, 1}, {2})}},
            18);
  setInt(g.node, "num_groups", 2);
  setFloat(g.node, "epsilon", 0.0f);
  expectTensorNear(g.run(), f32({-2, 2, -2, 4}, {1, 4, 1}));
}

TEST(ExtraOps, GroupNormalizationGradients) {
  checkGradients("GroupNormalization", {{"x", wave({2, 4, 3})}, {"s", wave({4}, 1.0, 1.5)}, {"b", wave({4}, 0.3)}}, 21,
                 [](onnx::NodeProto* n) {
                   setInt(n, "num_groups", 2);
                   setInt(n, "stash_type", onnx::TensorProto::DOUBLE);  // stage 1 in float64 too
                 });
  checkGradients("GroupNormalization", {{"x", wave({2, 6, 2})}, {"s", wave({3}, 1.0, 1.5)}, {"b", wave({3}, 0.3)}}, 18,
                 [](onnx::NodeProto* n) { setInt(n, "num_groups", 3); });
}

TEST(ExtraOps, GroupNormalizationRejectsBadGroupsAndScale) {
  for (int64_t groups : {int64_t{0}, int64_t{3}, int64_t{-2}, int64_t{1} << 62}) {
    OneNode m("GroupNormalization", {{"x", f32({1, 2, 3, 4}, {1, 4, 1})}, {"s", f32({1, 1, 1, 1}, {4})},
                                     {"b", f32({0, 0, 0, 0}, {4})}}, 21);
    setInt(m.node, "num_groups", groups);
    expectRejected(m, "GroupNormalization", {"num_groups = " + std::to_string(groups)});
  }
  OneNode s("GroupNormalization", {{"x", f32({1, 2, 3, 4}, {1, 4, 1})}, {"s", f32({1, 1}, {2})},
                                   {"b", f32({0, 0}, {2})}}, 21);
  setInt(s.node, "num_groups", 2);
  expectRejected(s, "GroupNormalization", {"scale must have shape [4]", "channel"});
}

// ---- Mod (fmod=0 on floats), empty and bool reductions -----------------------------------------

TEST(ExtraOps, FloatModTakesTheDivisorsSign) {
  // Python's %: -4 % 3 = 2, 4 % -3 = -2, -4 % -3 = -1, 1 % -inf = -inf, 3 % inf = 3.
  const float inf = std::numeric_limits<float>::infinity();
  OneNode m("Mod", {{"a", f32({-4, 4, -4, 1, 3, 6}, {6})}, {"b", f32({3, -3, -3, -inf, inf, 3}, {6})}}, 13);
  setInt(m.node, "fmod", 0);
  EXPECT_EQ(m.run().toVector<float>(), (std::vector<float>{2, -2, -1, -inf, 3, 0}));
}

TEST(ExtraOps, FloatModGradients) {
  checkGradients("Mod", {{"a", wave({6}, 5.0)}, {"b", Tensor::fromVector<double>({1.3, -1.7, 2.1, -0.9, 1.1, -2.3}, {6})}},
                 13);
}

TEST(ExtraOps, ReduceOverAnEmptySetGivesTheIdentity) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const auto& [op, want] : std::vector<std::pair<const char*, double>>{
           {"ReduceMax", -inf}, {"ReduceMin", inf}, {"ReduceLogSumExp", -inf}}) {
    OneNode m(op, {{"x", Tensor({2, 0, 3}, DType::kFloat32)}, {"axes", i64({1}, {1})}}, 18);
    Tensor y = m.run();
    ASSERT_EQ(y.shape(), (Shape{2, 1, 3})) << op;
    for (int64_t k = 0; k < y.numel(); ++k) EXPECT_EQ(y.at(k), want) << op;
  }
  OneNode i("ReduceMin", {{"x", Tensor({0, 2}, DType::kInt32)}, {"axes", i64({0}, {1})}}, 18);
  EXPECT_EQ(i.run().toVector<int32_t>(), (std::vector<int32_t>{INT32_MAX, INT32_MAX}));
}

TEST(ExtraOps, ReduceMaxMinOnBool) {
  Tensor x = Tensor::fromVector<bool>({true, false, false, false}, {2, 2});
  OneNode mx("ReduceMax", {{"x", x}, {"axes", i64({1}, {1})}}, 18);
  EXPECT_EQ(mx.run().toVector<bool>(), (std::vector<bool>{true, false}));
  OneNode mn("ReduceMin", {{"x", x}, {"axes", i64({0}, {1})}}, 18);
  EXPECT_EQ(mn.run().toVector<bool>(), (std::vector<bool>{false, false}));
  OneNode e("ReduceMin", {{"x", Tensor({2, 0}, DType::kBool)}, {"axes", i64({1}, {1})}}, 18);
  EXPECT_EQ(e.run().toVector<bool>(), (std::vector<bool>{true, true}));
}

}  // namespace
}  // namespace singa
