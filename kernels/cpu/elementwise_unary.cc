// Unary elementwise CPU kernels (Abs ... Clip) and their fused gradient kernels ("<Op>Grad").
//
// Why fused gradients: the training loop spends real time in Relu/Sigmoid/Tanh backward; one
// pass dx = dy * f'(v) reads two arrays and writes one, where a composition of ops would make
// several temporaries. A gradient kernel takes (dy, v), where v is the op's input x or, for ops
// whose derivative is cheaper from the output (Exp, Sqrt, Sigmoid, Tanh, ...), its output y;
// src/ops/elementwise.cc knows which. Parameters (alpha, beta, gamma, Clip's bounds) are the
// op's UnaryParams (kernel_params.h), passed to the forward and the gradient kernel alike.
//
// Loops: a contiguous input takes a tight loop the compiler can vectorise; any other layout walks
// the strides (kernels/cpu/strided.h). parallelFor's grain keeps small tensors single-threaded.
// The contiguous loops are also built for AVX2 and AVX-512 (kernels/cpu/wide_isa.h; float32
// SiLU's gradient: 2.0 -> 0.6 ms per million elements with AVX-512 on an Intel Xeon).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/laid_out.h"
#include "singa/kernels/cpu/strided.h"
#include "singa/kernels/cpu/vec_math.h"
#include "singa/kernels/cpu/wide_isa.h"
#include "singa/kernels/unary_math.h"

namespace singa::cpu {

namespace {

constexpr int64_t kGrain = 32768;
constexpr DeviceType kCpu = DeviceType::kCpu;

/// Clip bound as T: absent bounds are +-infinity (floats) or T's limits (integers); integer
/// bounds past T's range clamp to its limits.
template <class T>
T boundTo(double v, bool given, bool low) {
  if constexpr (std::is_floating_point_v<T>) {
    const double inf = std::numeric_limits<double>::infinity();
    return static_cast<T>(given ? v : (low ? -inf : inf));
  } else {
    // A NaN bound clips nothing (converting NaN to an integer is undefined behaviour).
    if (!given || std::isnan(v)) return low ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    v = low ? std::ceil(v) : std::floor(v);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

// ---- the contiguous loops, one per ISA -------------------------------------------------------------

// o[i] = f(x[i]) and o[i] = f(a[i], b[i]) for i in [b, e): the same loop in three builds.
#define SINGA_MAP_LOOPS(attr, name)                                                       \
  template <class T, class F>                                                             \
  attr void name(const T* x, T* o, int64_t b, int64_t e, const F& f) {                   \
    for (int64_t i = b; i < e; ++i) o[i] = f(x[i]);                                      \
  }                                                                                       \
  template <class T, class F>                                                             \
  attr void name(const T* x, const T* y, T* o, int64_t b, int64_t e, const F& f) {       \
    for (int64_t i = b; i < e; ++i) o[i] = f(x[i], y[i]);                                \
  }
SINGA_MAP_LOOPS(, loopBaseline)
SINGA_MAP_LOOPS(SINGA_TARGET_AVX2, loopAvx2)
SINGA_MAP_LOOPS(SINGA_TARGET_AVX512, loopAvx512)
#undef SINGA_MAP_LOOPS

template <class... Args>
void loop(Isa isa, Args&&... args) {
  switch (isa) {
    case Isa::kAvx512: return loopAvx512(std::forward<Args>(args)...);
    case Isa::kAvx2: return loopAvx2(std::forward<Args>(args)...);
    case Isa::kBaseline: return loopBaseline(std::forward<Args>(args)...);
  }
}

/// out = f(x) for every element; out is contiguous, x any layout.
template <class T, class F>
void mapUnary(KernelContext& ctx, F f) {
  const Tensor& x = ctx.in(0);
  if constexpr (std::is_same_v<T, float>) {
    if (mapLaidOut<1>({&x}, ctx.out(0), f)) return;  // a convolution output held blocked (inference)
  }
  const T* px = x.data<T>();
  T* po = ctx.out(0).data<T>();
  const int64_t n = x.numel();
  if (x.isContiguous()) {
    const Isa isa = wideIsa();
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) { loop(isa, px, po, b, e, f); });
    return;
  }
  const Shape& shape = x.shape();
  const std::vector<int64_t> sx = stridesFor(x, shape);
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    forEachOffset(shape, sx, b, e, [&](int64_t i, int64_t o) { po[i] = f(px[o]); });
  });
}

