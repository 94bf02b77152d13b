// BatchNormalization, Dropout, Softmax / LogSoftmax and the losses: forward against hand
// formulas, running-statistics updates, dropout determinism, finite-difference gradients, traces
// and error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "gradcheck.h"
#include "ops/nn_test_util.h"
#include "singa/ops/registry.h"
#include "singa/singa.h"

namespace singa {
namespace {

// ---- BatchNormalization ----------------------------------------------------------------------

TEST(BatchNorm, TrainingMatchesHandFormulaAndUpdatesRunningStats) {
  const int64_t N = 4, C = 3, S = 10;
  Tensor x = test::randomTensor({N, C, 2, 5}, 40, -2, 3);
  Tensor scale = test::randomTensor({C}, 41, 0.5, 1.5);
  Tensor bias = test::randomTensor({C}, 42);
  Tensor rm = Tensor::fromVector<double>({0.1, 0.2, 0.3}, {C});
  Tensor rv = Tensor::fromVector<double>({1.0, 2.0, 0.5}, {C});
  const double momentum = 0.8, eps = 1e-3;
  Tensor y = ops::batchNorm(x, scale, bias, rm, rv, true, momentum, eps);
  const std::vector<double> xv = test::valuesOf(x);
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) mean += xv[static_cast<size_t>((n * C + c) * S + i)];
    mean /= N * S;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) var += std::pow(xv[static_cast<size_t>((n * C + c) * S + i)] - mean, 2);
    const double unbiased = var / (N * S - 1);
    var /= N * S;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t k = (n * C + c) * S + i;
        const double expect = (xv[static_cast<size_t>(k)] - mean) / std::sqrt(var + eps) * scale.at(c) + bias.at(c);
        EXPECT_NEAR(y.at(k), expect, 1e-10);
      }
    const double rm0[] = {0.1, 0.2, 0.3}, rv0[] = {1.0, 2.0, 0.5};
    EXPECT_NEAR(rm.at(c), momentum * rm0[c] + (1 - momentum) * mean, 1e-12);
    EXPECT_NEAR(rv.at(c), momentum * rv0[c] + (1 - momentum) * unbiased, 1e-12);
  }
}

TEST(BatchNorm, InferenceUsesRunningStats) {
  Tensor x = test::randomTensor({5, 2}, 43);  // [N, C]
  Tensor scale = Tensor::fromVector<double>({2, 3}, {2});
  Tensor bias = Tensor::fromVector<double>({-1, 1}, {2});
  Tensor rm = Tensor::fromVector<double>({0.5, -0.5}, {2});
  Tensor rv = Tensor::fromVector<double>({4, 0.25}, {2});
  Tensor y = ops::batchNorm(x, scale, bias, rm, rv, false, 0.9, 0.0);
  for (int64_t k = 0; k < 10; ++k) {
    const int64_t c = k % 2;
    EXPECT_NEAR(y.at(k), (x.at(k) - rm.at(c)) / std::sqrt(rv.at(c)) * scale.at(c) + bias.at(c), 1e-12);
  }
  EXPECT_EQ(rm.at(0), 0.5);  // untouched in inference
  // float32 path
  Tensor y32 = ops::batchNorm(x.to(DType::kFloat32), scale.to(DType::kFloat32), bias.to(DType::kFloat32),
                              rm.to(DType::kFloat32), rv.to(DType::kFloat32), false, 0.9, 0.0);
  test::expectTensorNear(y32, y, 1e-5, 1e-5);
}

TEST(BatchNorm, TrainingGradients) {
  for (const Shape& shape : {Shape{3, 2, 2, 3}, Shape{5, 3}, Shape{2, 2, 3, 2, 2}}) {
    SCOPED_TRACE(shapeStr(shape));
    const int64_t C = shape[1];
    test::expectGradientsMatch(
        [](const std::vector<Tensor>& in) {
          return ops::batchNorm(in[0], in[1], in[2], in[3], in[4], true, 0.9, 1e-5);
        },
        {test::randomTensor(shape, 44, -1, 2).setRequiresGrad(),
         test::randomTensor({C}, 45, 0.5, 1.5).setRequiresGrad(), test::randomTensor({C}, 46).setRequiresGrad(),
         Tensor::zeros({C}, DType::kFloat64), Tensor::ones({C}, DType::kFloat64)},
        1e-6, 1e-5, 1e-4);
  }
}

