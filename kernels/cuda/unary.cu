// Unary elementwise CUDA kernels (Abs ... ThresholdedRelu) and their fused gradients
// "<Op>Grad"(dy, v) -> dy * f'(v), with v the input or the output exactly as in
// kernels/cpu/elementwise_unary.cc (src/ops/elementwise.cc chooses which it passes).
//
// Why one switch kernel: ~35 forward and ~30 gradient functions would be ~130 kernel
// instantiations per architecture; a launch-uniform switch costs nothing at run time (every
// thread takes the same branch) and compiles once per dtype.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "singa/kernels/cuda/cuda_common.cuh"
#include "singa/kernels/unary_math.h"
#include "singa/ops/op_list.h"

namespace singa::cuda {
namespace {

// The float unary list of src/ops/op_list.h (math in kernels/unary_math.h), as X(Name).
#define SINGA_LIST_NAME(X, Name, function, grad, since, desc) X(Name)
#define SINGA_LIST_GRAD_NAME_Input(X, Name) X(Name)
#define SINGA_LIST_GRAD_NAME_Output(X, Name) X(Name)
#define SINGA_LIST_GRAD_NAME_None(X, Name)
#define SINGA_LIST_GRAD_NAME(X, Name, function, grad, since, desc) SINGA_LIST_GRAD_NAME_##grad(X, Name)

#define SINGA_UNARY_OPS(X)                                                                                   \
  X(Abs) X(Neg) X(Sign) X(Relu) X(Clip) X(Elu) X(Selu) X(LeakyRelu) X(HardSigmoid) X(Celu)                  \
  X(ThresholdedRelu) SINGA_FLOAT_UNARY_OPS(SINGA_LIST_NAME, X)

#define SINGA_GRAD_OPS(X)                                                                                    \
  X(Abs) X(Relu) X(Elu) X(Selu) X(LeakyRelu) X(HardSigmoid) X(Celu) X(ThresholdedRelu) X(Clip)              \
  SINGA_FLOAT_UNARY_OPS(SINGA_LIST_GRAD_NAME, X)

#define SINGA_ENUM_ENTRY(name) k##name,
enum UnaryOp : int { SINGA_UNARY_OPS(SINGA_ENUM_ENTRY) kUnaryCount };
#undef SINGA_ENUM_ENTRY

// std::max / std::min semantics (first argument kept on ties and NaN), as the CPU Clip.
using unary_math::stdMax;
using unary_math::stdMin;

template <class T>
__device__ T floatUnary(int op, T x, const UnaryParams& p, T lo, T hi) {
  const T a = static_cast<T>(p.alpha);
  switch (op) {
#define SINGA_LIST_CASE(X, Name, function, grad, since, desc) \
    case k##Name:                                             \
      return unary_math::Name::f(x);
    SINGA_FLOAT_UNARY_OPS(SINGA_LIST_CASE, )
#undef SINGA_LIST_CASE
    case kAbs: return fabs(x);
    case kNeg: return -x;
    case kSign: return static_cast<T>((T(0) < x) - (x < T(0)));
    case kRelu: return x > T(0) ? x : T(0);
    case kClip: return stdMin(stdMax(x, lo), hi);
    case kElu: return x > T(0) ? x : a * expm1(x);
    case kSelu: {
      const T g = static_cast<T>(p.gamma);
      return x > T(0) ? g * x : g * a * expm1(x);
    }
    case kLeakyRelu: return x >= T(0) ? x : a * x;
    case kHardSigmoid: return stdMin(T(1), stdMax(T(0), a * x + static_cast<T>(p.beta)));
    case kCelu: return stdMax(T(0), x) + stdMin(T(0), a * expm1(x / a));
    default: return x > a ? x : T(0);  // ThresholdedRelu
  }
}

template <class T>
__device__ T floatDerivative(int op, T v, const UnaryParams& p) {
  const T a = static_cast<T>(p.alpha);
  switch (op) {
#define SINGA_LIST_CASE(X, Name, function, grad, since, desc) \
    case k##Name:                                             \
      return unary_math::Name::d(v);
    SINGA_FLOAT_UNARY_OPS(SINGA_LIST_CASE, )
#undef SINGA_LIST_CASE
    case kAbs: return static_cast<T>((T(0) < v) - (v < T(0)));
    case kRelu: return v > T(0) ? T(1) : T(0);
    case kElu: return v > T(0) ? T(1) : a * exp(v);
    case kSelu: {
      const T g = static_cast<T>(p.gamma);
      return v > T(0) ? g : g * a * exp(v);
    }
    case kLeakyRelu: return v >= T(0) ? T(1) : a;
    case kHardSigmoid: {
      const T u = a * v + static_cast<T>(p.beta);
      return u > T(0) && u < T(1) ? a : T(0);
    }
    case kCelu: return v > T(0) ? T(1) : exp(v / a);
    case kThresholdedRelu: return v > a ? T(1) : T(0);
    default:  // Clip
      return (!p.hasLo || v >= static_cast<T>(p.lo)) && (!p.hasHi || v <= static_cast<T>(p.hi)) ? T(1) : T(0);
  }
}

template <class T>
__device__ __forceinline__ T intUnary(int op, T x, T lo, T hi) {
  switch (op) {
    case kAbs: return x < T(0) ? static_cast<T>(-x) : x;
    case kNeg: return static_cast<T>(-x);
    case kSign: return static_cast<T>((T(0) < x) - (x < T(0)));
    case kRelu: return x > T(0) ? x : T(0);
    default: return stdMin(stdMax(x, lo), hi);  // Clip
  }
}

template <class T>
__global__ void unaryKernel(const T* x, T* y, int64_t n, bool contiguous, Indexer<1> ix, int op, UnaryParams p, T lo,
                            T hi) {
  SINGA_GRID_LOOP(i, n) {
    int64_t o = i;
    if (!contiguous) {
      int64_t off[1];
      ix.offsets(i, off);
      o = off[0];
    }
    if constexpr (std::is_floating_point_v<T>) {
      y[i] = floatUnary<T>(op, x[o], p, lo, hi);
    } else {
      y[i] = intUnary<T>(op, x[o], lo, hi);
    }
  }
}

template <class T>
__global__ void gradKernel(const T* dy, const T* v, T* dx, int64_t n, bool contiguous, Indexer<2> ix, int op,
                           UnaryParams p) {
  SINGA_GRID_LOOP(i, n) {
    int64_t og = i, ov = i;
    if (!contiguous) {
      int64_t off[2];
      ix.offsets(i, off);
      og = off[0];
      ov = off[1];
    }
    dx[i] = dy[og] * floatDerivative<T>(op, v[ov], p);
  }
}

// Clip bound as T (CPU boundTo): absent bounds are +-infinity or T's limits; integer bounds are
// rounded inwards and clamped to T's range.
template <class T>
T boundTo(double v, bool given, bool low) {
  if constexpr (std::is_floating_point_v<T>) {
    const double inf = std::numeric_limits<double>::infinity();
    return static_cast<T>(given ? v : (low ? -inf : inf));
  } else {
    if (!given) return low ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    v = low ? std::ceil(v) : std::floor(v);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

// `kernel`: the op's name, for the error when its UnaryParams are missing.
template <class T>
void launchUnary(KernelContext& ctx, int op, const char* kernel) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t n = x.numel();
  if (n == 0) return;
  const UnaryParams& p = ctx.paramsAs<UnaryParams>(kernel);
  const bool contiguous = x.isContiguous();
  Indexer<1> ix;
  if (!contiguous) ix = makeIndexer<1>(x.shape(), std::array<const Tensor*, 1>{&x});
  const T lo = boundTo<T>(p.lo, p.hasLo, true), hi = boundTo<T>(p.hi, p.hasHi, false);
  unaryKernel<T><<<blocksFor(n), kThreads, 0, streamFor(y)>>>(x.data<T>(), y.data<T>(), n, contiguous, ix, op, p, lo,
                                                              hi);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void launchGrad(KernelContext& ctx, int op, const char* kernel) {
  const Tensor& dy = ctx.in(0);
  const Tensor& v = ctx.in(1);
  Tensor& dx = ctx.out(0);
  const int64_t n = dx.numel();
  if (n == 0) return;
  const UnaryParams& p = ctx.paramsAs<UnaryParams>(kernel);
  const bool contiguous = dy.isContiguous() && v.isContiguous();
  Indexer<2> ix;
  if (!contiguous) ix = makeIndexer<2>(dx.shape(), std::array<const Tensor*, 2>{&dy, &v});
  gradKernel<T><<<blocksFor(n), kThreads, 0, streamFor(dx)>>>(dy.data<T>(), v.data<T>(), dx.data<T>(), n, contiguous,
                                                              ix, op, p);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerUnaryKernels(KernelRegistry& r) {
  const auto floats = {DType::kFloat32, DType::kFloat64};
  const OpId ids[] = {
#define SINGA_NAME_ENTRY(name) OpId::k##name,
      SINGA_UNARY_OPS(SINGA_NAME_ENTRY)
#undef SINGA_NAME_ENTRY
  };
  for (int op = 0; op < kUnaryCount; ++op) {
    r.add(ids[op], DeviceType::kCuda, floats, [op, name = opName(ids[op])](KernelContext& ctx) {
      SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, launchUnary<T>(ctx, op, name));
    });
  }
  // The integer-capable ones (CPU: Abs, Neg, Sign, Relu, Clip take integers too).
  for (int op : {kAbs, kNeg, kSign, kRelu, kClip}) {
    const char* name = opName(ids[op]);
    r.add(ids[op], DeviceType::kCuda, {DType::kInt32, DType::kInt64}, [op, name](KernelContext& ctx) {
      if (ctx.in(0).dtype() == DType::kInt32) {
        launchUnary<int32_t>(ctx, op, name);
      } else {
        launchUnary<int64_t>(ctx, op, name);
      }
    });
  }
#define SINGA_GRAD_ENTRY(name)                                                                  \
  r.add(OpId::k##name##Grad, DeviceType::kCuda, floats, [](KernelContext& ctx) {                \
    SINGA_CUDA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, launchGrad<T>(ctx, k##name, #name "Grad")); \
  });
  SINGA_GRAD_OPS(SINGA_GRAD_ENTRY)
#undef SINGA_GRAD_ENTRY
}

}  // namespace singa::cuda