/// dx = dy * d(v) for every element; dy and v have dx's shape, any layout.
template <class T, class D>
void mapGrad(KernelContext& ctx, D d) {
  const Tensor& dy = ctx.in(0);
  const Tensor& v = ctx.in(1);
  const T* pg = dy.data<T>();
  const T* pv = v.data<T>();
  T* po = ctx.out(0).data<T>();
  const int64_t n = ctx.out(0).numel();
  if (dy.isContiguous() && v.isContiguous()) {
    const Isa isa = wideIsa();
    const auto grad = [&d](T g, T vi) { return g * d(vi); };
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) { loop(isa, pg, pv, po, b, e, grad); });
    return;
  }
  const Shape& shape = ctx.out(0).shape();
  const std::vector<int64_t> sg = stridesFor(dy, shape), sv = stridesFor(v, shape);
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    forEachOffset2(shape, sg, sv, b, e,
                   [&](int64_t i, int64_t og, int64_t ov) { po[i] = pg[og] * d(pv[ov]); });
  });
}

// The float unary list's math (kernels/unary_math.h, shared with CUDA), with float32 Sigmoid and
// SiLU on the vectorisable exp of vec_math.h instead of a std::exp call per element (SiLU's
// gradient recomputes the sigmoid, so it runs as fast as the sigmoid pass it replaces).
template <class Op, class T>
T unaryF(T x) {
  return Op::f(x);
}
template <class Op, class T>
T unaryD(T v) {
  return Op::d(v);
}
template <>
float unaryF<unary_math::Sigmoid, float>(float x) {
  return sigmoidVec(x);
}
template <>
float unaryF<unary_math::Silu, float>(float x) {
  return x * sigmoidVec(x);
}
template <>
float unaryD<unary_math::Silu, float>(float x) {
  const float s = sigmoidVec(x);
  return s * (1.0f + x * (1.0f - s));
}

// Registration helpers. `f` is a generic lambda (value, const UnaryParams&) -> value; it is
// instantiated per dtype so the inner loop sees a concrete, inlinable function.
template <class F>
void addFloatUnary(KernelRegistry& r, OpId op, F f) {
  r.add(op, kCpu, {DType::kFloat32, DType::kFloat64}, [f, op](KernelContext& ctx) {
    const UnaryParams& p = ctx.paramsAs<UnaryParams>(opName(op));
    SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T,
                         mapUnary<T>(ctx, [&](T x) { return static_cast<T>(f(x, p)); }));
  });
}

template <class F>
void addGrad(KernelRegistry& r, OpId op, F d) {
  r.add(op, kCpu, {DType::kFloat32, DType::kFloat64}, [d, op](KernelContext& ctx) {
    const UnaryParams& p = ctx.paramsAs<UnaryParams>(opName(op));
    SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T,
                         mapGrad<T>(ctx, [&](T v) { return static_cast<T>(d(v, p)); }));
  });
}

/// Registers `op` for float32/64 and the given integer dtypes (f must handle both).
template <class F>
void addNumericUnary(KernelRegistry& r, OpId op, std::initializer_list<DType> ints, F f) {
  auto kernel = [f, op](KernelContext& ctx) {
    const UnaryParams& p = ctx.paramsAs<UnaryParams>(opName(op));
    SINGA_DISPATCH_NUMERIC(ctx.in(0).dtype(), T,
                           mapUnary<T>(ctx, [&](T x) { return static_cast<T>(f(x, p)); }));
  };
  r.add(op, kCpu, {DType::kFloat32, DType::kFloat64}, kernel);
  r.add(op, kCpu, ints, kernel);
}

}  // namespace

void registerUnaryElementwiseKernels(KernelRegistry& r) {
  using DT = DType;
  const auto signedInts = {DT::kInt8, DT::kInt16, DT::kInt32, DT::kInt64};
  const auto allInts = {DT::kInt8, DT::kInt16, DT::kInt32, DT::kInt64, DT::kUInt8};

  // ---- integer-capable ---------------------------------------------------------------------
  // Negation wraps (Abs and Neg of the most negative value give it back, as NumPy): -INT_MIN in
  // C++ is undefined, so it is taken in the unsigned type.
  addNumericUnary(r, OpId::kAbs, allInts, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    if constexpr (std::is_unsigned_v<T>) {
      return x;
    } else if constexpr (std::is_integral_v<T>) {
      return x < T(0) ? static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(x)) : x;
    } else {
      return x < T(0) ? static_cast<T>(-x) : x;
    }
  });
  addNumericUnary(r, OpId::kNeg, signedInts, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(x));
    } else {
      return static_cast<T>(-x);
    }
  });
  addNumericUnary(r, OpId::kSign, allInts, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    return static_cast<T>((T(0) < x) - (x < T(0)));
  });
  addNumericUnary(r, OpId::kRelu, allInts, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    return x > T(0) ? x : T(0);
  });
  // Clip converts its bounds to T once per call (clamped to T's range), not per element.
  auto clip = [](KernelContext& ctx) {
    const UnaryParams& p = ctx.paramsAs<UnaryParams>("Clip");
    SINGA_DISPATCH_NUMERIC(ctx.in(0).dtype(), T, {
      const T lo = boundTo<T>(p.lo, p.hasLo, true), hi = boundTo<T>(p.hi, p.hasHi, false);
      mapUnary<T>(ctx, [lo, hi](T x) { return std::min(std::max(x, lo), hi); });  // lo > hi gives hi
    });
  };
  r.add(OpId::kClip, kCpu, {DT::kFloat32, DT::kFloat64}, clip);
  r.add(OpId::kClip, kCpu, allInts, clip);

  // ---- float only ----------------------------------------------------------------------------
  // The float unary list (op_list.h), its math in kernels/unary_math.h: f(x), and dy * d(v) for
  // the gradient.
