// Copy (strided input -> contiguous output, with dtype conversion; also Cast) and Fill.
#include <cstring>
#include <variant>

#include "singa/core/narrow_types.h"
#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/strided.h"
#include "singa/kernels/float_to_int.h"

namespace singa::cpu {
namespace {

template <class Src, class Dst>
Dst convert(Src v) {
  if constexpr (std::is_same_v<Dst, bool>) {
    return static_cast<float>(v) != 0.0f;
  } else if constexpr (std::is_same_v<Dst, Half> || std::is_same_v<Dst, BFloat16>) {
    return Dst(static_cast<float>(v));
  } else if constexpr (std::is_same_v<Src, Half> || std::is_same_v<Src, BFloat16>) {
    return convert<float, Dst>(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<Src> && std::is_integral_v<Dst>) {
    return floatToInt<Dst>(v);
  } else {
    return static_cast<Dst>(v);
  }
}

template <class Src>
void copyFrom(const Tensor& in, Tensor& out) {
  const Src* src = in.data<Src>();
  const int64_t n = in.numel();
  const Shape& shape = in.shape();
  const bool contiguous = in.isContiguous();
  std::vector<int64_t> strides = stridesFor(in, shape);
  SINGA_DISPATCH_ALL(out.dtype(), Dst, {
    Dst* dst = out.data<Dst>();
    parallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
      if (contiguous) {
        for (int64_t i = b; i < e; ++i) dst[i] = convert<Src, Dst>(src[i]);
      } else {
        forEachOffset(shape, strides, b, e, [&](int64_t i, int64_t o) { dst[i] = convert<Src, Dst>(src[o]); });
      }
    });
  });
}

// One element on its way between a narrow storage type and any other: integers travel as int64
// (so int64 -> int4 wraps the exact value), everything else as double (exact for every float
// format here; a float16 or float32 source rounds once, at the narrow target).
struct Wide {
  double d = 0;
  int64_t i = 0;
  bool isInt = false;
};

template <class S>
Wide wideOf(S v) {
  Wide w;
  if constexpr (std::is_integral_v<S>) {
    w.isInt = true;
    w.i = static_cast<int64_t>(v);
    w.d = static_cast<double>(v);
  } else if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>) {
    w.d = static_cast<double>(static_cast<float>(v));
  } else {
    w.d = static_cast<double>(v);
  }
  return w;
}

Wide wideOfNarrow(DType t, uint8_t byte) {
  Wide w;
  if (narrow::isNarrowInt(t)) {
    w.isInt = true;
    w.i = narrow::intValue(t, byte);
    w.d = static_cast<double>(w.i);
  } else {
    w.d = narrow::floatValue(t, byte);
  }
  return w;
}

uint8_t narrowOf(DType t, const Wide& w, const CastParams& p) {
  if (narrow::isNarrowInt(t)) return narrow::wrapInt(t, w.isInt ? w.i : floatToInt<int64_t>(w.d));
  return narrow::floatByte(t, w.d, p.saturate, static_cast<narrow::E8M0Rounding>(p.e8m0Rounding));
}

template <class D>
D regularOf(const Wide& w) {
  return w.isInt ? convert<int64_t, D>(w.i) : convert<double, D>(w.d);
}

// Copy/Cast where the input or the output is a narrow storage type (core/narrow_types.h).
void copyNarrow(const Tensor& in, Tensor& out, const CastParams& p) {
  const int64_t n = in.numel();
  const Shape& shape = in.shape();
  const bool contiguous = in.isContiguous();
  std::vector<int64_t> strides = stridesFor(in, shape);
  auto each = [&](auto&& fn) {
    parallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
      if (contiguous) {
        for (int64_t i = b; i < e; ++i) fn(i, i);
      } else {
        forEachOffset(shape, strides, b, e, [&](int64_t i, int64_t o) { fn(i, o); });
      }
    });
  };
  const DType from = in.dtype(), to = out.dtype();
  void* const dst = out.rawData();  // once: each call counts as a write (Storage::version)
  auto store = [&](int64_t i, const Wide& w) {
    if (isNarrow(to)) {
      static_cast<uint8_t*>(dst)[i] = narrowOf(to, w, p);
    } else {
      SINGA_DISPATCH_ALL(to, D, static_cast<D*>(dst)[i] = regularOf<D>(w));
    }
  };
  if (isNarrow(from)) {
    const uint8_t* src = static_cast<const uint8_t*>(in.rawData());
    each([&](int64_t i, int64_t o) { store(i, wideOfNarrow(from, src[o])); });
  } else {
    SINGA_DISPATCH_ALL(from, S, {
      const S* src = in.data<S>();
      each([&](int64_t i, int64_t o) { store(i, wideOf(src[o])); });
    });
  }
}

}  // namespace

void registerCopyKernels(KernelRegistry& r) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                  DType::kInt16, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool, DType::kUInt16,
                  DType::kUInt32, DType::kUInt64}) {
    // The input's dtype selects the kernel; the output's dtype is the conversion target.
    r.add(OpId::kCopy, DeviceType::kCpu, t, [](KernelContext& ctx) {
      if (isNarrow(ctx.out(0).dtype())) {
        const CastParams* p = ctx.params != nullptr ? std::get_if<CastParams>(ctx.params) : nullptr;
        copyNarrow(ctx.in(0), ctx.out(0), p != nullptr ? *p : CastParams{});
        return;
      }
      SINGA_DISPATCH_ALL(ctx.in(0).dtype(), Src, copyFrom<Src>(ctx.in(0), ctx.out(0)));
    });
    r.add(OpId::kFill, DeviceType::kCpu, t, [](KernelContext& ctx) {
      Tensor& out = ctx.out(0);
      SINGA_CHECK(out.isContiguous(), ValueError, "Fill: output must be contiguous");
      const double v = ctx.paramsAs<FillParams>("Fill").value;
      SINGA_DISPATCH_ALL(out.dtype(), T, {
        T* p = out.data<T>();
        const T tv = convert<double, T>(v);
        const int64_t n = out.numel();
        for (int64_t i = 0; i < n; ++i) p[i] = tv;
      });
    });
  }
  // The narrow storage types: copies and casts only (their Fill is refused: no kernel).
  for (DType t : {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ,
                  DType::kFloat8E8M0, DType::kFloat4E2M1, DType::kInt4, DType::kUInt4, DType::kInt2, DType::kUInt2}) {
    r.add(OpId::kCopy, DeviceType::kCpu, t, [](KernelContext& ctx) {
      const CastParams* p = ctx.params != nullptr ? std::get_if<CastParams>(ctx.params) : nullptr;
      if (ctx.in(0).dtype() == ctx.out(0).dtype()) {
        // Same type: the bytes as they are (no rounding of NaN patterns).
        const Tensor& in = ctx.in(0);
        const uint8_t* src = static_cast<const uint8_t*>(in.rawData());
        uint8_t* dst = static_cast<uint8_t*>(ctx.out(0).rawData());
        const std::vector<int64_t> strides = stridesFor(in, in.shape());
        if (in.isContiguous()) {
          std::memcpy(dst, src, static_cast<size_t>(in.numel()));
        } else {
          forEachOffset(in.shape(), strides, 0, in.numel(), [&](int64_t i, int64_t o) { dst[i] = src[o]; });
        }
        return;
      }
      copyNarrow(ctx.in(0), ctx.out(0), p != nullptr ? *p : CastParams{});
    });
  }
}

}  // namespace singa::cpu
