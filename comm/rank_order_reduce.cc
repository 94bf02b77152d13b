// Rank-order reduction arithmetic (see rank_order_reduce.h): the sums every all-reduce transport
// of the MPI backend shares, so they all give the same bits.
#include "singa/comm/rank_order_reduce.h"

#include <type_traits>

namespace singa {
namespace {

template <class T> struct Accum { using type = T; };
template <> struct Accum<Half> { using type = float; };
template <> struct Accum<BFloat16> { using type = float; };
template <> struct Accum<bool> { using type = int; };

// x + y in the accumulation type (then halved for an average), as T: the two-rank reduction.
// * 0.5 is x / 2 exactly (the same correctly rounded value), and much cheaper than a division.
template <class T, bool Average>
T pairValue(T x, T y) {
  using A = typename Accum<T>::type;
  const A s = static_cast<A>(static_cast<A>(x) + static_cast<A>(y));
  if constexpr (!Average) {
    return T(s);
  } else if constexpr (std::is_floating_point_v<A>) {
    return T(s * A(0.5));
  } else {
    return T(s / A(2));
  }
}

// The running sum of srcs[0..n-1][i] in rank order, continuing `start` (or beginning with
// srcs[0]), in the accumulation type. The flat reduction (start = nullptr) and the hierarchical
// one (a node continues the previous node's running sum) share it, so they give the same bits.
template <class T>
typename Accum<T>::type runningSum(const typename Accum<T>::type* start, const char* const* srcs, int n, int64_t i) {
  using A = typename Accum<T>::type;
  int r = 0;
  A s = start != nullptr ? start[i] : static_cast<A>(reinterpret_cast<const T*>(srcs[r++])[i]);
  for (; r < n; ++r) s = static_cast<A>(s + static_cast<A>(reinterpret_cast<const T*>(srcs[r])[i]));
  return s;
}

// A finished sum as T (divided by the number of ranks for an average).
template <class T>
T finishValue(typename Accum<T>::type s, int totalRanks, bool average) {
  using A = typename Accum<T>::type;
  if (average) s = static_cast<A>(s / static_cast<A>(totalRanks));
  if constexpr (std::is_same_v<T, bool>) {
    return s != 0;
  } else {
    return T(s);
  }
}

// srcs[0][i] + srcs[1][i] + ... + srcs[n-1][i], summed in rank order (then divided by n for an
// average), as T.
template <class T>
T rankOrderValue(const char* const* srcs, int n, int64_t i, bool average) {
  return finishValue<T>(runningSum<T>(nullptr, srcs, n, i), n, average);
}

// Two-operand sums run as loops the compiler vectorises: the types whose sum needs no wider
// accumulator kept across ranks.
template <class T>
constexpr bool kPairLoop = !std::is_same_v<T, bool> && !std::is_same_v<T, Half> && !std::is_same_v<T, BFloat16>;

// dst[i] = rankOrderValue(srcs, i). The staging transports and the exchange buffers call this
// (through reduceInRankOrder), so they give the same bits.
template <class T>
void reduceInRankOrderOf(const char* const* srcs, int64_t count, int n, char* out, bool average) {
  T* __restrict dst = reinterpret_cast<T*>(out);
  // Serial on purpose: this may run on the communication thread while the compute threads
  // (OpenMP) run backward; the loop is memory-bound anyway.
  if constexpr (kPairLoop<T>) {
    if (n == 2) {  // the common case (same arithmetic, same bits)
      const T* __restrict src0 = reinterpret_cast<const T*>(srcs[0]);
      const T* __restrict src1 = reinterpret_cast<const T*>(srcs[1]);
      if (average) {
        for (int64_t i = 0; i < count; ++i) dst[i] = pairValue<T, true>(src0[i], src1[i]);
      } else {
        for (int64_t i = 0; i < count; ++i) dst[i] = pairValue<T, false>(src0[i], src1[i]);
      }
      return;
    }
  }
  for (int64_t i = 0; i < count; ++i) dst[i] = rankOrderValue<T>(srcs, n, i, average);
}

template <class T>
void accumulateOf(const char* start, const char* const* srcs, int n, int64_t count, char* acc) {
  using A = typename Accum<T>::type;
  const A* from = reinterpret_cast<const A*>(start);
  A* dst = reinterpret_cast<A*>(acc);
  for (int64_t i = 0; i < count; ++i) dst[i] = runningSum<T>(from, srcs, n, i);
}

template <class T>
void finishOf(const char* start, const char* const* srcs, int n, int64_t count, int totalRanks, bool average,
              char* out) {
  using A = typename Accum<T>::type;
  const A* from = reinterpret_cast<const A*>(start);
  T* dst = reinterpret_cast<T*>(out);
  for (int64_t i = 0; i < count; ++i) dst[i] = finishValue<T>(runningSum<T>(from, srcs, n, i), totalRanks, average);
}

#ifdef SINGA_USE_MPI

// MPI reduction op of the two-rank direct path's average: inout = (in + inout) * 0.5. With two
// ranks MPI applies it exactly once per element, giving reduceInRankOrder's bits without a
// second pass over the result (which, after Open MPI's single-copy transfer, is not in cache).
// Built for AVX-512, AVX2 and the baseline on x86-64, picked at load time (as MPI's own sums are).
#if defined(__x86_64__) && defined(__GNUC__)
#define SINGA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SINGA_CLONES
#endif
SINGA_CLONES void halfSumFloat(const float* __restrict a, float* __restrict b, int count) {
  for (int i = 0; i < count; ++i) b[i] = (a[i] + b[i]) * 0.5f;
}

SINGA_CLONES void halfSumDouble(const double* __restrict a, double* __restrict b, int count) {
  for (int i = 0; i < count; ++i) b[i] = (a[i] + b[i]) * 0.5;
}

#endif  // SINGA_USE_MPI

}  // namespace

void reduceInRankOrder(DType dtype, const char* const* srcs, int64_t count, int n, char* out, bool average) {
  SINGA_DISPATCH_ALL(dtype, T, reduceInRankOrderOf<T>(srcs, count, n, out, average));
}

size_t accumulatorSize(DType dtype) {
  size_t bytes = 0;
  SINGA_DISPATCH_ALL(dtype, T, bytes = sizeof(typename Accum<T>::type));
  return bytes;
}

void accumulateInRankOrder(DType dtype, const char* start, const char* const* srcs, int n, int64_t count, char* acc) {
  SINGA_DISPATCH_ALL(dtype, T, accumulateOf<T>(start, srcs, n, count, acc));
}

void finishInRankOrder(DType dtype, const char* start, const char* const* srcs, int n, int64_t count, int totalRanks,
                       bool average, char* out) {
  SINGA_DISPATCH_ALL(dtype, T, finishOf<T>(start, srcs, n, count, totalRanks, average, out));
}

#ifdef SINGA_USE_MPI

namespace {
// Set when averageOfTwo met a datatype it does not handle (MPI ops cannot throw); the caller of
// MPI_Allreduce turns it into a CommError.
thread_local bool averageOpMisused = false;
}  // namespace

// Registered for MPI_FLOAT and MPI_DOUBLE only (transportFor): anything else is a bug.
void averageOfTwo(void* in, void* inout, int* len, MPI_Datatype* type) {
  if (*type == MPI_FLOAT) {
    halfSumFloat(static_cast<const float*>(in), static_cast<float*>(inout), *len);
  } else if (*type == MPI_DOUBLE) {
    halfSumDouble(static_cast<const double*>(in), static_cast<double*>(inout), *len);
  } else {
    averageOpMisused = true;
  }
}

bool takeAverageOfTwoMisuse() {
  const bool misused = averageOpMisused;
  averageOpMisused = false;
  return misused;
}

#endif  // SINGA_USE_MPI

}  // namespace singa
