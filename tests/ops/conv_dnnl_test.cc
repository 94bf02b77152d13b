// The oneDNN convolution path (kernels/cpu/conv_dnnl.h) against the direct loops of
// nn_test_util.h, against the built-in float32 kernels on the same inputs, and against finite
// differences; in both of its layouts (plain NCHW and oneDNN's blocked ones). Every test skips
// in a build without oneDNN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gradcheck.h"
#include "ops/nn_test_util.h"
#include "singa/core/memory_limit.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/singa.h"

namespace singa {
namespace {

#define SKIP_WITHOUT_DNNL() \
  if (!cpu::dnnlConvAvailable()) GTEST_SKIP() << "built without oneDNN (libdnnl-dev, -DSINGA_USE_DNNL)"

struct Case {
  const char* name;
  Shape x, w;
  std::vector<int64_t> strides, padsBegin, padsEnd, dilations;
  int64_t group;
  bool bias;
};

ops::ConvParams paramsOf(const Case& c) {
  ops::ConvParams p;
  p.strides = c.strides;
  p.pads = c.padsBegin;
  p.pads.insert(p.pads.end(), c.padsEnd.begin(), c.padsEnd.end());
  p.dilations = c.dilations;
  p.group = c.group;
  return p;
}

test::RefWindow windowOf(const Case& c) {
  return {std::vector<int64_t>(c.w.begin() + 2, c.w.end()), c.strides, c.padsBegin, c.padsEnd, c.dilations};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"conv1d", {2, 3, 11}, {4, 3, 3}, {2}, {1}, {2}, {2}, 1, true},
      {"conv1d_groups", {1, 4, 9}, {6, 2, 4}, {1}, {0}, {3}, {1}, 2, false},
      {"plain2d", {2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"batch1", {1, 8, 9, 9}, {16, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"asym_pads_strides", {3, 2, 9, 8}, {5, 2, 3, 2}, {2, 3}, {1, 0}, {2, 1}, {1, 1}, 1, true},
      {"pad_not_reached", {2, 3, 10, 10}, {4, 3, 3, 3}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, 1, false},
      {"dilation", {2, 2, 10, 9}, {3, 2, 3, 3}, {1, 2}, {2, 1}, {1, 2}, {2, 3}, 1, false},
      {"groups", {2, 6, 6, 7}, {4, 3, 2, 3}, {1, 1}, {1, 1}, {0, 1}, {1, 1}, 2, true},
      {"groups_wide", {2, 16, 8, 8}, {32, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 4, true},
      {"depthwise", {2, 8, 9, 9}, {8, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 8, true},
      {"depthwise_multiplier", {2, 3, 7, 6}, {6, 1, 3, 2}, {2, 1}, {1, 0}, {1, 1}, {1, 2}, 3, true},
      {"pointwise", {3, 5, 4, 6}, {7, 5, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"pointwise_stride", {2, 16, 7, 7}, {8, 16, 1, 1}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, 1, false},
      {"first_layer_7x7_s2", {2, 3, 20, 20}, {8, 3, 7, 7}, {2, 2}, {3, 3}, {3, 3}, {1, 1}, 1, false},
      {"conv3d", {2, 2, 5, 4, 6}, {3, 2, 2, 3, 2}, {1, 2, 1}, {1, 0, 1}, {0, 1, 1}, {2, 1, 1}, 1, true},
      {"depthwise3d", {1, 2, 4, 5, 6}, {2, 1, 2, 2, 3}, {1, 2, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 2}, 2, false},
  };
  return all;
}

// Restores the backend switches and the thread count a test changed.
class DnnlConv : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    wasEnabled_ = cpu::dnnlConvEnabled();
    wasLayout_ = cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kPlain);
    threads_ = numThreads();
  }
  void TearDown() override {
    cpu::setDnnlConvEnabled(wasEnabled_);
    cpu::setDnnlConvLayout(wasLayout_);
    setNumThreads(threads_);
  }

 private:
  bool wasEnabled_ = false;
  cpu::DnnlConvLayout wasLayout_ = cpu::DnnlConvLayout::kAuto;
  int threads_ = 1;
};

struct Grads {
  Tensor y, dx, dw, db;
};

// Forward and backward (dy given) through the ops, on whatever backend is selected.
Grads forwardBackward(const Case& c, DType dt, const Tensor& x64, const Tensor& w64, const Tensor& b64,
                      const Tensor& dy64) {
  Tensor x = x64.to(dt).detach().setRequiresGrad();
  Tensor w = w64.to(dt).detach().setRequiresGrad();
  Tensor b = c.bias ? b64.to(dt).detach().setRequiresGrad() : Tensor();
  Tensor y = ops::conv(x, w, b, paramsOf(c));
  y.backward(dy64.to(dt));
  return {y, x.grad(), w.grad(), c.bias ? b.grad() : Tensor()};
}

TEST_P(DnnlConv, MatchesDirectLoopsAndNativeKernels) {
  SKIP_WITHOUT_DNNL();
  const Case& c = cases()[GetParam()];
  // Plain and blocked: every direction on oneDNN; the default mixes oneDNN and our kernels.
  for (cpu::DnnlConvLayout layout :
       {cpu::DnnlConvLayout::kPlain, cpu::DnnlConvLayout::kBlocked, cpu::DnnlConvLayout::kAuto}) {
    const bool forced = layout != cpu::DnnlConvLayout::kAuto;
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(c.name) + " layout " + std::to_string(static_cast<int>(layout)) + " threads " +
                   std::to_string(threads));
      setNumThreads(threads);
      cpu::setDnnlConvLayout(layout);
      const Tensor x = test::randomTensor(c.x, 1), w = test::randomTensor(c.w, 2);
      const Tensor b = test::randomTensor({c.w[0]}, 3);
      const Tensor expected = test::refConv(x, w, c.bias ? b : Tensor(), windowOf(c), c.group);
      const Tensor dy = test::randomTensor(expected.shape(), 4);
      cpu::setDnnlConvEnabled(false);
      const Grads exact = forwardBackward(c, DType::kFloat64, x, w, b, dy);  // built-in kernels, float64
      const Grads native = forwardBackward(c, DType::kFloat32, x, w, b, dy);
      cpu::setDnnlConvEnabled(true);
      const uint64_t runs = cpu::dnnlConvRuns();
      const Grads dnnl = forwardBackward(c, DType::kFloat32, x, w, b, dy);
      if (forced) {
        EXPECT_EQ(cpu::dnnlConvRuns() - runs, 3u) << "forward, backward data and weights ran on oneDNN";
      }
      EXPECT_EQ(dnnl.y.dtype(), DType::kFloat32);
      test::expectTensorNear(dnnl.y, expected, 1e-4, 1e-4);
      test::expectTensorNear(dnnl.y, native.y, 1e-4, 1e-4);
      test::expectTensorNear(dnnl.dx, exact.dx, 1e-4, 1e-4);
      test::expectTensorNear(dnnl.dx, native.dx, 1e-4, 1e-4);
      test::expectTensorNear(dnnl.dw, exact.dw, 1e-4, 1e-4);
      test::expectTensorNear(dnnl.dw, native.dw, 1e-4, 1e-4);
      if (c.bias) test::expectTensorNear(dnnl.db, exact.db, 1e-4, 1e-4);
    }
  }
}

