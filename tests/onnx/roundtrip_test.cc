// The tutorial flow: a small MNIST-style CNN built from nn layers is exported to ONNX, imported
// back, run (same outputs), cut with lastLayers = -1 (the features before the classifier), then
// re-trained and extended for transfer learning, with gradients flowing into the imported weights.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <memory>

#include "singa/nn/activations.h"
#include "singa/nn/layers.h"
#include "singa/nn/sequential.h"
#include "singa/onnx/export.h"
#include "singa/onnx/import.h"
#include "singa/ops/ops.h"

namespace singa {
namespace {

std::shared_ptr<Sequential> smallCnn() {
  Generator gen(7);
  return std::make_shared<Sequential>(std::make_shared<Conv2d>(1, 4, 3, 1, 0, 1, 1, true, gen), std::make_shared<ReLU>(),
                                      std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
                                      std::make_shared<Linear>(36, 16, true, gen), std::make_shared<ReLU>(),
                                      std::make_shared<Linear>(16, 10, true, gen));
}

Tensor sampleInput() {
  std::vector<float> v(2 * 64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 17) / 17.0f - 0.4f;
  return Tensor::fromVector(v, {2, 1, 8, 8});
}

void expectClose(const Tensor& a, const Tensor& b, double tol = 1e-5) {
  ASSERT_EQ(a.shape(), b.shape());
  std::vector<float> x = a.toVector<float>(), y = b.toVector<float>();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], tol) << "at " << i;
}

TEST(OnnxRoundTrip, ExportImportRunCutRetrain) {
  auto net = smallCnn();
  net->eval();
  Tensor x = sampleInput();
  Tensor ref = net->forward(x);
  onnx::ModelProto proto = onnxio::exportModule(*net, {x});
  auto imported = onnxio::prepare(proto);

  // Same outputs, parameters under the exported names.
  expectClose(imported->forward(x), ref);
  for (const auto& [name, t] : net->namedParameters()) {
    EXPECT_TRUE(imported->initializer(name).defined()) << name;
  }

  // lastLayers = -1: the 16-wide features before the final Linear.
  Tensor feats = imported->run({x}, -1)[0];
  Tensor h = x;
  for (size_t i = 0; i + 1 < net->size(); ++i) h = (*net)[i]->forward(h);
  expectClose(feats, h);

  // Re-training: gradients reach every imported parameter.
  imported->train();
  Tensor labels = Tensor::fromVector<int64_t>({3, 7}, {2});
  Tensor loss = ops::softmaxCrossEntropy(imported->forward(x), labels);
  loss.backward();
  for (const auto& [name, t] : imported->namedParameters()) EXPECT_TRUE(t.grad().defined()) << name;

  // Transfer learning: freeze the imported weights, train a new head on the cut features.
  imported->zeroGrad();
  imported->freeze("");
  Generator gen(3);
  Linear head(16, 5, true, gen);
  Tensor out = head.forward(imported->run({x}, -1)[0]);
  ops::softmaxCrossEntropy(out, Tensor::fromVector<int64_t>({1, 4}, {2})).backward();
  EXPECT_TRUE(head.namedParameters()[0].second.grad().defined());
  for (const auto& [name, t] : imported->namedParameters()) EXPECT_FALSE(t.grad().defined()) << name;
}

TEST(OnnxRoundTrip, ImportedModelExportsAgain) {
  auto net = smallCnn();
  net->eval();
  Tensor x = sampleInput();
  auto imported = onnxio::prepare(onnxio::exportModule(*net, {x}));
  auto again = onnxio::prepare(onnxio::exportModule(*imported, {x}));
  expectClose(again->forward(x), net->forward(x));
}

}  // namespace
}  // namespace singa
