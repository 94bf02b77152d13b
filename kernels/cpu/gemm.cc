// MatMul and Gemm on the CPU. float32/float64 go to OpenBLAS (cblas_sgemm/dgemm) straight from
// the operands' memory: a strided matrix whose rows or columns are unit-stride is passed as-is,
// with CblasTrans for column-major (transposed) views, so Linear layers' forward and backward
// (x W^T, g W, g^T x) copy nothing. Only a matrix with neither unit stride is packed first.
// Batched MatMul folds [batch..., M, K] x [K, N] into one GEMM when A's batch dims are dense,
// else it loops over the (broadcast) batch. Integer dtypes use a plain loop.
// Float GEMMs run as ompGemm: split over the OpenMP threads, single-threaded OpenBLAS in each.
#include <cblas.h>

#include <algorithm>
#include <type_traits>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/im2col.h"
#include "singa/kernels/cpu/strided.h"
#include "singa/kernels/float_to_int.h"

namespace singa::cpu {
namespace {

/// A logical [rows, cols] matrix at `p` with element strides rs (rows) and cs (columns).
template <class T>
struct Mat {
  const T* p;
  int64_t rows, cols, rs, cs;
};

// How BLAS can read m: row-major (trans=false) or as the transpose of a row-major matrix.
bool blasLayout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool& trans, int64_t& ld) {
  if ((cs == 1 || cols <= 1) && (rows <= 1 || rs >= std::max<int64_t>(cols, 1))) {
    trans = false;
    ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
    return true;
  }
  if ((rs == 1 || rows <= 1) && (cols <= 1 || cs >= std::max<int64_t>(rows, 1))) {
    trans = true;
    ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
    return true;
  }
  return false;
}

template <class T>
void callBlas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  // Split over the OpenMP threads, single-threaded OpenBLAS in each (see ompGemm): one thread
  // pool for the whole engine, and a fixed partition, so results do not depend on timing.
  ompGemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// c[M, N] (row stride ldc) = alpha * a b + beta * c; c is not read when beta == 0.
template <class T>
void gemmStrided(Mat<T> a, Mat<T> b, T alpha, T beta, T* c, int64_t ldc) {
  const int64_t M = a.rows, K = a.cols, N = b.cols;
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    }
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    bool ta, tb;
    int64_t lda, ldb;
    std::vector<T> packA, packB;
    auto pack = [](const Mat<T>& m, std::vector<T>& buf) {  // neither unit stride: copy row-major
      buf.resize(m.rows * m.cols);
      for (int64_t i = 0; i < m.rows; ++i) {
        for (int64_t j = 0; j < m.cols; ++j) buf[i * m.cols + j] = m.p[i * m.rs + j * m.cs];
      }
      return Mat<T>{buf.data(), m.rows, m.cols, m.cols, 1};
    };
    if (!blasLayout(a.rows, a.cols, a.rs, a.cs, ta, lda)) {
      a = pack(a, packA);
      blasLayout(a.rows, a.cols, a.rs, a.cs, ta, lda);
    }
    if (!blasLayout(b.rows, b.cols, b.rs, b.cs, tb, ldb)) {
      b = pack(b, packB);
      blasLayout(b.rows, b.cols, b.rs, b.cs, tb, ldb);
    }
    callBlas<T>(ta, tb, M, N, K, alpha, a.p, lda, b.p, ldb, beta, c, ldc);
  } else {
    parallelFor(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N * K, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            // Integer products wrap modulo 2^bits, as NumPy (int64 accumulation overflowed: UB).
            using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
            U acc = 0;
            for (int64_t k = 0; k < K; ++k) {
              acc += static_cast<U>(a.p[i * a.rs + k * a.cs]) * static_cast<U>(b.p[k * b.rs + j * b.cs]);
            }
            U r = static_cast<U>(alpha) * acc;
            if (beta != T(0)) r += static_cast<U>(beta) * static_cast<U>(c[i * ldc + j]);
            c[i * ldc + j] = static_cast<T>(r);
          } else {
            T acc = 0;
            for (int64_t k = 0; k < K; ++k) acc += a.p[i * a.rs + k * a.cs] * b.p[k * b.rs + j * b.cs];
            c[i * ldc + j] = beta == T(0) ? T(alpha * acc) : T(alpha * acc + beta * c[i * ldc + j]);
          }
        }
      }
    });
  }
}