TEST_P(DnnlConv, FiniteDifferenceGradients) {
  SKIP_WITHOUT_DNNL();
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.name);
  // Two convolutions per input element: the larger cases are covered by the comparison with the
  // float64 kernels above, whose gradients nn_ops_test checks by finite differences.
  if (numelOf(c.x) + numelOf(c.w) > 600) GTEST_SKIP() << "large case: checked against the float64 kernels only";
  cpu::setDnnlConvEnabled(true);
  std::vector<Tensor> inputs{test::randomTensor(c.x, 5).setRequiresGrad(), test::randomTensor(c.w, 6).setRequiresGrad()};
  if (c.bias) inputs.push_back(test::randomTensor({c.w[0]}, 7).setRequiresGrad());
  const ops::ConvParams p = paramsOf(c);
  const uint64_t runs = cpu::dnnlConvRuns();
  // The convolution runs in float32 (oneDNN); it is linear in each input, so a large step
  // loses nothing to curvature and keeps float32 rounding small against it.
  test::expectGradientsMatch(
      [p](const std::vector<Tensor>& in) {
        const Tensor b = in.size() > 2 ? in[2].to(DType::kFloat32) : Tensor();
        return ops::conv(in[0].to(DType::kFloat32), in[1].to(DType::kFloat32), b, p).to(DType::kFloat64);
      },
      inputs, 0.05, 2e-3, 2e-3);
  EXPECT_GT(cpu::dnnlConvRuns(), runs);
}

TEST_P(DnnlConv, FusedReluEqualsReluOfConvWithNaN) {
  SKIP_WITHOUT_DNNL();
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.name);
  cpu::setDnnlConvEnabled(true);
  std::vector<double> xv = test::valuesOf(test::randomTensor(c.x, 8));
  xv[3] = std::nan("");  // poisons the outputs whose windows read it: Relu maps NaN to 0
  const Tensor x = Tensor::fromVector(xv, c.x).to(DType::kFloat32);
  const Tensor w = test::randomTensor(c.w, 9).to(DType::kFloat32);
  const Tensor b = c.bias ? test::randomTensor({c.w[0]}, 10).to(DType::kFloat32) : Tensor();
  const std::vector<double> fused = test::valuesOf(ops::convRelu(x, w, b, paramsOf(c)));
  const std::vector<double> twoOps = test::valuesOf(ops::relu(ops::conv(x, w, b, paramsOf(c))));
  ASSERT_EQ(fused.size(), twoOps.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    EXPECT_FALSE(std::isnan(fused[i])) << "at " << i;
    EXPECT_EQ(fused[i], twoOps[i]) << "at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, DnnlConv, ::testing::Range<size_t>(0, 16),
                         [](const ::testing::TestParamInfo<size_t>& info) { return cases()[info.param].name; });

