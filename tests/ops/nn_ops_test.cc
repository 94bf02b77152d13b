// Conv and ConvTranspose: forward against direct loops (nn_test_util.h) over many geometries,
// finite-difference gradients, traces and error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "gradcheck.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/kernels/cpu/conv_packed.h"
#include "ops/nn_test_util.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::RefWindow;

struct ConvCase {
  const char* name;
  Shape x, w;
  std::vector<int64_t> strides, padsBegin, padsEnd, dilations;
  int64_t group;
  bool bias;
};

ops::ConvParams paramsOf(const ConvCase& c) {
  ops::ConvParams p;
  p.strides = c.strides;
  p.pads = c.padsBegin;
  p.pads.insert(p.pads.end(), c.padsEnd.begin(), c.padsEnd.end());
  p.dilations = c.dilations;
  p.group = c.group;
  return p;
}

RefWindow windowOf(const ConvCase& c) {
  return RefWindow{std::vector<int64_t>(c.w.begin() + 2, c.w.end()), c.strides, c.padsBegin, c.padsEnd, c.dilations};
}

const std::vector<ConvCase>& convCases() {
  static const std::vector<ConvCase> cases = {
      {"plain2d", {2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"stride_pad", {3, 2, 9, 8}, {5, 2, 3, 2}, {2, 3}, {1, 0}, {2, 1}, {1, 1}, 1, true},
      {"dilation", {2, 2, 10, 9}, {3, 2, 3, 3}, {1, 2}, {2, 1}, {1, 2}, {2, 3}, 1, false},
      {"groups", {2, 6, 6, 7}, {4, 3, 2, 3}, {1, 1}, {1, 1}, {0, 1}, {1, 1}, 2, true},
      {"depthwise", {2, 4, 5, 5}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 4, true},
      {"pointwise", {3, 5, 4, 6}, {7, 5, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"pointwise_stride", {2, 3, 5, 5}, {2, 3, 1, 1}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, 1, false},
      {"mnist_conv1", {4, 1, 28, 28}, {20, 1, 5, 5}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"conv1d", {2, 3, 11}, {4, 3, 3}, {2}, {1}, {2}, {2}, 1, true},
      {"conv1d_groups", {1, 4, 9}, {6, 2, 4}, {1}, {0}, {3}, {1}, 2, false},
      {"conv3d", {2, 2, 5, 4, 6}, {3, 2, 2, 3, 2}, {1, 2, 1}, {1, 0, 1}, {0, 1, 1}, {2, 1, 1}, 1, true},
      {"depthwise_multiplier", {2, 3, 7, 6}, {6, 1, 3, 2}, {2, 1}, {1, 0}, {1, 1}, {1, 2}, 3, true},
      {"depthwise3d", {1, 2, 4, 5, 6}, {2, 1, 2, 2, 3}, {1, 2, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 2}, 2, false},
      {"depthwise_stride3", {2, 4, 11, 13}, {4, 1, 3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 4, true},
  };
  return cases;
}

class ConvForward : public ::testing::TestWithParam<size_t> {};

TEST_P(ConvForward, MatchesDirectLoops) {
  const ConvCase& c = convCases()[GetParam()];
  SCOPED_TRACE(c.name);
  Tensor x = test::randomTensor(c.x, 1);
  Tensor w = test::randomTensor(c.w, 2);
  Tensor b = c.bias ? test::randomTensor({c.w[0]}, 3) : Tensor();
  Tensor expected = test::refConv(x, w, b, windowOf(c), c.group);
  // float64 is exact up to rounding; float32 within float tolerance.
  test::expectTensorNear(ops::conv(x, w, b, paramsOf(c)), expected, 1e-10, 1e-10);
  Tensor y32 = ops::conv(x.to(DType::kFloat32), w.to(DType::kFloat32), c.bias ? b.to(DType::kFloat32) : b, paramsOf(c));
  EXPECT_EQ(y32.dtype(), DType::kFloat32);
  test::expectTensorNear(y32, expected, 1e-4, 1e-4);
}

TEST_P(ConvForward, Gradients) {
  const ConvCase& c = convCases()[GetParam()];
  if (std::string(c.name) == "mnist_conv1") GTEST_SKIP() << "large case: forward only";
  SCOPED_TRACE(c.name);
  Tensor x = test::randomTensor(c.x, 4).setRequiresGrad();
  Tensor w = test::randomTensor(c.w, 5).setRequiresGrad();
  std::vector<Tensor> inputs{x, w};
  if (c.bias) inputs.push_back(test::randomTensor({c.w[0]}, 6).setRequiresGrad());
  const ops::ConvParams p = paramsOf(c);
  test::expectGradientsMatch(
      [p](const std::vector<Tensor>& in) { return ops::conv(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p); },
      inputs);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvForward, ::testing::Range<size_t>(0, 14));

TEST(Conv, LargeBatchChunksMatchReference) {
  // Enough images that the batched column matrix is split into several chunks.
  ConvCase c{"chunks", {40, 16, 20, 20}, {8, 16, 5, 5}, {1, 1}, {2, 2}, {2, 2}, {1, 1}, 1, true};
  Tensor x = test::randomTensor(c.x, 7).to(DType::kFloat32);
  Tensor w = test::randomTensor(c.w, 8).to(DType::kFloat32);
  Tensor b = test::randomTensor({8}, 9).to(DType::kFloat32);
  Tensor y = ops::conv(x, w, b, paramsOf(c));
  test::expectTensorNear(y, test::refConv(x, w, b, windowOf(c), 1), 1e-4, 1e-4);
}

TEST(Conv, ThreadCountsAndBatchSplitsAgree) {
  // One thread; two threads each taking a share of the batch (uneven for N = 3); two threads
  // sharing one image (GEMMs split by columns or by rows): all must give the reference values
  // and the same gradients.
  const int saved = numThreads();
  const std::vector<ConvCase> cases = {
      {"small", {0, 4, 9, 7}, {6, 2, 3, 3}, {2, 1}, {1, 0}, {0, 2}, {1, 2}, 2, true},
      {"wide", {0, 3, 20, 20}, {40, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"deep", {0, 16, 10, 10}, {4, 16, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, false},
  };
  for (const ConvCase& c : cases) {
    for (int64_t n : {1, 3, 5}) {
      Shape xs = c.x;
      xs[0] = n;
      std::vector<std::vector<double>> grads[2];
      for (int threads : {1, 2}) {
        SCOPED_TRACE(std::string(c.name) + ", N " + std::to_string(n) + ", threads " + std::to_string(threads));
        setNumThreads(threads);
        Tensor x = test::randomTensor(xs, 70).setRequiresGrad();
        Tensor w = test::randomTensor(c.w, 71).setRequiresGrad();
        Tensor b = c.bias ? test::randomTensor({c.w[0]}, 72).setRequiresGrad() : Tensor();
        Tensor y = ops::conv(x, w, b, paramsOf(c));
        test::expectTensorNear(y, test::refConv(x, w, b, windowOf(c), c.group), 1e-10, 1e-10);
        y.backward(test::randomTensor(y.shape(), 73));
        grads[threads - 1] = {test::valuesOf(x.grad()), test::valuesOf(w.grad())};
        if (c.bias) grads[threads - 1].push_back(test::valuesOf(b.grad()));
      }
      for (size_t i = 0; i < grads[0].size(); ++i) {
        ASSERT_EQ(grads[0][i].size(), grads[1][i].size());
        for (size_t k = 0; k < grads[0][i].size(); ++k) EXPECT_NEAR(grads[0][i][k], grads[1][i][k], 1e-10);
      }
    }
  }
  setNumThreads(saved);
}

TEST(Conv, WindowSpanningPastInt64IsRefused) {
  // Pads and strides of 2^60 leave three output rows (one inside the image) but overflow the
  // index arithmetic of every window kernel (the packed AVX-512 kernel formed a tap's raw offset
  // times the row length): refused with a clear error on both CPU paths, for Conv and pooling.
  const bool wasEnabled = cpu::packedConvEnabled();
  const int64_t huge = int64_t{1} << 60;
  const ConvCase c{"huge", {1, 3, 8, 9}, {8, 3, 1, 3}, {huge, 1}, {huge, 1}, {huge, 1}, {1, 1}, 1, true};
  for (bool packed : {true, false}) {
    cpu::setPackedConvEnabled(packed);
    const Tensor x = test::randomTensor(c.x, 90).to(DType::kFloat32);
    const Tensor w = test::randomTensor(c.w, 91).to(DType::kFloat32);
    const Tensor b = test::randomTensor({8}, 92).to(DType::kFloat32);
    try {
      ops::conv(x, w, b, paramsOf(c));
      ADD_FAILURE() << "conv with pads of 2^60 ran";
    } catch (const NotSupportedError& e) {
      EXPECT_NE(std::string(e.what()).find("2^62"), std::string::npos) << e.what();
    }
  }
  cpu::setPackedConvEnabled(wasEnabled);
  // A sane window right next to it still runs (the bound is on the span, not on the values).
  const ConvCase ok{"ok", {1, 3, 8, 9}, {8, 3, 1, 3}, {4, 1}, {3, 1}, {3, 1}, {1, 1}, 1, true};
  const Tensor x = test::randomTensor(ok.x, 93), w = test::randomTensor(ok.w, 94), b = test::randomTensor({8}, 95);
  test::expectTensorNear(ops::conv(x, w, b, paramsOf(ok)), test::refConv(x, w, b, windowOf(ok), 1), 1e-10, 1e-10);
}

TEST(Conv, HugeStrideOnAOneOutputAxisMatchesReference) {
  // A stride of 2^62 on an axis with one output position is legal (the window never steps) and
  // passes the span bound, but stride times row length overflowed in the im2col row copies (found
  // by fuzz_onnx_exec under UBSan). The result must equal the direct loops, on both CPU paths,
  // for Conv and for pooling.
  const int64_t huge = int64_t{1} << 62;
  // Also a dilation of 2^62 on an axis whose kernel is one wide (it never dilates anything).
  const std::vector<ConvCase> cases = {
      {"huge_stride", {2, 3, 4, 9}, {9, 3, 3, 3}, {huge, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {"huge_dilation", {2, 3, 4, 9}, {9, 3, 1, 3}, {1, 1}, {0, 1}, {0, 1}, {huge, 1}, 1, true},
  };
  const bool wasEnabled = cpu::packedConvEnabled();
  for (const ConvCase& c : cases) {
    for (bool packed : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (packed ? " packed" : " blas"));
      cpu::setPackedConvEnabled(packed);
      const Tensor x = test::randomTensor(c.x, 96).to(DType::kFloat32);
      const Tensor w = test::randomTensor(c.w, 97).to(DType::kFloat32);
      const Tensor b = test::randomTensor({9}, 98).to(DType::kFloat32);
      const Tensor y = ops::conv(x, w, b, paramsOf(c));
      test::expectTensorNear(y, test::refConv(x, w, b, windowOf(c), 1), 1e-5, 1e-5);
    }
  }
  cpu::setPackedConvEnabled(wasEnabled);
  // Gradients (col2im and the weight gradient take the same plan) against finite differences.
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ops::ConvParams p = paramsOf(c);
    test::expectGradientsMatch([p](const std::vector<Tensor>& in) { return ops::conv(in[0], in[1], in[2], p); },
                               {test::randomTensor({1, 3, 4, 9}, 100).setRequiresGrad(),
                                test::randomTensor(c.w, 101).setRequiresGrad(),
                                test::randomTensor({9}, 102).setRequiresGrad()});
  }
}

TEST(Conv, PackedKernelMatchesReferenceAndBlasPath) {
  // The packed AVX-512 float32 kernel (kernels/cpu/conv_packed.h) on shapes that reach its
  // edges: output-channel tails (not a multiple of 8), position tails (not a multiple of 16 or
  // 48), several K blocks (K > 320), one panel with the rows split over threads, strided and
  // dilated windows with asymmetric pads, 1-D and 3-D, groups, pointwise; batch 1 (one image
  // over both threads) and batch 3 (whole images per thread). Each result is checked against
  // the float64 direct loops and against the OpenBLAS path on the same float32 inputs.
  if (!cpu::packedConvSupported()) GTEST_SKIP() << "this CPU has no AVX-512F: the packed kernel is never used";
  const int saved = numThreads();
  const bool wasEnabled = cpu::setPackedConvEnabled(true);
  const std::vector<ConvCase> cases = {
      {"tails", {0, 5, 13, 11}, {13, 5, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"k_blocks", {0, 37, 9, 10}, {16, 37, 3, 3}, {1, 1}, {0, 1}, {1, 0}, {1, 1}, 1, false},
      {"deep_one_panel", {0, 80, 4, 4}, {24, 80, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"stride_dilation", {0, 4, 17, 19}, {9, 4, 3, 5}, {2, 3}, {2, 1}, {1, 3}, {2, 1}, 1, true},
      {"pointwise_panels", {0, 12, 20, 20}, {40, 12, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, false},
      {"groups", {0, 16, 8, 8}, {16, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 2, true},
      {"conv1d", {0, 8, 100}, {10, 8, 5}, {1}, {2}, {2}, {1}, 1, true},
      {"conv3d", {0, 3, 4, 6, 7}, {8, 3, 2, 3, 3}, {1, 1, 2}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, 1, true},
      {"first_layer", {0, 3, 30, 30}, {16, 3, 7, 7}, {2, 2}, {3, 3}, {3, 3}, {1, 1}, 1, true},
      {"depthwise", {0, 8, 37, 21}, {16, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 8, true},
      {"depthwise_s2", {0, 8, 37, 40}, {8, 1, 3, 3}, {2, 2}, {1, 0}, {1, 1}, {1, 1}, 8, false},
      {"depthwise_s3_dil", {0, 4, 19, 23}, {4, 1, 5, 3}, {1, 3}, {2, 2}, {2, 1}, {2, 2}, 4, true},
      {"depthwise_narrow", {0, 4, 7, 7}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 4, true},
  };
  for (const ConvCase& c : cases) {
    for (int64_t n : {1, 3}) {
      for (int threads : {1, 2}) {
        SCOPED_TRACE(std::string(c.name) + ", N " + std::to_string(n) + ", threads " + std::to_string(threads));
        setNumThreads(threads);
        Shape xs = c.x;
        xs[0] = n;
        Tensor x = test::randomTensor(xs, 80);
        Tensor w = test::randomTensor(c.w, 81);
        Tensor b = c.bias ? test::randomTensor({c.w[0]}, 82) : Tensor();
        const Tensor expected = test::refConv(x, w, b, windowOf(c), c.group);
        const Tensor x32 = x.to(DType::kFloat32), w32 = w.to(DType::kFloat32);
        const Tensor b32 = c.bias ? b.to(DType::kFloat32) : Tensor();
        cpu::setPackedConvEnabled(true);
        const Tensor packed = ops::conv(x32, w32, b32, paramsOf(c));
        cpu::setPackedConvEnabled(false);
        const Tensor blas = ops::conv(x32, w32, b32, paramsOf(c));
        test::expectTensorNear(packed, expected, 1e-4, 1e-4);
        test::expectTensorNear(packed, blas, 1e-4, 1e-4);
      }
    }
  }
  cpu::setPackedConvEnabled(wasEnabled);
  setNumThreads(saved);
}

TEST(Conv, ConvReluEqualsReluOfConvAndFallsBackWhenRecorded) {
  // The fused kernel (activation applied as the output is stored) must give exactly relu(conv)
  // on both CPU paths (packed AVX-512 and OpenBLAS), float32 and float64, one and two threads,
  // including NaN inputs (Relu maps NaN to 0) and K blocks / tails of the packed kernel.
  const int saved = numThreads();
  const bool wasEnabled = cpu::packedConvEnabled();
  const std::vector<ConvCase> cases = {
      {"convrelu", {0, 37, 9, 10}, {13, 37, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"depthwise", {0, 6, 9, 10}, {12, 1, 3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}, 6, true},
  };
  for (const ConvCase& c : cases) {
    for (bool packed : {true, false}) {
      if (packed && !cpu::packedConvSupported()) continue;
      cpu::setPackedConvEnabled(packed);
      for (DType dt : {DType::kFloat32, DType::kFloat64}) {
        for (int threads : {1, 2}) {
          for (int64_t n : {1, 3}) {
            SCOPED_TRACE(std::string(c.name) + (packed ? " packed " : " blas ") + dtypeName(dt) + " threads " +
                         std::to_string(threads) + " N " + std::to_string(n));
            setNumThreads(threads);
            Shape xs = c.x;
            xs[0] = n;
            std::vector<double> xv = test::valuesOf(test::randomTensor(xs, 90));
            xv[5] = std::nan("");  // poisons the outputs whose windows read it
            const Tensor x = Tensor::fromVector(xv, xs).to(dt);
            const Tensor w = test::randomTensor(c.w, 91).to(dt), b = test::randomTensor({c.w[0]}, 92).to(dt);
            const std::vector<double> fused = test::valuesOf(ops::convRelu(x, w, b, paramsOf(c)));
            const std::vector<double> twoOps = test::valuesOf(ops::relu(ops::conv(x, w, b, paramsOf(c))));
            ASSERT_EQ(fused.size(), twoOps.size());
            int zeros = 0;
            for (size_t i = 0; i < fused.size(); ++i) {
              EXPECT_EQ(fused[i], twoOps[i]) << "at " << i;
              zeros += fused[i] == 0.0;
            }
            EXPECT_GT(zeros, 0);  // the ReLU did something
          }
        }
      }
    }
  }
  cpu::setPackedConvEnabled(wasEnabled);
  setNumThreads(saved);
  // With a gradient wanted, or under the export tracer, it is the two recorded ops.
  Tensor x = test::randomTensor({2, 3, 6, 6}, 93).setRequiresGrad();
  Tensor w = test::randomTensor({4, 3, 3, 3}, 94);
  test::expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::convRelu(in[0], in[1], Tensor(), {}); },
                             {x, w.setRequiresGrad()});
  autograd::Tracer tracer;
  ops::convRelu(x.detach(), w.detach(), Tensor(), {});
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "Conv");
  EXPECT_FALSE(tracer.records()[0].attrs.has("activation"));
  EXPECT_EQ(tracer.records()[1].opType, "Relu");
}

TEST(Conv, ConvClipEqualsClipOfConvAndFallsBackWhenRecorded) {
  // ops::convClip (mobilenet's Conv -> Clip(0, 6) in inference) must give exactly
  // clip(conv(x)) on every CPU path (oneDNN, packed, OpenBLAS; the depthwise loops), float32
  // and float64, one and two threads: both bounds reached, one bound absent, NaN kept as Clip
  // keeps it, and the sign of a zero output as Clip leaves it.
  const int saved = numThreads();
  const bool wasEnabled = cpu::packedConvEnabled();
  const bool wasDnnl = cpu::dnnlConvEnabled();
  const std::vector<ConvCase> cases = {
      {"convclip", {0, 37, 9, 10}, {13, 37, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"depthwise", {0, 6, 9, 10}, {12, 1, 3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}, 6, true},
      {"pointwise", {0, 16, 7, 7}, {24, 16, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
  };
  const std::vector<std::pair<std::optional<double>, std::optional<double>>> bounds = {
      {0.0, 6.0}, {-0.5, 0.7}, {std::nullopt, 0.3}, {-0.2, std::nullopt}};
  for (const ConvCase& c : cases) {
    for (int path = 0; path < 3; ++path) {  // oneDNN, packed AVX-512, im2col + OpenBLAS
      if (path == 0 && !cpu::dnnlConvAvailable()) continue;
      if (path == 1 && !cpu::packedConvSupported()) continue;
      cpu::setDnnlConvEnabled(path == 0);
      cpu::setPackedConvEnabled(path == 1);
      for (DType dt : {DType::kFloat32, DType::kFloat64}) {
        for (int threads : {1, 2}) {
          for (const auto& [lo, hi] : bounds) {
            SCOPED_TRACE(std::string(c.name) + " path " + std::to_string(path) + " " + dtypeName(dt) + " threads " +
                         std::to_string(threads) + " bounds " + (lo ? std::to_string(*lo) : "none") + ", " +
                         (hi ? std::to_string(*hi) : "none"));
            setNumThreads(threads);
            Shape xs = c.x;
            xs[0] = 2;
            std::vector<double> xv = test::valuesOf(test::randomTensor(xs, 95));
            for (double& v : xv) v *= 4;  // so that a depthwise 3x3 output can pass 6
            xv[5] = std::nan("");  // poisons the outputs whose windows read it
            const Tensor x = Tensor::fromVector(xv, xs).to(dt);
            const Tensor w = test::randomTensor(c.w, 96).to(dt), b = test::randomTensor({c.w[0]}, 97).to(dt);
            const Tensor fusedT = ops::convClip(x, w, b, paramsOf(c), lo, hi);
            const Tensor twoOpsT = ops::clip(ops::conv(x, w, b, paramsOf(c)), lo, hi);
            ASSERT_EQ(fusedT.shape(), twoOpsT.shape());
            ASSERT_EQ(fusedT.dtype(), dt);
            const std::vector<double> fused = test::valuesOf(fusedT), twoOps = test::valuesOf(twoOpsT);
            auto asDtype = [dt](double v) { return dt == DType::kFloat32 ? static_cast<double>(static_cast<float>(v)) : v; };
            int atLo = 0, atHi = 0, nan = 0;
            for (size_t i = 0; i < fused.size(); ++i) {
              if (std::isnan(twoOps[i])) {
                EXPECT_TRUE(std::isnan(fused[i])) << "at " << i;
                ++nan;
                continue;
              }
              EXPECT_EQ(fused[i], twoOps[i]) << "at " << i;
              EXPECT_EQ(std::signbit(fused[i]), std::signbit(twoOps[i])) << "at " << i;
              atLo += lo && fused[i] == asDtype(*lo);
              atHi += hi && fused[i] == asDtype(*hi);
            }
            EXPECT_GT(nan, 0);
            if (lo) {
              EXPECT_GT(atLo, 0) << "the low bound clipped nothing";
            }
            if (hi) {
              EXPECT_GT(atHi, 0) << "the high bound clipped nothing";
            }
          }
        }
      }
    }
  }
  cpu::setPackedConvEnabled(wasEnabled);
  cpu::setDnnlConvEnabled(wasDnnl);
  setNumThreads(saved);
  // With a gradient wanted, or under the export tracer, it is the two recorded ops.
  Tensor x = test::randomTensor({2, 3, 6, 6}, 98).setRequiresGrad();
  Tensor w = test::randomTensor({4, 3, 3, 3}, 99);
  test::expectGradientsMatch(
      [](const std::vector<Tensor>& in) { return ops::convClip(in[0], in[1], Tensor(), {}, -0.4, 0.5); },
      {x, w.setRequiresGrad()});
  autograd::Tracer tracer;
  ops::convClip(x.detach(), w.detach(), Tensor(), {}, 0.0, 6.0);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "Conv");
  EXPECT_EQ(tracer.records()[1].opType, "Clip");
}

TEST(Conv, AutoPad) {
  Tensor x = test::randomTensor({1, 2, 8, 7}, 10);
  Tensor w = test::randomTensor({3, 2, 3, 4}, 11);
  ops::ConvParams p;
  p.strides = {2, 3};
  // SAME: out = ceil(in / stride) = [4, 3]; total pads = (out - 1) * s + k - in = [1, 3]; the
  // odd one out goes to the end (UPPER) or the beginning (LOWER).
  p.autoPad = "SAME_UPPER";
  Tensor up = ops::conv(x, w, Tensor(), p);
  EXPECT_EQ(up.shape(), (Shape{1, 3, 4, 3}));
  test::expectTensorNear(up, test::refConv(x, w, Tensor(), {{3, 4}, {2, 3}, {0, 1}, {1, 2}, {1, 1}}, 1), 1e-10);
  p.autoPad = "SAME_LOWER";
  Tensor lo = ops::conv(x, w, Tensor(), p);
  EXPECT_EQ(lo.shape(), (Shape{1, 3, 4, 3}));
  test::expectTensorNear(lo, test::refConv(x, w, Tensor(), {{3, 4}, {2, 3}, {1, 2}, {0, 1}, {1, 1}}, 1), 1e-10);
  p.autoPad = "VALID";
  p.pads = {5, 5, 5, 5};  // ignored under VALID
  Tensor valid = ops::conv(x, w, Tensor(), p);
  EXPECT_EQ(valid.shape(), (Shape{1, 3, 3, 2}));
  test::expectTensorNear(valid, test::refConv(x, w, Tensor(), {{3, 4}, {2, 3}, {0, 0}, {0, 0}, {1, 1}}, 1), 1e-10);
}

TEST(Conv, FirstLayerInputGetsNoGradient) {
  Tensor x = test::randomTensor({2, 1, 6, 6}, 12);  // data: no gradient wanted
  Tensor w = test::randomTensor({3, 1, 3, 3}, 13).setRequiresGrad();
  Tensor y = ops::conv(x, w, Tensor(), ops::ConvParams{});
  y.backward(Tensor::ones(y.shape(), y.dtype()));
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  // dw = sum over images and positions of the input patch: compare one element.
  const std::vector<double> xv = test::valuesOf(x);
  double expect = 0;
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) expect += xv[static_cast<size_t>(n * 36 + (i + 1) * 6 + (j + 2))];
  EXPECT_NEAR(w.grad().at(1 * 3 + 2), expect, 1e-10);  // w[0, 0, 1, 2]
}

TEST(Conv, BiasGradientAlone) {
  Tensor x = test::randomTensor({3, 2, 5, 5}, 19);
  Tensor w = test::randomTensor({4, 2, 3, 3}, 20);  // frozen weight
  Tensor b = test::randomTensor({4}, 21).setRequiresGrad();
  Tensor y = ops::conv(x, w, b, ops::ConvParams{});
  Tensor g = test::randomTensor(y.shape(), 22);
  y.backward(g);
  EXPECT_FALSE(w.grad().defined());
  for (int64_t c = 0; c < 4; ++c) {
    double expect = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t p = 0; p < 9; ++p) expect += g.at((n * 4 + c) * 9 + p);
    EXPECT_NEAR(b.grad().at(c), expect, 1e-10);
  }
}

TEST(Conv, NonContiguousInput) {
  Tensor base = test::randomTensor({2, 3, 6, 5}, 14);
  Tensor x = base.transpose(2, 3);  // [2, 3, 5, 6] view
  Tensor w = test::randomTensor({2, 3, 2, 2}, 15);
  Tensor y = ops::conv(x, w, Tensor(), ops::ConvParams{});
  test::expectTensorNear(y, test::refConv(x.contiguous(), w, Tensor(), {{2, 2}, {1, 1}, {0, 0}, {0, 0}, {1, 1}}, 1),
                         1e-10);
}

TEST(Conv, TraceRecordsExplicitPads) {
  Tensor x = test::randomTensor({1, 2, 5, 5}, 16);
  Tensor w = test::randomTensor({4, 1, 3, 3}, 17);
  Tensor b = test::randomTensor({4}, 18);
  ops::ConvParams p;
  p.autoPad = "SAME_UPPER";
  p.group = 2;
  autograd::Tracer tracer;
  Tensor y = ops::conv(x, w, b, p);
  ASSERT_EQ(tracer.records().size(), 1u);
  const autograd::OpRecord& r = tracer.records()[0];
  EXPECT_EQ(r.opType, "Conv");
  EXPECT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.attrs.getInts("kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(r.attrs.getInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(r.attrs.getInts("strides"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.attrs.getInts("dilations"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.attrs.getInt("group"), 2);
  EXPECT_FALSE(r.attrs.has("auto_pad"));
}

TEST(Conv, ErrorsNameOpAndShapes) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  Tensor w = Tensor::zeros({4, 2, 3, 3});
  try {
    ops::conv(x, w, Tensor(), ops::ConvParams{});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Conv"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3, 8, 8]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 2, 3, 3]"), std::string::npos) << msg;
  }
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 9, 9}), Tensor(), ops::ConvParams{}), ShapeError);  // too big
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 3}), Tensor(), ops::ConvParams{}), ShapeError);     // rank
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}), ops::ConvParams{}), ShapeError);
  EXPECT_THROW(ops::conv(Tensor::zeros({2, 3}), w, Tensor(), ops::ConvParams{}), ShapeError);
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 3, 3}, DType::kFloat64), Tensor(), ops::ConvParams{}), TypeError);
  ops::ConvParams bad;
  bad.strides = {1, 1, 1};
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), bad), ValueError);
  bad = ops::ConvParams{};
  bad.autoPad = "SAME";
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), bad), ValueError);
  bad = ops::ConvParams{};
  bad.group = 2;  // 3 input channels are not divisible into 2 groups
  EXPECT_THROW(ops::conv(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), bad), ShapeError);
}

