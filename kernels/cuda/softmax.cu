// Softmax family CUDA kernels, same contract as kernels/cpu/softmax.cc:
//   Softmax / LogSoftmax          (x) -> y, AxisParams axis (x contiguous, seen as [outer, len, inner])
//   SoftmaxGrad / LogSoftmaxGrad  (dy, y) -> dx
//   SoftmaxCrossEntropyLoss       (logits [N, C], labels [N]) -> (loss [], probs [N, C])
//   SoftmaxCrossEntropyLossGrad   (probs, labels, dLoss []) -> dLogits
// Rows along the axis are independent: a warp per row when the row is contiguous (inner == 1,
// the classifier case), a thread per row otherwise. Max-subtraction and double accumulation as on
// the CPU. Labels out of range are caught on the device (first bad sample) and reported with the
// same message as the CPU; the loss is read by the caller every step anyway, so the check adds
// one small copy, not a new synchronisation point.
#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
};

AxisView axisView(const Tensor& x, int64_t axis) {
  AxisView v;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < axis) {
      v.outer *= x.shape()[i];
    } else if (i == axis) {
      v.len = x.shape()[i];
    } else {
      v.inner *= x.shape()[i];
    }
  }
  return v;
}

template <class T>
__device__ __forceinline__ T warpMax(T v) {
  for (int o = 16; o > 0; o /= 2) {
    const T other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  return v;
}

__device__ __forceinline__ double warpSum(double v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Row r of the view: element k is at base + k * stride. `lane`/`lanes`: this thread's share.
template <class T, bool kLog>
__device__ void softmaxRow(const T* s, T* d, int64_t len, int64_t st, int lane, int lanes) {
  T mx = s[0];
  for (int64_t k = lane; k < len; k += lanes) mx = s[k * st] > mx ? s[k * st] : mx;
  if (lanes > 1) mx = warpMax(mx);
  double sum = 0;
  for (int64_t k = lane; k < len; k += lanes) {
    const T ex = exp(s[k * st] - mx);
    if constexpr (!kLog) d[k * st] = ex;
    sum += static_cast<double>(ex);
  }
  if (lanes > 1) sum = warpSum(sum);
  if constexpr (kLog) {
    const T lse = mx + static_cast<T>(log(sum));
    for (int64_t k = lane; k < len; k += lanes) d[k * st] = s[k * st] - lse;
  } else {
    const T inv = static_cast<T>(1.0 / sum);
    for (int64_t k = lane; k < len; k += lanes) d[k * st] *= inv;
  }
}

template <class T, bool kLog>
__device__ void softmaxGradRow(const T* g, const T* y, T* d, int64_t len, int64_t st, int lane, int lanes) {
  double acc = 0;
  for (int64_t k = lane; k < len; k += lanes) {
    acc += kLog ? static_cast<double>(g[k * st]) : static_cast<double>(g[k * st]) * static_cast<double>(y[k * st]);
  }
  if (lanes > 1) acc = warpSum(acc);
  const T a = static_cast<T>(acc);
  for (int64_t k = lane; k < len; k += lanes) {
    if constexpr (kLog) {
      d[k * st] = g[k * st] - exp(y[k * st]) * a;
    } else {
      d[k * st] = y[k * st] * (g[k * st] - a);
    }
  }
}

// Grid over rows: warp-per-row when `warpRows`, else thread-per-row. rowOf maps a row to its base.
__device__ __forceinline__ bool rowAndLane(int64_t rows, bool warpRows, int64_t& row, int& lane, int& lanes) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (warpRows) {
    row = t / 32;
    lane = static_cast<int>(t % 32);
    lanes = 32;
  } else {
    row = t;
    lane = 0;
    lanes = 1;
  }
  return row < rows;
}

template <class T, bool kLog>
__global__ void softmaxKernel(const T* x, T* y, AxisView v, bool warpRows) {
  int64_t row;
  int lane, lanes;
  if (!rowAndLane(v.outer * v.inner, warpRows, row, lane, lanes)) return;
  const int64_t base = (row / v.inner) * v.len * v.inner + row % v.inner;
  softmaxRow<T, kLog>(x + base, y + base, v.len, v.inner, lane, lanes);
}

template <class T, bool kLog>
__global__ void softmaxGradKernel(const T* dy, const T* y, T* dx, AxisView v, bool warpRows) {
  int64_t row;
  int lane, lanes;
  if (!rowAndLane(v.outer * v.inner, warpRows, row, lane, lanes)) return;
  const int64_t base = (row / v.inner) * v.len * v.inner + row % v.inner;
  softmaxGradRow<T, kLog>(dy + base, y + base, dx + base, v.len, v.inner, lane, lanes);
}

unsigned rowBlocks(int64_t rows, bool warpRows) {
  const int64_t threads = warpRows ? rows * 32 : rows;
  return static_cast<unsigned>((threads + kWarpsPerBlock * 32 - 1) / (kWarpsPerBlock * 32));
}

template <class T, bool kLog>
void softmax(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const AxisView v = axisView(x, ctx.paramsAs<AxisParams>(kLog ? "LogSoftmax" : "Softmax").axis);
  const int64_t rows = v.outer * v.inner;
  if (v.len == 0 || rows == 0) return;
  const bool warpRows = v.inner == 1;
  softmaxKernel<T, kLog><<<rowBlocks(rows, warpRows), kWarpsPerBlock * 32, 0, streamFor(x)>>>(
      x.data<T>(), ctx.out(0).data<T>(), v, warpRows);
  SINGA_CUDA_LAUNCHED();
}

template <class T, bool kLog>
void softmaxGrad(KernelContext& ctx) {
  const Tensor& y = ctx.in(1);
  const AxisView v = axisView(y, ctx.paramsAs<AxisParams>(kLog ? "LogSoftmaxGrad" : "SoftmaxGrad").axis);
  const int64_t rows = v.outer * v.inner;
  if (v.len == 0 || rows == 0) return;
  const bool warpRows = v.inner == 1;
  softmaxGradKernel<T, kLog><<<rowBlocks(rows, warpRows), kWarpsPerBlock * 32, 0, streamFor(y)>>>(
      ctx.in(0).data<T>(), y.data<T>(), ctx.out(0).data<T>(), v, warpRows);
  SINGA_CUDA_LAUNCHED();
}

template <class L>
__device__ __forceinline__ int64_t labelAt(const void* labels, int64_t i) {
  return static_cast<int64_t>(static_cast<const L*>(labels)[i]);
}

// Warp per sample: probs row and the sample's loss; bad labels record the first bad sample.
template <class T>
__global__ void crossEntropyKernel(const T* x, const void* labels, bool int32Labels, T* probs, double* rowLoss,
                                   unsigned long long* firstBad, int64_t N, int64_t C) {
  int64_t row;
  int lane, lanes;
  if (!rowAndLane(N, true, row, lane, lanes)) return;
  const T* s = x + row * C;
  T* p = probs + row * C;
  softmaxRow<T, false>(s, p, C, 1, lane, lanes);
  if (lane != 0) return;
  const int64_t label = int32Labels ? labelAt<int32_t>(labels, row) : labelAt<int64_t>(labels, row);
  if (label < 0 || label >= C) {
    atomicMin(firstBad, static_cast<unsigned long long>(row));
    rowLoss[row] = 0;
    return;
  }
  // -log softmax(x)[label], from the normalised probability's row maximum and sum.
  T mx = s[0];
  for (int64_t k = 1; k < C; ++k) mx = s[k] > mx ? s[k] : mx;
  double sum = 0;
  for (int64_t k = 0; k < C; ++k) sum += static_cast<double>(exp(s[k] - mx));
  rowLoss[row] = static_cast<double>(mx) + log(sum) - static_cast<double>(s[label]);
}

template <class T>
__global__ void meanLossKernel(const double* rowLoss, int64_t N, T* loss) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) acc += rowLoss[i];
  acc = blockSum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<T>(acc / static_cast<double>(N));
}

