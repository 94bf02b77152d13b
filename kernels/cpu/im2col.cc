// im2col / col2im over three spatial dims, window geometry and plans, scratch buffers and the
// BLAS wrappers used by the convolution kernels (see im2col.h for the column layout).
#include "singa/kernels/cpu/im2col.h"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <cstring>
#include <memory>

#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/core/shape.h"
#include "singa/core/parallel.h"

namespace singa::cpu {
namespace {

template <class F>
void runRange(int64_t n, int64_t grain, bool parallel, F&& f) {
  if (parallel) {
    parallelFor(n, grain, f);
  } else if (n > 0) {
    f(int64_t{0}, n);
  }
}

template <class T>
inline void zeroFill(T* d, int64_t n) {
  if (n > 0) std::memset(d, 0, static_cast<size_t>(n) * sizeof(T));
}

// Copies `rows` rows of n elements, source rows srcStride apart, into packed destination rows.
// Short rows are the common case (an 8x8 output has rows of 8), so common widths get
// fixed-size copies the compiler turns into a few vector moves.
template <class T, int64_t N>
void copyRowsFixed(const T* __restrict s, int64_t srcStride, T* __restrict d, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r, s += srcStride, d += N) std::memcpy(d, s, N * sizeof(T));
}

template <class T>
void copyRows(const T* __restrict s, int64_t srcStride, T* __restrict d, int64_t rows, int64_t n) {
  switch (n) {
    case 4:
      return copyRowsFixed<T, 4>(s, srcStride, d, rows);
    case 8:
      return copyRowsFixed<T, 8>(s, srcStride, d, rows);
    case 16:
      return copyRowsFixed<T, 16>(s, srcStride, d, rows);
    case 24:
      return copyRowsFixed<T, 24>(s, srcStride, d, rows);
    case 32:
      return copyRowsFixed<T, 32>(s, srcStride, d, rows);
    default:
      for (int64_t r = 0; r < rows; ++r, s += srcStride, d += n) {
        for (int64_t x = 0; x < n; ++x) d[x] = s[x];
      }
  }
}

// The adjoint of copyRows: adds packed rows into rows dstStride apart.
template <class T, int64_t N>
void addRowsFixed(const T* __restrict s, T* __restrict d, int64_t dstStride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r, s += N, d += dstStride) {
    for (int64_t x = 0; x < N; ++x) d[x] += s[x];
  }
}

template <class T>
void addRows(const T* __restrict s, T* __restrict d, int64_t dstStride, int64_t rows, int64_t n) {
  switch (n) {
    case 4:
      return addRowsFixed<T, 4>(s, d, dstStride, rows);
    case 8:
      return addRowsFixed<T, 8>(s, d, dstStride, rows);
    case 16:
      return addRowsFixed<T, 16>(s, d, dstStride, rows);
    case 24:
      return addRowsFixed<T, 24>(s, d, dstStride, rows);
    default:
      for (int64_t r = 0; r < rows; ++r, s += n, d += dstStride) {
        for (int64_t x = 0; x < n; ++x) d[x] += s[x];
      }
  }
}

// One column-matrix row (outSize entries) for one tap of one image plane.
template <class T>
void fillRow(const T* plane, const WindowGeom& g, const WindowTap& t, T* __restrict dst) {
  const int64_t OW = g.out[2], planeOut = g.out[1] * OW, in2 = g.in[2], in12 = g.in[1] * in2;
  const int64_t s1 = g.stride[1], s2 = g.stride[2], off2 = t.off[2], lo2 = t.lo[2], hi2 = t.hi[2];
  zeroFill(dst, t.lo[0] * planeOut);
  zeroFill(dst + t.hi[0] * planeOut, (g.out[0] - t.hi[0]) * planeOut);
  for (int64_t od = t.lo[0]; od < t.hi[0]; ++od) {
    T* dp = dst + od * planeOut;
    zeroFill(dp, t.lo[1] * OW);
    zeroFill(dp + t.hi[1] * OW, (g.out[1] - t.hi[1]) * OW);
    const T* src = plane + (od * g.stride[0] + t.off[0]) * in12;
    if (s2 == 1 && lo2 == 0 && hi2 == OW) {  // whole rows inside the image: plain copies
      copyRows(src + (t.lo[1] * s1 + t.off[1]) * in2 + off2, s1 * in2, dp + t.lo[1] * OW, t.hi[1] - t.lo[1], OW);
      continue;
    }
    for (int64_t oh = t.lo[1]; oh < t.hi[1]; ++oh) {
      const T* s = src + (oh * s1 + t.off[1]) * in2;  // s[x * s2 + off2] for x in [lo2, hi2)
      T* __restrict d = dp + oh * OW;
      zeroFill(d, lo2);
      if (s2 == 1) {  // a padded edge column, unit stride: one copy (3x3 pad-1 convolutions)
        if (hi2 > lo2) std::memcpy(d + lo2, s + lo2 + off2, static_cast<size_t>(hi2 - lo2) * sizeof(T));
      } else {
        for (int64_t x = lo2; x < hi2; ++x) d[x] = s[x * s2 + off2];
      }
      zeroFill(d + hi2, OW - hi2);
    }
  }
}