TEST(BatchNorm, InferenceGradients) {
  test::expectGradientsMatch(
      [](const std::vector<Tensor>& in) { return ops::batchNorm(in[0], in[1], in[2], in[3], in[4], false, 0.9, 1e-5); },
      {test::randomTensor({3, 2, 4}, 47).setRequiresGrad(), test::randomTensor({2}, 48).setRequiresGrad(),
       test::randomTensor({2}, 49).setRequiresGrad(), test::randomTensor({2}, 50),
       test::randomTensor({2}, 51, 0.5, 2)});
}

TEST(BatchNorm, TraceAndErrors) {
  Tensor x = test::randomTensor({2, 3, 2, 2}, 52);
  Tensor s = Tensor::ones({3}, DType::kFloat64), b = Tensor::zeros({3}, DType::kFloat64);
  Tensor m = Tensor::zeros({3}, DType::kFloat64), v = Tensor::ones({3}, DType::kFloat64);
  {
    autograd::Tracer tracer;
    ops::batchNorm(x, s, b, m, v, false, 0.7, 1e-4);
    ASSERT_EQ(tracer.records().size(), 1u);
    const autograd::OpRecord& r = tracer.records()[0];
    EXPECT_EQ(r.opType, "BatchNormalization");
    EXPECT_EQ(r.inputs.size(), 5u);
    EXPECT_DOUBLE_EQ(r.attrs.getFloat("epsilon"), 1e-4);
    EXPECT_DOUBLE_EQ(r.attrs.getFloat("momentum"), 0.7);
  }
  try {
    ops::batchNorm(x, Tensor::ones({4}, DType::kFloat64), b, m, v, true);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("BatchNormalization"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3, 2, 2]"), std::string::npos) << msg;
  }
  EXPECT_THROW(ops::batchNorm(Tensor::zeros({3}, DType::kFloat64), s, b, m, v, true), ShapeError);
  EXPECT_THROW(ops::batchNorm(x, s.to(DType::kFloat32), b, m, v, true), TypeError);
}

// ---- BatchNormalization + ReLU fused ---------------------------------------------------------

// relu(batchNorm(...)) as two ops and as one: outputs, running statistics and gradients (for an
// upstream gradient that is not all ones) must agree bit for bit.
void expectFusedBatchNormReluIsTheTwoOps(DType dt, bool training) {
  SCOPED_TRACE(std::string(dtypeName(dt)) + (training ? " training" : " inference"));
  const int64_t N = 3, C = 5;
  const Shape shape{N, C, 4, 3};
  auto run = [&](bool fused, std::vector<std::vector<double>>* out) {
    Tensor x = test::randomTensor(shape, 60, -2, 2).to(dt).setRequiresGrad();
    Tensor scale = test::randomTensor({C}, 61, 0.5, 1.5).to(dt).setRequiresGrad();
    Tensor bias = test::randomTensor({C}, 62, -0.5, 0.5).to(dt).setRequiresGrad();
    Tensor rm = test::randomTensor({C}, 63).to(dt), rv = test::randomTensor({C}, 64, 0.5, 2).to(dt);
    Tensor y = fused ? ops::batchNormRelu(x, scale, bias, rm, rv, training, 0.8, 1e-5)
                     : ops::relu(ops::batchNorm(x, scale, bias, rm, rv, training, 0.8, 1e-5));
    Tensor w = test::randomTensor(shape, 65).to(dt);
    ops::reduceSum(ops::mul(y, w)).backward();
    for (const Tensor& t : {y, rm, rv, x.grad(), scale.grad(), bias.grad()}) out->push_back(test::valuesOf(t));
  };
  std::vector<std::vector<double>> fused, twoOps;
  run(true, &fused);
  run(false, &twoOps);
  const char* names[] = {"y", "running mean", "running var", "dx", "dscale", "dbias"};
  for (size_t k = 0; k < fused.size(); ++k) EXPECT_EQ(fused[k], twoOps[k]) << names[k];
  size_t zeros = 0;
  for (double v : fused[0]) zeros += v == 0.0;
  EXPECT_GT(zeros, fused[0].size() / 5) << "the input must give negative pre-activations";
  EXPECT_LT(zeros, fused[0].size() * 4 / 5);
}

