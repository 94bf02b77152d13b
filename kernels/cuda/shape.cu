// Data-movement CUDA kernels, same contract as kernels/cpu/shape.cc: StridedCopy (write into a
// strided view), Concat, Gather and its scatter-add gradient, Pad (constant/reflect/edge;
// negative pads crop) and its gradient for reflect/edge, Tile. Pure movement runs on every dtype
// as 1/2/4/8-byte words; gradients are float32/float64 and deterministic (no atomics): each dx
// element sums its contributions in the CPU's order (GatherGrad through a stable sort of the
// indices, PadGrad by enumerating the padded positions that map to it).
// Gather validates its indices on the device and reports the first bad one with the CPU's
// message when the host next waits for the device (no synchronisation per Gather).
#include <cub/device/device_radix_sort.cuh>

#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

const std::initializer_list<DType> kAll = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                           DType::kInt8,    DType::kInt16,   DType::kInt32,   DType::kInt64,
                                           DType::kUInt8,   DType::kBool};
const std::initializer_list<DType> kFloats = {DType::kFloat32, DType::kFloat64};

// Runs f.template operator()<W>() with W the unsigned word of the dtype's size.
template <class F>
void byWordSize(DType t, F&& f) {
  switch (dtypeSize(t)) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

void splitAround(const Shape& s, int axis, int64_t& outer, int64_t& d, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  d = s[axis];
  for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
}

// ---- Gather ------------------------------------------------------------------------------------

template <class I>
__global__ void checkIndicesKernel(const I* idx, int64_t n, int64_t d, unsigned long long* firstBad) {
  SINGA_GRID_LOOP(j, n) {
    const int64_t v = static_cast<int64_t>(idx[j]);
    if (v < -d || v >= d) atomicMin(firstBad, static_cast<unsigned long long>(j));
  }
}

// Validates on the device; the verdict is read when the host next waits for the device.
void checkIndices(const Tensor& indices, int64_t d, int axis, const Shape& xs) {
  const int64_t n = indices.numel();
  if (n == 0) return;
  const int device = indices.device().index;
  int64_t* words = checkWords(device);  // {first bad position, its index}; all bits set: none
  auto* flag = reinterpret_cast<unsigned long long*>(words);
  cudaStream_t s = streamFor(indices);
  const bool int32 = indices.dtype() == DType::kInt32;
  if (int32) {
    checkIndicesKernel<<<blocksFor(n), kThreads, 0, s>>>(indices.data<int32_t>(), n, d, flag);
  } else {
    checkIndicesKernel<<<blocksFor(n), kThreads, 0, s>>>(indices.data<int64_t>(), n, d, flag);
  }
  SINGA_CUDA_LAUNCHED();
  fetchBadValueKernel<><<<1, 1, 0, s>>>(words, indices.rawData(), int32);
  SINGA_CUDA_LAUNCHED();
  deferCheck(device, words, [d, axis, xs](int64_t, int64_t i) {
    SINGA_THROW(ValueError, "Gather: index " << i << " is out of range for axis " << axis << " of size " << d
                                             << " (input shape " << xs << "); valid indices are " << -d << " to "
                                             << d - 1);
  });
}

// The normalised index j, or -1 when it is out of range: the kernels run before the host has read
// the check's verdict, so they must not touch memory through a bad index (they write zeros / skip).
__device__ __forceinline__ int64_t indexAt(const void* idx, bool int32, int64_t j, int64_t d) {
  int64_t v = int32 ? static_cast<const int32_t*>(idx)[j] : static_cast<const int64_t*>(idx)[j];
  if (v < 0) v += d;
  return v >= 0 && v < d ? v : -1;
}

template <class W>
__global__ void gatherKernel(const W* x, const void* idx, bool int32, W* y, int64_t total, int64_t n, int64_t d,
                             int64_t inner) {
  SINGA_GRID_LOOP(t, total) {
    const int64_t k = t / inner, e = t - k * inner;
    const int64_t o = k / n, j = k - o * n;
    const int64_t r = indexAt(idx, int32, j, d);
    y[t] = r >= 0 ? x[(o * d + r) * inner + e] : W{};
  }
}

// Sort keys for GatherGrad: the normalised index of each j (d for a bad one: sorted last, skipped).
__global__ void gatherKeysKernel(const void* idx, bool int32, int64_t n, int64_t d, int64_t* keys, int64_t* order) {
  SINGA_GRID_LOOP(j, n) {
    const int64_t r = indexAt(idx, int32, j, d);
    keys[j] = r >= 0 ? r : d;
    order[j] = j;
  }
}

// With (key, j) sorted by key and then j (a stable sort of ascending j): the thread of the first
// entry of each key's run sums g over the run in ascending j, the CPU's accumulation order.
template <class T>
__global__ void gatherGradRunsKernel(const T* g, const int64_t* keys, const int64_t* order, T* dx, int64_t total,
                                     int64_t n, int64_t d, int64_t inner) {
  SINGA_GRID_LOOP(t, total) {  // t over (outer, p, inner)
    const int64_t e = t % inner, k = t / inner;
    const int64_t o = k / n, p = k - o * n;
    const int64_t r = keys[p];
    if (r >= d || (p > 0 && keys[p - 1] == r)) continue;
    T acc = T(0);
    for (int64_t q = p; q < n && keys[q] == r; ++q) acc += g[(o * n + order[q]) * inner + e];
    dx[(o * d + r) * inner + e] = acc;
  }
}

void gather(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("Gather").axis);
  int64_t outer, d, inner;
  splitAround(x.shape(), axis, outer, d, inner);
  checkIndices(indices, d, axis, x.shape());
  const int64_t n = indices.numel(), total = outer * n * inner;
  if (total == 0) return;
  const bool int32 = indices.dtype() == DType::kInt32;
  cudaStream_t s = streamFor(y);
  byWordSize(x.dtype(), [&](auto w) {
    using W = decltype(w);
    gatherKernel<W><<<blocksFor(total), kThreads, 0, s>>>(static_cast<const W*>(x.rawData()), indices.rawData(),
                                                          int32, static_cast<W*>(y.rawData()), total, n, d, inner);
  });
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void gatherGrad(KernelContext& ctx) {
  const Tensor& g = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  Tensor& dx = ctx.out(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("GatherGrad").axis);
  int64_t outer, d, inner;
  splitAround(dx.shape(), axis, outer, d, inner);
  checkIndices(indices, d, axis, dx.shape());
  dx.zero();  // rows no index names
  const int64_t n = indices.numel(), total = outer * n * inner;
  if (total == 0) return;
  const Device dev = dx.device();
  cudaStream_t s = streamFor(dx);
  Tensor keys({n}, DType::kInt64, dev), order({n}, DType::kInt64, dev);
  Tensor sortedKeys({n}, DType::kInt64, dev), sortedOrder({n}, DType::kInt64, dev);
  gatherKeysKernel<<<blocksFor(n), kThreads, 0, s>>>(indices.rawData(), indices.dtype() == DType::kInt32, n, d,
                                                     keys.data<int64_t>(), order.data<int64_t>());
  SINGA_CUDA_LAUNCHED();
  // LSD radix sort: stable, so equal keys keep ascending j. Only the bits that can differ.
  int endBit = 1;
  while (endBit < 63 && (int64_t{1} << endBit) <= d) ++endBit;
  size_t tempBytes = 0;
  SINGA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempBytes, keys.data<int64_t>(), sortedKeys.data<int64_t>(),
                                                   order.data<int64_t>(), sortedOrder.data<int64_t>(), n, 0, endBit,
                                                   s));
  Tensor temp({static_cast<int64_t>(std::max<size_t>(tempBytes, 1))}, DType::kUInt8, dev);
  SINGA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.rawData(), tempBytes, keys.data<int64_t>(),
                                                   sortedKeys.data<int64_t>(), order.data<int64_t>(),
                                                   sortedOrder.data<int64_t>(), n, 0, endBit, s));
  gatherGradRunsKernel<T><<<blocksFor(total), kThreads, 0, s>>>(g.data<T>(), sortedKeys.data<int64_t>(),
                                                                sortedOrder.data<int64_t>(), dx.data<T>(), total, n, d,
                                                                inner);
  SINGA_CUDA_LAUNCHED();
}

