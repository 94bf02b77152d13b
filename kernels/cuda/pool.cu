// Pooling kernels over 1, 2 or 3 spatial dims, same contract as kernels/cpu/pool.cc:
//   MaxPool         (x) -> (y, argmax)   argmax: int32 offset of the max inside its (n, c) plane,
//                                        -1 for a window without input elements
//   MaxPoolGrad     (dy, argmax) -> dx
//   AveragePool     (x) -> y             count_include_pad as on the CPU
//   AveragePoolGrad (dy) -> dx
// Own kernels rather than cuDNN pooling: cuDNN gives no argmax, and the CPU's tie, NaN,
// dilation and count_include_pad rules are reproduced exactly this way. One thread per output
// forward; backward gathers, one thread per input element, summing over the outputs whose
// windows cover it in ascending output order (the CPU's scatter order): deterministic, no
// atomics, and the same bits as the CPU kernel.
#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

struct Geom {
  int64_t in[3], out[3], k[3], stride[3], pad[3], padEnd[3], dil[3];
  int64_t inSize, outSize;
};

Geom geomOf(const Shape& image, const Shape& out, const PoolKernelParams& p) {
  const int nd = static_cast<int>(image.size()) - 2;
  SINGA_ASSERT(nd >= 1 && nd <= 3 && out.size() == image.size());
  const std::vector<int64_t>& kernel = p.kernel;
  const std::vector<int64_t>& strides = p.strides;
  const std::vector<int64_t>& pads = p.pads;
  const std::vector<int64_t>& dils = p.dilations;
  SINGA_ASSERT(static_cast<int>(kernel.size()) == nd && static_cast<int>(pads.size()) == 2 * nd);
  Geom g;
  for (int i = 0; i < 3; ++i) {
    g.in[i] = g.out[i] = g.k[i] = g.stride[i] = g.dil[i] = 1;
    g.pad[i] = g.padEnd[i] = 0;
  }
  const int shift = 3 - nd;
  for (int i = 0; i < nd; ++i) {
    g.in[shift + i] = image[2 + i];
    g.out[shift + i] = out[2 + i];
    g.k[shift + i] = kernel[i];
    g.stride[shift + i] = strides[i];
    g.pad[shift + i] = pads[i];
    g.padEnd[shift + i] = pads[nd + i];
    g.dil[shift + i] = dils[i];
  }
  g.inSize = g.in[0] * g.in[1] * g.in[2];
  g.outSize = g.out[0] * g.out[1] * g.out[2];
  return g;
}

// Taps x in [lo, hi) of [0, count) whose index x * step + off lies in [0, extent).
__device__ __forceinline__ void validRange(int64_t count, int64_t extent, int64_t step, int64_t off, int64_t& lo,
                                           int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + step - 1) / step;
  hi = extent - 1 - off < 0 ? 0 : (extent - 1 - off) / step + 1;
  lo = lo < count ? lo : count;
  hi = hi < count ? hi : count;
  if (hi < lo) hi = lo;
}

struct Window {
  int64_t lo[3], hi[3], base[3];
};

__device__ __forceinline__ Window windowOf(const Geom& g, int64_t o) {
  Window w;
  const int64_t pos[3] = {o / (g.out[1] * g.out[2]), (o / g.out[2]) % g.out[1], o % g.out[2]};
  for (int i = 0; i < 3; ++i) {
    w.base[i] = pos[i] * g.stride[i] - g.pad[i];
    validRange(g.k[i], g.in[i], g.dil[i], w.base[i], w.lo[i], w.hi[i]);
  }
  return w;
}

__device__ __forceinline__ int64_t windowCount(const Geom& g, const Window& w, bool includePad) {
  int64_t n = 1;
  for (int i = 0; i < 3; ++i) {
    if (includePad) {
      int64_t lo, hi;
      validRange(g.k[i], g.in[i] + g.pad[i] + g.padEnd[i], g.dil[i], w.base[i] + g.pad[i], lo, hi);
      n *= hi - lo;
    } else {
      n *= w.hi[i] - w.lo[i];
    }
  }
  return n;
}

template <class T>
__device__ __forceinline__ bool isNan(T v) {
  return v != v;
}

template <class T>
__global__ void maxPoolKernel(const T* x, T* y, int32_t* argmax, int64_t total, Geom g, T lowest) {
  SINGA_GRID_LOOP(t, total) {
    const int64_t plane = t / g.outSize, o = t % g.outSize;
    const T* xs = x + plane * g.inSize;
    const Window w = windowOf(g, o);
    T best = lowest;
    int64_t bi = -1;
    for (int64_t kd = w.lo[0]; kd < w.hi[0]; ++kd) {
      const int64_t id = w.base[0] + kd * g.dil[0];
      for (int64_t kh = w.lo[1]; kh < w.hi[1]; ++kh) {
        const int64_t row = (id * g.in[1] + w.base[1] + kh * g.dil[1]) * g.in[2] + w.base[2];
        for (int64_t kw = w.lo[2]; kw < w.hi[2]; ++kw) {
          const int64_t i = row + kw * g.dil[2];
          const T v = xs[i];
          if (bi < 0 || v > best || isNan(v)) {
            best = v;
            bi = i;
          }
        }
      }
    }
    y[t] = best;
    argmax[t] = static_cast<int32_t>(bi);
  }
}

// Along dim `d`: the output position whose window's tap k lands on input coordinate i, if any.
__device__ __forceinline__ bool coveringOutput(const Geom& g, int d, int64_t i, int64_t k, int64_t& o) {
  const int64_t num = i + g.pad[d] - k * g.dil[d];
  if (num < 0 || num % g.stride[d] != 0) return false;
  o = num / g.stride[d];
  return o < g.out[d];
}