TEST(BatchNormRelu, IsBitIdenticalToBatchNormThenRelu) {
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    expectFusedBatchNormReluIsTheTwoOps(dt, true);
    expectFusedBatchNormReluIsTheTwoOps(dt, false);
  }
}

TEST(BatchNormRelu, GradientsMatchFiniteDifferences) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "inference");
    test::expectGradientsMatch(
        [training](const std::vector<Tensor>& in) {
          return ops::batchNormRelu(in[0], in[1], in[2], in[3], in[4], training, 0.9, 1e-5);
        },
        {test::randomTensor({3, 2, 2, 3}, 66, -1, 2).setRequiresGrad(),
         test::randomTensor({2}, 67, 0.5, 1.5).setRequiresGrad(), test::randomTensor({2}, 68).setRequiresGrad(),
         Tensor::zeros({2}, DType::kFloat64), Tensor::ones({2}, DType::kFloat64)},
        1e-6, 1e-5, 1e-4);
  }
}

TEST(BatchNormRelu, AnExportTraceSeesTheTwoOps) {
  Tensor x = test::randomTensor({2, 3, 2, 2}, 69);
  Tensor s = Tensor::ones({3}, DType::kFloat64), b = Tensor::zeros({3}, DType::kFloat64);
  Tensor m = Tensor::zeros({3}, DType::kFloat64), v = Tensor::ones({3}, DType::kFloat64);
  autograd::Tracer tracer;
  ops::batchNormRelu(x, s, b, m, v, false);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "BatchNormalization");
  EXPECT_EQ(tracer.records()[1].opType, "Relu");
}

// ---- BatchNormalization + Clip fused ---------------------------------------------------------