// ---- Pad and Tile --------------------------------------------------------------------------------

struct Dims {
  int nd = 0;
  int64_t out[kMaxDims], in[kMaxDims], inStride[kMaxDims], padBegin[kMaxDims];
};

Dims dimsOf(const Tensor& in, const Shape& out, const std::vector<int64_t>* pads, const char* op) {
  SINGA_CHECK(in.ndim() <= kMaxDims, NotSupportedError,
              op << " on CUDA supports up to " << kMaxDims << " dims, got " << in.shape());
  Dims d;
  d.nd = in.ndim();
  for (int i = 0; i < d.nd; ++i) {
    d.out[i] = out[i];
    d.in[i] = in.shape()[i];
    d.inStride[i] = in.strides()[i];
    d.padBegin[i] = pads ? (*pads)[i] : 0;
  }
  return d;
}

// Input coordinate of padded coordinate c (already shifted by the begin pad); -1 = constant.
__device__ __forceinline__ int64_t padSource(int64_t c, int64_t d, PadMode mode) {
  if (c >= 0 && c < d) return c;
  if (mode == PadMode::kConstant) return -1;
  if (mode == PadMode::kEdge) return c < 0 ? 0 : d - 1;
  if (d == 1) return 0;
  const int64_t period = 2 * (d - 1);
  c = ((c % period) + period) % period;
  return c < d ? c : period - c;
}