class DnnlConvMisc : public DnnlConv {};

TEST_F(DnnlConvMisc, ConvTransposeForwardAndGradients) {
  // ConvTranspose's forward is ConvGradInput with a bias per channel of its output.
  SKIP_WITHOUT_DNNL();
  struct TCase {
    const char* name;
    Shape x, w;
    std::vector<int64_t> strides, padsBegin, padsEnd, dilations, outputPadding;
    int64_t group;
  };
  const std::vector<TCase> tcases = {
      {"stride2_outpad", {2, 4, 5, 6}, {4, 3, 3, 3}, {2, 2}, {1, 0}, {1, 1}, {1, 1}, {1, 0}, 1},
      {"groups_dilation", {1, 6, 4, 4}, {6, 2, 2, 3}, {1, 2}, {0, 1}, {0, 0}, {2, 1}, {0, 1}, 2},
      {"conv1d", {2, 3, 7}, {3, 5, 4}, {3}, {1}, {2}, {1}, {2}, 1},
  };
  cpu::setDnnlConvEnabled(true);
  for (bool blocked : {false, true}) {
    cpu::setDnnlConvLayout(blocked ? cpu::DnnlConvLayout::kBlocked : cpu::DnnlConvLayout::kPlain);
    for (const TCase& c : tcases) {
      SCOPED_TRACE(std::string(c.name) + (blocked ? " blocked" : " plain"));
      ops::ConvTransposeParams p;
      p.strides = c.strides;
      p.pads = c.padsBegin;
      p.pads.insert(p.pads.end(), c.padsEnd.begin(), c.padsEnd.end());
      p.dilations = c.dilations;
      p.outputPadding = c.outputPadding;
      p.group = c.group;
      const Tensor x = test::randomTensor(c.x, 11), w = test::randomTensor(c.w, 12);
      const Tensor b = test::randomTensor({c.w[1] * c.group}, 13);
      const test::RefWindow win{std::vector<int64_t>(c.w.begin() + 2, c.w.end()), c.strides, c.padsBegin, c.padsEnd,
                                c.dilations};
      const uint64_t runs = cpu::dnnlConvRuns();
      const Tensor y = ops::convTranspose(x.to(DType::kFloat32), w.to(DType::kFloat32), b.to(DType::kFloat32), p);
      EXPECT_EQ(cpu::dnnlConvRuns() - runs, 1u);
      test::expectTensorNear(y, test::refConvTranspose(x, w, b, win, c.outputPadding, c.group), 1e-4, 1e-4);
      test::expectGradientsMatch(
          [p](const std::vector<Tensor>& in) {
            return ops::convTranspose(in[0].to(DType::kFloat32), in[1].to(DType::kFloat32),
                                      in[2].to(DType::kFloat32), p)
                .to(DType::kFloat64);
          },
          {x.detach().setRequiresGrad(), w.detach().setRequiresGrad(), b.detach().setRequiresGrad()}, 0.05, 2e-3,
          2e-3);
    }
  }
}

TEST_F(DnnlConvMisc, EmptyBatchFallsBack) {
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  const Case c{"empty", {0, 3, 6, 6}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true};
  const Grads g = forwardBackward(c, DType::kFloat32, test::randomTensor(c.x, 14), test::randomTensor(c.w, 15),
                                  test::randomTensor({4}, 16), test::randomTensor({0, 4, 6, 6}, 17));
  EXPECT_EQ(g.y.shape(), (Shape{0, 4, 6, 6}));
  EXPECT_EQ(g.dx.shape(), c.x);
  for (const Tensor* t : {&g.dw, &g.db}) {
    for (int64_t i = 0; i < t->numel(); ++i) EXPECT_EQ(t->at(i), 0.0);
  }
}

TEST_F(DnnlConvMisc, HugePadsRunOnTheBuiltInKernels) {
  // A pad and stride of 2^33 (a crafted model) are past what oneDNN is given: the built-in
  // kernels run, with the reference's result.
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  const int64_t big = int64_t{1} << 33;
  const Case c{"huge", {1, 2, 4}, {3, 2, 1}, {big}, {big}, {big}, {1}, 1, true};
  const Tensor x = test::randomTensor(c.x, 18), w = test::randomTensor(c.w, 19), b = test::randomTensor({3}, 20);
  const uint64_t runs = cpu::dnnlConvRuns();
  const Tensor y = ops::conv(x.to(DType::kFloat32), w.to(DType::kFloat32), b.to(DType::kFloat32), paramsOf(c));
  EXPECT_EQ(cpu::dnnlConvRuns(), runs);
  test::expectTensorNear(y, test::refConv(x, w, b, windowOf(c), 1), 1e-5, 1e-5);
}