// Adds one column-matrix row back into its image plane (the adjoint of fillRow).
template <class T>
void addRow(const T* __restrict src, const WindowGeom& g, const WindowTap& t, T* __restrict plane) {
  const int64_t OW = g.out[2], planeOut = g.out[1] * OW, in2 = g.in[2], in12 = g.in[1] * in2;
  const int64_t s1 = g.stride[1], s2 = g.stride[2], off2 = t.off[2], lo2 = t.lo[2], hi2 = t.hi[2];
  for (int64_t od = t.lo[0]; od < t.hi[0]; ++od) {
    const T* sp = src + od * planeOut;
    T* dst = plane + (od * g.stride[0] + t.off[0]) * in12;
    if (s2 == 1 && lo2 == 0 && hi2 == OW) {
      addRows(sp + t.lo[1] * OW, dst + (t.lo[1] * s1 + t.off[1]) * in2 + off2, s1 * in2, t.hi[1] - t.lo[1], OW);
      continue;
    }
    for (int64_t oh = t.lo[1]; oh < t.hi[1]; ++oh) {
      const T* s = sp + oh * OW;
      T* d = dst + (oh * s1 + t.off[1]) * in2;  // d[x * s2 + off2] for x in [lo2, hi2)
      for (int64_t x = lo2; x < hi2; ++x) d[x * s2 + off2] += s[x];
    }
  }
}

// True when a tap of a 2-D window reads whole output rows from inside the image (no padding
// columns, unit column stride): then each output row is one plain copy.
bool wholeRows2d(const WindowGeom& g, const WindowTap& t) {
  return g.in[0] == 1 && g.out[0] == 1 && t.lo[0] == 0 && t.hi[0] == 1 && g.stride[2] == 1 && t.lo[2] == 0 &&
         t.hi[2] == g.out[2];
}

// Column-matrix rows of one tap for `numImages` planes planeStride apart; row j goes to
// dst + j * outSize. The set-up is done once per tap, not once per image.
template <class T>
void fillTap(const T* plane, int64_t planeStride, int64_t numImages, const WindowGeom& g, const WindowTap& t, T* dst) {
  const int64_t outSize = g.outSize();
  if (!wholeRows2d(g, t)) {
    for (int64_t j = 0; j < numImages; ++j) fillRow(plane + j * planeStride, g, t, dst + j * outSize);
    return;
  }
  const int64_t OW = g.out[2], head = t.lo[1] * OW, tail = t.hi[1] * OW, rows = t.hi[1] - t.lo[1];
  const int64_t srcStride = g.stride[1] * g.in[2], srcOff = (t.lo[1] * g.stride[1] + t.off[1]) * g.in[2] + t.off[2];
  for (int64_t j = 0; j < numImages; ++j, plane += planeStride, dst += outSize) {
    zeroFill(dst, head);
    copyRows(plane + srcOff, srcStride, dst + head, rows, OW);
    zeroFill(dst + tail, outSize - tail);
  }
}

