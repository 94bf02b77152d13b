// CUDA vs CPU: MatMul/Gemm (cuBLAS), Conv/ConvTranspose (cuDNN) including the padding cuDNN
// cannot express, pooling, BatchNormalization, Softmax family and cross-entropy, Dropout masks,
// the fused SGD/Adam updates, and a small CNN training step end to end. Forward and backward,
// typed over (cuda:0) x (float32, float64).
#include "gpu/gpu_test_util.h"

namespace singa {
namespace {

using gputest::checkOp;
using gputest::expectClose;
using gputest::gpu;
using gputest::randomInts;
using gputest::randomTensor;

template <class P>
class CudaNn : public ::testing::Test {};
TYPED_TEST_SUITE(CudaNn, gputest::FloatTypes);

TYPED_TEST(CudaNn, MatMulAndGemm) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const auto mm = [](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); };
  checkOp("MatMul 2-D", mm, {randomTensor({5, 7}, dt), randomTensor({7, 3}, dt)});
  checkOp("MatMul batched", mm, {randomTensor({2, 3, 5, 7}, dt), randomTensor({2, 3, 7, 4}, dt)});
  checkOp("MatMul shared B (folded)", mm, {randomTensor({2, 3, 5, 7}, dt), randomTensor({7, 4}, dt)});
  checkOp("MatMul broadcast batch", mm, {randomTensor({2, 1, 5, 7}, dt), randomTensor({3, 7, 4}, dt)});
  checkOp("MatMul transposed views",
          [](const std::vector<Tensor>& in) { return ops::matmul(in[0].transpose(0, 1), in[1].transpose(0, 1)); },
          {randomTensor({7, 5}, dt), randomTensor({3, 7}, dt)});
  checkOp("MatMul vector", mm, {randomTensor({7}, dt), randomTensor({7, 3}, dt)});
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const Shape sa = ta ? Shape{6, 4} : Shape{4, 6}, sb = tb ? Shape{5, 6} : Shape{6, 5};
      checkOp(std::string("Gemm transA=") + (ta ? "1" : "0") + " transB=" + (tb ? "1" : "0"),
              [&](const std::vector<Tensor>& in) { return ops::gemm(in[0], in[1], in[2], 0.7, 1.3, ta, tb); },
              {randomTensor(sa, dt), randomTensor(sb, dt), randomTensor({5}, dt)});
    }
  }
  checkOp("Gemm without C", [](const std::vector<Tensor>& in) { return ops::gemm(in[0], in[1]); },
          {randomTensor({4, 6}, dt), randomTensor({6, 5}, dt)});
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ops::ConvParams p;
  bool bias;
};

TYPED_TEST(CudaNn, ConvolutionForwardAndBackward) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  std::vector<ConvCase> cases = {
      {"2-D 5x5 (tutorial CNN)", {4, 1, 12, 12}, {6, 1, 5, 5}, {}, true},
      {"2-D stride 2 pad 1", {2, 3, 9, 8}, {4, 3, 3, 3}, {{2, 2}, {1, 1, 1, 1}, {}, 1, "NOTSET"}, true},
      {"2-D dilation 2", {2, 2, 9, 9}, {3, 2, 3, 3}, {{}, {2, 2, 2, 2}, {2, 2}, 1, "NOTSET"}, false},
      {"2-D group 2", {2, 4, 7, 7}, {6, 2, 3, 3}, {{}, {1, 1, 1, 1}, {}, 2, "NOTSET"}, true},
      {"2-D 1x1", {3, 8, 5, 5}, {4, 8, 1, 1}, {}, false},
      {"2-D asymmetric pads", {2, 2, 7, 6}, {3, 2, 3, 3}, {{2, 2}, {0, 1, 2, 1}, {}, 1, "NOTSET"}, true},
      {"2-D SAME_UPPER", {2, 2, 6, 6}, {3, 2, 4, 4}, {{1, 1}, {}, {}, 1, "SAME_UPPER"}, false},
      {"1-D", {2, 3, 11}, {4, 3, 3}, {{2}, {1, 1}, {}, 1, "NOTSET"}, true},
      {"3-D", {1, 2, 5, 6, 4}, {3, 2, 3, 3, 2}, {{}, {1, 0, 1, 1, 0, 1}, {}, 1, "NOTSET"}, true},
  };
  for (const ConvCase& c : cases) {
    const Tensor x = randomTensor(c.x, dt, -1, 1, 1), w = randomTensor(c.w, dt, -0.5, 0.5, 2);
    const std::vector<Tensor> in =
        c.bias ? std::vector<Tensor>{x, w, randomTensor({c.w[0]}, dt, -0.5, 0.5, 3)} : std::vector<Tensor>{x, w};
    checkOp(std::string("Conv ") + c.name,
            [&](const std::vector<Tensor>& t) { return ops::conv(t[0], t[1], c.bias ? t[2] : Tensor(), c.p); }, in);
  }
  ops::ConvTransposeParams tp;
  tp.strides = {2, 2};
  tp.pads = {1, 1, 1, 1};
  tp.outputPadding = {1, 0};
  checkOp("ConvTranspose stride 2",
          [&](const std::vector<Tensor>& t) { return ops::convTranspose(t[0], t[1], t[2], tp); },
          {randomTensor({2, 4, 5, 5}, dt), randomTensor({4, 3, 3, 3}, dt, -0.5, 0.5), randomTensor({3}, dt)});
}