// Offset in the input of output element t, or -1 for the constant value (Pad).
__device__ __forceinline__ int64_t padOffset(const Dims& d, int64_t t, PadMode mode) {
  int64_t off = 0;
  for (int i = d.nd - 1; i >= 0; --i) {
    const int64_t c = padSource(t % d.out[i] - d.padBegin[i], d.in[i], mode);
    t /= d.out[i];
    if (c < 0) return -1;
    off += c * d.inStride[i];
  }
  return off;
}

template <class W>
__global__ void padKernel(const W* x, W* y, int64_t total, Dims d, PadMode mode, W value) {
  SINGA_GRID_LOOP(t, total) {
    const int64_t o = padOffset(d, t, mode);
    y[t] = o < 0 ? value : x[o];
  }
}

template <class T>
__global__ void padGradKernel(const T* g, T* dx, int64_t total, Dims d, PadMode mode) {
  // Constant mode (and crops): each input element has at most one padded position, so a plain
  // store into the zeroed dx. d.in / d.inStride describe dx; g is contiguous over d.out.
  SINGA_GRID_LOOP(t, total) {
    const int64_t o = padOffset(d, t, mode);
    if (o >= 0) dx[o] = g[t];
  }
}

// Along dim i: the first padded coordinate after `after` whose source is input coordinate c, or -1.
__device__ __forceinline__ int64_t nextPadPreimage(const Dims& d, int i, int64_t c, int64_t after, PadMode mode) {
  if (d.padBegin[i] == 0 && d.out[i] == d.in[i]) return after < c ? c : -1;  // an unpadded dim
  for (int64_t o = after + 1; o < d.out[i]; ++o) {
    if (padSource(o - d.padBegin[i], d.in[i], mode) == c) return o;
  }
  return -1;
}

// Edge and reflect modes: one thread per dx element sums g over every padded position that maps
// to it, in ascending flat order (the CPU's), with no atomics.
template <class T>
__global__ void padGradGatherKernel(const T* g, T* dx, int64_t total, Dims d, PadMode mode) {
  SINGA_GRID_LOOP(t, total) {
    int64_t c[kMaxDims], o[kMaxDims];
    int64_t rem = t, dxOff = 0;
    for (int i = d.nd - 1; i >= 0; --i) {
      c[i] = rem % d.in[i];
      rem /= d.in[i];
      dxOff += c[i] * d.inStride[i];
    }
    bool more = true;
    for (int i = 0; i < d.nd && more; ++i) {
      o[i] = nextPadPreimage(d, i, c[i], -1, mode);
      more = o[i] >= 0;
    }
    T acc = T(0);
    while (more) {
      int64_t off = 0;
      for (int i = 0; i < d.nd; ++i) off = off * d.out[i] + o[i];
      acc += g[off];
      int i = d.nd - 1;  // odometer: advance the last dim, carrying into the earlier ones
      for (; i >= 0; --i) {
        o[i] = nextPadPreimage(d, i, c[i], o[i], mode);
        if (o[i] >= 0) break;
        o[i] = nextPadPreimage(d, i, c[i], -1, mode);
      }
      more = i >= 0;
    }
    dx[dxOff] = acc;
  }
}