// clip(batchNorm(...)) as two ops and as one, bit for bit: outputs, running statistics and
// gradients. The pre-activations include values exactly at the bounds (scale 0 on a channel
// whose bias is the bound), below, above, inside, NaN (a NaN input element), and -0.
void expectFusedBatchNormClipIsTheTwoOps(DType dt, bool training, std::optional<double> lo, std::optional<double> hi) {
  SCOPED_TRACE(std::string(dtypeName(dt)) + (training ? " training" : " inference") + " lo " +
               (lo ? std::to_string(*lo) : "none") + " hi " + (hi ? std::to_string(*hi) : "none"));
  const int64_t N = 3, C = 6;
  const Shape shape{N, C, 4, 3};
  // Training with gradients; inference as it runs there, with nothing recording (fused too).
  auto run = [&](bool fused, std::vector<Tensor>* out) {
    std::optional<autograd::NoGradGuard> noGrad;
    if (!training) noGrad.emplace();
    Tensor x0 = test::randomTensor(shape, 70, -3, 3);
    std::vector<double> xv = test::valuesOf(x0);
    xv[5] = std::nan("");  // channel 0
    x0 = Tensor::fromVector<double>(xv, shape);
    Tensor x = x0.to(dt).setRequiresGrad();
    // channel 1: scale 0, bias = lo (exactly at the lower bound); channel 2: scale 0, bias = hi;
    // channel 3: scale 0, bias -0; the rest ordinary.
    std::vector<double> sv{1.5, 0, 0, 0, 0.7, 2.5}, bv{0.2, lo.value_or(-1), hi.value_or(1), -0.0, -0.4, 0.5};
    Tensor scale = Tensor::fromVector<double>(sv, {C}).to(dt).setRequiresGrad();
    Tensor bias = Tensor::fromVector<double>(bv, {C}).to(dt).setRequiresGrad();
    Tensor rm = test::randomTensor({C}, 73).to(dt), rv = test::randomTensor({C}, 74, 0.5, 2).to(dt);
    Tensor y = fused ? ops::batchNormClip(x, scale, bias, rm, rv, training, 0.8, 1e-5, lo, hi)
                     : ops::clip(ops::batchNorm(x, scale, bias, rm, rv, training, 0.8, 1e-5), lo, hi);
    for (const Tensor& t : {y, rm, rv}) out->push_back(t.contiguous());
    if (!training) return;
    Tensor w = test::randomTensor(shape, 75, -1, 1).to(dt);
    ops::reduceSum(ops::mul(y, w)).backward();
    for (const Tensor& t : {x.grad(), scale.grad(), bias.grad()}) out->push_back(t.contiguous());
  };
  std::vector<Tensor> fused, twoOps;
  // The fused side runs no Clip kernel (it is one op), the two ops run one.
  KernelRegistry& registry = KernelRegistry::global();
  const KernelFn clipKernel = registry.find(OpId::kClip, DeviceType::kCpu, dt);
  int clipRuns = 0;
  registry.add(OpId::kClip, DeviceType::kCpu, dt, [&](KernelContext& c) {
    ++clipRuns;
    clipKernel(c);
  });
  run(true, &fused);
  const int fusedClipRuns = clipRuns;
  run(false, &twoOps);
  registry.add(OpId::kClip, DeviceType::kCpu, dt, clipKernel);
  EXPECT_EQ(fusedClipRuns, 0);
  EXPECT_EQ(clipRuns, 1);
  const char* names[] = {"y", "running mean", "running var", "dx", "dscale", "dbias"};
  ASSERT_EQ(fused.size(), training ? 6u : 3u);
  ASSERT_EQ(fused.size(), twoOps.size());
  for (size_t k = 0; k < fused.size(); ++k) {
    ASSERT_EQ(fused[k].nbytes(), twoOps[k].nbytes()) << names[k];
    EXPECT_EQ(std::memcmp(fused[k].rawData(), twoOps[k].rawData(), fused[k].nbytes()), 0) << names[k];
  }
  if (lo) {
    size_t atLo = 0;
    for (double v : test::valuesOf(fused[0])) atLo += v == *lo;
    EXPECT_GT(atLo, test::valuesOf(fused[0]).size() / 6) << "values must reach the lower bound";
  }
}

TEST(BatchNormClip, IsBitIdenticalToBatchNormThenClip) {
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (bool training : {true, false}) {
      expectFusedBatchNormClipIsTheTwoOps(dt, training, 0.0, 6.0);
      expectFusedBatchNormClipIsTheTwoOps(dt, training, -0.5, std::nullopt);
      expectFusedBatchNormClipIsTheTwoOps(dt, training, std::nullopt, 0.25);
      expectFusedBatchNormClipIsTheTwoOps(dt, training, std::nullopt, std::nullopt);
    }
  }
}

TEST(BatchNormClip, TrainingKeepsAByteMaskInsteadOfTheUnclippedTensor) {
  // One fused node: its backward holds the input, the statistics and a uint8 mask; the two ops
  // hold a float tensor between them as well. Count the bytes alive after the forward.
  const Shape shape{4, 8, 16, 16};
  const size_t before = cpuBytesInUse();
  size_t fusedBytes = 0, twoOpsBytes = 0;
  for (bool fused : {true, false}) {
    Tensor x = test::randomTensor(shape, 76).to(DType::kFloat32).setRequiresGrad();
    Tensor s = Tensor::ones({8}).setRequiresGrad(), b = Tensor::zeros({8}).setRequiresGrad();
    Tensor rm = Tensor::zeros({8}), rv = Tensor::ones({8});
    Tensor y = fused ? ops::batchNormClip(x, s, b, rm, rv, true, 0.9, 1e-5, 0.0, 6.0)
                     : ops::clip(ops::batchNorm(x, s, b, rm, rv, true, 0.9, 1e-5), 0.0, 6.0);
    (fused ? fusedBytes : twoOpsBytes) = cpuBytesInUse() - before;
  }
  const size_t floats = static_cast<size_t>(numelOf(shape)) * sizeof(float);
  EXPECT_LE(fusedBytes + floats - floats / 4, twoOpsBytes + 4096)
      << "fused " << fusedBytes << " bytes, two ops " << twoOpsBytes << " bytes";
}

