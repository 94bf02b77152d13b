// Gradients through imported graphs: the converters that are compositions of engine ops (RNNs,
// Resize, GatherElements, LayerNormalization, losses, Einsum, LRN, DFT, reductions, ...) are
// checked against finite differences, in float64, with every float input a graph input.
#include <gtest/gtest.h>

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

// One node of `op` reading `ins` (graph inputs, in order) and writing output 0 ("y") plus
// `extraOutputs` more; `attrs` sets attributes.
void checkNodeGradients(const std::string& op, std::vector<In> ins, int opset,
                        const std::function<void(onnx::NodeProto*)>& attrs = nullptr, int extraOutputs = 0,
                        double eps = 1e-6) {
  onnx::ModelProto m = makeModel(opset);
  std::vector<std::string> names;
  std::vector<Tensor> values;
  for (In& in : ins) {
    if (isFloating(in.value.dtype())) in.value = in.value.to(DType::kFloat64);
    const int type = in.value.dtype() == DType::kInt64 ? onnx::TensorProto::INT64 : onnx::TensorProto::DOUBLE;
    addInput(m, in.name, in.value.shape(), type);
    names.push_back(in.name);
    values.push_back(in.grad ? in.value.clone().setRequiresGrad(true) : in.value);
  }
  std::vector<std::string> outs{"y"};
  for (int k = 0; k < extraOutputs; ++k) outs.push_back("extra" + std::to_string(k));
  auto* node = addNode(m, op, names, outs, op + "_node");
  if (attrs) attrs(node);
  for (const auto& o : outs) addOutput(m, o);
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  auto model = onnxio::prepare(m);
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; }, values, eps, 1e-5, 1e-4);
}

Tensor values(const Shape& shape, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.7 * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}

TEST(OnnxImportGrad, Lstm) {
  checkNodeGradients("LSTM", {{"X", values({3, 2, 4})}, {"W", values({1, 12, 4}, 0.5)},
                              {"R", values({1, 12, 3}, 0.5)}, {"B", values({1, 24}, 0.1)}},
                     14, [](onnx::NodeProto* n) { setInt(n, "hidden_size", 3); });
}

TEST(OnnxImportGrad, GruBothResetOrders) {
  for (int lbr : {0, 1}) {
    checkNodeGradients("GRU", {{"X", values({3, 2, 4})}, {"W", values({2, 9, 4}, 0.5)},
                               {"R", values({2, 9, 3}, 0.5)}, {"B", values({2, 18}, 0.1)}},
                       14, [lbr](onnx::NodeProto* n) {
                         setInt(n, "hidden_size", 3);
                         setInt(n, "linear_before_reset", lbr);
                         auto* a = n->add_attribute();
                         a->set_name("direction");
                         a->set_type(onnx::AttributeProto::STRING);
                         a->set_s("bidirectional");
                       });
  }
}

TEST(OnnxImportGrad, ResizeLinearAndCubic) {
  for (const char* mode : {"linear", "cubic", "nearest"}) {
    checkNodeGradients("Resize", {{"X", values({1, 1, 3, 4})}, {"roi", Tensor::fromVector<double>({}, {0}), false},
                                  {"scales", Tensor::fromVector<double>({1, 1, 1.7, 0.8}, {4}), false}},
                       13, [mode](onnx::NodeProto* n) {
                         auto* a = n->add_attribute();
                         a->set_name("mode");
                         a->set_type(onnx::AttributeProto::STRING);
                         a->set_s(mode);
                       });
  }
}

TEST(OnnxImportGrad, GatherElementsAndTopK) {
  checkNodeGradients("GatherElements", {{"data", values({3, 4})},
                                        {"indices", Tensor::fromVector<int64_t>({0, 3, 1, 2, -1, 0}, {3, 2}), false}},
                     13, [](onnx::NodeProto* n) { setInt(n, "axis", 1); });
  checkNodeGradients("TopK", {{"X", values({3, 5})}, {"K", Tensor::fromVector<int64_t>({2}, {1}), false}}, 13,
                     nullptr, 1);
}

TEST(OnnxImportGrad, LayerAndInstanceNormalization) {
  checkNodeGradients("LayerNormalization", {{"X", values({2, 3, 4})}, {"Scale", values({4}, 1.0, 1.5)},
                                            {"B", values({4})}},
                     17);
  checkNodeGradients("InstanceNormalization", {{"x", values({2, 3, 5})}, {"scale", values({3}, 1.0, 1.5)},
                                               {"B", values({3})}},
                     13);
  checkNodeGradients("LRN", {{"X", values({1, 5, 2, 2})}}, 13, [](onnx::NodeProto* n) { setInt(n, "size", 3); });
}

TEST(OnnxImportGrad, SoftmaxCrossEntropyWithWeightsAndIgnoreIndex) {
  checkNodeGradients("SoftmaxCrossEntropyLoss", {{"scores", values({4, 3, 2})},
                                                 {"labels", Tensor::fromVector<int64_t>({0, 2, 1, -1, 2, 2, 0, 1}, {4, 2}), false},
                                                 {"weights", values({3}, 0.3, 1.0), false}},
                     13, [](onnx::NodeProto* n) { setInt(n, "ignore_index", -1); });
}

TEST(OnnxImportGrad, EinsumDftCumSum) {
  checkNodeGradients("Einsum", {{"a", values({2, 3, 3})}, {"b", values({3, 4})}}, 13, [](onnx::NodeProto* n) {
    auto* a = n->add_attribute();
    a->set_name("equation");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("bii,ik->bk");
  });
  checkNodeGradients("DFT", {{"x", values({2, 5, 1})}}, 17);
  checkNodeGradients("CumSum", {{"x", values({3, 4})}, {"axis", Tensor::fromVector<int64_t>({0}, {}), false}}, 14,
                     [](onnx::NodeProto* n) { setInt(n, "reverse", 1); });
}

TEST(OnnxImportGrad, ReductionsComposedOfOps) {
  for (const char* op : {"ReduceLogSumExp", "ReduceL2", "ReduceSumSquare", "ReduceL1"}) {
    checkNodeGradients(op, {{"data", values({3, 4}, 1.0, 0.2)}}, 13, [](onnx::NodeProto* n) { setInts(n, "axes", {1}); });
  }
}

}  // namespace
}  // namespace singa