#define SINGA_UNARY_GRAD_KERNEL_Input(Name) \
  addGrad(r, OpId::k##Name##Grad, [](auto v, const UnaryParams&) { return unaryD<unary_math::Name>(v); });
#define SINGA_UNARY_GRAD_KERNEL_Output(Name) SINGA_UNARY_GRAD_KERNEL_Input(Name)
#define SINGA_UNARY_GRAD_KERNEL_None(Name)
#define SINGA_REGISTER_FLOAT_UNARY(A, Name, function, grad, since, desc)                        \
  addFloatUnary(r, OpId::k##Name, [](auto x, const UnaryParams&) { return unaryF<unary_math::Name>(x); }); \
  SINGA_UNARY_GRAD_KERNEL_##grad(Name)
  SINGA_FLOAT_UNARY_OPS(SINGA_REGISTER_FLOAT_UNARY, )
#undef SINGA_REGISTER_FLOAT_UNARY
#undef SINGA_UNARY_GRAD_KERNEL_Input
#undef SINGA_UNARY_GRAD_KERNEL_Output
#undef SINGA_UNARY_GRAD_KERNEL_None
  addFloatUnary(r, OpId::kElu, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x > T(0) ? x : static_cast<T>(p.alpha) * std::expm1(x);
  });
  addFloatUnary(r, OpId::kSelu, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    const T g = static_cast<T>(p.gamma), a = static_cast<T>(p.alpha);
    return x > T(0) ? g * x : g * a * std::expm1(x);
  });
  addFloatUnary(r, OpId::kLeakyRelu, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x >= T(0) ? x : static_cast<T>(p.alpha) * x;
  });
  addFloatUnary(r, OpId::kHardSigmoid, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return std::min(T(1), std::max(T(0), static_cast<T>(p.alpha) * x + static_cast<T>(p.beta)));
  });
  addFloatUnary(r, OpId::kCelu, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    const T a = static_cast<T>(p.alpha);
    return std::max(T(0), x) + std::min(T(0), a * std::expm1(x / a));
  });
  addFloatUnary(r, OpId::kThresholdedRelu, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x > static_cast<T>(p.alpha) ? x : T(0);
  });

  // ---- gradients: dx = dy * d(v); v is x unless noted ---------------------------------------
  addGrad(r, OpId::kAbsGrad, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    return static_cast<T>((T(0) < x) - (x < T(0)));
  });
  addGrad(r, OpId::kReluGrad, [](auto x, const UnaryParams&) {
    using T = decltype(x);
    return x > T(0) ? T(1) : T(0);
  });
  addGrad(r, OpId::kEluGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x > T(0) ? T(1) : static_cast<T>(p.alpha) * std::exp(x);
  });
  addGrad(r, OpId::kSeluGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    const T g = static_cast<T>(p.gamma);
    return x > T(0) ? g : g * static_cast<T>(p.alpha) * std::exp(x);
  });
  addGrad(r, OpId::kLeakyReluGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x >= T(0) ? T(1) : static_cast<T>(p.alpha);
  });
  addGrad(r, OpId::kHardSigmoidGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    const T v = static_cast<T>(p.alpha) * x + static_cast<T>(p.beta);
    return v > T(0) && v < T(1) ? static_cast<T>(p.alpha) : T(0);
  });
  addGrad(r, OpId::kCeluGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x > T(0) ? T(1) : std::exp(x / static_cast<T>(p.alpha));
  });
  addGrad(r, OpId::kThresholdedReluGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return x > static_cast<T>(p.alpha) ? T(1) : T(0);
  });
  addGrad(r, OpId::kClipGrad, [](auto x, const UnaryParams& p) {
    using T = decltype(x);
    return (!p.hasLo || x >= static_cast<T>(p.lo)) && (!p.hasHi || x <= static_cast<T>(p.hi)) ? T(1) : T(0);
  });
}

bool setWideElementwiseLoops(bool on) { return gWideLoops.exchange(on); }

const char* elementwiseLoopIsa() {
  switch (wideIsa()) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kBaseline: break;
  }
  return "baseline";
}

}  // namespace singa::cpu
