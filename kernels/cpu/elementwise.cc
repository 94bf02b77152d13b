// Broadcasting elementwise CPU kernels: arithmetic (Add Sub Mul Div Pow Max Min Mod PRelu),
// comparisons (Equal Less ... -> bool), logic (And Or Xor Not) and Where. Unary kernels live in
// elementwise_unary.cc; registerElementwiseKernels() registers both.
//
// Why the loop structure: Add/Mul dominate training, and their operands are usually either the
// same shape (residual adds, gradient accumulation), a scalar (x * 0.5), or a bias broadcast
// along rows or channels. Same-shape and scalar operands take a flat loop the compiler
// vectorises. Every other case goes through a Plan: the output's dimensions with size-1 dims
// dropped and adjacent dims merged wherever every operand's strides allow it ([N,C,H,W] +
// [1,C,1,1] becomes [N, C, H*W] with bias strides [0, 1, 0]); the innermost merged dim is then
// a contiguous or constant run for most operands and gets a specialised inner loop.
//
// Integer division and modulo by zero give 0 and INT_MIN / -1 wraps, instead of trapping: a
// kernel must never kill the process (ONNX leaves both undefined).
#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/laid_out.h"
#include "singa/kernels/cpu/strided.h"

namespace singa::cpu {

namespace {

constexpr int64_t kGrain = 32768;
constexpr DeviceType kCpu = DeviceType::kCpu;

/// Output dims after dropping size-1 dims and merging mergeable neighbours, with each of the K
/// operands' element strides per merged dim (0 where broadcast). Never empty.
template <size_t K>
struct Plan {
  Shape dims;
  std::array<std::vector<int64_t>, K> strides;
};

template <size_t K>
Plan<K> makePlan(const Shape& out, const std::array<const Tensor*, K>& ins) {
  std::array<std::vector<int64_t>, K> s;
  for (size_t k = 0; k < K; ++k) s[k] = stridesFor(*ins[k], out);
  Plan<K> p;  // built innermost-first, reversed at the end
  for (size_t i = out.size(); i-- > 0;) {
    if (out[i] == 1) continue;
    bool merge = !p.dims.empty();
    for (size_t k = 0; k < K && merge; ++k) merge = s[k][i] == p.strides[k].back() * p.dims.back();
    if (merge) {
      p.dims.back() *= out[i];
      continue;
    }
    p.dims.push_back(out[i]);
    for (size_t k = 0; k < K; ++k) p.strides[k].push_back(s[k][i]);
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t k = 0; k < K; ++k) p.strides[k].push_back(0);
  }
  std::reverse(p.dims.begin(), p.dims.end());
  for (size_t k = 0; k < K; ++k) std::reverse(p.strides[k].begin(), p.strides[k].end());
  return p;
}

/// Splits output elements [begin, end) into runs along the innermost plan dim and calls
/// seg(outIndex, length, operandOffsets, innerStrides) for each.
template <size_t K, class Seg>
void forEachSegment(const Plan<K>& p, int64_t begin, int64_t end, Seg&& seg) {
  const int nd = static_cast<int>(p.dims.size());
  const int64_t inner = p.dims[nd - 1];
  std::array<int64_t, K> off{}, step{};
  for (size_t k = 0; k < K; ++k) step[k] = p.strides[k][nd - 1];
  std::vector<int64_t> idx(nd - 1);
  int64_t rem = begin / inner, col = begin % inner;
  for (int i = nd - 2; i >= 0; --i) {
    idx[i] = rem % p.dims[i];
    rem /= p.dims[i];
    for (size_t k = 0; k < K; ++k) off[k] += idx[i] * p.strides[k][i];
  }
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = std::min(inner - col, end - pos);
    std::array<int64_t, K> o;
    for (size_t k = 0; k < K; ++k) o[k] = off[k] + col * step[k];
    seg(pos, len, o, step);
    pos += len;
    col = 0;
    for (int i = nd - 2; i >= 0; --i) {
      for (size_t k = 0; k < K; ++k) off[k] += p.strides[k][i];
      if (++idx[i] < p.dims[i]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= p.strides[k][i] * p.dims[i];
      idx[i] = 0;
    }
  }
}

/// out = f(a, b) with broadcasting; a and b share the dtype TI, out (contiguous) is TO.
template <class TI, class TO, class F>
void mapBinary(KernelContext& ctx, F f) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& out = ctx.out(0);
  if constexpr (std::is_same_v<TI, float> && std::is_same_v<TO, float>) {
    if (mapLaidOut<2>({&a, &b}, out, f)) return;  // two convolution outputs held blocked (inference)
  }
  const TI* pa = a.data<TI>();
  const TI* pb = b.data<TI>();
  TO* po = out.data<TO>();
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool aFull = a.numel() == n && a.isContiguous();
  const bool bFull = b.numel() == n && b.isContiguous();
  if (aFull && bFull) {
    parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  if (aFull && b.numel() == 1) {
    const TI s = pb[0];
    parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = f(pa[i], s);
    });
    return;
  }
  if (a.numel() == 1 && bFull) {
    const TI s = pa[0];
    parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = f(s, pb[i]);
    });
    return;
  }
  const Plan<2> plan = makePlan<2>(out.shape(), {&a, &b});
  parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
    forEachSegment(plan, lo, hi, [&](int64_t o, int64_t len, const std::array<int64_t, 2>& off,
                                     const std::array<int64_t, 2>& st) {
      TO* dst = po + o;
      const TI* x = pa + off[0];
      const TI* y = pb + off[1];
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t j = 0; j < len; ++j) dst[j] = f(x[j], y[j]);
      } else if (st[0] == 1 && st[1] == 0) {
        const TI s = *y;
        for (int64_t j = 0; j < len; ++j) dst[j] = f(x[j], s);
      } else if (st[0] == 0 && st[1] == 1) {
        const TI s = *x;
        for (int64_t j = 0; j < len; ++j) dst[j] = f(s, y[j]);
      } else {
        for (int64_t j = 0; j < len; ++j) dst[j] = f(x[j * st[0]], y[j * st[1]]);
      }
    });
  });
}