TEST(BatchNormClip, FixedStatisticsWithAGradientWantedRunTheTwoOps) {
  // Inference statistics keep no mask, so a gradient wanted for any input (here the running
  // mean alone) runs clip(batchNorm(...)): the gradient exists and matches the two ops.
  for (bool viaMean : {true, false}) {
    SCOPED_TRACE(viaMean ? "running mean wants a gradient" : "x wants a gradient");
    auto run = [&](bool fused) {
      Tensor x = test::randomTensor({2, 3, 3, 3}, 81);
      Tensor s = Tensor::ones({3}, DType::kFloat64), b = test::randomTensor({3}, 82);
      Tensor m = test::randomTensor({3}, 83), v = Tensor::ones({3}, DType::kFloat64);
      Tensor& wants = viaMean ? m : x;
      wants.setRequiresGrad();
      Tensor y = fused ? ops::batchNormClip(x, s, b, m, v, false, 0.9, 1e-5, 0.0, 0.5)
                       : ops::clip(ops::batchNorm(x, s, b, m, v, false, 0.9, 1e-5), 0.0, 0.5);
      ops::reduceSum(y).backward();
      return std::make_pair(test::valuesOf(y), wants.grad().defined() ? test::valuesOf(wants.grad()) : std::vector<double>{});
    };
    const auto fused = run(true), twoOps = run(false);
    EXPECT_EQ(fused.first, twoOps.first);
    EXPECT_EQ(fused.second, twoOps.second);
  }
}

TEST(BatchNormClip, GradientsMatchFiniteDifferences) {
  test::expectGradientsMatch(
      [](const std::vector<Tensor>& in) {
        return ops::batchNormClip(in[0], in[1], in[2], in[3], in[4], true, 0.9, 1e-5, -0.5, 0.8);
      },
      {test::randomTensor({3, 2, 2, 3}, 77, -1, 2).setRequiresGrad(),
       test::randomTensor({2}, 78, 0.5, 1.5).setRequiresGrad(), test::randomTensor({2}, 79).setRequiresGrad(),
       Tensor::zeros({2}, DType::kFloat64), Tensor::ones({2}, DType::kFloat64)},
      1e-6, 1e-5, 1e-4);
}

TEST(BatchNormClip, AnExportTraceSeesTheTwoOps) {
  Tensor x = test::randomTensor({2, 3, 2, 2}, 80);
  Tensor s = Tensor::ones({3}, DType::kFloat64), b = Tensor::zeros({3}, DType::kFloat64);
  Tensor m = Tensor::zeros({3}, DType::kFloat64), v = Tensor::ones({3}, DType::kFloat64);
  autograd::Tracer tracer;
  ops::batchNormClip(x, s, b, m, v, false, 0.9, 1e-5, 0.0, 6.0);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "BatchNormalization");
  EXPECT_EQ(tracer.records()[1].opType, "Clip");
}

// ---- Dropout -------------------------------------------------------------------------------------

TEST(Dropout, MaskScalingAndIdentity) {
  Tensor x = Tensor::ones({4000});
  manualSeed(3);
  Tensor y = ops::dropout(x, 0.25, true);
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double v = y.at(i);
    if (v == 0) {
      ++zeros;
    } else {
      EXPECT_NEAR(v, 1 / 0.75, 1e-6);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 4000.0, 0.25, 0.03);
  Tensor same = ops::dropout(x, 0.5, false);
  test::expectTensorNear(same, x, 0, 0);
  test::expectTensorNear(ops::dropout(x, 0.0, true), x, 0, 0);
  EXPECT_THROW(ops::dropout(x, 1.5, true), ValueError);
}

