// ONNX import: small graphs built in C++ checked against hand-computed references; layer cuts
// (lastLayers, named values); parameters, buffers, freezing and gradient flow; opset variants.
#include "singa/onnx/import.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "singa/autograd/node.h"
#include "singa/autograd/trace.h"
#include "singa/ops/registry.h"
#include "onnx_model_builder.h"
#include "singa/ops/ops.h"

namespace singa {
namespace {

using namespace singa::test;
using onnxio::prepare;

std::vector<float> seq(int n, float scale, float shift) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = std::sin(static_cast<float>(i) * scale) + shift;
  return v;
}

// x[1,1,4,4] -> Conv(W[2,1,3,3], b[2]) -> Relu -> Flatten -> Gemm(W2[3,8]^T, c[3]).
struct ConvNet {
  std::vector<float> x = seq(16, 0.7f, 0.1f);
  std::vector<float> w = seq(18, 1.3f, 0.0f);
  std::vector<float> b = {0.1f, -0.2f};
  std::vector<float> w2 = seq(24, 0.37f, -0.05f);
  std::vector<float> c = {0.5f, -0.5f, 0.25f};

  onnx::ModelProto model() const {
    onnx::ModelProto m = makeModel(13);
    addInput(m, "x", {-1, 1, 4, 4});
    addInit(m, "conv.weight", Tensor::fromVector(w, {2, 1, 3, 3}));
    addInit(m, "conv.bias", Tensor::fromVector(b, {2}));
    addInit(m, "fc.weight", Tensor::fromVector(w2, {3, 8}));
    addInit(m, "fc.bias", Tensor::fromVector(c, {3}));
    setInts(addNode(m, "Conv", {"x", "conv.weight", "conv.bias"}, {"conv_out"}, "conv1"), "kernel_shape", {3, 3});
    addNode(m, "Relu", {"conv_out"}, {"relu_out"}, "relu1");
    addNode(m, "Flatten", {"relu_out"}, {"flat"}, "flatten");
    setInt(addNode(m, "Gemm", {"flat", "fc.weight", "fc.bias"}, {"y"}, "fc"), "transB", 1);
    addOutput(m, "y");
    return m;
  }
  // Naive reference of the features (after Relu, flattened) and of the logits.
  std::vector<float> features() const {
    std::vector<float> f;
    for (int o = 0; o < 2; ++o) {
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) {
          float s = b[o];
          for (int ki = 0; ki < 3; ++ki) {
            for (int kj = 0; kj < 3; ++kj) s += x[(i + ki) * 4 + j + kj] * w[o * 9 + ki * 3 + kj];
          }
          f.push_back(std::max(s, 0.0f));
        }
      }
    }
    return f;
  }
  std::vector<float> logits() const {
    std::vector<float> f = features();
    std::vector<float> y;
    for (int k = 0; k < 3; ++k) {
      float s = c[k];
      for (int i = 0; i < 8; ++i) s += f[i] * w2[k * 8 + i];
      y.push_back(s);
    }
    return y;
  }
};

void expectNear(const Tensor& t, const std::vector<float>& ref, double tol = 1e-5) {
  std::vector<float> v = t.toVector<float>();
  ASSERT_EQ(v.size(), ref.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], ref[i], tol) << "at " << i;
}