TEST_F(DnnlConvMisc, BitIdenticalAcrossRunsWithTheSameThreads) {
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  const Case c{"det", {4, 16, 14, 14}, {32, 16, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true};
  const Tensor x = test::randomTensor(c.x, 21), w = test::randomTensor(c.w, 22), b = test::randomTensor({32}, 23);
  const Tensor dy = test::randomTensor({4, 32, 14, 14}, 24);
  for (bool blocked : {false, true}) {
    cpu::setDnnlConvLayout(blocked ? cpu::DnnlConvLayout::kBlocked : cpu::DnnlConvLayout::kPlain);
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(blocked ? "blocked" : "plain") + " threads " + std::to_string(threads));
      setNumThreads(threads);
      const Grads a = forwardBackward(c, DType::kFloat32, x, w, b, dy);
      const Grads r = forwardBackward(c, DType::kFloat32, x, w, b, dy);
      for (auto [p, q] : {std::pair{&a.y, &r.y}, {&a.dx, &r.dx}, {&a.dw, &r.dw}, {&a.db, &r.db}}) {
        ASSERT_EQ(p->nbytes(), q->nbytes());
        EXPECT_EQ(std::memcmp(p->data<float>(), q->data<float>(), p->nbytes()), 0);
      }
    }
  }
}

TEST_F(DnnlConvMisc, InferenceKeepsReorderedWeightsUntilTheyChange) {
  // In inference the blocked forward reorders the weights once and keeps them with their
  // storage; every write through the engine (data()) makes them stale, memory shared with a
  // writer outside the engine is never cached, and a training forward drops the copies.
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kBlocked);
  const Case c{"cache", {1, 16, 9, 9}, {32, 16, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true};
  const Tensor x64 = test::randomTensor(c.x, 31), b64 = test::randomTensor({32}, 33);
  Tensor w64 = test::randomTensor(c.w, 32);
  const Tensor x = x64.to(DType::kFloat32), b = b64.to(DType::kFloat32);
  Tensor w = w64.to(DType::kFloat32);
  auto expectConvOf = [&](const Tensor& y, const Tensor& wRef) {
    test::expectTensorNear(y, test::refConv(x64, wRef, b64, windowOf(c), 1), 1e-4, 1e-4);
  };
  const uint64_t packs = cpu::dnnlWeightPacks(), runs = cpu::dnnlConvRuns();
  const Tensor y1 = ops::conv(x, w, b, paramsOf(c));
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 1);
  const Tensor y2 = ops::conv(x, w, b, paramsOf(c));
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 1) << "the second call reordered the weights again";
  EXPECT_EQ(cpu::dnnlConvRuns(), runs + 2);
  expectConvOf(y1, w64);
  ASSERT_EQ(y1.nbytes(), y2.nbytes());
  EXPECT_EQ(std::memcmp(y1.data<float>(), y2.data<float>(), y1.nbytes()), 0);

  // A write through the engine: the next call sees the new weights.
  w.data<float>()[5] += 3.0f;
  std::vector<double> wv(static_cast<size_t>(w.numel()));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<double>(w.readData<float>()[i]);
  const Tensor wNew = Tensor::fromVector(wv, c.w);
  expectConvOf(ops::conv(x, w, b, paramsOf(c)), wNew);
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 2);
  // An in-place op writes through data() too.
  w.copyFrom(w64.to(DType::kFloat32));
  expectConvOf(ops::conv(x, w, b, paramsOf(c)), w64);
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 3);

  // Two views of one storage at different offsets keep one copy each.
  const Tensor both = ops::concat({w, wNew.to(DType::kFloat32)}, 0);
  const Tensor first = both.slice(0, 0, 32), second = both.slice(0, 32, 64);
  ASSERT_TRUE(first.sharesStorage(second));
  for (int round = 0; round < 2; ++round) {
    expectConvOf(ops::conv(x, first, b, paramsOf(c)), w64);
    expectConvOf(ops::conv(x, second, b, paramsOf(c)), wNew);
  }
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 5);

  // Borrowed memory (a NumPy array's, a shared mapping's) can change unseen: never cached.
  std::vector<float> outside(w.numel());
  std::memcpy(outside.data(), w.readData<float>(), w.nbytes());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(outside.data(), w.nbytes(), Device::cpu(), [](void*) {});
  impl->shape = c.w;
  impl->strides = contiguousStrides(c.w);
  impl->dtype = DType::kFloat32;
  const Tensor borrowed(impl);
  expectConvOf(ops::conv(x, borrowed, b, paramsOf(c)), w64);
  outside[5] += 3.0f;  // behind the engine's back
  expectConvOf(ops::conv(x, borrowed, b, paramsOf(c)), wNew);
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 5);
  // So is the engine's own memory once handed to such a writer (to_numpy, __dlpack__ untrack it).
  const Tensor shared = w64.to(DType::kFloat32);
  expectConvOf(ops::conv(x, shared, b, paramsOf(c)), w64);
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 6);
  const size_t inUse = cpuBytesInUse();
  shared.impl().storage->untrack();
  EXPECT_LT(cpuBytesInUse(), inUse) << "untrack() kept the reordered copy";
  float* escaped = shared.data<float>();
  expectConvOf(ops::conv(x, shared, b, paramsOf(c)), w64);
  escaped[5] += 3.0f;
  expectConvOf(ops::conv(x, shared, b, paramsOf(c)), wNew);
  EXPECT_EQ(cpu::dnnlWeightPacks(), packs + 6);

  // A training forward drops the copies: the next inference call reorders again. (concat above
  // read w through data(), so its copy is made afresh first.)
  const uint64_t fresh = cpu::dnnlWeightPacks();
  ops::conv(x, w, b, paramsOf(c));
  ops::conv(x, w, b, paramsOf(c));
  EXPECT_EQ(cpu::dnnlWeightPacks(), fresh + 1);
  Tensor wTrain = w.detach().setRequiresGrad();
  ASSERT_TRUE(wTrain.sharesStorage(w));
  ops::conv(x, wTrain, b, paramsOf(c));
  expectConvOf(ops::conv(x, w, b, paramsOf(c)), w64);
  EXPECT_EQ(cpu::dnnlWeightPacks(), fresh + 2) << "the training forward did not drop the copy";
}

