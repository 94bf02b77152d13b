// Broadcasting elementwise CUDA kernels: arithmetic (Add Sub Mul Div Pow Max Min Mod PRelu),
// comparisons (-> bool), logic (And Or Xor Not) and Where. Same semantics as
// kernels/cpu/elementwise.cc, including its integer rules (division and modulo by zero give 0,
// INT_MIN / -1 wraps) and NaN-propagating Max/Min.
//
// One kernel per (operand type, family) with the op chosen by a launch-uniform switch keeps the
// instantiation count (and nvcc time) small. Same-shape contiguous operands and scalar operands
// take flat paths; everything else goes through the coalesced Indexer.
#include <type_traits>

#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

enum ArithOp : int { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kPRelu, kMod, kFmod };
enum PredOp : int { kEqual, kLess, kLessEq, kGreater, kGreaterEq, kAnd, kOr, kXor };

template <class T>
__device__ __forceinline__ T divOf(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      using U = std::make_unsigned_t<T>;
      if (b == T(-1)) return static_cast<T>(U(0) - static_cast<U>(a));
    }
  }
  return static_cast<T>(a / b);
}

template <class T>
__device__ __forceinline__ T fmodOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return fmod(a, b);
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
    }
    return static_cast<T>(a % b);
  }
}

template <class T>
__device__ __forceinline__ T modOf(T a, T b) {
  T r = fmodOf(a, b);
  if constexpr (std::is_signed_v<T>) {
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
  }
  return r;
}

template <class T>
__device__ __forceinline__ T powOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return pow(a, b);
  } else {
    if (b < T(0)) {
      if (a == T(1)) return T(1);
      if (a == T(-1)) return (b % 2) ? T(-1) : T(1);
      return T(0);
    }
    using U = std::make_unsigned_t<T>;
    U result = 1, base = static_cast<U>(a);
    for (T e = b; e > T(0); e = static_cast<T>(e / 2)) {
      if (e % 2) result = static_cast<U>(result * base);
      base = static_cast<U>(base * base);
    }
    return static_cast<T>(result);
  }
}

template <class T>
__device__ __forceinline__ bool nanOf(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return isnan(v);
  } else {
    return false;
  }
}

template <class T>
struct Arith {
  int op;
  __device__ __forceinline__ T operator()(T a, T b) const {
    switch (op) {
      case kAdd: return a + b;
      case kSub: return a - b;
      case kMul: return a * b;
      case kDiv: return divOf(a, b);
      case kPow: return powOf(a, b);
      case kMax: return nanOf(a) || nanOf(b) ? a + b : (a > b ? a : b);
      case kMin: return nanOf(a) || nanOf(b) ? a + b : (a < b ? a : b);
      case kPRelu: return a >= T(0) ? a : static_cast<T>(b * a);
      case kMod: return modOf(a, b);
      default: return fmodOf(a, b);
    }
  }
};

template <class T>
struct Pred {
  int op;
  __device__ __forceinline__ bool operator()(T a, T b) const {
    switch (op) {
      case kEqual: return a == b;
      case kLess: return a < b;
      case kLessEq: return a <= b;
      case kGreater: return a > b;
      case kGreaterEq: return a >= b;
      case kAnd: return a && b;
      case kOr: return a || b;
      default: return static_cast<bool>(a) != static_cast<bool>(b);
    }
  }
};

enum Layout : int { kBothFull, kScalarB, kScalarA, kGeneral };

template <class TI, class TO, class F>
__global__ void binaryKernel(const TI* a, const TI* b, TO* out, int64_t n, int layout, Indexer<2> ix, F f) {
  SINGA_GRID_LOOP(i, n) {
    switch (layout) {
      case kBothFull: out[i] = f(a[i], b[i]); break;
      case kScalarB: out[i] = f(a[i], b[0]); break;
      case kScalarA: out[i] = f(a[0], b[i]); break;
      default: {
        int64_t o[2];
        ix.offsets(i, o);
        out[i] = f(a[o[0]], b[o[1]]);
      }
    }
  }
}

template <class TI, class TO, class F>
void launchBinary(KernelContext& ctx, F f) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& out = ctx.out(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool aFull = a.numel() == n && a.isContiguous(), bFull = b.numel() == n && b.isContiguous();
  int layout = kGeneral;
  Indexer<2> ix;
  if (aFull && bFull) {
    layout = kBothFull;
  } else if (aFull && b.numel() == 1) {
    layout = kScalarB;
  } else if (a.numel() == 1 && bFull) {
    layout = kScalarA;
  } else {
    ix = makeIndexer<2>(out.shape(), std::array<const Tensor*, 2>{&a, &b});
  }
  cudaStream_t s = streamFor(out);
  binaryKernel<TI, TO, F><<<blocksFor(n), kThreads, 0, s>>>(a.data<TI>(), b.data<TI>(), out.data<TO>(), n, layout,
                                                            ix, f);
  SINGA_CUDA_LAUNCHED();
}

