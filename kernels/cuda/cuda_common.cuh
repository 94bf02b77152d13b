// Shared plumbing of the CUDA kernels (.cu files only): launch geometry, a broadcasting/strided
// indexer, dtype dispatch and the block reduction helper.
//
// Indexer<K> maps a flat row-major index of an output shape to the element offsets of K operands
// (strides 0 on broadcast dims). Shapes are coalesced on the host first, exactly as the CPU
// kernels do (size-1 dims dropped, mergeable neighbours merged), so the common layouts index
// with one or two divisions per element.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "singa/kernels/cuda/cuda_device.h"
#include "singa/kernels/cuda/cuda_kernels.h"

namespace singa::cuda {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

/// Grid size for a grid-stride loop over n elements.
inline unsigned blocksFor(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, 65535LL * 16));
}

/// Makes t's device current and returns its stream.
inline cudaStream_t streamFor(const Tensor& t) {
  setDevice(t.device().index);
  return stream(t.device().index);
}

#define SINGA_CUDA_LAUNCHED() SINGA_CUDA_CHECK(cudaGetLastError())

#define SINGA_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <int K>
struct Indexer {
  int nd = 0;
  int64_t dims[kMaxDims] = {};
  int64_t st[K][kMaxDims] = {};

  __device__ __forceinline__ void offsets(int64_t flat, int64_t (&o)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) o[k] = 0;
    for (int i = nd - 1; i >= 0; --i) {
      const int64_t d = dims[i];
      const int64_t q = flat / d, r = flat - q * d;
#pragma unroll
      for (int k = 0; k < K; ++k) o[k] += r * st[k][i];
      flat = q;
    }
  }
};

/// Strides of `t` broadcast to `out` (0 on broadcast dims).
inline std::vector<int64_t> broadcastStrides(const Tensor& t, const Shape& out) {
  const size_t n = out.size(), m = t.shape().size();
  std::vector<int64_t> s(n, 0);
  for (size_t i = 0; i < m; ++i) s[n - m + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

/// Indexer over `out` for operands given as per-dim strides (already broadcast to out's rank).
template <int K>
Indexer<K> makeIndexer(const Shape& out, const std::array<std::vector<int64_t>, K>& s) {
  Shape dims;
  std::array<std::vector<int64_t>, K> st;
  for (size_t i = out.size(); i-- > 0;) {  // innermost first
    if (out[i] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; k < K && merge; ++k) merge = s[k][i] == st[k].back() * dims.back();
    if (merge) {
      dims.back() *= out[i];
      continue;
    }
    dims.push_back(out[i]);
    for (int k = 0; k < K; ++k) st[k].push_back(s[k][i]);
  }
  SINGA_CHECK(static_cast<int>(dims.size()) <= kMaxDims, NotSupportedError,
              "CUDA kernels support at most " << kMaxDims << " non-mergeable dims, got shape " << out
                                              << "; make the operands contiguous first");
  Indexer<K> ix;
  ix.nd = static_cast<int>(dims.size());
  for (int i = 0; i < ix.nd; ++i) {
    const int j = ix.nd - 1 - i;
    ix.dims[i] = dims[j];
    for (int k = 0; k < K; ++k) ix.st[k][i] = st[k][j];
  }
  return ix;
}

/// Indexer for K tensors broadcast to `out`.
template <int K>
Indexer<K> makeIndexer(const Shape& out, const std::array<const Tensor*, K>& ts) {
  std::array<std::vector<int64_t>, K> s;
  for (int k = 0; k < K; ++k) s[k] = broadcastStrides(*ts[k], out);
  return makeIndexer<K>(out, s);
}

/// Sum over a block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
template <class T>
__device__ T blockSum(T v) {
  __shared__ T partial[32];
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  T total = T(0);
  for (int w = 0; w < warps; ++w) total += partial[w];
  return total;
}

/// Second half of a deferred check (cuda_device.h, checkWords): when words[0] holds the first bad
/// position (not all bits set), words[1] gets the value at that position of `values` (int32 or
/// int64), so the host's report can name it without reading the tensor.
template <class Unused = void>  // a template: one definition per translation unit that uses it
__global__ void fetchBadValueKernel(int64_t* words, const void* values, bool int32) {
  const int64_t at = words[0];
  if (at >= 0) words[1] = int32 ? static_cast<const int32_t*>(values)[at] : static_cast<const int64_t*>(values)[at];
}

}  // namespace singa::cuda

/// float32, float64, int32, int64 (the CUDA arithmetic dtypes).
#define SINGA_CUDA_DISPATCH_ARITH(dtype, T, ...)                                                   \
  switch (dtype) {                                                                                 \
    SINGA_DTYPE_CASE_(kFloat32, float, T, __VA_ARGS__)                                             \
    SINGA_DTYPE_CASE_(kFloat64, double, T, __VA_ARGS__)                                            \
    SINGA_DTYPE_CASE_(kInt32, int32_t, T, __VA_ARGS__)                                             \
    SINGA_DTYPE_CASE_(kInt64, int64_t, T, __VA_ARGS__)                                             \
    default:                                                                                       \
      SINGA_THROW(TypeError, "no CUDA kernel for dtype " << ::singa::dtypeName(dtype));            \
  }

#define SINGA_CUDA_DISPATCH_FLOAT(dtype, T, ...)                                                   \
  switch (dtype) {                                                                                 \
    SINGA_DTYPE_CASE_(kFloat32, float, T, __VA_ARGS__)                                             \
    SINGA_DTYPE_CASE_(kFloat64, double, T, __VA_ARGS__)                                            \
    default:                                                                                       \
      SINGA_THROW(TypeError, "no CUDA kernel for dtype " << ::singa::dtypeName(dtype));            \
  }
