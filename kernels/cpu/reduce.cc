// Reductions (ReduceSum/Mean/Max/Min/Prod, ArgMax/ArgMin) and the gradient kernels of the
// non-linear ones (ReduceMaxGrad/ReduceMinGrad route the gradient to the first extremum,
// ReduceProdGrad uses prefix/suffix products so zeros in the input need no division).
//
// Every reduction splits the input's dims into kept and reduced ones (ReduceParams axes, normalised
// and sorted by the op) and coalesces adjacent dims, so the common layouts become one loop:
// reducing trailing dims walks each output's elements contiguously, and reducing leading dims
// (bias gradients, sumTo) sweeps whole rows into an accumulator row, which vectorises.
// float32 sums accumulate in double; integer sums in int64.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/strided.h"

namespace singa::cpu {
namespace {

struct Dims {
  Shape shape;
  std::vector<int64_t> strides;
};

// Drops size-1 dims and merges dims that are contiguous with respect to each other.
Dims coalesce(const Shape& shape, const std::vector<int64_t>& strides) {
  Dims d;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!d.shape.empty() && d.strides.back() == strides[i] * shape[i]) {
      d.shape.back() *= shape[i];
      d.strides.back() = strides[i];
    } else {
      d.shape.push_back(shape[i]);
      d.strides.push_back(strides[i]);
    }
  }
  return d;
}

struct ReducePlan {
  Dims kept, red;
  int64_t nOut = 1, nRed = 1;
};

ReducePlan planReduce(const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(x.ndim(), false);
  for (int64_t a : axes) reduced[a] = true;
  Shape ks, rs;
  std::vector<int64_t> kst, rst;
  for (int i = 0; i < x.ndim(); ++i) {
    (reduced[i] ? rs : ks).push_back(x.shape()[i]);
    (reduced[i] ? rst : kst).push_back(x.strides()[i]);
  }
  ReducePlan p;
  p.kept = coalesce(ks, kst);
  p.red = coalesce(rs, rst);
  p.nOut = numelOf(ks);
  p.nRed = numelOf(rs);
  return p;
}

// Calls f(offset) for every reduced element of the group starting at `base`.
template <class F>
inline void forEachReduced(const Dims& red, int64_t nRed, int64_t base, F&& f) {
  if (nRed == 0) return;
  if (red.shape.empty()) {
    if (nRed > 0) f(base);
  } else if (red.shape.size() == 1) {
    const int64_t n = red.shape[0], s = red.strides[0];
    for (int64_t k = 0; k < n; ++k) f(base + k * s);
  } else {
    forEachOffset(red.shape, red.strides, 0, nRed, [&](int64_t, int64_t o) { f(base + o); });
  }
}

