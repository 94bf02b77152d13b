// BatchNormalization and Dropout CUDA kernels, same contract as kernels/cpu/batchnorm.cc:
//   BatchNormTraining  (x, scale, bias, runningMean, runningVar) -> (y, mean, invStd); updates the
//                      running statistics in place (unbiased variance); BatchNormParams
//   BatchNormInference (x, scale, bias, mean, var) -> y
//   BatchNormGrad      (dy, x, scale, mean, invStdOrVar) -> (dx, dScale, dBias), BatchNormParams training
//   Dropout            (x) -> (y, mask), DropoutParams ratio, seed, counter
// x is seen as [N, C, S]. The statistics kernels run one block per channel and accumulate in
// double, two passes (mean, then squared deviations) as on the CPU, so float32 results agree to
// rounding. Dropout draws element i's number from the same counter-based SplitMix64 stream as
// the CPU (counter + i + 1), so CPU and GPU masks are identical for a seed.
#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

constexpr int kStatThreads = 512;

struct NCS {
  int64_t N, C, S;
};

NCS ncsOf(const Tensor& x) {
  NCS d{x.dim(0), x.dim(1), 1};
  for (int i = 2; i < x.ndim(); ++i) d.S *= x.shape()[i];
  return d;
}

template <class T>
__global__ void bnTrainingKernel(const T* x, const T* scale, const T* bias, T* runMean, T* runVar, T* y, T* meanOut,
                                 T* invStdOut, NCS d, double eps, double momentum) {
  const int64_t c = blockIdx.x;
  const int64_t m = d.N * d.S;
  double sum = 0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t n = k / d.S, s = k - n * d.S;
    sum += static_cast<double>(x[(n * d.C + c) * d.S + s]);
  }
  sum = blockSum(sum);
  const double mean = m > 0 ? sum / static_cast<double>(m) : 0.0;
  const T meanT = static_cast<T>(mean);
  double sq = 0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t n = k / d.S, s = k - n * d.S;
    const T dev = x[(n * d.C + c) * d.S + s] - meanT;
    sq += static_cast<double>(dev * dev);
  }
  sq = blockSum(sq);
  const double var = m > 0 ? sq / static_cast<double>(m) : 0.0;
  const double invStd = 1.0 / sqrt(var + eps);
  const T a = static_cast<T>(invStd * static_cast<double>(scale[c])), bc = bias[c];
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t n = k / d.S, s = k - n * d.S;
    const int64_t at = (n * d.C + c) * d.S + s;
    y[at] = (x[at] - meanT) * a + bc;
  }
  if (threadIdx.x == 0) {
    meanOut[c] = meanT;
    invStdOut[c] = static_cast<T>(invStd);
    const double unbiased = m > 1 ? sq / static_cast<double>(m - 1) : var;
    if (runMean) runMean[c] = static_cast<T>(momentum * static_cast<double>(runMean[c]) + (1 - momentum) * mean);
    if (runVar) runVar[c] = static_cast<T>(momentum * static_cast<double>(runVar[c]) + (1 - momentum) * unbiased);
  }
}

template <class T>
__global__ void bnInferenceKernel(const T* x, const T* scale, const T* bias, const T* mean, const T* var, T* y,
                                  NCS d, double eps) {
  SINGA_GRID_LOOP(i, d.N * d.C * d.S) {
    const int64_t c = (i / d.S) % d.C;
    const double invStd = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
    const T a = static_cast<T>(invStd * static_cast<double>(scale[c]));
    y[i] = (x[i] - mean[c]) * a + bias[c];
  }
}

template <class T>
__global__ void bnGradKernel(const T* dy, const T* x, const T* scale, const T* mean, const T* stat, T* dx, T* dScale,
                             T* dBias, NCS d, bool training, double eps) {
  const int64_t c = blockIdx.x;
  const int64_t count = d.N * d.S;
  const double mu = static_cast<double>(mean[c]);
  const T muT = static_cast<T>(mu);
  const double invStd = training ? static_cast<double>(stat[c]) : 1.0 / sqrt(static_cast<double>(stat[c]) + eps);
  double sdy = 0, sdyx = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t n = k / d.S, s = k - n * d.S;
    const int64_t at = (n * d.C + c) * d.S + s;
    sdy += static_cast<double>(dy[at]);
    sdyx += static_cast<double>(dy[at] * (x[at] - muT));
  }
  sdy = blockSum(sdy);
  sdyx = blockSum(sdyx);
  const double m = static_cast<double>(count);
  const double dgamma = sdyx * invStd;
  const double kk = static_cast<double>(scale[c]) * invStd;
  const double meanDy = training && m > 0 ? sdy / m : 0.0;
  const double coef = training && m > 0 ? dgamma * invStd / m : 0.0;
  const T a = static_cast<T>(kk), b = static_cast<T>(-kk * coef), shift = static_cast<T>(-kk * meanDy);
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t n = k / d.S, s = k - n * d.S;
    const int64_t at = (n * d.C + c) * d.S + s;
    dx[at] = a * dy[at] + b * (x[at] - muT) + shift;
  }
  if (threadIdx.x == 0) {
    dScale[c] = static_cast<T>(dgamma);
    dBias[c] = static_cast<T>(sdy);
  }
}

