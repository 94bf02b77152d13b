// The math of the simple float unary ops (SINGA_FLOAT_UNARY_OPS in src/ops/op_list.h), written
// once for every backend: the CPU kernels (kernels/cpu/elementwise_unary.cc) and the CUDA kernels
// (kernels/cuda/unary.cu, host and device) both instantiate these. Each op Name has a struct
// with f(x), the op, and, when it has a gradient, d(v), its derivative written in v: the input x
// (gradient "from input") or the output y = f(x) ("from output"), as the list entry says; the
// gradient kernel computes dy * d(v).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define SINGA_HD __host__ __device__
#else
#define SINGA_HD
#endif
// std:: on the host (the float overloads), CUDA's math library in device code.
#if defined(__CUDA_ARCH__)
#define SINGA_MATH(fn) ::fn
#else
#define SINGA_MATH(fn) std::fn
#endif

namespace singa::unary_math {

// std::max / std::min semantics (the first argument kept on ties and NaN), usable on the device.
template <class T>
SINGA_HD inline T stdMax(T a, T b) {
  return a < b ? b : a;
}
template <class T>
SINGA_HD inline T stdMin(T a, T b) {
  return b < a ? b : a;
}

template <class T>
SINGA_HD inline T sigmoidOf(T x) {
  // Split by sign so exp never overflows.
  if (x >= T(0)) return T(1) / (T(1) + SINGA_MATH(exp)(-x));
  const T e = SINGA_MATH(exp)(x);
  return e / (T(1) + e);
}

// clang-format off
template <class T>
SINGA_HD inline T siluGradOf(T x) {
  const T s = sigmoidOf(x);
  return s * (T(1) + x * (T(1) - s));
}

#define SINGA_UNARY_MATH(Name, forward, derivative)                                     \
  struct Name {                                                                         \
    template <class T> SINGA_HD static T f(T x) { return forward; }                     \
    template <class T> SINGA_HD static T d(T v) { (void)v; return derivative; }         \
  };

SINGA_UNARY_MATH(Exp, SINGA_MATH(exp)(x), v)                                    // v = y
SINGA_UNARY_MATH(Log, SINGA_MATH(log)(x), T(1) / v)
SINGA_UNARY_MATH(Sqrt, SINGA_MATH(sqrt)(x), T(0.5) / v)                         // v = y
SINGA_UNARY_MATH(Reciprocal, T(1) / x, -v * v)                                  // v = y
SINGA_UNARY_MATH(Sin, SINGA_MATH(sin)(x), SINGA_MATH(cos)(v))
SINGA_UNARY_MATH(Cos, SINGA_MATH(cos)(x), -SINGA_MATH(sin)(v))
SINGA_UNARY_MATH(Tan, SINGA_MATH(tan)(x), T(1) + v * v)                         // v = y
SINGA_UNARY_MATH(Asin, SINGA_MATH(asin)(x), T(1) / SINGA_MATH(sqrt)(T(1) - v * v))
SINGA_UNARY_MATH(Acos, SINGA_MATH(acos)(x), T(-1) / SINGA_MATH(sqrt)(T(1) - v * v))
SINGA_UNARY_MATH(Atan, SINGA_MATH(atan)(x), T(1) / (T(1) + v * v))
SINGA_UNARY_MATH(Sinh, SINGA_MATH(sinh)(x), SINGA_MATH(cosh)(v))
SINGA_UNARY_MATH(Cosh, SINGA_MATH(cosh)(x), SINGA_MATH(sinh)(v))
SINGA_UNARY_MATH(Tanh, SINGA_MATH(tanh)(x), T(1) - v * v)                       // v = y
SINGA_UNARY_MATH(Asinh, SINGA_MATH(asinh)(x), T(1) / SINGA_MATH(sqrt)(v * v + T(1)))
SINGA_UNARY_MATH(Acosh, SINGA_MATH(acosh)(x), T(1) / SINGA_MATH(sqrt)(v * v - T(1)))
SINGA_UNARY_MATH(Atanh, SINGA_MATH(atanh)(x), T(1) / (T(1) - v * v))
SINGA_UNARY_MATH(Erf, SINGA_MATH(erf)(x), static_cast<T>(1.1283791670955126) * SINGA_MATH(exp)(-v * v))  // 2/sqrt(pi)
SINGA_UNARY_MATH(Floor, SINGA_MATH(floor)(x), T(0))
SINGA_UNARY_MATH(Ceil, SINGA_MATH(ceil)(x), T(0))
// nearbyint (rint) in the default rounding mode rounds half to even, as ONNX Round.
SINGA_UNARY_MATH(Round, SINGA_MATH(nearbyint)(x), T(0))
SINGA_UNARY_MATH(Sigmoid, sigmoidOf(x), v * (T(1) - v))                         // v = y
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for large |x|.
SINGA_UNARY_MATH(Softplus, stdMax(x, T(0)) + SINGA_MATH(log1p)(SINGA_MATH(exp)(-SINGA_MATH(fabs)(x))),
                 sigmoidOf(v))
SINGA_UNARY_MATH(Softsign, x / (T(1) + SINGA_MATH(fabs)(x)),
                 T(1) / ((T(1) + SINGA_MATH(fabs)(v)) * (T(1) + SINGA_MATH(fabs)(v))))
// SiLU: x * s with s = sigmoid(x); d/dx = s * (1 + x * (1 - s)), s computed once.
SINGA_UNARY_MATH(Silu, x * sigmoidOf(x), siluGradOf(v))
SINGA_UNARY_MATH(HardSwish, x * stdMin(T(1), stdMax(T(0), x / T(6) + T(0.5))),
                 v <= T(-3) ? T(0) : (v >= T(3) ? T(1) : v / T(3) + T(0.5)))
// clang-format on
#undef SINGA_UNARY_MATH

}  // namespace singa::unary_math