TEST(OnnxImport, ConvReluGemmMatchesReference) {
  ConvNet net;
  auto m = prepare(net.model());
  EXPECT_FALSE(m->isTraining());
  Tensor y = m->forward(Tensor::fromVector(net.x, {1, 1, 4, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  expectNear(y, net.logits());
}

TEST(OnnxImport, LastLayersCutsBeforeTheFinalLayer) {
  ConvNet net;
  auto m = prepare(net.model());
  Tensor x = Tensor::fromVector(net.x, {1, 1, 4, 4});
  EXPECT_EQ(m->numLayers(), 4);
  std::vector<Tensor> feats = m->run({x}, -1);
  ASSERT_EQ(feats.size(), 1u);
  EXPECT_EQ(feats[0].shape(), (Shape{1, 8}));
  expectNear(feats[0], net.features());
  EXPECT_EQ(m->run({x}, -3)[0].shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(m->run({x}, 2)[0].shape(), (Shape{1, 2, 2, 2}));
  expectNear(m->run({x}, std::string("flat"))[0], net.features());
  EXPECT_THROW(m->run({x}, -4), ValueError);
  EXPECT_THROW(m->run({x}, std::string("no_such_value")), ValueError);
}

TEST(OnnxImport, ConvFollowedByReluRunsFusedUnlessItsOutputIsWanted) {
  // Inference runs Conv -> Relu as one fused kernel; asking for the Conv's own output (a named
  // cut, or a graph output) must still give the values before the ReLU.
  ConvNet net;
  auto m = prepare(net.model());
  Tensor x = Tensor::fromVector(net.x, {1, 1, 4, 4});
  expectNear(m->run({x}, std::string("relu_out"))[0], net.features());
  const std::vector<float> preRelu = m->run({x}, std::string("conv_out"))[0].toVector<float>();
  const std::vector<float> post = net.features();
  ASSERT_EQ(preRelu.size(), post.size());
  bool sawNegative = false;
  for (size_t i = 0; i < post.size(); ++i) {
    EXPECT_NEAR(std::max(preRelu[i], 0.0f), post[i], 1e-5) << "at " << i;
    sawNegative = sawNegative || preRelu[i] < 0;
  }
  EXPECT_TRUE(sawNegative) << "the test input must give negative pre-activations";
  onnx::ModelProto both = net.model();
  addOutput(both, "conv_out");
  auto m2 = prepare(both);
  std::vector<Tensor> outs = m2->run({x});
  ASSERT_EQ(outs.size(), 2u);
  expectNear(outs[0], net.logits());
  const std::vector<float> convOut = outs[1].toVector<float>();
  for (size_t i = 0; i < convOut.size(); ++i) EXPECT_NEAR(convOut[i], preRelu[i], 1e-6) << "at " << i;
}

TEST(OnnxImport, ConvFollowedByClipRunsFusedWithTheSameResults) {
  // Conv -> Clip (mobilenet's ReLU6) runs as one op in inference: with the bounds as Constant
  // nodes between the two (as torch.onnx writes them), as initializers (one bound absent), or as
  // attributes (opset 6). Values against direct loops in double; asking for the Conv's own output,
  // or wanting gradients, runs the two nodes with the same results.
  const Shape xs{2, 3, 6, 6}, ws{4, 3, 3, 3};
  const std::vector<float> xv = seq(2 * 3 * 36, 0.61f, 0.05f), wv = seq(4 * 27, 1.17f, -0.02f);
  const std::vector<float> bv = {0.3f, -0.4f, 0.05f, 0.0f};
  std::vector<double> convRef;  // pads 1, stride 1: [2, 4, 6, 6]
  for (int n = 0; n < 2; ++n) {
    for (int o = 0; o < 4; ++o) {
      for (int i = 0; i < 6; ++i) {
        for (int j = 0; j < 6; ++j) {
          double acc = bv[o];
          for (int c = 0; c < 3; ++c) {
            for (int ki = 0; ki < 3; ++ki) {
              for (int kj = 0; kj < 3; ++kj) {
                const int r = i + ki - 1, q = j + kj - 1;
                if (r < 0 || r >= 6 || q < 0 || q >= 6) continue;
                acc += static_cast<double>(xv[((n * 3 + c) * 6 + r) * 6 + q]) * wv[((o * 3 + c) * 3 + ki) * 3 + kj];
              }
            }
          }
          convRef.push_back(acc);
        }
      }
    }
  }
  auto constantNode = [](onnx::ModelProto& m, const std::string& out, float v) {
    auto* a = addNode(m, "Constant", {}, {out})->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    onnxio::toTensorProto(Tensor::fromVector<float>({v}, {}), "", a->mutable_t());
  };
  enum Form { kConstantNodes, kInitializers, kAttributes };
  for (Form form : {kConstantNodes, kInitializers, kAttributes}) {
    for (bool wantConv : {false, true}) {
      for (bool withGrad : {false, true}) {
        SCOPED_TRACE(std::string(form == kConstantNodes ? "Constant nodes" : form == kInitializers ? "initializers"
                                                                                                     : "attributes") +
                     (wantConv ? ", conv output wanted" : "") + (withGrad ? ", gradients" : ""));
        const double lo = form == kInitializers ? -std::numeric_limits<double>::infinity() : -0.5, hi = 1.5;
        onnx::ModelProto m = makeModel(form == kAttributes ? 6 : 13);
        addInput(m, "x", {-1, 3, 6, 6});
        addInit(m, "w", Tensor::fromVector(wv, ws));
        addInit(m, "b", Tensor::fromVector(bv, {4}));
        setInts(addNode(m, "Conv", {"x", "w", "b"}, {"conv_out"}), "pads", {1, 1, 1, 1});
        if (form == kConstantNodes) {
          constantNode(m, "lo", -0.5f);
          constantNode(m, "hi", 1.5f);
          addNode(m, "Clip", {"conv_out", "lo", "hi"}, {"y"});
        } else if (form == kInitializers) {
          addInit(m, "hi", Tensor::fromVector<float>({1.5f}, {}));
          addNode(m, "Clip", {"conv_out", "", "hi"}, {"y"});
        } else {
          auto* clip = addNode(m, "Clip", {"conv_out"}, {"y"});
          setFloat(clip, "min", -0.5f);
          setFloat(clip, "max", 1.5f);
        }
        addOutput(m, "y");
        if (wantConv) addOutput(m, "conv_out");
        auto model = prepare(m);
        Tensor x = Tensor::fromVector(xv, xs);
        if (withGrad) x.setRequiresGrad();
        const std::vector<Tensor> outs = model->run({x});
        ASSERT_EQ(outs.size(), wantConv ? 2u : 1u);
        const std::vector<float> y = outs[0].toVector<float>();
        ASSERT_EQ(y.size(), convRef.size());
        int atLo = 0, atHi = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          EXPECT_NEAR(y[i], std::min(std::max(convRef[i], lo), hi), 1e-4) << "at " << i;
          atLo += y[i] == static_cast<float>(lo);
          atHi += y[i] == static_cast<float>(hi);
        }
        EXPECT_GT(atHi, 0);
        if (form != kInitializers) {
          EXPECT_GT(atLo, 0);
        }
        if (wantConv) {
          const std::vector<float> c = outs[1].toVector<float>();
          for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], convRef[i], 1e-4) << "at " << i;
        }
        if (withGrad) {  // d sum(y) / dx: the weights summed over the outputs strictly inside the bounds
          ops::reduceSum(outs[0]).backward();
          std::vector<double> dx(xv.size(), 0.0);
          for (int n = 0; n < 2; ++n) {
            for (int o = 0; o < 4; ++o) {
              for (int i = 0; i < 6; ++i) {
                for (int j = 0; j < 6; ++j) {
                  const double v = convRef[((n * 4 + o) * 6 + i) * 6 + j];
                  if (!(v > lo && v < hi)) continue;
                  for (int c = 0; c < 3; ++c) {
                    for (int ki = 0; ki < 3; ++ki) {
                      for (int kj = 0; kj < 3; ++kj) {
                        const int r = i + ki - 1, q = j + kj - 1;
                        if (r < 0 || r >= 6 || q < 0 || q >= 6) continue;
                        dx[((n * 3 + c) * 6 + r) * 6 + q] += wv[((o * 3 + c) * 3 + ki) * 3 + kj];
                      }
                    }
                  }
                }
              }
            }
          }
          const std::vector<float> g = x.grad().toVector<float>();
          ASSERT_EQ(g.size(), dx.size());
          for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], dx[i], 1e-4) << "at " << i;
        }
      }
    }
  }
}