TYPED_TEST(CudaNn, Pooling) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor x = randomTensor({2, 3, 9, 8}, dt, -1, 1, 4);
  std::vector<std::pair<const char*, ops::PoolParams>> cases = {
      {"2x2", {{2, 2}, {2, 2}, {}, {}, false, false, "NOTSET"}},
      {"3x3 stride 2 pad 1", {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false, false, "NOTSET"}},
      {"3x3 ceil mode", {{3, 3}, {2, 2}, {}, {}, true, false, "NOTSET"}},
      {"2x2 dilation 2", {{2, 2}, {1, 1}, {}, {2, 2}, false, false, "NOTSET"}},
      {"3x3 pad count_include_pad", {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false, true, "NOTSET"}},
  };
  for (const auto& [name, p] : cases) {
    checkOp(std::string("MaxPool ") + name, [&, p = p](const std::vector<Tensor>& t) { return ops::maxPool(t[0], p); }, {x});
    if (p.dilations.empty()) {
      checkOp(std::string("AveragePool ") + name, [&, p = p](const std::vector<Tensor>& t) { return ops::avgPool(t[0], p); },
              {x});
    }
  }
  checkOp("GlobalAveragePool", [](const std::vector<Tensor>& t) { return ops::globalAvgPool(t[0]); }, {x});
  checkOp("GlobalMaxPool", [](const std::vector<Tensor>& t) { return ops::globalMaxPool(t[0]); }, {x});
  ops::PoolParams p1{{3}, {2}, {1, 1}, {}, false, false, "NOTSET"};
  checkOp("MaxPool 1-D", [&](const std::vector<Tensor>& t) { return ops::maxPool(t[0], p1); },
          {randomTensor({2, 3, 10}, dt)});
}

TYPED_TEST(CudaNn, BatchNormTrainingAndInference) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  for (const Shape& s : {Shape{4, 3, 5, 6}, Shape{8, 5}}) {
    const int64_t C = s[1];
    const Tensor x = randomTensor(s, dt, -2, 3, 5), scale = randomTensor({C}, dt, 0.5, 1.5, 6),
                 bias = randomTensor({C}, dt, -0.5, 0.5, 7);
    // Training: outputs, gradients, and the running statistics updated in place.
    Tensor rmC = randomTensor({C}, dt, -0.1, 0.1, 8), rvC = randomTensor({C}, dt, 0.9, 1.1, 9);
    Tensor rmG = rmC.to(gpu()), rvG = rvC.to(gpu());
    int call = 0;  // checkOp runs the CPU first, then the device under test
    checkOp("BatchNorm training " + shapeStr(s),
            [&](const std::vector<Tensor>& t) {
              const bool first = call++ == 0;
              return ops::batchNorm(t[0], t[1], t[2], first ? rmC : rmG, first ? rvC : rvG, true, 0.8, 1e-4);
            },
            {x, scale, bias});
    expectClose(rmC, rmG, 1e-5, 1e-7, "running mean");
    expectClose(rvC, rvG, 1e-5, 1e-7, "running variance");
    checkOp("BatchNorm inference " + shapeStr(s),
            [&](const std::vector<Tensor>& t) {
              return ops::batchNorm(t[0], t[1], t[2], t[3], t[4], false, 0.9, 1e-5);
            },
            {x, scale, bias, randomTensor({C}, dt, -0.2, 0.2, 10), randomTensor({C}, dt, 0.5, 2, 11)});
  }
}

