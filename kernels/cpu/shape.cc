// Data-movement kernels: StridedCopy (write into a strided view: the Slice gradient), Concat,
// Gather and its scatter-add gradient, Pad (constant/reflect/edge; negative pads crop) and its
// gradient for reflect/edge, and Tile. Pure movement works on every dtype, Concat and Gather
// byte-wise by element size; gradients are float32/float64.
#include <algorithm>
#include <cstring>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/float_to_int.h"
#include "singa/kernels/cpu/strided.h"

namespace singa::cpu {
namespace {

const std::initializer_list<DType> kAll = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                           DType::kInt8,    DType::kInt16,   DType::kInt32,   DType::kInt64,
                                           DType::kUInt8,   DType::kBool,    DType::kUInt16,  DType::kUInt32,
                                           DType::kUInt64};
const std::initializer_list<DType> kFloats = {DType::kFloat32, DType::kFloat64};

template <class T>
T fromDouble(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_integral_v<T>) {
    return floatToInt<T>(v);  // a model's Pad value of -1.56 for uint8 (static_cast: undefined)
  } else {
    return static_cast<T>(v);
  }
}

// Integer indices of a contiguous int32/int64 tensor as int64.
std::vector<int64_t> readIndices(const Tensor& idx) {
  std::vector<int64_t> v(idx.numel());
  if (idx.dtype() == DType::kInt32) {
    const int32_t* p = idx.data<int32_t>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    const int64_t* p = idx.data<int64_t>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  }
  return v;
}

// x viewed as [outer, d, inner] around `axis`.
void splitAround(const Shape& s, int axis, int64_t& outer, int64_t& d, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  d = s[axis];
  for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
}

void stridedCopy(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  Tensor& out = ctx.out(0);
  const Shape& shape = out.shape();
  const std::vector<int64_t> sin = stridesFor(in, shape);
  SINGA_DISPATCH_ALL(out.dtype(), T, {
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    parallelFor(out.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      forEachOffset2(shape, sin, out.strides(), b, e, [&](int64_t, int64_t oi, int64_t oo) { dst[oo] = src[oi]; });
    });
  });
}

void concatKernel(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("Concat").axis);
  const size_t es = dtypeSize(out.dtype());
  int64_t outer, dOut, inner;
  splitAround(out.shape(), axis, outer, dOut, inner);
  const int64_t rowBytes = dOut * inner * static_cast<int64_t>(es);
  char* dst = static_cast<char*>(out.rawData());
  int64_t col = 0;  // byte offset of the current input within an output row
  for (const Tensor& x : ctx.inputs) {
    const int64_t chunk = x.shape()[axis] * inner * static_cast<int64_t>(es);
    const char* src = static_cast<const char*>(x.rawData());
    if (chunk > 0) {
      parallelFor(outer, std::max<int64_t>(1, (1 << 16) / chunk), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) std::memcpy(dst + o * rowBytes + col, src + o * chunk, chunk);
      });
    }
    col += chunk;
  }
}

// Validated, non-negative indices along an axis of size d.
std::vector<int64_t> normalizedIndices(const Tensor& idx, int64_t d, int axis, const Shape& xs) {
  std::vector<int64_t> v = readIndices(idx);
  for (int64_t& i : v) {
    SINGA_CHECK(i >= -d && i < d, ValueError,
                "Gather: index " << i << " is out of range for axis " << axis << " of size " << d << " (input shape "
                                 << xs << "); valid indices are " << -d << " to " << d - 1);
    if (i < 0) i += d;
  }
  return v;
}

void gatherKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("Gather").axis);
  int64_t outer, d, inner;
  splitAround(x.shape(), axis, outer, d, inner);
  const std::vector<int64_t> idx = normalizedIndices(ctx.in(1), d, axis, x.shape());
  const int64_t n = static_cast<int64_t>(idx.size());
  const int64_t bytes = inner * static_cast<int64_t>(dtypeSize(x.dtype()));
  const char* src = static_cast<const char*>(x.rawData());
  char* dst = static_cast<char*>(ctx.out(0).rawData());
  if (bytes == 0) return;
  parallelFor(outer * n, std::max<int64_t>(1, (1 << 16) / bytes), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t o = k / n, j = k % n;
      std::memcpy(dst + k * bytes, src + (o * d + idx[j]) * bytes, bytes);
    }
  });
}

template <class T>
void gatherGrad(KernelContext& ctx) {
  const Tensor& g = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const int axis = static_cast<int>(ctx.paramsAs<AxisParams>("GatherGrad").axis);
  int64_t outer, d, inner;
  splitAround(dx.shape(), axis, outer, d, inner);
  const std::vector<int64_t> idx = normalizedIndices(ctx.in(1), d, axis, dx.shape());
  const int64_t n = static_cast<int64_t>(idx.size());
  const T* gp = g.data<T>();
  T* dp = dx.data<T>();
  // Rows of one `o` only touch dx[o], so outer iterations never collide.
  parallelFor(outer, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(n * inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      for (int64_t j = 0; j < n; ++j) {
        const T* src = gp + (o * n + j) * inner;
        T* dst = dp + (o * d + idx[j]) * inner;
        for (int64_t k = 0; k < inner; ++k) dst[k] += src[k];
      }
    }
  });
}