// Strides of t's batch dims (all but the last two) broadcast to `batch` (0 where broadcast).
std::vector<int64_t> batchStrides(const Tensor& t, const Shape& batch) {
  const int nb = static_cast<int>(batch.size()), tb = t.ndim() - 2;
  std::vector<int64_t> s(nb, 0);
  for (int i = 0; i < tb; ++i) {
    const int o = nb - tb + i;
    s[o] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return s;
}

template <class T>
void matmulKernel(KernelContext& ctx) {
  const Tensor& A = ctx.in(0);
  const Tensor& B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  const int ra = A.ndim(), rb = B.ndim();
  const int64_t M = A.shape()[ra - 2], K = A.shape()[ra - 1], N = B.shape()[rb - 1];
  const Shape batch(Y.shape().begin(), Y.shape().end() - 2);
  const int64_t nBatch = numelOf(batch);
  const std::vector<int64_t> sa = batchStrides(A, batch), sb = batchStrides(B, batch);
  Mat<T> a{A.data<T>(), M, K, A.strides()[ra - 2], A.strides()[ra - 1]};
  Mat<T> b{B.data<T>(), K, N, B.strides()[rb - 2], B.strides()[rb - 1]};
  T* y = Y.data<T>();
  if (Y.numel() == 0) return;
  // Fold: B shared by every batch and A's [batch..., M] rows evenly spaced -> one tall GEMM.
  const bool bShared = std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; });
  if (nBatch > 1 && bShared && (a.cs == 1 || K <= 1)) {
    bool first = true, even = true;
    int64_t rowStride = K, expect = 0;
    auto visit = [&](int64_t size, int64_t stride) {
      if (size == 1) return;
      if (first) {
        first = false;
        rowStride = stride;
      } else {
        even = even && stride == expect;
      }
      expect = stride * size;
    };
    visit(M, a.rs);
    for (size_t i = batch.size(); i-- > 0;) visit(batch[i], sa[i]);
    if (even && rowStride >= std::max<int64_t>(K, 1)) {
      a.rows = M * nBatch;
      a.rs = rowStride;
      gemmStrided<T>(a, b, T(1), T(0), y, N);
      return;
    }
  }
  forEachOffset2(batch, sa, sb, 0, nBatch, [&](int64_t k, int64_t oa, int64_t ob) {
    Mat<T> ak = a, bk = b;
    ak.p += oa;
    bk.p += ob;
    gemmStrided<T>(ak, bk, T(1), T(0), y + k * M * N, N);
  });
}

template <class T>
void gemmKernel(KernelContext& ctx) {
  const Tensor& A = ctx.in(0);
  const Tensor& B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  const GemmParams& p = ctx.paramsAs<GemmParams>("Gemm");
  // alpha and beta come from the model: for integer Gemm, converted with defined behaviour.
  const auto scalar = [](double v) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      return floatToInt<T>(v);
    } else {
      return static_cast<T>(v);
    }
  };
  const T alpha = scalar(p.alpha);
  T beta = scalar(p.beta);
  Mat<T> a{A.data<T>(), A.shape()[0], A.shape()[1], A.strides()[0], A.strides()[1]};
  Mat<T> b{B.data<T>(), B.shape()[0], B.shape()[1], B.strides()[0], B.strides()[1]};
  if (p.transA) a = {a.p, a.cols, a.rows, a.cs, a.rs};
  if (p.transB) b = {b.p, b.cols, b.rows, b.cs, b.rs};
  T* y = Y.data<T>();
  const Shape& ys = Y.shape();
  if (ctx.inputs.size() > 2 && ctx.in(2).defined() && beta != T(0)) {
    const Tensor& C = ctx.in(2);
    const T* cp = C.data<T>();
    const std::vector<int64_t> sc = stridesFor(C, ys);  // broadcast strides of C over [M, N]
    for (int64_t i = 0; i < ys[0]; ++i) {
      T* row = y + i * ys[1];
      const T* src = cp + i * sc[0];
      if (sc[1] == 1) {
        std::copy(src, src + ys[1], row);
      } else {
        for (int64_t j = 0; j < ys[1]; ++j) row[j] = src[j * sc[1]];
      }
    }
  } else {
    beta = T(0);
  }
  gemmStrided<T>(a, b, alpha, beta, y, ys[1]);
}

}  // namespace

void registerGemmKernels(KernelRegistry& r) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64}) {
    r.add(OpId::kMatMul, DeviceType::kCpu, t, [](KernelContext& c) {
      switch (c.in(0).dtype()) {
        case DType::kFloat32: matmulKernel<float>(c); break;
        case DType::kFloat64: matmulKernel<double>(c); break;
        case DType::kInt32: matmulKernel<int32_t>(c); break;
        default: matmulKernel<int64_t>(c); break;
      }
    });
    r.add(OpId::kGemm, DeviceType::kCpu, t, [](KernelContext& c) {
      switch (c.in(0).dtype()) {
        case DType::kFloat32: gemmKernel<float>(c); break;
        case DType::kFloat64: gemmKernel<double>(c); break;
        case DType::kInt32: gemmKernel<int32_t>(c); break;
        default: gemmKernel<int64_t>(c); break;
      }
    });
  }
}

}  // namespace singa::cpu