// Generic reduction: acc = step(acc, x) over each group, y = finish(acc).
template <class T, class Acc, class Step, class Finish>
void reduceLoop(const Tensor& x, Tensor& y, const std::vector<int64_t>& axes, Acc init, Step step,
                Finish finish) {
  const ReducePlan p = planReduce(x, axes);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  if (p.nOut == 0) return;
  // Leading-dims case: kept dims collapse to one unit-stride run; sweep reduced rows into it.
  if (p.kept.shape.size() == 1 && p.kept.strides[0] == 1 && p.nRed > 1) {
    const int64_t n = p.kept.shape[0];
    parallelFor(n, 4096, [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(e - b, init);
      forEachReduced(p.red, p.nRed, 0, [&](int64_t o) {
        const T* row = xp + o;
        for (int64_t j = b; j < e; ++j) acc[j - b] = step(acc[j - b], row[j]);
      });
      for (int64_t j = b; j < e; ++j) yp[j] = finish(acc[j - b]);
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(p.nRed, 1));
  parallelFor(p.nOut, grain, [&](int64_t b, int64_t e) {
    forEachOffset(p.kept.shape, p.kept.strides, b, e, [&](int64_t i, int64_t base) {
      Acc acc = init;
      forEachReduced(p.red, p.nRed, base, [&](int64_t o) { acc = step(acc, xp[o]); });
      yp[i] = finish(acc);
    });
  });
}

template <class T>
inline bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// Floating sums accumulate in double. Integer sums and products wrap modulo 2^64 (then narrow to
// T, i.e. modulo 2^bits, as NumPy): accumulated in int64 an overflow was undefined behaviour (found
// by fuzz_onnx_exec).
template <class T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;

// The mean of an integer sum: signed division for signed types.
template <class T>
T integerMean(uint64_t sum, int64_t divisor) {
  if constexpr (std::is_signed_v<T>) {
    return static_cast<T>(static_cast<int64_t>(sum) / divisor);
  } else {
    return static_cast<T>(sum / static_cast<uint64_t>(divisor));
  }
}

template <class T>
void reduceSum(KernelContext& ctx, bool mean) {
  const Tensor& x = ctx.in(0);
  const auto& axes = ctx.paramsAs<ReduceParams>(mean ? "ReduceMean" : "ReduceSum").axes;
  using Acc = SumAcc<T>;
  int64_t count = 1;
  for (int64_t a : axes) count *= x.shape()[a];
  const int64_t divisor = std::max<int64_t>(count, 1);
  reduceLoop<T, Acc>(
      x, ctx.out(0), axes, Acc(0), [](Acc a, T v) { return a + static_cast<Acc>(v); },
      [&](Acc a) {
        if constexpr (std::is_floating_point_v<T>) {
          return static_cast<T>(mean ? a / static_cast<Acc>(divisor) : a);
        } else {
          return mean ? integerMean<T>(a, divisor) : static_cast<T>(a);
        }
      });
}

template <class T>
void reduceProd(KernelContext& ctx) {
  using Acc = SumAcc<T>;
  reduceLoop<T, Acc>(
      ctx.in(0), ctx.out(0), ctx.paramsAs<ReduceParams>("ReduceProd").axes, Acc(1),
      [](Acc a, T v) { return a * static_cast<Acc>(v); }, [](Acc a) { return static_cast<T>(a); });
}

template <class T>
void reduceExtreme(KernelContext& ctx, bool isMax) {
  const Tensor& x = ctx.in(0);
  const auto& axes = ctx.paramsAs<ReduceParams>(isMax ? "ReduceMax" : "ReduceMin").axes;
  for (int64_t a : axes) {
    SINGA_CHECK(x.shape()[a] > 0, ShapeError,
                (isMax ? "ReduceMax" : "ReduceMin") << ": cannot reduce the empty axis " << a << " of "
                                                    << x.shape());
  }
  // NaN propagates (the comparison picks it once seen). A row of -inf has maximum -inf (a fully
  // masked attention row), so floating types start from the infinities.
  T init = isMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  if constexpr (std::numeric_limits<T>::has_infinity) {
    init = isMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  auto fin = [](T a) { return a; };
  if (isMax) {
    reduceLoop<T, T>(x, ctx.out(0), axes, init, [](T a, T v) { return !isNan(a) && (v > a || isNan(v)) ? v : a; },
                     fin);
  } else {
    reduceLoop<T, T>(x, ctx.out(0), axes, init, [](T a, T v) { return !isNan(a) && (v < a || isNan(v)) ? v : a; },
                     fin);
  }
}

// Offset (relative to a group's base) of the first (or last) extremum of the group.
template <class T>
int64_t extremeIndex(const T* xp, const Dims& red, int64_t nRed, int64_t base, bool isMax, bool last,
                     int64_t* position) {
  int64_t best = -1, bestPos = 0, k = 0;
  T bv{};
  forEachReduced(red, nRed, base, [&](int64_t o) {
    const T v = xp[o];
    // The first NaN wins and stays; otherwise strictly better, or equal when `last`.
    const bool better = best < 0 || (!isNan(bv) && (isNan(v) || (isMax ? v > bv : v < bv) || (last && v == bv)));
    if (better) {
      best = o;
      bv = v;
      bestPos = k;
    }
    ++k;
  });
  if (position) *position = bestPos;
  return best;
}

template <class T>
void argExtreme(KernelContext& ctx, bool isMax) {
  const Tensor& x = ctx.in(0);
  const ArgReduceParams& params = ctx.paramsAs<ArgReduceParams>(isMax ? "ArgMax" : "ArgMin");
  const int64_t axis = params.axis;
  const bool last = params.selectLastIndex;
  SINGA_CHECK(x.shape()[axis] > 0, ShapeError,
              (isMax ? "ArgMax" : "ArgMin") << ": axis " << axis << " of " << x.shape() << " is empty");
  // Keep the arg axis as one (uncoalesced) dim so positions count along it.
  Shape ks;
  std::vector<int64_t> kst;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i == axis) continue;
    ks.push_back(x.shape()[i]);
    kst.push_back(x.strides()[i]);
  }
  Dims red{{x.shape()[axis]}, {x.strides()[axis]}};
  const int64_t nOut = numelOf(ks), nRed = x.shape()[axis];
  const T* xp = x.data<T>();
  int64_t* yp = ctx.out(0).data<int64_t>();
  parallelFor(nOut, std::max<int64_t>(1, 32768 / nRed), [&](int64_t b, int64_t e) {
    forEachOffset(ks, kst, b, e, [&](int64_t i, int64_t base) {
      int64_t pos = 0;
      extremeIndex(xp, red, nRed, base, isMax, last, &pos);
      yp[i] = pos;
    });
  });
}

// dx (zeroed, contiguous like x) receives gy at each group's first extremum; x contiguous.
template <class T>
void extremeGrad(KernelContext& ctx, bool isMax) {
  const Tensor& x = ctx.in(0);
  const Tensor& gy = ctx.in(1);
  Tensor& dx = ctx.out(0);
  const ReducePlan p = planReduce(x, ctx.paramsAs<ReduceParams>(isMax ? "ReduceMaxGrad" : "ReduceMinGrad").axes);
  const T* xp = x.data<T>();
  const T* gp = gy.data<T>();
  T* dp = dx.data<T>();
  parallelFor(p.nOut, std::max<int64_t>(1, 32768 / std::max<int64_t>(p.nRed, 1)), [&](int64_t b, int64_t e) {
    forEachOffset(p.kept.shape, p.kept.strides, b, e, [&](int64_t i, int64_t base) {
      const int64_t o = extremeIndex(xp, p.red, p.nRed, base, isMax, false, nullptr);
      if (o >= 0) dp[o] = gp[i];
    });
  });
}

// dx = gy * prod(others) per group, with prefix/suffix products; x and dx contiguous.
template <class T>
void prodGrad(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& gy = ctx.in(1);
  const ReducePlan p = planReduce(x, ctx.paramsAs<ReduceParams>("ReduceProdGrad").axes);
  const T* xp = x.data<T>();
  const T* gp = gy.data<T>();
  T* dp = ctx.out(0).data<T>();
  parallelFor(p.nOut, std::max<int64_t>(1, 32768 / std::max<int64_t>(p.nRed, 1)), [&](int64_t b, int64_t e) {
    std::vector<int64_t> offs(p.nRed);
    std::vector<T> suffix(p.nRed + 1);
    forEachOffset(p.kept.shape, p.kept.strides, b, e, [&](int64_t i, int64_t base) {
      int64_t k = 0;
      forEachReduced(p.red, p.nRed, base, [&](int64_t o) { offs[k++] = o; });
      suffix[p.nRed] = T(1);
      for (int64_t j = p.nRed; j-- > 0;) suffix[j] = suffix[j + 1] * xp[offs[j]];
      T prefix(1);
      for (int64_t j = 0; j < p.nRed; ++j) {
        dp[offs[j]] = gp[i] * prefix * suffix[j + 1];
        prefix *= xp[offs[j]];
      }
    });
  });
}

constexpr std::initializer_list<DType> kNumeric = {DType::kFloat32, DType::kFloat64, DType::kInt8,
                                                   DType::kInt16,   DType::kInt32,   DType::kInt64,
                                                   DType::kUInt8,   DType::kUInt16,  DType::kUInt32,
                                                   DType::kUInt64};
constexpr std::initializer_list<DType> kFloats = {DType::kFloat32, DType::kFloat64};

}  // namespace