__device__ __forceinline__ float uniformAt(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + counter * 0xbf58476d1ce4e5b9ULL + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

template <class T>
__global__ void dropoutKernel(const T* x, T* y, T* mask, int64_t n, uint64_t seed, uint64_t counter, float threshold,
                              T keepScale) {
  SINGA_GRID_LOOP(i, n) {
    const T m = uniformAt(seed, counter + static_cast<uint64_t>(i) + 1) >= threshold ? keepScale : T(0);
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

template <class T>
T* optionalData(const KernelContext& ctx, size_t i) {
  return ctx.inputs.size() > i && ctx.in(i).defined() ? ctx.in(i).data<T>() : nullptr;
}

// The fused ReLU / Clip (BatchNormParams::relu, clip) are CPU-only (ops::batchNormRelu and
// batchNormClip fuse only CPU tensors): refuse them rather than ignore them.
void checkNotFused(const BatchNormParams& p, const char* kernel) {
  SINGA_CHECK(!p.relu && !p.clip, NotSupportedError,
              kernel << ": the fused ReLU / Clip run on the CPU only; run BatchNormalization and the activation "
                        "as two ops on CUDA");
}

template <class T>
void bnTraining(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const NCS d = ncsOf(x);
  const BatchNormParams& params = ctx.paramsAs<BatchNormParams>("BatchNormTraining");
  checkNotFused(params, "BatchNormTraining");
  if (d.C == 0) return;
  bnTrainingKernel<T><<<static_cast<unsigned>(d.C), kStatThreads, 0, streamFor(x)>>>(
      x.data<T>(), ctx.in(1).data<T>(), ctx.in(2).data<T>(), optionalData<T>(ctx, 3), optionalData<T>(ctx, 4),
      ctx.out(0).data<T>(), ctx.out(1).data<T>(), ctx.out(2).data<T>(), d, params.epsilon, params.momentum);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void bnInference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const NCS d = ncsOf(x);
  const int64_t n = x.numel();
  checkNotFused(ctx.paramsAs<BatchNormParams>("BatchNormInference"), "BatchNormInference");
  if (n == 0) return;
  bnInferenceKernel<T><<<blocksFor(n), kThreads, 0, streamFor(x)>>>(
      x.data<T>(), ctx.in(1).data<T>(), ctx.in(2).data<T>(), ctx.in(3).data<T>(), ctx.in(4).data<T>(),
      ctx.out(0).data<T>(), d, ctx.paramsAs<BatchNormParams>("BatchNormInference").epsilon);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void bnGrad(KernelContext& ctx) {
  const Tensor& x = ctx.in(1);
  const NCS d = ncsOf(x);
  const BatchNormParams& params = ctx.paramsAs<BatchNormParams>("BatchNormGrad");
  checkNotFused(params, "BatchNormGrad");
  if (d.C == 0) return;
  bnGradKernel<T><<<static_cast<unsigned>(d.C), kStatThreads, 0, streamFor(x)>>>(
      ctx.in(0).data<T>(), x.data<T>(), ctx.in(2).data<T>(), ctx.in(3).data<T>(), ctx.in(4).data<T>(),
      ctx.out(0).data<T>(), ctx.out(1).data<T>(), ctx.out(2).data<T>(), d, params.training, params.epsilon);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void dropout(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t n = x.numel();
  if (n == 0) return;
  const DropoutParams& params = ctx.paramsAs<DropoutParams>("Dropout");
  const double ratio = params.ratio;
  const T keepScale = ratio < 1.0 ? static_cast<T>(1.0 / (1.0 - ratio)) : T(0);
  dropoutKernel<T><<<blocksFor(n), kThreads, 0, streamFor(x)>>>(x.data<T>(), ctx.out(0).data<T>(), ctx.out(1).data<T>(),
                                                                n, params.seed, params.counter,
                                                                static_cast<float>(ratio), keepScale);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerNormKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kBatchNormTraining, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnTraining<T>(ctx)); });
  r.add(OpId::kBatchNormInference, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnInference<T>(ctx)); });
  r.add(OpId::kBatchNormGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, bnGrad<T>(ctx)); });
  r.add(OpId::kDropout, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, dropout<T>(ctx)); });
}

}  // namespace singa::cuda