TYPED_TEST(CudaNn, SoftmaxFamilyAndCrossEntropy) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor x = randomTensor({6, 10}, dt, -3, 3, 12), x3 = randomTensor({2, 7, 5}, dt, -3, 3, 13);
  checkOp("Softmax", [](const std::vector<Tensor>& t) { return ops::softmax(t[0], -1); }, {x});
  checkOp("LogSoftmax", [](const std::vector<Tensor>& t) { return ops::logSoftmax(t[0], -1); }, {x});
  checkOp("Softmax inner axis", [](const std::vector<Tensor>& t) { return ops::softmax(t[0], 1); }, {x3});
  checkOp("LogSoftmax inner axis", [](const std::vector<Tensor>& t) { return ops::logSoftmax(t[0], 1); }, {x3});
  checkOp("Softmax long rows", [](const std::vector<Tensor>& t) { return ops::softmax(t[0], 1); },
          {randomTensor({3, 1000}, dt, -5, 5, 14)});
  for (DType lt : {DType::kInt32, DType::kInt64}) {
    checkOp(std::string("SoftmaxCrossEntropy labels ") + dtypeName(lt),
            [](const std::vector<Tensor>& t) { return ops::softmaxCrossEntropy(t[0], t[1]); },
            {x, randomInts({6}, lt, 0, 9, 15)});
  }
}

TYPED_TEST(CudaNn, DropoutMaskMatchesTheCpu) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor x = randomTensor({50, 40}, dt, -1, 1, 16);
  manualSeed(123);
  const Tensor yc = ops::dropout(x, 0.3, true);
  manualSeed(123);
  const Tensor yg = ops::dropout(x.to(gpu()), 0.3, true);
  expectClose(yc, yg, 1e-12, 0, "Dropout output");
}

TYPED_TEST(CudaNn, FusedOptimizerSteps) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  struct Run {
    std::function<std::unique_ptr<Optimizer>(Optimizer::NamedParams)> make;
    const char* name;
  };
  const std::vector<Run> runs = {
      {[](Optimizer::NamedParams p) { return std::make_unique<SGD>(std::move(p), 0.1); }, "SGD"},
      {[](Optimizer::NamedParams p) { return std::make_unique<SGD>(std::move(p), 0.1, 0.9, 0.1, false, 0.01); },
       "SGD momentum"},
      {[](Optimizer::NamedParams p) { return std::make_unique<SGD>(std::move(p), 0.1, 0.9, 0.0, true, 0.01); },
       "SGD Nesterov"},
      {[](Optimizer::NamedParams p) { return std::make_unique<Adam>(std::move(p), 0.01, 0.9, 0.99, 1e-8, 0.01); },
       "Adam"},
      {[](Optimizer::NamedParams p) { return std::make_unique<AdamW>(std::move(p), 0.01, 0.9, 0.99, 1e-8, 0.1); },
       "AdamW"},
  };
  for (const Run& run : runs) {
    Tensor pc = randomTensor({33, 7}, dt, -1, 1, 17);
    Tensor pg = pc.to(gpu());
    pc.setRequiresGrad();
    pg.setRequiresGrad();
    auto oc = run.make({{"w", pc}}), og = run.make({{"w", pg}});
    for (int step = 0; step < 3; ++step) {
      const Tensor g = randomTensor({33, 7}, dt, -1, 1, 30 + step);
      pc.setGrad(g);
      pg.setGrad(g.to(gpu()));
      oc->step();
      og->step();
    }
    expectClose(pc, pg, dt == DType::kFloat64 ? 1e-12 : 1e-5, 1e-7, std::string(run.name) + " parameters");
  }
}