// The adjoint of fillTap: adds the tap's rows into the planes.
template <class T>
void addTap(const T* src, const WindowGeom& g, const WindowTap& t, T* plane, int64_t planeStride, int64_t numImages) {
  const int64_t outSize = g.outSize();
  if (!wholeRows2d(g, t)) {
    for (int64_t j = 0; j < numImages; ++j) addRow(src + j * outSize, g, t, plane + j * planeStride);
    return;
  }
  const int64_t OW = g.out[2], head = t.lo[1] * OW, rows = t.hi[1] - t.lo[1];
  const int64_t dstStride = g.stride[1] * g.in[2], dstOff = (t.lo[1] * g.stride[1] + t.off[1]) * g.in[2] + t.off[2];
  for (int64_t j = 0; j < numImages; ++j, plane += planeStride, src += outSize) {
    addRows(src + head, plane + dstOff, dstStride, rows, OW);
  }
}

}  // namespace

bool WindowGeom::pointwise() const {
  for (int i = 0; i < 3; ++i) {
    if (k[i] != 1 || stride[i] != 1 || pad[i] != 0 || in[i] != out[i]) return false;
  }
  return true;
}

WindowGeom makeWindowGeom(const Shape& image, const Shape& out, const std::vector<int64_t>& kernel,
                          const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                          const std::vector<int64_t>& dils) {
  const int nd = static_cast<int>(image.size()) - 2;
  SINGA_ASSERT(nd >= 1 && nd <= 3 && static_cast<int>(out.size()) == nd + 2 && static_cast<int>(kernel.size()) == nd);
  SINGA_ASSERT(static_cast<int>(strides.size()) == nd && static_cast<int>(pads.size()) == 2 * nd &&
               static_cast<int>(dils.size()) == nd);
  WindowGeom g;
  const int shift = 3 - nd;
  for (int i = 0; i < nd; ++i) {
    g.in[shift + i] = image[2 + i];
    g.out[shift + i] = out[2 + i];
    g.k[shift + i] = kernel[i];
    g.stride[shift + i] = strides[i];
    g.pad[shift + i] = pads[i];
    g.padEnd[shift + i] = pads[nd + i];
    g.dil[shift + i] = dils[i];
  }
  // An axis with one output position never steps by its stride, and a one-wide kernel never by
  // its dilation: both are set to 1 there, so a model's stride of 2^62 on such an axis (which
  // the span bound below rightly ignores) cannot overflow row-stride arithmetic in the kernels.
  for (int i = 0; i < 3; ++i) {
    if (g.out[i] <= 1) g.stride[i] = 1;
    if (g.k[i] <= 1) g.dil[i] = 1;
  }
  // Every kernel addresses an input element as (c0 * in1 + c1) * in2 + c2, each coordinate of the
  // form o * stride + k * dil - pad. A model's pads, strides or dilations near 2^60 keep the
  // output small but overflow that arithmetic (undefined behaviour, then reads anywhere), so the
  // coordinate span times the elements it steps over must stay below 2^62.
  const auto mag = [](int64_t v) { return v < 0 ? -static_cast<__int128>(v) : static_cast<__int128>(v); };
  const __int128 limit = static_cast<__int128>(1) << 62;
  __int128 total = 0, inner = 1;  // inner <= limit: the plane size the axis steps over
  for (int i = 2; i >= 0; --i) {
    const __int128 span = mag(std::max<int64_t>(g.out[i] - 1, 0)) * mag(g.stride[i]) +
                          mag(std::max<int64_t>(g.k[i] - 1, 0)) * mag(g.dil[i]) + mag(g.pad[i]) + mag(g.padEnd[i]) +
                          mag(g.in[i]);
    const bool fits = span <= limit / inner && (total += span * inner) <= limit;
    SINGA_CHECK(fits, NotSupportedError,
                "window of kernel " << Shape(kernel) << ", strides " << strides << ", pads " << pads << ", dilations "
                                    << dils << " over an image of " << image
                                    << " spans more than 2^62 elements; pads, strides and dilations this large "
                                       "are not supported (use ones comparable to the image size)");
    inner = std::min(inner * std::max<int64_t>(g.in[i], 1), limit);
  }
  return g;
}

WindowPlan::WindowPlan(const WindowGeom& geom) : g(geom), taps(static_cast<size_t>(geom.kSize())) {
  size_t r = 0;
  for (int64_t kd = 0; kd < g.k[0]; ++kd)
    for (int64_t kh = 0; kh < g.k[1]; ++kh)
      for (int64_t kw = 0; kw < g.k[2]; ++kw, ++r) {
        WindowTap& t = taps[r];
        const int64_t k[3] = {kd, kh, kw};
        for (int i = 0; i < 3; ++i) {
          t.off[i] = k[i] * g.dil[i] - g.pad[i];
          validRange(g.out[i], g.in[i], g.stride[i], t.off[i], t.lo[i], t.hi[i]);
        }
      }
}