/// Not: bool -> bool, any layout.
void logicalNot(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const bool* px = x.data<bool>();
  bool* po = ctx.out(0).data<bool>();
  const int64_t n = x.numel();
  if (n == 0) return;
  const Plan<1> plan = makePlan<1>(x.shape(), {&x});
  parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
    forEachSegment(plan, lo, hi, [&](int64_t o, int64_t len, const std::array<int64_t, 1>& off,
                                     const std::array<int64_t, 1>& st) {
      for (int64_t j = 0; j < len; ++j) po[o + j] = !px[off[0] + j * st[0]];
    });
  });
}

/// Where: out = cond ? x : y, all three broadcast; T is x's (and y's) dtype.
template <class T>
void where(KernelContext& ctx) {
  const Tensor& c = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  Tensor& out = ctx.out(0);
  const bool* pc = c.data<bool>();
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.numel();
  if (n == 0) return;
  const Plan<3> plan = makePlan<3>(out.shape(), {&c, &x, &y});
  parallelFor(n, kGrain, [&](int64_t lo, int64_t hi) {
    forEachSegment(plan, lo, hi, [&](int64_t o, int64_t len, const std::array<int64_t, 3>& off,
                                     const std::array<int64_t, 3>& st) {
      for (int64_t j = 0; j < len; ++j) {
        po[o + j] = pc[off[0] + j * st[0]] ? px[off[1] + j * st[1]] : py[off[2] + j * st[2]];
      }
    });
  });
}

// ---- scalar rules -----------------------------------------------------------------------------

// Integer arithmetic wraps (two's complement, as NumPy and ONNX runtimes do) instead of
// overflowing, which C++ leaves undefined for signed types, and for uint16 too, whose operands
// promote to int (65535 * 65535 overflows; the fuzzer found it). The sum or product is taken in
// an unsigned type at least as wide as unsigned int, then narrowed.
template <class T>
using WrapType = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
T addOf(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<WrapType<T>>(a) + static_cast<WrapType<T>>(b));
  } else {
    return static_cast<T>(a + b);
  }
}

template <class T>
T subOf(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<WrapType<T>>(a) - static_cast<WrapType<T>>(b));
  } else {
    return static_cast<T>(a - b);
  }
}

template <class T>
T mulOf(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<WrapType<T>>(a) * static_cast<WrapType<T>>(b));
  } else {
    return static_cast<T>(a * b);
  }
}

template <class T>
T divOf(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      using U = std::make_unsigned_t<T>;
      if (b == T(-1)) return static_cast<T>(U(0) - static_cast<U>(a));  // wraps INT_MIN
    }
  }
  return static_cast<T>(a / b);  // integers truncate toward zero
}

/// C-style remainder (sign of the dividend): ONNX Mod with fmod=1.
template <class T>
T fmodOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::fmod(a, b);
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
    }
    return static_cast<T>(a % b);
  }
}

/// Python-style remainder (sign of the divisor): ONNX Mod with fmod=0.
template <class T>
T modOf(T a, T b) {
  T r = fmodOf(a, b);
  if constexpr (std::is_signed_v<T>) {
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
  }
  return r;
}

template <class T>
T powOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::pow(a, b);
  } else {
    if (b < T(0)) {  // |a| > 1 gives 0 in integer arithmetic
      if (a == T(1)) return T(1);
      if constexpr (std::is_signed_v<T>) {
        if (a == T(-1)) return (b % 2) ? T(-1) : T(1);
      }
      return T(0);
    }
    using U = WrapType<T>;
    U result = 1, base = static_cast<U>(a);
    for (T e = b; e > T(0); e = static_cast<T>(e / 2)) {  // wraps on overflow
      if (e % 2) result = static_cast<U>(result * base);
      base = static_cast<U>(base * base);
    }
    return static_cast<T>(result);
  }
}

// NaN-propagating max/min for floats (as numpy.maximum); plain for integers.
template <class T>
T maxOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return a + b;
  }
  return a > b ? a : b;
}

template <class T>
T minOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return a + b;
  }
  return a < b ? a : b;
}