TEST(CudaTraining, SmallCnnStepMatchesTheCpu) {
  SINGA_REQUIRE_GPU();
  // conv -> relu -> maxpool -> flatten -> linear -> cross-entropy, one SGD step on both devices.
  const Tensor x = randomTensor({8, 1, 12, 12}, DType::kFloat32, 0, 1, 40);
  const Tensor labels = randomInts({8}, DType::kInt64, 0, 9, 41);
  const Tensor w1 = randomTensor({4, 1, 5, 5}, DType::kFloat32, -0.3, 0.3, 42);
  const Tensor b1 = randomTensor({4}, DType::kFloat32, -0.1, 0.1, 43);
  const Tensor w2 = randomTensor({10, 64}, DType::kFloat32, -0.2, 0.2, 44);
  auto step = [&](Device dev) {
    Tensor cw = w1.to(dev).clone(), cb = b1.to(dev).clone(), lw = w2.to(dev).clone();
    for (Tensor* p : {&cw, &cb, &lw}) p->setRequiresGrad();
    SGD opt({{"cw", cw}, {"cb", cb}, {"lw", lw}}, 0.1, 0.9);
    Tensor loss;
    for (int i = 0; i < 2; ++i) {
      Tensor h = ops::relu(ops::conv(x.to(dev), cw, cb, {}));
      h = ops::maxPool(h, {{2, 2}, {2, 2}, {}, {}, false, false, "NOTSET"});
      Tensor logits = ops::gemm(ops::flatten(h), lw, Tensor(), 1.0, 1.0, false, true);
      loss = ops::softmaxCrossEntropy(logits, labels.to(dev));
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
    return std::vector<Tensor>{loss, cw, cb, lw};
  };
  const std::vector<Tensor> c = step(Device::cpu()), g = step(gpu());
  const char* names[] = {"loss", "conv weight", "conv bias", "linear weight"};
  for (size_t i = 0; i < c.size(); ++i) expectClose(c[i], g[i], 1e-4, 1e-5, names[i]);
}

// The gradients of one loss on the device under test, as CPU tensors.
std::vector<Tensor> gradsOnDevice(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                  const std::vector<Tensor>& inputs, Device device = gputest::gpu()) {
  std::vector<Tensor> in;
  for (const Tensor& t : inputs) {
    Tensor g = t.to(device).clone();
    if (isFloating(t.dtype())) g.setRequiresGrad();
    in.push_back(g);
  }
  const Tensor y = f(in);
  const Tensor w = randomTensor(y.shape(), y.dtype(), -1, 1, 5).to(device);
  ops::reduceSum(ops::mul(y, w)).backward();
  std::vector<Tensor> out;
  for (const Tensor& t : in) {
    if (t.requiresGrad() && t.grad().defined()) out.push_back(t.grad().to(Device::cpu()));
  }
  return out;
}

TEST(CudaDeterminism, BackwardIsBitIdenticalRunToRunAndMatchesTheCpuOrder) {
  SINGA_REQUIRE_GPU();
  // Overlapping windows, repeated gather indices, reflect/edge padding and convolutions (cuDNN's
  // deterministic algorithms): the gradient paths that used float atomics or a timed algorithm
  // choice. Three runs must agree bit for bit; the CPU (which sums in the same order for pooling,
  // gather and pad) within rounding.
  const Tensor x = randomTensor({4, 8, 17, 15}, DType::kFloat32, -1, 1, 31);
  const Tensor w = randomTensor({16, 8, 3, 3}, DType::kFloat32, -0.5, 0.5, 32);
  std::vector<int64_t> rep;
  for (int i = 0; i < 300; ++i) rep.push_back((i * 7) % 5);  // each of 5 rows named 60 times
  const Tensor idx = Tensor::fromVector<int64_t>(rep, {300});
  ops::PoolParams overlap{{3, 3}, {1, 1}, {1, 1, 1, 1}, {}, false, true, "NOTSET"};
  ops::ConvParams cp;
  cp.pads = {1, 1, 1, 1};
  const std::vector<std::pair<const char*, std::function<Tensor(const std::vector<Tensor>&)>>> cases = {
      {"MaxPool 3x3 stride 1", [&](const std::vector<Tensor>& t) { return ops::maxPool(t[0], overlap); }},
      {"AveragePool 3x3 stride 1", [&](const std::vector<Tensor>& t) { return ops::avgPool(t[0], overlap); }},
      {"Gather repeated rows", [&](const std::vector<Tensor>& t) { return ops::gather(t[0], t[1], 2); }},
      {"Pad reflect", [&](const std::vector<Tensor>& t) { return ops::pad(t[0], {0, 0, 5, 4, 0, 0, 6, 3}, "reflect"); }},
      {"Pad edge", [&](const std::vector<Tensor>& t) { return ops::pad(t[0], {0, 0, 5, 4, 0, 0, 6, 3}, "edge"); }},
      {"Conv 3x3", [&](const std::vector<Tensor>& t) { return ops::conv(t[0], t[2], Tensor(), cp); }},
  };
  for (const auto& [name, f] : cases) {
    const std::vector<Tensor> in = {x, idx, w};
    const std::vector<Tensor> first = gradsOnDevice(f, in);
    for (int run = 0; run < 2; ++run) {
      const std::vector<Tensor> again = gradsOnDevice(f, in);
      ASSERT_EQ(first.size(), again.size());
      for (size_t i = 0; i < first.size(); ++i) expectClose(first[i], again[i].to(gputest::gpu()), 0, 0, name);
    }
    const std::vector<Tensor> cpu = gradsOnDevice(f, in, Device::cpu());
    ASSERT_EQ(cpu.size(), first.size());
    for (size_t i = 0; i < cpu.size(); ++i) expectClose(cpu[i], first[i].to(gputest::gpu()), 1e-4, 1e-5, name);
  }
}

}  // namespace
}  // namespace singa