ops::ConvParams convParams(std::vector<int64_t> strides, std::vector<int64_t> pads, int64_t group) {
  ops::ConvParams p;
  p.strides = std::move(strides);
  p.pads = std::move(pads);
  p.dilations = {1, 1};
  p.group = group;
  return p;
}

// Nonzero floats in n values at p.
size_t nonzeros(const float* p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) k += p[i] != 0.0f;
  return k;
}

TEST_F(DnnlConvMisc, InferenceChainStaysBlockedAndMatchesReorderingEveryOutput) {
  // A mobilenet-like chain in inference: 1x1 16->24 + Clip(0, 6), depthwise 3x3 + Relu, 1x1
  // 24->24, residual Add, Relu, 3x3 stride 2 24->40. Kept blocked, every convolution after the
  // first takes its input as the one before left it and nothing is reordered until read; the
  // results are bit-identical to reordering every output at once (same primitives), and match
  // float64 direct loops.
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kBlocked);
  const Tensor x64 = test::randomTensor({1, 16, 12, 12}, 41), w164 = test::randomTensor({24, 16, 1, 1}, 42),
               b164 = test::randomTensor({24}, 43), wd64 = test::randomTensor({24, 1, 3, 3}, 44),
               w364 = test::randomTensor({24, 24, 1, 1}, 45), w464 = test::randomTensor({40, 24, 3, 3}, 46),
               b464 = test::randomTensor({40}, 47);
  const ops::ConvParams one = convParams({1, 1}, {0, 0, 0, 0}, 1), dw = convParams({1, 1}, {1, 1, 1, 1}, 24),
                        s2 = convParams({2, 2}, {1, 1, 1, 1}, 1);
  auto chain = [&](DType dt) {
    const Tensor x = x64.to(dt), w1 = w164.to(dt), b1 = b164.to(dt), wd = wd64.to(dt), w3 = w364.to(dt),
                 w4 = w464.to(dt), b4 = b464.to(dt);
    const Tensor y1 = ops::convClip(x, w1, b1, one, 0.0, 6.0);
    const Tensor y2 = ops::convRelu(y1, wd, Tensor(), dw);
    const Tensor y3 = ops::conv(y2, w3, Tensor(), one);
    const Tensor s = ops::add(y3, y1);
    const Tensor r = ops::relu(s);
    const Tensor y4 = ops::conv(r, w4, b4, s2);
    return std::vector<Tensor>{y1, y2, y3, s, r, y4};
  };
  const bool wasKeeping = cpu::setDnnlKeepBlocked(false);
  const uint64_t outs0 = cpu::dnnlBlockedOutputs(), ins0 = cpu::dnnlBlockedInputs();
  const std::vector<Tensor> plain = chain(DType::kFloat32);
  EXPECT_EQ(cpu::dnnlBlockedOutputs(), outs0);
  for (const Tensor& t : plain) EXPECT_EQ(t.impl().storage->layout(), nullptr);

  cpu::setDnnlKeepBlocked(true);
  const std::vector<Tensor> kept = chain(DType::kFloat32);
  cpu::setDnnlKeepBlocked(wasKeeping);
  EXPECT_EQ(cpu::dnnlBlockedOutputs(), outs0 + 4) << "y1, y2, y3 and y4 stay blocked";
  EXPECT_EQ(cpu::dnnlBlockedInputs(), ins0 + 3) << "y2, y3 and y4 take their inputs blocked";
  for (const Tensor& t : kept) EXPECT_NE(t.impl().storage->layout(), nullptr) << "nothing was reordered back";

  // Where oneDNN chose a layout with padding (y1's 24 channels in 16-channel blocks fill 32; this
  // depends on the CPU: channels last has none), the padding holds zeros (only the real elements
  // are nonzero), as the Add and Relu running over the buffers need.
  const auto y1Layout = kept[0].impl().storage->layout();
  const size_t padded = y1Layout->buffer().bytes() / sizeof(float);
  EXPECT_GE(padded, static_cast<size_t>(kept[0].numel()));
  const size_t bufferNonzeros = nonzeros(static_cast<const float*>(y1Layout->buffer().readData()), padded);
  EXPECT_EQ(bufferNonzeros, nonzeros(kept[0].readData<float>(), static_cast<size_t>(kept[0].numel())));
  EXPECT_EQ(kept[0].impl().storage->layout(), nullptr) << "the read wrote the plain tensor";

  for (size_t i = 0; i < kept.size(); ++i) {
    ASSERT_EQ(kept[i].nbytes(), plain[i].nbytes());
    EXPECT_EQ(std::memcmp(kept[i].readData<float>(), plain[i].readData<float>(), kept[i].nbytes()), 0)
        << "output " << i << " differs from the one reordered at once";
  }
  const std::vector<Tensor> ref = chain(DType::kFloat64);  // float64: the direct loops
  for (size_t i = 0; i < kept.size(); ++i) test::expectTensorNear(kept[i], ref[i], 1e-4, 1e-4);
}