TEST(Dropout, DeterministicForASeedAndThreadCount) {
  Tensor x = test::randomTensor({70000}, 53).to(DType::kFloat32);  // several parallel chunks
  const int threads = numThreads();
  manualSeed(11);
  setNumThreads(1);
  Tensor a = ops::dropout(x, 0.4, true);
  Tensor a2 = ops::dropout(x, 0.4, true);  // the generator advanced: a different mask
  manualSeed(11);
  setNumThreads(2);
  Tensor b = ops::dropout(x, 0.4, true);
  setNumThreads(threads);
  EXPECT_EQ(a.toVector<float>(), b.toVector<float>());
  EXPECT_NE(a.toVector<float>(), a2.toVector<float>());
}

TEST(Dropout, GradientIsTheMask) {
  Tensor x = Tensor::ones({50}, DType::kFloat64).setRequiresGrad();
  manualSeed(5);
  Tensor y = ops::dropout(x, 0.3, true);
  y.backward(Tensor::ones({50}, DType::kFloat64));
  test::expectTensorNear(x.grad(), y.detach(), 0, 0);
  test::expectGradientsMatch(
      [](const std::vector<Tensor>& in) {
        manualSeed(9);  // the same mask on every evaluation
        return ops::dropout(in[0], 0.5, true);
      },
      {test::randomTensor({3, 7}, 54).setRequiresGrad()});
}

// ---- Softmax / LogSoftmax ------------------------------------------------------------------------

TEST(Softmax, MatchesFormulaAlongAnyAxis) {
  Tensor x = test::randomTensor({2, 3, 4}, 55, -3, 3);
  const std::vector<double> xv = test::valuesOf(x);
  for (int64_t axis : {0, 1, 2, -1}) {
    SCOPED_TRACE(axis);
    Tensor y = ops::softmax(x, axis);
    Tensor ly = ops::logSoftmax(x, axis);
    const int a = axis < 0 ? 2 : static_cast<int>(axis);
    const std::vector<int64_t> strides{12, 4, 1};
    for (int64_t k = 0; k < 24; ++k) {
      const int64_t idx = (k / strides[a]) % x.shape()[a];
      const int64_t base = k - idx * strides[a];
      double sum = 0;
      for (int64_t j = 0; j < x.shape()[a]; ++j) sum += std::exp(xv[static_cast<size_t>(base + j * strides[a])]);
      EXPECT_NEAR(y.at(k), std::exp(xv[static_cast<size_t>(k)]) / sum, 1e-12);
      EXPECT_NEAR(ly.at(k), xv[static_cast<size_t>(k)] - std::log(sum), 1e-12);
    }
  }
  // Stable for large logits.
  Tensor big = Tensor::fromVector<float>({1000, 1001, 1002}, {1, 3});
  Tensor sb = ops::softmax(big);
  EXPECT_NEAR(sb.at(2), 1 / (1 + std::exp(-1.0) + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(ops::logSoftmax(big).at(0), -2 - std::log(1 + std::exp(-1.0) + std::exp(-2.0)), 1e-4);
}

TEST(Softmax, GradientsAndTrace) {
  for (int64_t axis : {-1, 1}) {
    test::expectGradientsMatch([axis](const std::vector<Tensor>& in) { return ops::softmax(in[0], axis); },
                               {test::randomTensor({2, 3, 4}, 56).setRequiresGrad()});
    test::expectGradientsMatch([axis](const std::vector<Tensor>& in) { return ops::logSoftmax(in[0], axis); },
                               {test::randomTensor({2, 3, 4}, 57).setRequiresGrad()});
  }
  autograd::Tracer tracer;
  ops::softmax(Tensor::zeros({2, 3}), -1);
  ops::logSoftmax(Tensor::zeros({2, 3}), 0);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "Softmax");
  EXPECT_EQ(tracer.records()[0].attrs.getInt("axis"), 1);
  EXPECT_EQ(tracer.records()[1].opType, "LogSoftmax");
  EXPECT_EQ(tracer.records()[1].attrs.getInt("axis"), 0);
  EXPECT_THROW(ops::softmax(Tensor::zeros({2, 3}), 2), ValueError);
}

// ---- losses ----------------------------------------------------------------------------------------

TEST(SoftmaxCrossEntropy, MatchesFormula) {
  Tensor logits = test::randomTensor({5, 4}, 58, -4, 4);
  const std::vector<int64_t> labelValues{0, 3, 1, 1, 2};
  double expect = 0;
  for (int64_t i = 0; i < 5; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < 4; ++c) sum += std::exp(logits.at(i * 4 + c));
    expect += std::log(sum) - logits.at(i * 4 + labelValues[static_cast<size_t>(i)]);
  }
  expect /= 5;
  Tensor l64 = Tensor::fromVector(labelValues, {5});
  Tensor loss = ops::softmaxCrossEntropy(logits, l64);
  EXPECT_EQ(loss.ndim(), 0);
  EXPECT_NEAR(loss.item(), expect, 1e-12);
  Tensor l32 = l64.to(DType::kInt32);
  EXPECT_NEAR(ops::softmaxCrossEntropy(logits.to(DType::kFloat32), l32).item(), expect, 1e-5);
  // Stable for huge logits.
  Tensor big = Tensor::fromVector<float>({1000, 0, -1000}, {1, 3});
  EXPECT_NEAR(ops::softmaxCrossEntropy(big, Tensor::fromVector<int64_t>({1}, {1})).item(), 1000, 1e-3);
}