// ---- ConvTranspose ------------------------------------------------------------------------------

struct ConvTCase {
  const char* name;
  Shape x, w;
  std::vector<int64_t> strides, padsBegin, padsEnd, dilations, outputPadding;
  int64_t group;
  bool bias;
};

const std::vector<ConvTCase>& convTCases() {
  static const std::vector<ConvTCase> cases = {
      {"plain", {2, 3, 4, 5}, {3, 2, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, {0, 0}, 1, true},
      {"stride_pad_outpad", {1, 2, 3, 4}, {2, 3, 3, 2}, {2, 3}, {1, 0}, {0, 1}, {1, 1}, {1, 2}, 1, true},
      {"dilation_groups", {2, 4, 3, 3}, {4, 2, 2, 3}, {2, 1}, {0, 1}, {1, 0}, {2, 2}, {0, 0}, 2, false},
      {"conv1d", {2, 2, 5}, {2, 3, 4}, {3}, {1}, {2}, {1}, {1}, 1, true},
      {"conv3d", {1, 2, 2, 3, 2}, {2, 2, 2, 2, 3}, {2, 1, 2}, {0, 1, 1}, {1, 0, 0}, {1, 1, 1}, {1, 0, 0}, 1, true},
      {"depthwise", {2, 4, 3, 4}, {4, 1, 3, 3}, {2, 1}, {1, 0}, {0, 1}, {1, 2}, {1, 0}, 4, true},
      {"depthwise_multiplier", {1, 4, 3, 3}, {4, 1, 2, 2}, {1, 2}, {0, 0}, {1, 0}, {1, 1}, {0, 1}, 2, false},
  };
  return cases;
}

ops::ConvTransposeParams paramsOf(const ConvTCase& c) {
  ops::ConvTransposeParams p;
  p.strides = c.strides;
  p.pads = c.padsBegin;
  p.pads.insert(p.pads.end(), c.padsEnd.begin(), c.padsEnd.end());
  p.dilations = c.dilations;
  p.outputPadding = c.outputPadding;
  p.group = c.group;
  return p;
}

class ConvTransposeCases : public ::testing::TestWithParam<size_t> {};

TEST_P(ConvTransposeCases, ForwardMatchesDirectLoops) {
  const ConvTCase& c = convTCases()[GetParam()];
  SCOPED_TRACE(c.name);
  Tensor x = test::randomTensor(c.x, 20);
  Tensor w = test::randomTensor(c.w, 21);
  Tensor b = c.bias ? test::randomTensor({c.w[1] * c.group}, 22) : Tensor();
  const RefWindow win{std::vector<int64_t>(c.w.begin() + 2, c.w.end()), c.strides, c.padsBegin, c.padsEnd, c.dilations};
  test::expectTensorNear(ops::convTranspose(x, w, b, paramsOf(c)),
                         test::refConvTranspose(x, w, b, win, c.outputPadding, c.group), 1e-10, 1e-10);
}

TEST_P(ConvTransposeCases, Gradients) {
  const ConvTCase& c = convTCases()[GetParam()];
  SCOPED_TRACE(c.name);
  std::vector<Tensor> inputs{test::randomTensor(c.x, 23).setRequiresGrad(),
                             test::randomTensor(c.w, 24).setRequiresGrad()};
  if (c.bias) inputs.push_back(test::randomTensor({c.w[1] * c.group}, 25).setRequiresGrad());
  const ops::ConvTransposeParams p = paramsOf(c);
  test::expectGradientsMatch(
      [p](const std::vector<Tensor>& in) {
        return ops::convTranspose(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
      },
      inputs);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvTransposeCases, ::testing::Range<size_t>(0, 7));

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  // ONNX conformance case convtranspose_autopad_same: x = 0..8 [1,1,3,3], w = ones [1,2,3,3].
  std::vector<double> xv(9);
  for (int i = 0; i < 9; ++i) xv[static_cast<size_t>(i)] = i;
  Tensor x = Tensor::fromVector(xv, {1, 1, 3, 3});
  Tensor w = Tensor::ones({1, 2, 3, 3}, DType::kFloat64);
  ops::ConvTransposeParams p;
  p.strides = {2, 2};
  p.autoPad = "SAME_UPPER";
  Tensor y = ops::convTranspose(x, w, Tensor(), p);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 6, 6}));
  const std::vector<double> row0{0, 0, 1, 1, 3, 2};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(y.at(j), row0[static_cast<size_t>(j)]) << j;
  // ONNX convtranspose_output_shape: output_shape [10, 8] with strides [3, 2] gives a negative
  // total padding, i.e. extra zero rows/columns at the end.
  ops::ConvTransposeParams q;
  q.strides = {3, 2};
  q.outputShape = {10, 8};
  Tensor z = ops::convTranspose(x, w, Tensor(), q);
  ASSERT_EQ(z.shape(), (Shape{1, 2, 10, 8}));
  ops::ConvTransposeParams r;
  r.strides = {3, 2};
  r.outputPadding = {1, 1};
  test::expectTensorNear(z, ops::convTranspose(x, w, Tensor(), r));
  EXPECT_THROW(ops::convTranspose(x, Tensor::ones({2, 2, 3, 3}, DType::kFloat64), Tensor(), r), ShapeError);
}

}  // namespace
}  // namespace singa