TEST_F(DnnlConvMisc, BlockedOutputsAreReadWrittenAndPassedOverCorrectly) {
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kBlocked);
  const bool wasKeeping = cpu::setDnnlKeepBlocked(true);
  const Tensor x64 = test::randomTensor({2, 8, 7, 7}, 51), w64 = test::randomTensor({24, 8, 3, 3}, 52),
               v64 = test::randomTensor({16, 24, 1, 1}, 53);
  const Tensor x = x64.to(DType::kFloat32), w = w64.to(DType::kFloat32), v = v64.to(DType::kFloat32);
  const ops::ConvParams p = convParams({1, 1}, {1, 1, 1, 1}, 1), one = convParams({1, 1}, {0, 0, 0, 0}, 1);
  const test::RefWindow win{{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
  const Tensor ref = test::refConv(x64, w64, Tensor(), win, 1);

  // A view reads it (reshape shares the storage): the plain memory is written first.
  const Tensor y = ops::conv(x, w, Tensor(), p);
  ASSERT_NE(y.impl().storage->layout(), nullptr);
  test::expectTensorNear(ops::reshape(y, {2, 24 * 49}).reshape(y.shape()), ref, 1e-4, 1e-4);
  EXPECT_EQ(y.impl().storage->layout(), nullptr);

  // A write lands in the plain memory and the next convolution sees it.
  const Tensor z = ops::conv(x, w, Tensor(), p);
  ASSERT_NE(z.impl().storage->layout(), nullptr);
  z.data<float>()[3] = 100.0f;
  const Tensor zCopy = Tensor::fromVector(z.toVector<float>(), z.shape());  // a fresh plain tensor
  const Tensor fromZ = ops::conv(z, v, Tensor(), one), fromCopy = ops::conv(zCopy, v, Tensor(), one);
  EXPECT_EQ(std::memcmp(fromZ.readData<float>(), fromCopy.readData<float>(), fromZ.nbytes()), 0);

  // An activation that turns the padding's zeros into something else is not kept blocked.
  const uint64_t outs = cpu::dnnlBlockedOutputs();
  const Tensor clipped = ops::convClip(x, w, Tensor(), p, 0.25, 6.0);
  EXPECT_EQ(cpu::dnnlBlockedOutputs(), outs);
  test::expectTensorNear(clipped, ops::clip(ref, 0.25, 6.0), 1e-4, 1e-4);
  // Nor is an output whose gradient is wanted (training).
  const Tensor wg = w.detach().setRequiresGrad();
  const Tensor trained = ops::conv(x, wg, Tensor(), p);
  EXPECT_EQ(cpu::dnnlBlockedOutputs(), outs);
  EXPECT_EQ(trained.impl().storage->layout(), nullptr);

  // Elementwise ops over a blocked and a plain operand, a broadcast operand, or a function that
  // does not keep zero: the plain path, on the written plain tensors.
  const Tensor a = ops::conv(x, w, Tensor(), p), plainRef = ref.to(DType::kFloat32);
  test::expectTensorNear(ops::add(a, plainRef), ops::add(ref, ref), 1e-4, 1e-4);
  const Tensor c = ops::conv(x, w, Tensor(), p);
  const Tensor bias = test::randomTensor({1, 24, 1, 1}, 54);
  test::expectTensorNear(ops::add(c, bias.to(DType::kFloat32)), ops::add(ref, bias), 1e-4, 1e-4);
  const Tensor d = ops::conv(x, w, Tensor(), p);
  const Tensor sd = ops::sigmoid(d);  // sigmoid(0) is not 0: never run over padding
  EXPECT_EQ(sd.impl().storage->layout(), nullptr);
  test::expectTensorNear(sd, ops::sigmoid(ref), 1e-4, 1e-4);
  cpu::setDnnlKeepBlocked(wasKeeping);
}

// x's values laid out channel-blocked in `like`'s format (conv_dnnl.h's offsets; padding zero).
std::shared_ptr<Storage> toChannelBlocked(const Tensor& x, const cpu::ChannelBlocked& like) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t B = like.format == cpu::ChannelBlocked::kBlock16 ? 16 : like.format == cpu::ChannelBlocked::kBlock8 ? 8 : C;
  const int64_t blocks = (C + B - 1) / B, total = N * blocks * B * H * W;
  auto buf = std::make_shared<Storage>(cpu::channelBlockedBytes(x.shape(), like), Device::cpu());
  EXPECT_EQ(buf->bytes(), static_cast<size_t>(total) * sizeof(float));
  auto* p = static_cast<float*>(buf->data());
  std::fill(p, p + total, 0.0f);
  const float* xp = x.readData<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) p[((n * blocks + c / B) * H * W + i) * B + c % B] = xp[(n * C + c) * H * W + i];
  return buf;
}