template <class W>
__global__ void tileKernel(const W* x, W* y, int64_t total, Dims d) {
  SINGA_GRID_LOOP(t, total) {
    int64_t rem = t, off = 0;
    for (int i = d.nd - 1; i >= 0; --i) {
      off += ((rem % d.out[i]) % d.in[i]) * d.inStride[i];
      rem /= d.out[i];
    }
    y[t] = x[off];
  }
}

void pad(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t total = y.numel();
  if (total == 0) return;
  const PadParams& params = ctx.paramsAs<PadParams>("Pad");
  const Dims d = dimsOf(x, y.shape(), &params.pads, "Pad");
  const uint64_t bits = valueBits(params.value, x.dtype());
  cudaStream_t s = streamFor(y);
  byWordSize(x.dtype(), [&](auto w) {
    using W = decltype(w);
    padKernel<W><<<blocksFor(total), kThreads, 0, s>>>(static_cast<const W*>(x.rawData()), static_cast<W*>(y.rawData()),
                                                       total, d, params.mode, static_cast<W>(bits));
  });
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void padGrad(KernelContext& ctx) {
  const Tensor& g = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const Tensor gc = contiguousCopy(g);
  if (dx.numel() == 0) return;
  const PadParams& params = ctx.paramsAs<PadParams>("PadGrad");
  const Dims d = dimsOf(dx, gc.shape(), &params.pads, "PadGrad");
  if (params.mode == PadMode::kConstant || gc.numel() == 0) {
    dx.zero();
    const int64_t total = gc.numel();
    if (total == 0) return;
    padGradKernel<T><<<blocksFor(total), kThreads, 0, streamFor(dx)>>>(gc.data<T>(), dx.data<T>(), total, d,
                                                                       params.mode);
  } else {
    const int64_t total = dx.numel();
    padGradGatherKernel<T><<<blocksFor(total), kThreads, 0, streamFor(dx)>>>(gc.data<T>(), dx.data<T>(), total, d,
                                                                             params.mode);
  }
  SINGA_CUDA_LAUNCHED();
}

void tile(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t total = y.numel();
  if (total == 0) return;
  const Dims d = dimsOf(x, y.shape(), nullptr, "Tile");
  cudaStream_t s = streamFor(y);
  byWordSize(x.dtype(), [&](auto w) {
    using W = decltype(w);
    tileKernel<W><<<blocksFor(total), kThreads, 0, s>>>(static_cast<const W*>(x.rawData()),
                                                        static_cast<W*>(y.rawData()), total, d);
  });
  SINGA_CUDA_LAUNCHED();
}

void concat(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("Concat").axis);
  int64_t col = 0;  // start of the current input along the axis
  for (const Tensor& x : ctx.inputs) {
    if (x.numel() > 0) {
      Tensor dst = makeView(out, x.shape(), out.strides(), out.offset() + col * out.strides()[axis]);
      stridedMove(x, dst);
    }
    col += x.shape()[axis];
  }
}

}  // namespace

void registerShapeKernels(KernelRegistry& r) {
  const DeviceType cuda = DeviceType::kCuda;
  r.add(OpId::kStridedCopy, cuda, kAll, [](KernelContext& ctx) { stridedMove(ctx.in(0), ctx.out(0)); });
  r.add(OpId::kConcat, cuda, kAll, concat);
  r.add(OpId::kGather, cuda, kAll, gather);
  r.add(OpId::kGatherGrad, cuda, kFloats,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_FLOAT(c.out(0).dtype(), T, gatherGrad<T>(c)); });
  r.add(OpId::kPad, cuda, kAll, pad);
  r.add(OpId::kPadGrad, cuda, kFloats,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_FLOAT(c.in(0).dtype(), T, padGrad<T>(c)); });
  r.add(OpId::kTile, cuda, kAll, tile);
}

}  // namespace singa::cuda