template <class T>
void im2col(const T* images, int64_t numImages, int64_t channels, const WindowPlan& plan, T* col, bool parallel) {
  const WindowGeom& g = plan.g;
  const int64_t inSize = g.inSize(), kSize = g.kSize(), ld = numImages * g.outSize();
  // Task = one column-matrix row (channel c, tap r) over all the images.
  runRange(channels * kSize, std::max<int64_t>(1, 8192 / std::max<int64_t>(ld, 1)), parallel,
           [&](int64_t b, int64_t e) {
             for (int64_t row = b; row < e; ++row) {
               const int64_t c = row / kSize, r = row % kSize;
               fillTap(images + c * inSize, channels * inSize, numImages, g, plan.taps[static_cast<size_t>(r)],
                       col + row * ld);
             }
           });
}

template <class T>
void col2im(const T* col, int64_t numImages, int64_t channels, const WindowPlan& plan, T* images, bool parallel) {
  const WindowGeom& g = plan.g;
  const int64_t inSize = g.inSize(), kSize = g.kSize(), ld = numImages * g.outSize();
  // Task = one channel over all the images (its planes stay in L1 across the taps).
  runRange(channels, std::max<int64_t>(1, 8192 / std::max<int64_t>(kSize * ld, 1)), parallel,
           [&](int64_t b, int64_t e) {
             for (int64_t c = b; c < e; ++c) {
               T* planes = images + c * inSize;
               for (int64_t j = 0; j < numImages; ++j) zeroFill(planes + j * channels * inSize, inSize);
               for (int64_t r = 0; r < kSize; ++r) {
                 addTap(col + (c * kSize + r) * ld, g, plan.taps[static_cast<size_t>(r)], planes, channels * inSize,
                        numImages);
               }
             }
           });
}

template <class T>
T* scratch(int slot, size_t n) {
  SINGA_ASSERT(slot >= 0 && slot < 4);
  thread_local std::unique_ptr<T[]> bufs[4];
  thread_local size_t sizes[4] = {0, 0, 0, 0};
  if (sizes[slot] < n) {
    // A column matrix can be far larger than the tensors around it (a big kernel over big
    // padding): past the allocation ceiling it is a MemoryError, not a bad_alloc.
    const char* what = "convolution scratch buffer (the column matrix of the window)";
    try {
      checkAllocation(checkedBytes(static_cast<int64_t>(n), sizeof(T), what), 0);
    } catch (const MemoryError& e) {
      SINGA_THROW(MemoryError, what << ": " << e.what());
    }
    bufs[slot].reset();
    sizes[slot] = 0;
    try {
      bufs[slot].reset(new T[n]);  // default-initialised: no zero fill
    } catch (const std::bad_alloc&) {
      SINGA_THROW(MemoryError, what << ": could not allocate " << formatBytes(static_cast<double>(n) * sizeof(T)));
    }
    sizes[slot] = n;
  }
  return bufs[slot].get();
}

// BLAS takes its sizes as blasint (32 bits in Debian's OpenBLAS): a dimension or leading
// dimension past that would be truncated and index outside the matrices. Checked once per call.
static void checkBlasSizes(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  constexpr int64_t kMax = std::numeric_limits<blasint>::max();
  SINGA_CHECK(m <= kMax && n <= kMax && k <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax, NotSupportedError,
              "matrix product of " << m << " x " << k << " by " << k << " x " << n << ": a dimension exceeds the "
                                   << kMax << " that BLAS indexes");
}