TEST_F(DnnlConvMisc, MaxPoolOfChannelBlockedTensorsMatchesThePlainKernel) {
  // In inference MaxPool runs on a convolution's output as the convolution left it (16- or
  // 8-channel blocks, or channels last) and leaves its output so: bit-identical to the plain
  // kernel (which takes a window's taps in a different order per geometry: row-major, or column
  // maxima first), ties of -0 and +0, NaN (wins), infinities and windows wholly in the padding
  // (lowest()) included, and the padding channels stay zero.
  SKIP_WITHOUT_DNNL();
  Tensor x = test::randomTensor({2, 20, 9, 11}, 61).to(DType::kFloat32);
  float* xp = x.data<float>();
  const float inf = std::numeric_limits<float>::infinity();
  const int64_t half = x.numel() / 2;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (i % 7 == 0) xp[i] = std::round(xp[i] * 2.0f) / 2.0f;  // ties
    // The second image: nothing positive, many zeros of both signs, so windows whose maximum
    // is a tie of -0 and +0 (which one wins depends on the order the taps are taken in).
    if (i >= half) xp[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? 0.0f : -std::fabs(xp[i]);
    if (i % 53 == 5) xp[i] = std::numeric_limits<float>::quiet_NaN();
    if (i % 61 == 9) xp[i] = -inf;
    if (i % 67 == 3) xp[i] = inf;
  }
  struct Geo {
    std::vector<int64_t> k, s, pads, d;
  };
  const std::vector<Geo> geos = {{{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}},  // the 2x2 kernel: row-major
                                 {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},  // separable: columns first
                                 {{2, 3}, {1, 1}, {0, 2, 1, 0}, {1, 1}},  // separable, uneven pads
                                 {{3, 2}, {1, 2}, {0, 1, 2, 1}, {2, 1}},  // dilated: row-major
                                 {{2, 2}, {1, 1}, {1, 1, 1, 1}, {3, 1}},
                                 {{2, 2}, {1, 1}, {4, 3, 4, 3}, {1, 1}},   // windows wholly in the padding
                                 {{2, 2}, {2, 1}, {3, 3, 3, 3}, {2, 2}}};  // same, dilated: row-major
  using CB = cpu::ChannelBlocked;
  for (const CB::Format f : {CB::kBlock16, CB::kBlock8, CB::kChannelsLast}) {
    const CB like{nullptr, 0, f};
    for (const Geo& geo : geos) {
      ops::PoolParams p;
      p.kernel = geo.k;
      p.strides = geo.s;
      p.pads = geo.pads;
      p.dilations = geo.d;
      Tensor xb(x.shape(), DType::kFloat32);
      cpu::setChannelBlocked(xb, toChannelBlocked(x, like), like);
      ASSERT_NE(cpu::channelBlockedOf(xb).data, nullptr);
      const Tensor y = ops::maxPool(xb, p);
      const CB yb = cpu::channelBlockedOf(y);
      ASSERT_NE(yb.data, nullptr) << "format " << f << ": the output was not left blocked";
      ASSERT_EQ(yb.format, f);
      const int64_t B = yb.block, blocks = (20 + B - 1) / B, HW = y.dim(2) * y.dim(3);
      size_t paddingNonzeros = 0;
      for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 20; c < blocks * B; ++c)
          for (int64_t i = 0; i < HW; ++i) paddingNonzeros += yb.data[((n * blocks + c / B) * HW + i) * B + c % B] != 0.0f;
      EXPECT_EQ(paddingNonzeros, 0u);
      const Tensor ref = ops::maxPool(x, p);
      ASSERT_EQ(ref.shape(), y.shape());
      EXPECT_EQ(std::memcmp(y.readData<float>(), ref.readData<float>(), ref.nbytes()), 0)
          << "format " << f << ", kernel " << geo.k[0] << "x" << geo.k[1];
    }
  }
}

