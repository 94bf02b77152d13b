// Gradients through the transformer operators of opsets 20-24 (Attention, RMSNormalization,
// RotaryEmbedding, Gelu), checked against finite differences in float64 with every float input a
// graph input; and the forward values of the cases the ONNX reference defines by formula.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "gradcheck.h"
#include "singa/onnx/import.h"
#include "onnx_model_builder.h"

namespace singa {
namespace {

using namespace singa::test;

struct In {
  std::string name;
  Tensor value;
  bool grad = true;
};

// A model of one `op` node reading `ins` (graph inputs; an empty name leaves an optional input
// out), with `outputs` outputs.
struct OpModel {
  onnx::ModelProto proto;
  onnx::NodeProto* node = nullptr;
  std::vector<Tensor> values;
  OpModel(const std::string& op, std::vector<In> ins, int opset, int outputs = 1) {
    proto = makeModel(opset);
    std::vector<std::string> names;
    for (In& in : ins) {
      names.push_back(in.name);
      if (in.name.empty()) continue;
      if (isFloating(in.value.dtype())) in.value = in.value.to(DType::kFloat64);
      const int type = in.value.dtype() == DType::kInt64  ? onnx::TensorProto::INT64
                       : in.value.dtype() == DType::kBool ? onnx::TensorProto::BOOL
                                                          : onnx::TensorProto::DOUBLE;
      addInput(proto, in.name, in.value.shape(), type);
      values.push_back(in.grad && isFloating(in.value.dtype()) ? in.value.clone().setRequiresGrad(true) : in.value);
    }
    std::vector<std::string> outs;
    for (int k = 0; k < outputs; ++k) outs.push_back("y" + std::to_string(k));
    node = addNode(proto, op, names, outs, op + "_node");
    for (const auto& o : outs) {
      addOutput(proto, o);
      proto.mutable_graph()->mutable_output()->rbegin()->mutable_type()->mutable_tensor_type()->set_elem_type(
          onnx::TensorProto::DOUBLE);
    }
  }
  // Every output, flattened into one vector, against finite differences.
  void checkGradients() {
    auto model = onnxio::prepare(proto);
    expectGradientsMatch(
        [&](const std::vector<Tensor>& xs) {
          std::vector<Tensor> flat;
          for (const Tensor& y : model->run(xs)) flat.push_back(ops::reshape(y, {-1}));
          return ops::concat(flat, 0);
        },
        values, 1e-6, 1e-5, 1e-4);
  }
  std::vector<Tensor> run() { return onnxio::prepare(proto)->run(values); }
};

Tensor values(const Shape& shape, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.7 * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}

Tensor bools(const std::vector<bool>& v, const Shape& shape) {
  Tensor t = Tensor::zeros(shape, DType::kBool);
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}

TEST(OnnxTransformerGrad, Attention3dGroupedQueryCausalFloatMaskSoftcap) {
  // 4 query heads over 2 key/value heads, a trainable float mask, softcap and a scale.
  OpModel m("Attention", {{"Q", values({1, 3, 8}, 0.8)}, {"K", values({1, 3, 4}, 0.9, 0.1)},
                          {"V", values({1, 3, 6}, 1.0, -0.2)}, {"mask", values({3, 3}, 0.5)}}, 23);
  setInt(m.node, "is_causal", 1);
  setInt(m.node, "q_num_heads", 4);
  setInt(m.node, "kv_num_heads", 2);
  setFloat(m.node, "softcap", 1.5f);
  setFloat(m.node, "scale", 0.4f);
  m.checkGradients();
}

TEST(OnnxTransformerGrad, Attention4dPastKeyValueAndPresentOutputs) {
  OpModel m("Attention", {{"Q", values({1, 2, 2, 3}, 0.8)}, {"K", values({1, 1, 2, 3}, 0.9, 0.1)},
                          {"V", values({1, 1, 2, 2}, 1.0, -0.2)}, {"", Tensor()},
                          {"past_key", values({1, 1, 3, 3}, 0.7)}, {"past_value", values({1, 1, 3, 2}, 0.6, 0.3)}},
            23, 4);
  setInt(m.node, "is_causal", 1);
  setInt(m.node, "qk_matmul_output_mode", 3);
  m.checkGradients();  // Y, present_key = concat(past_key, K), present_value, the probabilities
  // Bottom-right causal: query 0 sees the 3 past keys and the first new one, never the last.
  const Tensor probs = m.run()[3];
  EXPECT_EQ(probs.shape(), (Shape{1, 2, 2, 5}));
  EXPECT_EQ(probs.at(4), 0.0);
  EXPECT_GT(probs.at(3), 0.0);
}

TEST(OnnxTransformerGrad, AttentionFullyMaskedRowIsZeroWithFiniteGradients) {
  // Query row 1 may attend no key: its output is 0 and gradients stay finite (no NaN softmax).
  OpModel m("Attention", {{"Q", values({1, 1, 2, 2})}, {"K", values({1, 1, 3, 2}, 0.5)},
                          {"V", values({1, 1, 3, 2}, 0.9)}, {"mask", bools({true, false, true, false, false, false}, {2, 3})}},
            23);
  const Tensor y = m.run()[0];
  EXPECT_EQ(y.at(2), 0.0);
  EXPECT_EQ(y.at(3), 0.0);
  m.checkGradients();
}

TEST(OnnxTransformerGrad, AttentionPaddingLengthsOpset24) {
  OpModel m("Attention", {{"Q", values({2, 1, 2, 2})}, {"K", values({2, 1, 3, 2}, 0.5)}, {"V", values({2, 1, 3, 2}, 0.9)},
                          {"", Tensor()}, {"", Tensor()}, {"", Tensor()},
                          {"lens", Tensor::fromVector<int64_t>({3, 1}, {2}), false}},
            24);
  m.checkGradients();
}

TEST(OnnxTransformerGrad, RmsNormalizationOverTrailingAxes) {
  OpModel m("RMSNormalization", {{"X", values({2, 3, 4}, 1.0, 0.2)}, {"scale", values({3, 4}, 0.3, 1.0)}}, 23);
  setInt(m.node, "axis", 1);
  setFloat(m.node, "epsilon", 1e-3f);
  m.checkGradients();
}

TEST(OnnxTransformerGrad, RotaryEmbeddingInterleavedAndPartial) {
  for (int interleaved : {0, 1}) {
    // 3-D input of 2 heads of size 6, rotating the first 4 dims, positions from a cache of 5.
    OpModel m("RotaryEmbedding", {{"X", values({2, 3, 12})}, {"cos", values({5, 2}, 0.8)}, {"sin", values({5, 2}, 0.6, 0.1)},
                                  {"pos", Tensor::fromVector<int64_t>({0, 1, 2, 4, 3, 0}, {2, 3}), false}},
              23);
    setInt(m.node, "interleaved", interleaved);
    setInt(m.node, "num_heads", 2);
    setInt(m.node, "rotary_embedding_dim", 4);
    m.checkGradients();
  }
  // 4-D input with per-position caches (no position_ids).
  OpModel m4("RotaryEmbedding", {{"X", values({1, 2, 3, 4})}, {"cos", values({1, 3, 2}, 0.8)}, {"sin", values({1, 3, 2}, 0.6)}},
             23);
  m4.checkGradients();
}

TEST(OnnxTransformerGrad, GeluExactAndTanh) {
  for (const char* approx : {"none", "tanh"}) {
    OpModel m("Gelu", {{"X", values({2, 5}, 2.5)}}, 20);
    auto* a = m.node->add_attribute();
    a->set_name("approximate");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(approx);
    m.checkGradients();
    // Gelu(1) = 0.5 (1 + erf(1 / sqrt 2)) = 0.841345 (exact); 0.841192 with the tanh form.
    OpModel one("Gelu", {{"X", Tensor::fromVector<double>({1.0}, {1})}}, 20);
    one.node->add_attribute()->CopyFrom(*a);
    EXPECT_NEAR(one.run()[0].at(0), std::string(approx) == "none" ? 0.8413447460685429 : 0.8411919906082768, 1e-12);
  }
}

}  // namespace
}  // namespace singa