TEST(OnnxImport, BatchNormFollowedByClipTrainsFusedWithTheSameResults) {
  // BatchNormalization -> Clip (mobilenet's BN + ReLU6, bounds as Constant nodes between the two as
  // torch.onnx writes them) runs as one op (ops::batchNormClip: no Clip kernel runs), in training
  // and in inference: outputs, the input's gradient and the parameters' gradients bit for bit as
  // the two ops run directly; asking for the BatchNormalization's own output runs the two nodes.
  const int64_t C = 3;
  const Shape xs{4, C, 5, 5};
  const std::vector<float> xv = seq(4 * C * 25, 0.37f, 0.11f);
  const std::vector<float> scale = {1.7f, 0.9f, 2.2f}, bias = {0.4f, -0.2f, 1.1f};
  const std::vector<float> mean = {0.1f, 0.0f, -0.3f}, var = {1.2f, 0.8f, 2.0f};
  for (bool training : {true, false}) {
    for (bool wantBn : {false, true}) {
      SCOPED_TRACE(std::string(training ? "training" : "inference") + (wantBn ? ", BN output wanted" : ""));
      onnx::ModelProto m = makeModel(13);
      addInput(m, "x", {-1, C, 5, 5});
      addInit(m, "scale", Tensor::fromVector(scale, {C}));
      addInit(m, "bias", Tensor::fromVector(bias, {C}));
      addInit(m, "mean", Tensor::fromVector(mean, {C}));
      addInit(m, "var", Tensor::fromVector(var, {C}));
      addNode(m, "BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"bn_out"});
      for (auto [name, v] : {std::pair<const char*, float>{"lo", 0.0f}, {"hi", 1.0f}}) {
        auto* a = addNode(m, "Constant", {}, {name})->add_attribute();
        a->set_name("value");
        a->set_type(onnx::AttributeProto::TENSOR);
        onnxio::toTensorProto(Tensor::fromVector<float>({v}, {}), "", a->mutable_t());
      }
      addNode(m, "Clip", {"bn_out", "lo", "hi"}, {"y"});
      addOutput(m, "y");
      if (wantBn) addOutput(m, "bn_out");
      auto model = prepare(m);
      if (training) model->train();
      // Count the Clip kernel's runs: the fused node runs none.
      KernelRegistry& registry = KernelRegistry::global();
      const KernelFn clipKernel = registry.find(OpId::kClip, DeviceType::kCpu, DType::kFloat32);
      int clipRuns = 0;
      registry.add(OpId::kClip, DeviceType::kCpu, DType::kFloat32, [&](KernelContext& c) {
        ++clipRuns;
        clipKernel(c);
      });
      // Inference with nothing recording (as singa_onnx runs it); training with gradients.
      std::optional<autograd::NoGradGuard> noGrad;
      if (!training) noGrad.emplace();
      Tensor x = Tensor::fromVector(xv, xs);
      if (training) x.setRequiresGrad();
      const Tensor w = Tensor::fromVector(seq(4 * C * 25, -0.8f, 0.07f), xs);
      const std::vector<Tensor> outs = model->run({x});
      registry.add(OpId::kClip, DeviceType::kCpu, DType::kFloat32, clipKernel);
      EXPECT_EQ(clipRuns, wantBn ? 1 : 0);
      // The reference: the same ops on fresh copies of the parameters.
      Tensor x2 = Tensor::fromVector(xv, xs);
      if (training) x2.setRequiresGrad();
      Tensor s2 = Tensor::fromVector(scale, {C}).setRequiresGrad(), b2 = Tensor::fromVector(bias, {C}).setRequiresGrad();
      Tensor m2 = Tensor::fromVector(mean, {C}), v2 = Tensor::fromVector(var, {C});
      Tensor y2 = ops::clip(ops::batchNorm(x2, s2, b2, m2, v2, training, 0.9, 1e-5), 0.0, 1.0);
      if (training) {
        ops::reduceSum(ops::mul(outs[0], w)).backward();
        ops::reduceSum(ops::mul(y2, w)).backward();
      }
      const std::vector<float> y = outs[0].toVector<float>();
      EXPECT_EQ(y, y2.toVector<float>());
      int atLo = 0, atHi = 0;
      for (float v : y) {
        atLo += v == 0.0f;
        atHi += v == 1.0f;
      }
      EXPECT_GT(atLo, 0);
      EXPECT_GT(atHi, 0);
      if (training) {
        EXPECT_EQ(x.grad().toVector<float>(), x2.grad().toVector<float>());
        EXPECT_EQ(model->initializer("scale").grad().toVector<float>(), s2.grad().toVector<float>());
        EXPECT_EQ(model->initializer("bias").grad().toVector<float>(), b2.grad().toVector<float>());
        EXPECT_EQ(model->initializer("mean").toVector<float>(), m2.toVector<float>());
      }
      if (wantBn) {
        ASSERT_EQ(outs.size(), 2u);
        const std::vector<float> bn = outs[1].toVector<float>();
        ASSERT_EQ(bn.size(), y.size());
        bool below = false;
        for (size_t i = 0; i < bn.size(); ++i) {
          EXPECT_EQ(std::min(std::max(bn[i], 0.0f), 1.0f), y[i]) << "at " << i;
          below = below || bn[i] < 0.0f;
        }
        EXPECT_TRUE(below) << "the BN output is the value before clipping";
      }
    }
  }
}

TEST(OnnxImport, MatMulWithBiasAddIsOneLayer) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {2, 4});
  addInit(m, "w1", Tensor::fromVector(seq(20, 0.3f, 0.0f), {4, 5}));
  addInit(m, "b1", Tensor::fromVector(seq(5, 0.9f, 0.0f), {5}));
  addInit(m, "w2", Tensor::fromVector(seq(15, 0.5f, 0.0f), {5, 3}));
  addInit(m, "b2", Tensor::fromVector(seq(3, 0.2f, 0.0f), {3}));
  addNode(m, "MatMul", {"x", "w1"}, {"h0"});
  addNode(m, "Add", {"h0", "b1"}, {"h1"});
  addNode(m, "Relu", {"h1"}, {"h"});
  addNode(m, "MatMul", {"h", "w2"}, {"o0"});
  addNode(m, "Add", {"o0", "b2"}, {"out"});
  addOutput(m, "out");
  auto model = prepare(m);
  EXPECT_EQ(model->numLayers(), 3);
  Tensor x = Tensor::fromVector(seq(8, 0.4f, 0.0f), {2, 4});
  Tensor feats = model->run({x}, -1)[0];
  EXPECT_EQ(feats.shape(), (Shape{2, 5}));
  Tensor ref = ops::relu(ops::add(ops::matmul(x, model->initializer("w1")), model->initializer("b1")));
  expectNear(feats, ref.toVector<float>());
}