// Input coordinate of padded coordinate c (c already shifted by the begin pad); -1 = constant.
inline int64_t padSource(int64_t c, int64_t d, PadMode mode) {
  if (c >= 0 && c < d) return c;
  if (mode == PadMode::kConstant) return -1;
  if (mode == PadMode::kEdge) return std::clamp<int64_t>(c, 0, d - 1);
  if (d == 1) return 0;
  const int64_t period = 2 * (d - 1);
  c = ((c % period) + period) % period;
  return c < d ? c : period - c;
}

template <class T>
void padKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const PadParams& params = ctx.paramsAs<PadParams>("Pad");
  const auto& pads = params.pads;
  const PadMode mode = params.mode;
  const T value = fromDouble<T>(params.value);
  const int r = x.ndim();
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  if (r == 0) {
    yp[0] = xp[0];
    return;
  }
  const Shape& os = y.shape();
  const int64_t w = os[r - 1], dl = x.shape()[r - 1], bl = pads[r - 1], sl = x.strides()[r - 1];
  const int64_t rows = w == 0 ? 0 : y.numel() / w;
  parallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(w, 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      T* dst = yp + row * w;
      int64_t rem = row, off = 0;
      bool constantRow = false;
      for (int i = r - 2; i >= 0; --i) {
        const int64_t c = padSource(rem % os[i] - pads[i], x.shape()[i], mode);
        rem /= os[i];
        if (c < 0) {
          constantRow = true;
          break;
        }
        off += c * x.strides()[i];
      }
      for (int64_t j = 0; j < w; ++j) {
        const int64_t c = constantRow ? -1 : padSource(j - bl, dl, mode);
        dst[j] = c < 0 ? value : xp[off + c * sl];
      }
    }
  });
}

// dx[src(i)] += g[i] for reflect/edge padding (serial: several outputs share a source).
template <class T>
void padGrad(KernelContext& ctx) {
  const Tensor& g = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const PadParams& params = ctx.paramsAs<PadParams>("PadGrad");
  const auto& pads = params.pads;
  const PadMode mode = params.mode;
  const int r = dx.ndim();
  const Shape& gs = g.shape();
  const std::vector<int64_t> gst = stridesFor(g, gs);
  const std::vector<int64_t> dst = contiguousStrides(dx.shape());
  const T* gp = g.data<T>();
  T* dp = dx.data<T>();
  if (g.numel() == 0) return;
  forEachOffset(gs, gst, 0, g.numel(), [&](int64_t flat, int64_t goff) {
    int64_t rem = flat, off = 0;
    for (int i = r - 1; i >= 0; --i) {
      const int64_t c = padSource(rem % gs[i] - pads[i], dx.shape()[i], mode);
      rem /= gs[i];
      if (c < 0) return;
      off += c * dst[i];
    }
    dp[off] += gp[goff];
  });
}

template <class T>
void tileKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int r = x.ndim();
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  if (r == 0) {
    yp[0] = xp[0];
    return;
  }
  const Shape& os = y.shape();
  const int64_t w = os[r - 1], dl = x.shape()[r - 1], sl = x.strides()[r - 1];
  const int64_t rows = w == 0 ? 0 : y.numel() / w;
  parallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(w, 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, off = 0;
      for (int i = r - 2; i >= 0; --i) {
        off += ((rem % os[i]) % x.shape()[i]) * x.strides()[i];
        rem /= os[i];
      }
      T* dst = yp + row * w;
      for (int64_t j = 0, c = 0; j < w; ++j) {
        dst[j] = xp[off + c * sl];
        if (++c == dl) c = 0;
      }
    }
  });
}

}  // namespace

void registerShapeKernels(KernelRegistry& r) {
  const DeviceType cpu = DeviceType::kCpu;
  r.add(OpId::kStridedCopy, cpu, kAll, stridedCopy);
  r.add(OpId::kConcat, cpu, kAll, concatKernel);
  r.add(OpId::kGather, cpu, kAll, gatherKernel);
  r.add(OpId::kGatherGrad, cpu, kFloats,
        [](KernelContext& c) { SINGA_DISPATCH_FLOAT(c.out(0).dtype(), T, gatherGrad<T>(c)); });
  r.add(OpId::kPad, cpu, kAll, [](KernelContext& c) { SINGA_DISPATCH_ALL(c.in(0).dtype(), T, padKernel<T>(c)); });
  r.add(OpId::kPadGrad, cpu, kFloats, [](KernelContext& c) { SINGA_DISPATCH_FLOAT(c.in(0).dtype(), T, padGrad<T>(c)); });
  r.add(OpId::kTile, cpu, kAll, [](KernelContext& c) { SINGA_DISPATCH_ALL(c.in(0).dtype(), T, tileKernel<T>(c)); });
}

}  // namespace singa::cpu