TEST(SoftmaxCrossEntropy, GradientsTraceAndErrors) {
  Tensor labels = Tensor::fromVector<int32_t>({2, 0, 1}, {3});
  test::expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::softmaxCrossEntropy(in[0], in[1]); },
                             {test::randomTensor({3, 4}, 59).setRequiresGrad(), labels});
  {
    autograd::Tracer tracer;
    ops::softmaxCrossEntropy(Tensor::zeros({3, 4}), labels);
    ASSERT_EQ(tracer.records().size(), 1u);
    EXPECT_EQ(tracer.records()[0].opType, "SoftmaxCrossEntropyLoss");
    EXPECT_EQ(tracer.records()[0].attrs.getString("reduction"), "mean");
    EXPECT_EQ(tracer.records()[0].outputs.size(), 1u);
  }
  try {
    ops::softmaxCrossEntropy(Tensor::zeros({3, 10}), Tensor::fromVector<int64_t>({1, 12, 0}, {3}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("12"), std::string::npos) << msg;
    EXPECT_NE(msg.find("10"), std::string::npos) << msg;
  }
  EXPECT_THROW(ops::softmaxCrossEntropy(Tensor::zeros({3, 10}), Tensor::fromVector<int64_t>({1, -1, 0}, {3})),
               ValueError);
  EXPECT_THROW(ops::softmaxCrossEntropy(Tensor::zeros({3, 10}), Tensor::zeros({3})), TypeError);
  EXPECT_THROW(ops::softmaxCrossEntropy(Tensor::zeros({3, 10}), Tensor::fromVector<int64_t>({1, 1}, {2})), ShapeError);
  EXPECT_THROW(ops::softmaxCrossEntropy(Tensor::zeros({3}), Tensor::fromVector<int64_t>({1, 1, 1}, {3})), ShapeError);
}

TEST(MseLoss, ValueAndGradients) {
  Tensor a = Tensor::fromVector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::fromVector<double>({0, 2, 5, 1}, {2, 2});
  EXPECT_NEAR(ops::mseLoss(a, b).item(), (1 + 0 + 4 + 9) / 4.0, 1e-12);
  test::expectGradientsMatch(
      [](const std::vector<Tensor>& in) { return ops::mseLoss(in[0], in[1]); },
      {test::randomTensor({3, 2}, 60).setRequiresGrad(), test::randomTensor({3, 2}, 61).setRequiresGrad()});
  EXPECT_THROW(ops::mseLoss(a, Tensor::zeros({4}, DType::kFloat64)), ShapeError);
}

}  // namespace
}  // namespace singa