TEST(OnnxImport, BatchNormFollowedByACraftedClipIsNotFusedAndNamesTheBound) {
  // An empty Clip bound (a crafted model) keeps BN -> Clip from fusing; the Clip node then rejects
  // it, naming the node and the bound, in training and in inference.
  for (bool training : {true, false}) {
    onnx::ModelProto m = makeModel(13);
    addInput(m, "x", {-1, 2, 3, 3});
    for (const char* name : {"scale", "bias", "mean", "var"}) addInit(m, name, Tensor::ones({2}));
    addInit(m, "lo", Tensor::zeros({0}));
    addNode(m, "BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"bn_out"});
    addNode(m, "Clip", {"bn_out", "lo"}, {"y"})->set_name("relu6");
    addOutput(m, "y");
    auto model = prepare(m);
    if (training) model->train();
    try {
      model->run({Tensor::ones({1, 2, 3, 3})});
      FAIL() << "an empty Clip bound must be rejected";
    } catch (const ValueError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("relu6"), std::string::npos) << what;
      EXPECT_NE(what.find("min"), std::string::npos) << what;
    }
  }
}

TEST(OnnxImport, FloatInitializersAreNamedTrainableParameters) {
  ConvNet net;
  auto m = prepare(net.model());
  auto params = m->namedParameters();
  std::vector<std::string> names;
  for (auto& [name, t] : params) {
    names.push_back(name);
    EXPECT_TRUE(t.requiresGrad()) << name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"conv.weight", "conv.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(m->stateDict().count("fc.bias"), 1u);

  m->train();
  Tensor loss = ops::reduceSum(m->forward(Tensor::fromVector(net.x, {1, 1, 4, 4})));
  loss.backward();
  for (auto& [name, t] : m->namedParameters()) EXPECT_TRUE(t.grad().defined()) << name;
  // d(sum y)/d(fc.bias) = 1 per class.
  expectNear(m->initializer("fc.bias").grad(), {1.0f, 1.0f, 1.0f});
}

TEST(OnnxImport, FreezeStopsGradients) {
  ConvNet net;
  auto m = prepare(net.model());
  EXPECT_EQ(m->freeze("conv"), 2);
  m->zeroGrad();
  Tensor loss = ops::reduceSum(m->forward(Tensor::fromVector(net.x, {1, 1, 4, 4})));
  loss.backward();
  EXPECT_FALSE(m->initializer("conv.weight").grad().defined());
  EXPECT_TRUE(m->initializer("fc.weight").grad().defined());
  EXPECT_EQ(m->unfreeze("conv.weight"), 1);
  EXPECT_THROW(m->freeze("nothing_like_this"), ValueError);
}

onnx::ModelProto batchNormModel() {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {-1, 2, 2, 2});
  addInit(m, "scale", Tensor::fromVector<float>({1.0f, 2.0f}, {2}));
  addInit(m, "bias", Tensor::fromVector<float>({0.0f, 1.0f}, {2}));
  addInit(m, "mean", Tensor::fromVector<float>({0.5f, -1.0f}, {2}));
  addInit(m, "var", Tensor::fromVector<float>({4.0f, 0.25f}, {2}));
  auto* n = addNode(m, "BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"}, "bn");
  setFloat(n, "epsilon", 0.0f);
  addOutput(m, "y");
  return m;
}

