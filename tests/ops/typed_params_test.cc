// Typed kernel parameters (src/ops/kernel_params.h): a kernel run without its parameters, or
// with another family's, is a ValueError naming the kernel, never a read of garbage; and the
// parameters an op function fills reach its kernel (Clip's bounds, Mod's fmod, Gemm's flags).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "singa/ops/registry.h"
#include "singa/singa.h"

namespace singa {
namespace {

struct KernelCase {
  OpId op;
  std::vector<Tensor> inputs;
  Shape outShape;
};

std::vector<KernelCase> parametrisedKernels() {
  const Tensor m = Tensor::ones({2, 3}, DType::kFloat32);
  const Tensor c = Tensor::ones({3}, DType::kFloat32);
  return {
      {OpId::kElu, {m}, {2, 3}},
      {OpId::kClip, {m}, {2, 3}},
      {OpId::kMod, {m, m}, {2, 3}},
      {OpId::kGemm, {m, Tensor::ones({3, 2}, DType::kFloat32)}, {2, 2}},
      {OpId::kReduceSum, {m}, {1, 3}},
      {OpId::kArgMax, {m}, {3}},
      {OpId::kSoftmax, {m}, {2, 3}},
      {OpId::kConcat, {m, m}, {4, 3}},
      {OpId::kPad, {m}, {2, 3}},
      {OpId::kFill, {}, {2, 3}},
      {OpId::kBatchNormInference, {m, c, c, c, c}, {2, 3}},
      {OpId::kSGDUpdate, {m}, {2, 3}},
  };
}

void expectNamedError(const KernelCase& k, const KernelParams* params) {
  std::vector<Tensor> outs{Tensor(k.outShape, DType::kFloat32)};
  try {
    runKernel(k.op, DType::kFloat32, Device::cpu(), k.inputs, outs, Attrs(), params);
    ADD_FAILURE() << opName(k.op) << ": no error";
  } catch (const ValueError& e) {
    const std::string expected = std::string(opName(k.op)) + " kernel: called without its typed parameters";
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

TEST(TypedParams, KernelWithoutItsParametersIsANamedError) {
  for (const KernelCase& k : parametrisedKernels()) expectNamedError(k, nullptr);
}

TEST(TypedParams, KernelWithAnotherFamilysParametersIsANamedError) {
  const KernelParams wrong = ModParams{true};
  const KernelParams wrongForMod = AxisParams{0};
  for (const KernelCase& k : parametrisedKernels()) expectNamedError(k, k.op == OpId::kMod ? &wrongForMod : &wrong);
}

TEST(TypedParams, OpFunctionsPassTheirOptionsToTheKernel) {
  const Tensor x = Tensor::fromVector<double>({-3, -1, 0.5, 2, 7}, {5});
  const Tensor clipped = ops::clip(x, -1.5, 1.0);
  const std::vector<double> want{-1.5, -1, 0.5, 1, 1};
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(clipped.at(i), want[static_cast<size_t>(i)]);

  const Tensor a = Tensor::fromVector<int64_t>({-7, 7}, {2});
  const Tensor b = Tensor::fromVector<int64_t>({3, -3}, {2});
  const Tensor pyMod = ops::mod(a, b, false), cMod = ops::mod(a, b, true);
  EXPECT_EQ(pyMod.at(0), 2);  // sign of the divisor
  EXPECT_EQ(pyMod.at(1), -2);
  EXPECT_EQ(cMod.at(0), -1);  // sign of the dividend
  EXPECT_EQ(cMod.at(1), 1);

  const Tensor m = Tensor::fromVector<double>({1, 2, 3, 4}, {2, 2});
  const Tensor y = ops::gemm(m, m, Tensor(), 2.0, 0.0, true, false);  // 2 * m^T m
  const std::vector<double> gram{20, 28, 28, 40};
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(y.at(i), gram[static_cast<size_t>(i)]);
}

}  // namespace
}  // namespace singa
