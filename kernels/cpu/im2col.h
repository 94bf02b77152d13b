// Sliding-window plumbing shared by the CPU convolution and pooling kernels.
//
// Every window op (Conv, ConvTranspose, MaxPool, AveragePool) is described by a WindowGeom with
// exactly three spatial dims: 1-D and 2-D problems are padded in front with size-1 dims
// (kernel 1, stride 1, pad 0), so one set of loops serves 1-, 2- and 3-D, and the innermost loop
// always runs along the last (contiguous) spatial dim, which is what makes the 2-D case fast.
//
// Convolution is im2col + GEMM. The column matrix of a chunk of `numImages` images has one row
// per (channel, kernel offset) and one column per (image, output position):
//   col[(c * kSize + r) * (numImages * outSize) + j * outSize + p]
// so a chunk of images is one GEMM per group with a long N dimension, and the rows of group g
// are one contiguous block. A WindowPlan precomputes, per kernel offset, the input offsets and
// the ranges of output positions that read real (not padding) input, so the copy loops do no
// integer division.
#pragma once

#include <cstdint>
#include <vector>

#include "singa/core/shape.h"

namespace singa::cpu {

/// Geometry of a sliding window over [N, C, in...] producing [N, C', out...], as three spatial
/// dims (leading dims of size 1 for 1-D / 2-D problems).
struct WindowGeom {
  int64_t in[3] = {1, 1, 1};   // image spatial dims
  int64_t out[3] = {1, 1, 1};  // output spatial dims
  int64_t k[3] = {1, 1, 1};    // kernel
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};     // begin pads
  int64_t padEnd[3] = {0, 0, 0};  // end pads (average pooling with count_include_pad only)
  int64_t dil[3] = {1, 1, 1};

  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kSize() const { return k[0] * k[1] * k[2]; }
  /// True for a 1x1 window with stride 1 and no padding: the image is its own column matrix.
  bool pointwise() const;
};

/// Positions x in [lo, hi) of [0, count) whose index x * step + off lies in [0, extent): the valid
/// output columns of an im2col row, or the valid kernel taps of a pooling window.
/// Computed in unsigned 64 bits, where every intermediate fits (each operand is below 2^63): in
/// int64, -off + step - 1 overflowed for a crafted pad of 2^63 - 1 (found by fuzz_onnx_exec).
inline void validRange(int64_t count, int64_t extent, int64_t step, int64_t off, int64_t& lo, int64_t& hi) {
  using U = uint64_t;
  const U s = static_cast<U>(step);
  const U minusOffMinus1 = off < 0 ? static_cast<U>(-(off + 1)) : 0;  // -off - 1, without negating INT64_MIN
  const U l = off >= 0 ? 0 : (minusOffMinus1 + s) / s;                   // ceil(-off / step)
  U h;
  if (off < 0) {
    h = (static_cast<U>(extent) + minusOffMinus1) / s + 1;  // (extent - 1 - off) / step + 1
  } else {
    h = extent - 1 - off < 0 ? 0 : static_cast<U>(extent - 1 - off) / s + 1;
  }
  const U c = static_cast<U>(count);
  lo = static_cast<int64_t>(l < c ? l : c);
  hi = static_cast<int64_t>(h < c ? h : c);
  if (hi < lo) hi = lo;
}

/// Geometry from the image shape [N, C, in...], the output shape [N, C', out...], the kernel's
/// spatial dims, strides, pads ([begin..., end...]) and dilations (resolved by the op function:
/// one value per spatial dim).
WindowGeom makeWindowGeom(const Shape& image, const Shape& out, const std::vector<int64_t>& kernel,
                          const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                          const std::vector<int64_t>& dils);

/// One kernel offset of a window: per-dim input offsets (k * dilation - pad) and the output
/// ranges [lo, hi) per dim whose input index is inside the image.
struct WindowTap {
  int64_t off[3];
  int64_t lo[3], hi[3];
};

/// A geometry with its taps precomputed (one per kernel offset, row-major over k).
struct WindowPlan {
  WindowGeom g;
  std::vector<WindowTap> taps;
  explicit WindowPlan(const WindowGeom& geom);
};

/// Writes the column matrix of `numImages` consecutive images of `channels` channels (see the
/// file comment for the layout); every element is written (zeros for padding). `parallel`
/// spreads the rows over threads; false when the caller is already one of several threads.
template <class T>
void im2col(const T* images, int64_t numImages, int64_t channels, const WindowPlan& plan, T* col, bool parallel);

/// The adjoint of im2col: overwrites the images with the sums of their column entries.
template <class T>
void col2im(const T* col, int64_t numImages, int64_t channels, const WindowPlan& plan, T* images, bool parallel);

/// Scratch buffer `slot` (0..3) of the calling thread, grown to at least n elements and reused
/// across calls, so kernels neither allocate nor zero large buffers on every step.
template <class T>
T* scratch(int slot, size_t n);

/// C = alpha * op(A) op(B) + beta * C, row-major, via OpenBLAS.
void blasGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void blasGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
              const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

/// The same product with the larger of m and n split into blocks over the OpenMP threads, one
/// single-threaded OpenBLAS call per block: multi-core GEMM without waking OpenBLAS's own thread
/// pool (whose spinning workers otherwise compete with the OpenMP threads). Call it outside
/// OpenMP regions.
void ompGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void ompGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
             int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

/// Makes OpenBLAS single-threaded for its lifetime (then restores its previous thread count), so
/// that several OpenMP threads can each run their own GEMM without oversubscribing the cores.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded();
  ~BlasSingleThreaded();
  BlasSingleThreaded(const BlasSingleThreaded&) = delete;
  BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;

 private:
  int previous_;
};

}  // namespace singa::cpu