TEST(OnnxImport, BatchNormStatisticsAreBuffers) {
  auto m = prepare(batchNormModel());
  auto buffers = m->namedBuffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "mean");
  EXPECT_EQ(buffers[1].first, "var");
  EXPECT_EQ(m->namedParameters().size(), 2u);
  // Inference: (x - mean) / sqrt(var) * scale + bias.
  Tensor x = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  expectNear(m->forward(x), {0.25f, 0.75f, 1.25f, 1.75f, 25.0f, 29.0f, 33.0f, 37.0f});
  // Training: batch statistics, and the running mean moves towards the batch mean.
  m->train();
  Tensor y = m->forward(x);
  std::vector<float> mean = m->initializer("mean").toVector<float>();
  EXPECT_NEAR(mean[0], 0.9f * 0.5f + 0.1f * 2.5f, 1e-5);
  EXPECT_NEAR(mean[1], 0.9f * -1.0f + 0.1f * 6.5f, 1e-5);
  EXPECT_NEAR(y.toVector<float>()[0], (1.0f - 2.5f) / std::sqrt(1.25f), 1e-4);
}

// torch.onnx keeps one initializer per distinct value and names equal ones through Identity
// nodes: two fresh BatchNorm layers then share one tensor of ones and one of zeros as scale, bias
// and running statistics. Imported for training, each name is a tensor of its own again.
onnx::ModelProto mergedBatchNormModel() {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {-1, 2, 2, 2});
  addInit(m, "ones", Tensor::fromVector<float>({1.0f, 1.0f}, {2}));
  addInit(m, "zeros", Tensor::fromVector<float>({0.0f, 0.0f}, {2}));
  addNode(m, "Identity", {"zeros"}, {"bn1.running_mean"});
  addNode(m, "Identity", {"ones"}, {"bn1.running_var"});
  addNode(m, "Identity", {"ones"}, {"bn2.weight"});
  addNode(m, "Identity", {"zeros"}, {"bn2.bias"});
  addNode(m, "Identity", {"zeros"}, {"bn2.running_mean"});
  addNode(m, "Identity", {"ones"}, {"bn2.running_var"});
  addNode(m, "BatchNormalization", {"x", "ones", "zeros", "bn1.running_mean", "bn1.running_var"}, {"h"}, "bn1");
  addNode(m, "Relu", {"h"}, {"r"});
  addNode(m, "BatchNormalization", {"r", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"}, {"y"},
          "bn2");
  addOutput(m, "y");
  return m;
}