// ---- registration helpers -------------------------------------------------------------------

/// `f` is a generic lambda (a, b) -> value of the operands' type.
template <class F>
void addArith(KernelRegistry& r, OpId op, std::initializer_list<DType> dtypes, F f) {
  r.add(op, kCpu, dtypes, [f](KernelContext& ctx) {
    SINGA_DISPATCH_ARITH(ctx.in(0).dtype(), T,
                         mapBinary<T, T>(ctx, [&](T a, T b) { return static_cast<T>(f(a, b)); }));
  });
}

/// `f` is a generic lambda (a, b) -> bool; bool operands are accepted as well.
template <class F>
void addPredicate(KernelRegistry& r, OpId op, std::initializer_list<DType> dtypes, F f) {
  r.add(op, kCpu, dtypes, [f](KernelContext& ctx) {
    const DType dt = ctx.in(0).dtype();
    if (dt == DType::kBool) {
      mapBinary<bool, bool>(ctx, [&](bool a, bool b) { return static_cast<bool>(f(a, b)); });
      return;
    }
    SINGA_DISPATCH_ARITH(dt, T, mapBinary<T, bool>(ctx, [&](T a, T b) { return static_cast<bool>(f(a, b)); }));
  });
}

}  // namespace

void registerElementwiseKernels(KernelRegistry& r) {
  registerUnaryElementwiseKernels(r);

  using DT = DType;
  const auto numeric = {DT::kFloat32, DT::kFloat64, DT::kInt8,   DT::kInt16,  DT::kInt32,
                        DT::kInt64,   DT::kUInt8,   DT::kUInt16, DT::kUInt32, DT::kUInt64};
  const auto signedNumeric = {DT::kFloat32, DT::kFloat64, DT::kInt8, DT::kInt16, DT::kInt32, DT::kInt64};

  addArith(r, OpId::kAdd, numeric, [](auto a, auto b) { return addOf(a, b); });
  addArith(r, OpId::kSub, numeric, [](auto a, auto b) { return subOf(a, b); });
  addArith(r, OpId::kMul, numeric, [](auto a, auto b) { return mulOf(a, b); });
  addArith(r, OpId::kDiv, numeric, [](auto a, auto b) { return divOf(a, b); });
  addArith(r, OpId::kPow, numeric, [](auto a, auto b) { return powOf(a, b); });
  addArith(r, OpId::kMax, numeric, [](auto a, auto b) { return maxOf(a, b); });
  addArith(r, OpId::kMin, numeric, [](auto a, auto b) { return minOf(a, b); });
  addArith(r, OpId::kPRelu, signedNumeric, [](auto x, auto slope) {
    using T = decltype(x);
    return x >= T(0) ? x : static_cast<T>(slope * x);
  });
  r.add(OpId::kMod, kCpu, numeric, [](KernelContext& ctx) {
    const bool fmod = ctx.paramsAs<ModParams>("Mod").fmod;
    SINGA_DISPATCH_ARITH(ctx.in(0).dtype(), T, {
      if (fmod) {
        mapBinary<T, T>(ctx, [](T a, T b) { return fmodOf(a, b); });
      } else {
        mapBinary<T, T>(ctx, [](T a, T b) { return modOf(a, b); });
      }
    });
  });

  const auto withBool = {DT::kFloat32, DT::kFloat64, DT::kInt8,   DT::kInt16,  DT::kInt32, DT::kInt64,
                         DT::kUInt8,   DT::kUInt16,  DT::kUInt32, DT::kUInt64, DT::kBool};
  addPredicate(r, OpId::kEqual, withBool, [](auto a, auto b) { return a == b; });
  addPredicate(r, OpId::kLess, numeric, [](auto a, auto b) { return a < b; });
  addPredicate(r, OpId::kLessOrEqual, numeric, [](auto a, auto b) { return a <= b; });
  addPredicate(r, OpId::kGreater, numeric, [](auto a, auto b) { return a > b; });
  addPredicate(r, OpId::kGreaterOrEqual, numeric, [](auto a, auto b) { return a >= b; });
  r.add(OpId::kAnd, kCpu, DT::kBool, [](KernelContext& ctx) { mapBinary<bool, bool>(ctx, [](bool a, bool b) { return a && b; }); });
  r.add(OpId::kOr, kCpu, DT::kBool, [](KernelContext& ctx) { mapBinary<bool, bool>(ctx, [](bool a, bool b) { return a || b; }); });
  r.add(OpId::kXor, kCpu, DT::kBool, [](KernelContext& ctx) { mapBinary<bool, bool>(ctx, [](bool a, bool b) { return a != b; }); });
  r.add(OpId::kNot, kCpu, DT::kBool, logicalNot);

  // Where is selected by x's dtype (the condition is always bool).
  r.add(OpId::kWhere, kCpu, withBool, [](KernelContext& ctx) {
    const DType dt = ctx.in(1).dtype();
    if (dt == DT::kBool) {
      where<bool>(ctx);
      return;
    }
    SINGA_DISPATCH_ARITH(dt, T, where<T>(ctx));
  });
}

}  // namespace singa::cpu