// One row or one column of C: a matrix-vector product. GEMM would pack the whole matrix operand
// into its panels first (a batch-1 classifier's 1280 x 1000 weights on every call); GEMV reads
// it once. C is zeroed first when beta is 0: BLAS scales it by beta, and 0 * NaN (uninitialised
// memory) is NaN.
template <class T, class Gemv>
bool asGemv(Gemv gemv, bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
            const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if ((m != 1 && n != 1) || k == 0) return false;
  if (m == 1) {
    // c[0, :] = op(B)^T x with x the row of op(A): a[i] (A is 1 x k) or a[i * lda] (A is k x 1)
    if (beta == T(0)) std::fill(c, c + n, T(0));
    if (transB) {  // B is n x k
      gemv(CblasRowMajor, CblasNoTrans, n, k, alpha, b, ldb, a, transA ? lda : 1, beta, c, 1);
    } else {  // B is k x n
      gemv(CblasRowMajor, CblasTrans, k, n, alpha, b, ldb, a, transA ? lda : 1, beta, c, 1);
    }
    return true;
  }
  // n == 1: c[:, 0] = op(A) y with y the column of op(B): b[i * ldb] (B is k x 1) or b[i] (B is 1 x k)
  for (int64_t i = 0; i < m && beta == T(0); ++i) c[i * ldc] = T(0);
  if (transA) {  // A is k x m
    gemv(CblasRowMajor, CblasTrans, k, m, alpha, a, lda, b, transB ? 1 : ldb, beta, c, ldc);
  } else {  // A is m x k
    gemv(CblasRowMajor, CblasNoTrans, m, k, alpha, a, lda, b, transB ? 1 : ldb, beta, c, ldc);
  }
  return true;
}

void blasGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  checkBlasSizes(m, n, k, lda, ldb, ldc);
  auto gemv = [](CBLAS_ORDER o, CBLAS_TRANSPOSE t, int64_t rows, int64_t cols, float al, const float* x, int64_t ld,
                 const float* v, int64_t inc, float be, float* y, int64_t incy) {
    cblas_sgemv(o, t, static_cast<blasint>(rows), static_cast<blasint>(cols), al, x, static_cast<blasint>(ld), v,
                static_cast<blasint>(inc), be, y, static_cast<blasint>(incy));
  };
  if (asGemv(gemv, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void blasGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
              const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  checkBlasSizes(m, n, k, lda, ldb, ldc);
  auto gemv = [](CBLAS_ORDER o, CBLAS_TRANSPOSE t, int64_t rows, int64_t cols, double al, const double* x, int64_t ld,
                 const double* v, int64_t inc, double be, double* y, int64_t incy) {
    cblas_dgemv(o, t, static_cast<blasint>(rows), static_cast<blasint>(cols), al, x, static_cast<blasint>(ld), v,
                static_cast<blasint>(inc), be, y, static_cast<blasint>(incy));
  };
  if (asGemv(gemv, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

namespace {

template <class T>
void ompGemmImpl(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int threads = numThreads();
  // Thin (GEMV-like) products run as one call: splitting them gains little, and BLAS may pick
  // different kernels for differently sized halves, so equal columns would round differently.
  if (threads <= 1 || std::max(m, n) < 32 || std::min(m, n) < 16) {
    blasGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  BlasSingleThreaded singleThreaded;
  const bool splitCols = n >= m;
  const int64_t extent = splitCols ? n : m;
  const int64_t block = ((extent + threads - 1) / threads + 15) / 16 * 16;  // multiples of 16
  parallelFor((extent + block - 1) / block, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t i0 = blk * block, len = std::min(block, extent - i0);
      if (splitCols) {
        blasGemm(transA, transB, m, len, k, alpha, a, lda, transB ? b + i0 * ldb : b + i0, ldb, beta, c + i0, ldc);
      } else {
        blasGemm(transA, transB, len, n, k, alpha, transA ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc,
                 ldc);
      }
    }
  });
}

}  // namespace

void ompGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  ompGemmImpl(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ompGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
             int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  ompGemmImpl(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

BlasSingleThreaded::BlasSingleThreaded() : previous_(openblas_get_num_threads()) {
  if (previous_ != 1) openblas_set_num_threads(1);
}
BlasSingleThreaded::~BlasSingleThreaded() {
  if (previous_ != 1) openblas_set_num_threads(previous_);
}

template void im2col<float>(const float*, int64_t, int64_t, const WindowPlan&, float*, bool);
template void im2col<double>(const double*, int64_t, int64_t, const WindowPlan&, double*, bool);
template void col2im<float>(const float*, int64_t, int64_t, const WindowPlan&, float*, bool);
template void col2im<double>(const double*, int64_t, int64_t, const WindowPlan&, double*, bool);
template float* scratch<float>(int, size_t);
template double* scratch<double>(int, size_t);

}  // namespace singa::cpu