TEST(OnnxImport, InitializersAnExporterMergedAreSeparateTensorsForTraining) {
  auto m = prepare(mergedBatchNormModel());
  std::vector<std::string> params, buffers;
  for (auto& [name, t] : m->namedParameters()) params.push_back(name);
  for (auto& [name, t] : m->namedBuffers()) buffers.push_back(name);
  std::sort(params.begin(), params.end());
  std::sort(buffers.begin(), buffers.end());
  EXPECT_EQ(params, (std::vector<std::string>{"bn2.bias", "bn2.weight", "ones", "zeros"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn1.running_mean", "bn1.running_var", "bn2.running_mean",
                                               "bn2.running_var"}));
  const std::vector<float> xs{1, 2, 3, 4, 5, 6, 7, 9, -1, 0, 2, 2, 3, 1, 0, 4};
  Tensor x = Tensor::fromVector<float>(xs, {2, 2, 2, 2});
  // Inference is what the file says: with unit statistics and scale and zero bias, relu(x).
  std::vector<float> relu(xs);
  for (float& v : relu) v = std::max(v, 0.0f);
  expectNear(m->forward(x), relu, 1e-4);  // epsilon 1e-5: x / sqrt(1 + 1e-5)

  // Training moves each layer's running mean alone; the parameters keep their values.
  m->train();
  const std::vector<float> w{0.3f, -1.0f, 0.7f, 0.2f, 1.5f, -0.4f, 0.9f, 0.1f,
                             -0.6f, 0.8f, 0.05f, -1.2f, 0.4f, 0.6f, -0.3f, 1.1f};
  auto lossOf = [&] { return ops::reduceSum(ops::mul(m->forward(x), Tensor::fromVector<float>(w, {2, 2, 2, 2}))); };
  m->zeroGrad();
  Tensor loss = lossOf();
  loss.backward();
  expectNear(m->initializer("zeros"), {0.0f, 0.0f});
  expectNear(m->initializer("ones"), {1.0f, 1.0f});
  expectNear(m->initializer("bn2.bias"), {0.0f, 0.0f});
  const float mean0 = (1 + 2 + 3 + 4 - 1 + 0 + 2 + 2) / 8.0f;
  EXPECT_NEAR(m->initializer("bn1.running_mean").toVector<float>()[0], 0.1f * mean0, 1e-5);
  EXPECT_NE(m->initializer("bn2.running_mean").toVector<float>()[0], 0.0f);
  // Each layer's scale has its own gradient: central differences of the loss, one layer at a time.
  for (const std::string name : {"ones", "bn2.weight", "zeros", "bn2.bias"}) {
    Tensor p = m->initializer(name);
    const std::vector<float> g = p.grad().toVector<float>();
    for (int64_t k = 0; k < 2; ++k) {
      const float h = 1e-2f, v0 = p.data<float>()[k];
      p.data<float>()[k] = v0 + h;
      const float up = lossOf().toVector<float>()[0];
      p.data<float>()[k] = v0 - h;
      const float down = lossOf().toVector<float>()[0];
      p.data<float>()[k] = v0;
      EXPECT_NEAR(g[static_cast<size_t>(k)], (up - down) / (2 * h), 2e-2) << name << "[" << k << "]";
    }
  }
  EXPECT_GT(std::abs(m->initializer("ones").grad().toVector<float>()[0] -
                     m->initializer("bn2.weight").grad().toVector<float>()[0]), 1e-3);
}

TEST(OnnxImport, ABatchNormStatisticSharedWithAParameterGetsItsOwnCopy) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {-1, 2, 2, 2});
  addInit(m, "ones", Tensor::fromVector<float>({1.0f, 1.0f}, {2}));
  addInit(m, "zeros", Tensor::fromVector<float>({0.0f, 0.0f}, {2}));
  // The same tensor as scale and running variance, and as bias and running mean.
  addNode(m, "BatchNormalization", {"x", "ones", "zeros", "zeros", "ones"}, {"y"}, "bn");
  addOutput(m, "y");
  auto model = prepare(m);
  EXPECT_EQ(model->namedParameters().size(), 2u);
  EXPECT_EQ(model->namedBuffers().size(), 2u);
  model->train();
  Tensor x = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6, 7, 9}, {1, 2, 2, 2});
  (void)model->forward(x);
  expectNear(model->initializer("zeros"), {0.0f, 0.0f});
  expectNear(model->initializer("ones"), {1.0f, 1.0f});
  EXPECT_NEAR(model->initializer("bn.running_mean").toVector<float>()[0], 0.1f * 2.5f, 1e-5);
}

TEST(OnnxImport, PrivateStatisticsGetNamesNoOtherTensorHasEvenWhenNodeNamesRepeat) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {-1, 2, 2, 2});
  addInit(m, "s", Tensor::fromVector<float>({1.0f, 1.0f}, {2}));
  addInit(m, "z", Tensor::fromVector<float>({0.0f, 0.0f}, {2}));
  addInit(m, "bn.running_mean_1", Tensor::fromVector<float>({7.0f, 7.0f}, {2}));  // taken already
  std::string in = "x";
  for (int k = 0; k < 4; ++k) {  // four nodes named "bn", all sharing z and s as statistics
    const std::string out = "h" + std::to_string(k);
    addNode(m, "BatchNormalization", {in, "s", "z", "z", "s"}, {out}, "bn");
    in = out;
  }
  addNode(m, "Add", {in, "bn.running_mean_1"}, {"y"});
  addOutput(m, "y");
  auto model = prepare(m);
  EXPECT_EQ(model->namedBuffers().size(), 8u);
  expectNear(model->initializer("bn.running_mean_1"), {7.0f, 7.0f});
  model->train();
  Tensor x = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6, 7, 9}, {1, 2, 2, 2});
  (void)model->forward(x);
  expectNear(model->initializer("z"), {0.0f, 0.0f});
  expectNear(model->initializer("bn.running_mean_1"), {7.0f, 7.0f});
  EXPECT_NEAR(model->initializer("bn.running_mean").toVector<float>()[0], 0.1f * 2.5f, 1e-5);
}

