// Shared helpers of the CUDA tests: every CUDA kernel is checked against its CPU kernel (the
// oracle) by running the same op, through the public op API, on CPU inputs and on copies of them
// on the GPU, forward and (through autograd) backward. Tests skip, naming the reason, when no GPU
// is visible or the build has no CUDA backend.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "singa/singa.h"

namespace singa::gputest {

/// The device under test: cuda:0, or SINGA_GPUTEST_DEVICE (e.g. "cpu" to check the test code
/// itself on a machine without a GPU: every comparison then runs CPU against CPU).
inline Device gpu() {
  const char* d = std::getenv("SINGA_GPUTEST_DEVICE");
  return d != nullptr && *d != '\0' ? Device::parse(d) : Device::cuda(0);
}

/// Whether a missing GPU is a failure (SINGA_GPUTEST_REQUIRE=1, as the device check runs the
/// tests) rather than a skip: on a GPU machine an all-skipped run must not look green.
inline bool gpuRequired() {
  const char* v = std::getenv("SINGA_GPUTEST_REQUIRE");
  return v != nullptr && std::string(v) == "1";
}

/// GTEST_SKIP()s the calling test when the device under test is a CUDA device that is not usable,
/// naming why (the CUDA runtime's own error when it failed); in required-GPU mode it FAILs instead.
#define SINGA_REQUIRE_GPU()                                                                           \
  do {                                                                                                \
    if (::singa::gputest::gpu().isCuda() && !::singa::deviceAvailable(::singa::DeviceType::kCuda)) { \
      const std::string why_ = ::singa::deviceUnavailableReason(::singa::DeviceType::kCuda);          \
      if (::singa::gputest::gpuRequired())                                                            \
        FAIL() << "required-GPU mode (SINGA_GPUTEST_REQUIRE=1): no usable CUDA GPU: " << why_;       \
      GTEST_SKIP() << "no usable CUDA GPU: " << why_ << " (run tests/gpu/device_check.sh on a GPU machine)"; \
    }                                                                                                 \
  } while (0)

/// Uniform values in [lo, hi) on the CPU, reproducible per seed.
inline Tensor randomTensor(const Shape& shape, DType dtype, double lo = -1.0, double hi = 1.0, uint64_t seed = 7) {
  Generator g(seed);
  Tensor t(shape, DType::kFloat64);
  uniform_(t, lo, hi, g);
  if (dtype == DType::kFloat64) return t;
  if (isInteger(dtype)) t = ops::floor(t);
  return t.to(dtype);
}

/// Integer-valued tensor in [lo, hi] (both included).
inline Tensor randomInts(const Shape& shape, DType dtype, int64_t lo, int64_t hi, uint64_t seed = 11) {
  return randomTensor(shape, DType::kFloat64, static_cast<double>(lo), static_cast<double>(hi) + 1.0, seed)
      .to(DType::kInt64)
      .to(dtype);
}

/// Element-wise comparison of a CPU result with a GPU result: same shape and dtype, the GPU one
/// on the GPU, |ref - got| <= atol + rtol * |ref| (NaNs must match; exact for integers/bool).
inline void expectClose(const Tensor& ref, const Tensor& got, double rtol, double atol, const std::string& what) {
  ASSERT_TRUE(ref.defined() && got.defined()) << what << ": undefined result";
  ASSERT_EQ(ref.shape(), got.shape()) << what;
  ASSERT_EQ(ref.dtype(), got.dtype()) << what;
  EXPECT_EQ(got.device(), gpu()) << what << ": result is on " << got.device().str();
  const std::vector<double> r = ref.toVector<double>(), g = got.toVector<double>();
  const bool exact = !isFloating(ref.dtype());
  int reported = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    bool ok;
    if (std::isnan(r[i]) || std::isnan(g[i])) {
      ok = std::isnan(r[i]) && std::isnan(g[i]);
    } else if (exact || std::isinf(r[i])) {
      ok = r[i] == g[i];
    } else {
      ok = std::abs(r[i] - g[i]) <= atol + rtol * std::abs(r[i]);
    }
    if (!ok && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " CPU " << r[i] << " vs CUDA " << g[i];
  }
}

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Tolerance {
  double rtol, atol;
};

inline Tolerance toleranceFor(DType t) {
  return t == DType::kFloat64 ? Tolerance{1e-9, 1e-11} : Tolerance{2e-4, 2e-5};
}

/// Runs `f` on `inputs` (CPU) and on GPU copies; compares the outputs and, when `backward`, the
/// gradients of every floating-point input for the loss sum(y * w) with a fixed random w.
inline void checkOp(const std::string& what, const OpFn& f, const std::vector<Tensor>& inputs, bool backward = true,
                    Tolerance tol = {-1, -1}) {
  std::vector<Tensor> cpuIn, gpuIn;
  for (const Tensor& t : inputs) {
    Tensor c = t.clone(), g = t.to(gpu()).clone();  // fresh leaves, even when the device is the CPU
    if (backward && isFloating(t.dtype())) {
      c.setRequiresGrad();
      g.setRequiresGrad();
    }
    cpuIn.push_back(c);
    gpuIn.push_back(g);
  }
  const Tensor yc = f(cpuIn);
  const Tensor yg = f(gpuIn);
  if (tol.rtol < 0) tol = toleranceFor(yc.dtype());
  expectClose(yc, yg, tol.rtol, tol.atol, what + " forward");
  if (!backward || !isFloating(yc.dtype())) return;
  const Tensor w = randomTensor(yc.shape(), yc.dtype(), -1.0, 1.0, 99);
  ops::reduceSum(ops::mul(yc, w)).backward();
  ops::reduceSum(ops::mul(yg, w.to(gpu()))).backward();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!cpuIn[i].requiresGrad()) continue;
    const Tensor gc = cpuIn[i].grad(), gg = gpuIn[i].grad();
    ASSERT_EQ(gc.defined(), gg.defined()) << what << ": gradient of input " << i << " defined on one device only";
    if (!gc.defined()) continue;
    Tolerance gt = tol;
    gt.atol *= 10;
    expectClose(gc, gg, gt.rtol * 5, gt.atol, what + " gradient of input " + std::to_string(i));
  }
}

/// Float dtypes the typed tests run over, with the device: (cuda:0) x (float32, float64).
template <DType D>
struct OnCuda {
  static constexpr DType dtype = D;
};
using FloatTypes = ::testing::Types<OnCuda<DType::kFloat32>, OnCuda<DType::kFloat64>>;

}  // namespace singa::gputest
