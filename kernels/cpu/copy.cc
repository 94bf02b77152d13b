// Copy (strided input -> contiguous output, with dtype conversion; also Cast) and Fill.
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

}  // namespace

void registerCopyKernels(KernelRegistry& r) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                  DType::kInt16, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool, DType::kUInt16,
                  DType::kUInt32, DType::kUInt64}) {
    // The input's dtype selects the kernel; the output's dtype is the conversion target.
    r.add(OpId::kCopy, DeviceType::kCpu, t, [](KernelContext& ctx) {
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
}

}  // namespace singa::cpu