TEST(OnnxImport, BatchNormFollowedByReluRunsFusedWithTheSameResults) {
  // Inference and training: BatchNormalization -> Relu runs as one fused op, unless the
  // BatchNorm's own output is wanted (a graph output); the results and gradients are the same.
  auto build = [](bool wantBn) {
    onnx::ModelProto m = makeModel(13);
    addInput(m, "x", {-1, 2, 2, 2});
    addInit(m, "scale", Tensor::fromVector<float>({1.0f, 2.0f}, {2}));
    addInit(m, "bias", Tensor::fromVector<float>({0.5f, -1.0f}, {2}));
    addInit(m, "mean", Tensor::fromVector<float>({0.5f, -1.0f}, {2}));
    addInit(m, "var", Tensor::fromVector<float>({4.0f, 0.25f}, {2}));
    addNode(m, "BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"bn"}, "bn");
    addNode(m, "Relu", {"bn"}, {"y"});
    addOutput(m, "y");
    if (wantBn) addOutput(m, "bn");
    return prepare(m);
  };
  const std::vector<float> xs{1, -2, 3, -4, 5, -6, 7, 9, -1, 0.5f, 2, -2, 3, 1, -3, 4};
  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "training" : "inference");
    std::vector<std::vector<float>> results[2];
    for (bool wantBn : {false, true}) {
      auto m = build(wantBn);
      if (training) m->train();
      Tensor x = Tensor::fromVector<float>(xs, {2, 2, 2, 2}).setRequiresGrad();
      std::vector<Tensor> outs = m->run({x});
      ASSERT_EQ(outs.size(), wantBn ? 2u : 1u);
      const std::vector<float> w{0.3f, -1.0f, 0.7f, 0.2f, 1.5f, -0.4f, 0.9f, 0.1f,
                                 -0.6f, 0.8f, 0.05f, -1.2f, 0.4f, 0.6f, -0.3f, 1.1f};
      ops::reduceSum(ops::mul(outs[0], Tensor::fromVector<float>(w, {2, 2, 2, 2}))).backward();
      results[wantBn] = {outs[0].toVector<float>(), x.grad().toVector<float>(),
                         m->initializer("scale").grad().toVector<float>(),
                         m->initializer("bias").grad().toVector<float>(), m->initializer("mean").toVector<float>()};
      if (wantBn) {
        const std::vector<float> bn = outs[1].toVector<float>(), y = outs[0].toVector<float>();
        size_t negatives = 0;
        for (size_t i = 0; i < bn.size(); ++i) {
          EXPECT_EQ(y[i], std::max(bn[i], 0.0f)) << "at " << i;
          negatives += bn[i] < 0;
        }
        EXPECT_GT(negatives, 2u);
      }
    }
    EXPECT_EQ(results[0], results[1]);
  }
}

TEST(OnnxImport, SigmoidTimesItsInputRunsAsOneSilu) {
  // Sigmoid(x) -> Mul(x, s) (either operand order) runs as ops::silu, with or without gradients,
  // when s itself is not wanted; with s wanted, as the two nodes. Values and gradients against
  // the formula in double.
  auto build = [](bool wantSigmoid, bool swapped) {
    onnx::ModelProto m = makeModel(13);
    addInput(m, "x", {-1, 6});
    addNode(m, "Sigmoid", {"x"}, {"s"});
    addNode(m, "Mul", swapped ? std::vector<std::string>{"s", "x"} : std::vector<std::string>{"x", "s"}, {"y"});
    addOutput(m, "y");
    if (wantSigmoid) addOutput(m, "s");
    return prepare(m);
  };
  const std::vector<float> xs{-7, -2.5f, -0.3f, 0, 0.4f, 1, 2, 3.5f, 8, -1, 0.25f, 5};
  const std::vector<float> w{0.3f, -1.0f, 0.7f, 0.2f, 1.5f, -0.4f, 0.9f, 0.1f, -0.6f, 0.8f, 0.05f, -1.2f};
  for (bool withGrad : {false, true}) {
    for (bool wantSigmoid : {false, true}) {
      for (bool swapped : {false, true}) {
        SCOPED_TRACE(std::string(withGrad ? "grad" : "no grad") + (wantSigmoid ? ", s wanted" : "") +
                     (swapped ? ", Mul(s, x)" : ""));
        auto m = build(wantSigmoid, swapped);
        Tensor x = Tensor::fromVector<float>(xs, {2, 6});
        if (withGrad) x.setRequiresGrad();
        std::vector<Tensor> outs;
        {
          autograd::Tracer tracer;
          outs = m->run({x});
          std::vector<std::string> ops;
          for (const auto& r : tracer.records()) ops.push_back(r.opType);
          const bool fused = !wantSigmoid;
          EXPECT_EQ(ops, fused ? (std::vector<std::string>{"Silu"}) : (std::vector<std::string>{"Sigmoid", "Mul"}));
        }
        const std::vector<float> y = outs[0].toVector<float>();
        for (size_t i = 0; i < xs.size(); ++i) {
          const double s = 1 / (1 + std::exp(-static_cast<double>(xs[i])));
          EXPECT_NEAR(y[i], xs[i] * s, 1e-6 * (1 + std::abs(xs[i])));
        }
        if (!withGrad) continue;
        ops::reduceSum(ops::mul(outs[0], Tensor::fromVector<float>(w, {2, 6}))).backward();
        const std::vector<float> dx = x.grad().toVector<float>();
        for (size_t i = 0; i < xs.size(); ++i) {
          const double s = 1 / (1 + std::exp(-static_cast<double>(xs[i])));
          EXPECT_NEAR(dx[i], w[i] * s * (1 + xs[i] * (1 - s)), 1e-6 * (1 + std::abs(xs[i])));
        }
      }
    }
  }
}