template <class T>
__global__ void crossEntropyGradKernel(const T* probs, const void* labels, bool int32Labels, const T* dLoss, T* dx,
                                       int64_t N, int64_t C) {
  const T scale = static_cast<T>(static_cast<double>(dLoss[0]) / static_cast<double>(N));
  SINGA_GRID_LOOP(i, N * C) {
    const int64_t row = i / C, k = i - row * C;
    const int64_t label = int32Labels ? labelAt<int32_t>(labels, row) : labelAt<int64_t>(labels, row);
    dx[i] = probs[i] * scale - (k == label ? scale : T(0));
  }
}

bool labelsAreInt32(const Tensor& labels) {
  if (labels.dtype() == DType::kInt32) return true;
  SINGA_CHECK(labels.dtype() == DType::kInt64, TypeError,
              "SoftmaxCrossEntropy: labels must be int32 or int64, got " << dtypeName(labels.dtype()));
  return false;
}

template <class T>
void crossEntropy(KernelContext& ctx) {
  const Tensor& logits = ctx.in(0);
  const Tensor& labels = ctx.in(1);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  const bool int32Labels = labelsAreInt32(labels);
  cudaStream_t s = streamFor(logits);
  Tensor rowLoss({std::max<int64_t>(N, 1)}, DType::kFloat64, logits.device());
  const int device = logits.device().index;
  int64_t* words = checkWords(device);  // {first bad sample, its label}; all bits set: none
  if (N > 0) {
    crossEntropyKernel<T><<<rowBlocks(N, true), kWarpsPerBlock * 32, 0, s>>>(
        logits.data<T>(), labels.rawData(), int32Labels, ctx.out(1).data<T>(), rowLoss.data<double>(),
        reinterpret_cast<unsigned long long*>(words), N, C);
    SINGA_CUDA_LAUNCHED();
    fetchBadValueKernel<><<<1, 1, 0, s>>>(words, labels.rawData(), int32Labels);
    SINGA_CUDA_LAUNCHED();
  }
  meanLossKernel<T><<<1, 1024, 0, s>>>(rowLoss.data<double>(), N, ctx.out(0).data<T>());
  SINGA_CUDA_LAUNCHED();
  // Checked when the host next waits for the device (reading the loss, typically), not here.
  deferCheck(device, words, [C](int64_t bad, int64_t label) {
    SINGA_THROW(ValueError, "SoftmaxCrossEntropy: label " << label << " (sample " << bad << ") is out of range for "
                                                          << C << " classes; labels must lie in [0, " << C << ")");
  });
}

template <class T>
void crossEntropyGrad(KernelContext& ctx) {
  const Tensor& probs = ctx.in(0);
  const Tensor& labels = ctx.in(1);
  const int64_t N = probs.dim(0), C = probs.dim(1);
  if (N * C == 0) return;
  const bool int32Labels = labelsAreInt32(labels);
  crossEntropyGradKernel<T><<<blocksFor(N * C), kThreads, 0, streamFor(probs)>>>(
      probs.data<T>(), labels.rawData(), int32Labels, ctx.in(2).data<T>(), ctx.out(0).data<T>(), N, C);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerSoftmaxKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kSoftmax, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmax<T, false>(ctx))); });
  r.add(OpId::kLogSoftmax, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmax<T, true>(ctx))); });
  r.add(OpId::kSoftmaxGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxGrad<T, false>(ctx))); });
  r.add(OpId::kLogSoftmaxGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, (softmaxGrad<T, true>(ctx))); });
  r.add(OpId::kSoftmaxCrossEntropyLoss, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, crossEntropy<T>(ctx)); });
  r.add(OpId::kSoftmaxCrossEntropyLossGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, crossEntropyGrad<T>(ctx)); });
}

}  // namespace singa::cuda