// dx[i] = sum over outputs o whose window covers i (ascending o) of: dy[o] if argmax[o] == i (max),
// dy[o] / count(o) (average).
template <class T, bool kMax>
__global__ void poolGradGatherKernel(const T* dy, const int32_t* argmax, T* dx, int64_t total, Geom g,
                                     bool includePad) {
  SINGA_GRID_LOOP(t, total) {
    const int64_t plane = t / g.inSize, i = t % g.inSize;
    const int64_t pos[3] = {i / (g.in[1] * g.in[2]), (i / g.in[2]) % g.in[1], i % g.in[2]};
    const T* dys = dy + plane * g.outSize;
    const int32_t* am = kMax ? argmax + plane * g.outSize : nullptr;
    T acc = T(0);
    // Taps in descending order give output positions in ascending order along each dim.
    for (int64_t k0 = g.k[0] - 1; k0 >= 0; --k0) {
      int64_t o0;
      if (!coveringOutput(g, 0, pos[0], k0, o0)) continue;
      for (int64_t k1 = g.k[1] - 1; k1 >= 0; --k1) {
        int64_t o1;
        if (!coveringOutput(g, 1, pos[1], k1, o1)) continue;
        for (int64_t k2 = g.k[2] - 1; k2 >= 0; --k2) {
          int64_t o2;
          if (!coveringOutput(g, 2, pos[2], k2, o2)) continue;
          const int64_t o = (o0 * g.out[1] + o1) * g.out[2] + o2;
          if (kMax) {
            if (am[o] == i) acc += dys[o];
          } else {
            const int64_t n = windowCount(g, windowOf(g, o), includePad);
            if (n > 0) acc += dys[o] / static_cast<T>(n);
          }
        }
      }
    }
    dx[t] = acc;
  }
}

template <class T>
__global__ void avgPoolKernel(const T* x, T* y, int64_t total, Geom g, bool includePad) {
  SINGA_GRID_LOOP(t, total) {
    const int64_t plane = t / g.outSize, o = t % g.outSize;
    const T* xs = x + plane * g.inSize;
    const Window w = windowOf(g, o);
    double sum = 0;
    for (int64_t kd = w.lo[0]; kd < w.hi[0]; ++kd) {
      const int64_t id = w.base[0] + kd * g.dil[0];
      for (int64_t kh = w.lo[1]; kh < w.hi[1]; ++kh) {
        const int64_t row = (id * g.in[1] + w.base[1] + kh * g.dil[1]) * g.in[2] + w.base[2];
        for (int64_t kw = w.lo[2]; kw < w.hi[2]; ++kw) sum += static_cast<double>(xs[row + kw * g.dil[2]]);
      }
    }
    const int64_t n = windowCount(g, w, includePad);
    y[t] = n > 0 ? static_cast<T>(sum / static_cast<double>(n)) : T(0);
  }
}

template <class T>
void maxPool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t total = y.numel();
  if (total == 0) return;
  const Geom g = geomOf(x.shape(), y.shape(), ctx.paramsAs<PoolKernelParams>("MaxPool"));
  maxPoolKernel<T><<<blocksFor(total), kThreads, 0, streamFor(y)>>>(
      x.data<T>(), y.data<T>(), ctx.out(1).data<int32_t>(), total, g, std::numeric_limits<T>::lowest());
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void maxPoolGrad(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const int64_t total = dx.numel();
  if (total == 0) return;
  if (dy.numel() == 0) {
    dx.zero();
    return;
  }
  const Geom g = geomOf(dx.shape(), dy.shape(), ctx.paramsAs<PoolKernelParams>("MaxPoolGrad"));
  poolGradGatherKernel<T, true><<<blocksFor(total), kThreads, 0, streamFor(dx)>>>(
      dy.data<T>(), ctx.in(1).data<int32_t>(), dx.data<T>(), total, g, false);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void avgPool(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t total = y.numel();
  if (total == 0) return;
  const PoolKernelParams& p = ctx.paramsAs<PoolKernelParams>("AveragePool");
  const Geom g = geomOf(x.shape(), y.shape(), p);
  const bool includePad = p.countIncludePad;
  avgPoolKernel<T><<<blocksFor(total), kThreads, 0, streamFor(y)>>>(x.data<T>(), y.data<T>(), total, g, includePad);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void avgPoolGrad(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const int64_t total = dx.numel();
  if (total == 0) return;
  if (dy.numel() == 0) {
    dx.zero();
    return;
  }
  const PoolKernelParams& p = ctx.paramsAs<PoolKernelParams>("AveragePoolGrad");
  const Geom g = geomOf(dx.shape(), dy.shape(), p);
  poolGradGatherKernel<T, false><<<blocksFor(total), kThreads, 0, streamFor(dx)>>>(dy.data<T>(), nullptr, dx.data<T>(),
                                                                                   total, g, p.countIncludePad);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerPoolKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kMaxPool, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, maxPool<T>(ctx)); });
  r.add(OpId::kMaxPoolGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, maxPoolGrad<T>(ctx)); });
  r.add(OpId::kAveragePool, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, avgPool<T>(ctx)); });
  r.add(OpId::kAveragePoolGrad, DeviceType::kCuda, floats,
        [](KernelContext& ctx) { SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, avgPoolGrad<T>(ctx)); });
}

}  // namespace singa::cuda