TEST(OnnxImport, OpsetVariantsOfSqueezeClipSoftmax) {
  for (int opset : {11, 13}) {
    onnx::ModelProto m = makeModel(opset);
    addInput(m, "x", {2, 1, 3});
    auto* sq = addNode(m, "Squeeze", opset < 13 ? std::vector<std::string>{"x"} : std::vector<std::string>{"x", "axes"},
                       {"s"});
    if (opset < 13) {
      setInts(sq, "axes", {1});
    } else {
      addInit(m, "axes", Tensor::fromVector<int64_t>({1}, {1}));
    }
    addInit(m, "lo", Tensor::scalar(-0.5));
    addInit(m, "hi", Tensor::scalar(0.5));
    addNode(m, "Clip", {"s", "lo", "hi"}, {"c"});
    addNode(m, "Softmax", {"c"}, {"y"});
    addOutput(m, "y");
    auto model = prepare(m);
    Tensor x = Tensor::fromVector<float>({-1.0f, 0.0f, 1.0f, 0.2f, 0.2f, 0.2f}, {2, 1, 3});
    Tensor y = model->forward(x);
    ASSERT_EQ(y.shape(), (Shape{2, 3})) << "opset " << opset;
    const float e = std::exp(-0.5f), o = 1.0f, f = std::exp(0.5f);
    expectNear(y, {e / (e + o + f), o / (e + o + f), f / (e + o + f), 1.0f / 3, 1.0f / 3, 1.0f / 3});
  }
  // Opset 6: Clip bounds are attributes.
  onnx::ModelProto m = makeModel(6);
  addInput(m, "x", {3});
  auto* clip = addNode(m, "Clip", {"x"}, {"y"});
  setFloat(clip, "min", -0.5f);
  setFloat(clip, "max", 0.25f);
  addOutput(m, "y");
  expectNear(prepare(m)->forward(Tensor::fromVector<float>({-1.0f, 0.0f, 1.0f}, {3})), {-0.5f, 0.0f, 0.25f});
}

TEST(OnnxImport, SoftmaxBeforeOpset13CoercesTo2D) {
  onnx::ModelProto m = makeModel(11);
  addInput(m, "x", {1, 2, 2});
  addNode(m, "Softmax", {"x"}, {"y"});  // axis = 1: normalise over the last 4 values together
  addOutput(m, "y");
  Tensor y = prepare(m)->forward(Tensor::fromVector<float>({0, 0, 0, 0}, {1, 2, 2}));
  expectNear(y, {0.25f, 0.25f, 0.25f, 0.25f});
}

TEST(OnnxImport, ConstantNodesAndIntInitializersAreConstants) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {2, 3});
  addInit(m, "shape", Tensor::fromVector<int64_t>({3, 2}, {2}));
  auto* c = addNode(m, "Constant", {}, {"two"});
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  onnxio::toTensorProto(Tensor::scalar(2.0), "", a->mutable_t());
  addNode(m, "Reshape", {"x", "shape"}, {"r"});
  addNode(m, "Mul", {"r", "two"}, {"y"});
  addOutput(m, "y");
  auto model = prepare(m);
  EXPECT_TRUE(model->namedParameters().empty());
  Tensor y = model->forward(Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  expectNear(y, {2, 4, 6, 8, 10, 12});
}

TEST(OnnxImport, TracingAnImportedModelRecordsItsOps) {
  ConvNet net;
  auto m = prepare(net.model());
  autograd::Tracer tracer;
  m->forward(Tensor::fromVector(net.x, {1, 1, 4, 4}));
  std::vector<std::string> ops;
  for (const auto& r : tracer.records()) ops.push_back(r.opType);
  for (const char* op : {"Conv", "Relu", "Gemm"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
  }
}

}  // namespace
}  // namespace singa