TEST_F(DnnlConvMisc, BuffersAreFreedWhenTheCallReturns) {
  // The reordered operands and the scratchpad live for the call only: after a training forward
  // and backward the memory in use has grown by the output and the gradients alone.
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kBlocked);
  const Tensor x = test::randomTensor({2, 16, 20, 20}, 41).to(DType::kFloat32).setRequiresGrad();
  const Tensor w = test::randomTensor({32, 16, 3, 3}, 42).to(DType::kFloat32).setRequiresGrad();
  const size_t before = cpuBytesInUse();
  const uint64_t runs = cpu::dnnlConvRuns();
  {
    Tensor y = ops::conv(x, w, Tensor(), {});
    EXPECT_EQ(cpuBytesInUse() - before, y.nbytes()) << "the forward kept buffers beyond its output";
  }
  EXPECT_EQ(cpuBytesInUse(), before);
  Tensor y = ops::conv(x, w, Tensor(), {});
  y.backward(Tensor::ones(y.shape()));
  EXPECT_EQ(cpu::dnnlConvRuns() - runs, 4u) << "forward twice, backward data and weights on oneDNN";
  y = Tensor();
  EXPECT_EQ(cpuBytesInUse() - before, x.grad().nbytes() + w.grad().nbytes());
}

TEST_F(DnnlConvMisc, BuffersComeUnderTheMemoryLimit) {
  // The blocked layout reorders x (9 MiB) into a buffer of the same size, which comes from the
  // CPU allocator: with the limit set below it, that is a MemoryError naming the limit, as for
  // any tensor. (A fresh thread: nothing a thread kept from an earlier call could serve it.)
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  cpu::setDnnlConvLayout(cpu::DnnlConvLayout::kBlocked);
  const Tensor x = test::randomTensor({1, 64, 192, 192}, 25).to(DType::kFloat32);
  const Tensor w = test::randomTensor({8, 64, 3, 3}, 26).to(DType::kFloat32);
  const size_t saved = memoryLimit();
  setMemoryLimit(cpuBytesInUse() + (4 << 20));  // room for y (1.1 MiB), not for a copy of x
  std::string error;
  std::thread([&] {
    try {
      ops::conv(x, w, Tensor(), {});
    } catch (const MemoryError& e) {
      error = e.what();
    }
  }).join();
  setMemoryLimit(saved);
  EXPECT_NE(error.find("limit"), std::string::npos) << "no MemoryError: '" << error << "'";
}

TEST_F(DnnlConvMisc, SwitchAndDescription) {
  SKIP_WITHOUT_DNNL();
  cpu::setDnnlConvEnabled(true);
  EXPECT_EQ(cpu::convBackendDescription().rfind("oneDNN ", 0), 0u) << cpu::convBackendDescription();
  EXPECT_NE(cpu::cpuKernelsDescription().find("; conv: oneDNN "), std::string::npos);
  EXPECT_TRUE(cpu::setDnnlConvEnabled(false));
  EXPECT_FALSE(cpu::dnnlConvEnabled());
  EXPECT_NE(cpu::convBackendDescription().find("im2col + OpenBLAS"), std::string::npos);
  const Case c{"off", {1, 2, 5, 5}, {2, 2, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, false};
  const uint64_t runs = cpu::dnnlConvRuns();
  ops::conv(test::randomTensor(c.x, 27).to(DType::kFloat32), test::randomTensor(c.w, 28).to(DType::kFloat32),
            Tensor(), paramsOf(c));
  EXPECT_EQ(cpu::dnnlConvRuns(), runs);
}

}  // namespace
}  // namespace singa