void registerReduceKernels(KernelRegistry& r) {
  const DeviceType cpu = DeviceType::kCpu;
  r.add(OpId::kReduceSum, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, reduceSum<T>(c, false)); });
  r.add(OpId::kReduceMean, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, reduceSum<T>(c, true)); });
  r.add(OpId::kReduceProd, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, reduceProd<T>(c)); });
  r.add(OpId::kReduceMax, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, reduceExtreme<T>(c, true)); });
  r.add(OpId::kReduceMin, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, reduceExtreme<T>(c, false)); });
  r.add(OpId::kArgMax, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, argExtreme<T>(c, true)); });
  r.add(OpId::kArgMin, cpu, kNumeric,
        [](KernelContext& c) { SINGA_DISPATCH_ARITH(c.in(0).dtype(), T, argExtreme<T>(c, false)); });
  r.add(OpId::kReduceMaxGrad, cpu, kFloats,
        [](KernelContext& c) { SINGA_DISPATCH_FLOAT(c.in(0).dtype(), T, extremeGrad<T>(c, true)); });
  r.add(OpId::kReduceMinGrad, cpu, kFloats,
        [](KernelContext& c) { SINGA_DISPATCH_FLOAT(c.in(0).dtype(), T, extremeGrad<T>(c, false)); });
  r.add(OpId::kReduceProdGrad, cpu, kFloats,
        [](KernelContext& c) { SINGA_DISPATCH_FLOAT(c.in(0).dtype(), T, prodGrad<T>(c)); });
}

}  // namespace singa::cpu