void addArith(KernelRegistry& r, OpId name, int op) {
  r.add(name, DeviceType::kCuda, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64},
        [op](KernelContext& ctx) {
          int code = op;
          if (op == kMod && ctx.paramsAs<ModParams>("Mod").fmod) code = kFmod;
          SINGA_CUDA_DISPATCH_ARITH(ctx.in(0).dtype(), T, launchBinary<T, T>(ctx, Arith<T>{code}));
        });
}

void predicate(KernelContext& ctx, int op) {
  switch (ctx.in(0).dtype()) {
    case DType::kBool: launchBinary<bool, bool>(ctx, Pred<bool>{op}); break;
    case DType::kUInt8: launchBinary<uint8_t, bool>(ctx, Pred<uint8_t>{op}); break;
    default: SINGA_CUDA_DISPATCH_ARITH(ctx.in(0).dtype(), T, launchBinary<T, bool>(ctx, Pred<T>{op}));
  }
}

__global__ void notKernel(const bool* x, bool* out, int64_t n, Indexer<1> ix) {
  SINGA_GRID_LOOP(i, n) {
    int64_t o[1];
    ix.offsets(i, o);
    out[i] = !x[o[0]];
  }
}

template <class W>
__global__ void whereKernel(const bool* c, const W* x, const W* y, W* out, int64_t n, Indexer<3> ix) {
  SINGA_GRID_LOOP(i, n) {
    int64_t o[3];
    ix.offsets(i, o);
    out[i] = c[o[0]] ? x[o[1]] : y[o[2]];
  }
}

template <class W>
void launchWhere(KernelContext& ctx) {
  Tensor& out = ctx.out(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  const Indexer<3> ix = makeIndexer<3>(out.shape(), std::array<const Tensor*, 3>{&ctx.in(0), &ctx.in(1), &ctx.in(2)});
  cudaStream_t s = streamFor(out);
  whereKernel<W><<<blocksFor(n), kThreads, 0, s>>>(ctx.in(0).data<bool>(), static_cast<const W*>(ctx.in(1).rawData()),
                                                   static_cast<const W*>(ctx.in(2).rawData()),
                                                   static_cast<W*>(out.rawData()), n, ix);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerElementwiseKernels(KernelRegistry& r) {
  registerUnaryKernels(r);
  addArith(r, OpId::kAdd, kAdd);
  addArith(r, OpId::kSub, kSub);
  addArith(r, OpId::kMul, kMul);
  addArith(r, OpId::kDiv, kDiv);
  addArith(r, OpId::kPow, kPow);
  addArith(r, OpId::kMax, kMax);
  addArith(r, OpId::kMin, kMin);
  addArith(r, OpId::kMod, kMod);
  r.add(OpId::kPRelu, DeviceType::kCuda, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64},
        [](KernelContext& ctx) {
          SINGA_CUDA_DISPATCH_ARITH(ctx.in(0).dtype(), T, launchBinary<T, T>(ctx, Arith<T>{kPRelu}));
        });

  const auto cmpTypes = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kUInt8};
  const std::pair<OpId, int> preds[] = {{OpId::kLess, kLess},
                                       {OpId::kLessOrEqual, kLessEq},
                                       {OpId::kGreater, kGreater},
                                       {OpId::kGreaterOrEqual, kGreaterEq}};
  for (const auto& [name, op] : preds) {
    r.add(name, DeviceType::kCuda, cmpTypes, [op = op](KernelContext& ctx) { predicate(ctx, op); });
  }
  r.add(OpId::kEqual, DeviceType::kCuda, cmpTypes, [](KernelContext& ctx) { predicate(ctx, kEqual); });
  r.add(OpId::kEqual, DeviceType::kCuda, DType::kBool, [](KernelContext& ctx) { predicate(ctx, kEqual); });
  r.add(OpId::kAnd, DeviceType::kCuda, DType::kBool, [](KernelContext& ctx) { predicate(ctx, kAnd); });
  r.add(OpId::kOr, DeviceType::kCuda, DType::kBool, [](KernelContext& ctx) { predicate(ctx, kOr); });
  r.add(OpId::kXor, DeviceType::kCuda, DType::kBool, [](KernelContext& ctx) { predicate(ctx, kXor); });
  r.add(OpId::kNot, DeviceType::kCuda, DType::kBool, [](KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    Tensor& out = ctx.out(0);
    const int64_t n = x.numel();
    if (n == 0) return;
    const Indexer<1> ix = makeIndexer<1>(x.shape(), std::array<const Tensor*, 1>{&x});
    notKernel<<<blocksFor(n), kThreads, 0, streamFor(out)>>>(x.data<bool>(), out.data<bool>(), n, ix);
    SINGA_CUDA_LAUNCHED();
  });

  // Where is selected by x's dtype (the condition is always bool); it only moves elements.
  r.add(OpId::kWhere, DeviceType::kCuda,
        {DType::kFloat32, DType::kFloat64, DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64, DType::kUInt8,
         DType::kBool},
        [](KernelContext& ctx) {
          switch (dtypeSize(ctx.in(1).dtype())) {
            case 1: launchWhere<uint8_t>(ctx); break;
            case 2: launchWhere<uint16_t>(ctx); break;
            case 4: launchWhere<uint32_t>(ctx); break;
            default: launchWhere<uint64_t>(ctx); break;
          }
        });
}

}  // namespace singa::cuda
