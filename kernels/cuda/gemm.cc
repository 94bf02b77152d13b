// MatMul and Gemm through cuBLAS (float32, float64), same contract as kernels/cpu/gemm.cc.
//
// cuBLAS is column-major; a row-major product C = A B is computed as C^T = B^T A^T, i.e. with
// the operands swapped, and a strided matrix whose rows or columns are unit-stride is passed as
// it is (a transposed view becomes CUBLAS_OP_T), so Linear layers' forward and backward copy
// nothing. Batched MatMul folds [batch..., M, K] x [K, N] into one GEMM when B is shared and A's
// rows are evenly spaced, uses the strided-batched call when each operand's batch dims collapse
// to one stride, and loops otherwise. TF32 follows singa::cuda::allowTF32() (off by default).
#include <algorithm>
#include <climits>
#include <type_traits>

#include "singa/kernels/cuda/cuda_libs.h"
#include "singa/kernels/cuda/cuda_kernels.h"

namespace singa::cuda {
namespace {

struct Mat {
  const void* p;  // first element
  int64_t rows, cols, rs, cs;
};

// Row-major (trans = false, ld = row stride) or transposed-row-major (trans = true) reading of m.
bool blasLayout(const Mat& m, bool& trans, int64_t& ld) {
  if ((m.cs == 1 || m.cols <= 1) && (m.rows <= 1 || m.rs >= std::max<int64_t>(m.cols, 1))) {
    trans = false;
    ld = m.rows <= 1 ? std::max<int64_t>(m.cols, 1) : m.rs;
    return true;
  }
  if ((m.rs == 1 || m.rows <= 1) && (m.cols <= 1 || m.cs >= std::max<int64_t>(m.rows, 1))) {
    trans = true;
    ld = m.cols <= 1 ? std::max<int64_t>(m.rows, 1) : m.cs;
    return true;
  }
  return false;
}

int toInt(int64_t v, const char* what) {
  SINGA_CHECK(v >= 0 && v <= INT_MAX, NotSupportedError,
              "MatMul/Gemm on CUDA: " << what << " " << v << " exceeds cuBLAS's 32-bit limit; split the product");
  return static_cast<int>(v);
}

/// c[M, N] (row stride ldc) = alpha a b + beta c for `batch` products with element strides
/// between consecutive a, b and c (0 = shared).
template <class T>
void gemmBatched(cublasHandle_t h, const Mat& a, const Mat& b, T alpha, T beta, T* c, int64_t ldc, int64_t batch,
                 int64_t strideA, int64_t strideB, int64_t strideC) {
  const int64_t M = a.rows, K = a.cols, N = b.cols;
  bool ta = false, tb = false;
  int64_t lda = 0, ldb = 0;
  SINGA_ASSERT(blasLayout(a, ta, lda) && blasLayout(b, tb, ldb));
  const cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T* pa = static_cast<const T*>(a.p);
  const T* pb = static_cast<const T*>(b.p);
  const int m = toInt(M, "M"), n = toInt(N, "N"), k = toInt(K, "K");
  const int ilda = toInt(lda, "lda"), ildb = toInt(ldb, "ldb"), ildc = toInt(ldc, "ldc");
  if (batch == 1) {
    if constexpr (std::is_same_v<T, float>) {
      SINGA_CUBLAS_CHECK(cublasSgemm(h, opB, opA, n, m, k, &alpha, pb, ildb, pa, ilda, &beta, c, ildc));
    } else {
      SINGA_CUBLAS_CHECK(cublasDgemm(h, opB, opA, n, m, k, &alpha, pb, ildb, pa, ilda, &beta, c, ildc));
    }
    return;
  }
  const int nb = toInt(batch, "batch count");
  if constexpr (std::is_same_v<T, float>) {
    SINGA_CUBLAS_CHECK(cublasSgemmStridedBatched(h, opB, opA, n, m, k, &alpha, pb, ildb, strideB, pa, ilda, strideA,
                                                 &beta, c, ildc, strideC, nb));
  } else {
    SINGA_CUBLAS_CHECK(cublasDgemmStridedBatched(h, opB, opA, n, m, k, &alpha, pb, ildb, strideB, pa, ilda, strideA,
                                                 &beta, c, ildc, strideC, nb));
  }
}

// Strides of t's batch dims (all but the last two) broadcast to `batch` (0 where broadcast).
std::vector<int64_t> batchStrides(const Tensor& t, const Shape& batch) {
  const int nb = static_cast<int>(batch.size()), tb = t.ndim() - 2;
  std::vector<int64_t> s(nb, 0);
  for (int i = 0; i < tb; ++i) s[nb - tb + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

// One stride for the whole (row-major) batch when `s` over `batch` is evenly spaced.
bool uniformStride(const Shape& batch, const std::vector<int64_t>& s, int64_t& stride) {
  bool first = true;
  int64_t expect = 0;
  stride = 0;
  for (size_t i = batch.size(); i-- > 0;) {
    if (batch[i] == 1) continue;
    if (first) {
      stride = s[i];
      first = false;
    } else if (s[i] != expect) {
      return false;
    }
    expect = s[i] * batch[i];
  }
  return true;
}

template <class T>
void matmulKernel(KernelContext& ctx) {
  Tensor A = ctx.in(0), B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  if (Y.numel() == 0) return;
  const int ra = A.ndim(), rb = B.ndim();
  const int64_t M = A.shape()[ra - 2], K = A.shape()[ra - 1], N = B.shape()[rb - 1];
  Mat a{nullptr, M, K, A.strides()[ra - 2], A.strides()[ra - 1]};
  Mat b{nullptr, K, N, B.strides()[rb - 2], B.strides()[rb - 1]};
  bool t;
  int64_t ld;
  if (!blasLayout(a, t, ld)) {
    A = contiguousCopy(A);
    a = {nullptr, M, K, K, 1};
  }
  if (!blasLayout(b, t, ld)) {
    B = contiguousCopy(B);
    b = {nullptr, K, N, N, 1};
  }
  a.p = A.data<T>();
  b.p = B.data<T>();
  T* y = Y.data<T>();
  const int dev = Y.device().index;
  setDevice(dev);
  cublasHandle_t h = cublas(dev);
  if (K == 0) {
    Y.zero();
    return;
  }
  const Shape batch(Y.shape().begin(), Y.shape().end() - 2);
  const int64_t nBatch = numelOf(batch);
  const std::vector<int64_t> sa = batchStrides(A, batch), sb = batchStrides(B, batch);
  int64_t strideA = 0, strideB = 0;
  const bool bShared = std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; });
  // Fold: B shared and A's [batch..., M] rows evenly spaced -> one tall GEMM.
  if (nBatch > 1 && bShared && (a.cs == 1 || K <= 1)) {
    Shape rowsShape = batch;
    rowsShape.push_back(M);
    std::vector<int64_t> rowStrides = sa;
    rowStrides.push_back(a.rs);
    int64_t rowStride = 0;
    if (uniformStride(rowsShape, rowStrides, rowStride) && (rowStride >= std::max<int64_t>(K, 1) || M * nBatch <= 1)) {
      Mat tall = a;
      tall.rows = M * nBatch;
      tall.rs = M * nBatch <= 1 ? K : rowStride;
      gemmBatched<T>(h, tall, b, T(1), T(0), y, N, 1, 0, 0, 0);
      return;
    }
  }
  if (uniformStride(batch, sa, strideA) && uniformStride(batch, sb, strideB)) {
    gemmBatched<T>(h, a, b, T(1), T(0), y, N, nBatch, strideA, strideB, M * N);
    return;
  }
  // General broadcast batch: one GEMM per batch element.
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t k = 0; k < nBatch; ++k) {
    int64_t oa = 0, ob = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    Mat ak = a, bk = b;
    ak.p = static_cast<const T*>(a.p) + oa;
    bk.p = static_cast<const T*>(b.p) + ob;
    gemmBatched<T>(h, ak, bk, T(1), T(0), y + k * M * N, N, 1, 0, 0, 0);
    for (size_t i = batch.size(); i-- > 0;) {
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
}

template <class T>
void gemmKernel(KernelContext& ctx) {
  Tensor A = ctx.in(0), B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  const GemmParams& params = ctx.paramsAs<GemmParams>("Gemm");
  const bool transA = params.transA, transB = params.transB;
  const T alpha = static_cast<T>(params.alpha);
  T beta = static_cast<T>(params.beta);
  if (Y.numel() == 0) return;
  Mat a{nullptr, A.shape()[0], A.shape()[1], A.strides()[0], A.strides()[1]};
  Mat b{nullptr, B.shape()[0], B.shape()[1], B.strides()[0], B.strides()[1]};
  bool t;
  int64_t ld;
  if (!blasLayout(a, t, ld)) {
    A = contiguousCopy(A);
    a = {nullptr, A.shape()[0], A.shape()[1], A.shape()[1], 1};
  }
  if (!blasLayout(b, t, ld)) {
    B = contiguousCopy(B);
    b = {nullptr, B.shape()[0], B.shape()[1], B.shape()[1], 1};
  }
  a.p = A.data<T>();
  b.p = B.data<T>();
  if (transA) a = {a.p, a.cols, a.rows, a.cs, a.rs};
  if (transB) b = {b.p, b.cols, b.rows, b.cs, b.rs};
  if (ctx.inputs.size() > 2 && ctx.in(2).defined() && beta != T(0)) {
    stridedMove(ctx.in(2), Y);  // Y = C broadcast to [M, N]
  } else {
    beta = T(0);
  }
  const int dev = Y.device().index;
  setDevice(dev);
  cublasHandle_t h = cublas(dev);
  const int64_t K = a.cols;
  if (K == 0) {
    if (beta == T(0)) {
      Y.zero();
    } else {
      const int n = toInt(Y.numel(), "element count");
      if constexpr (std::is_same_v<T, float>) {
        SINGA_CUBLAS_CHECK(cublasSscal(h, n, &beta, Y.data<T>(), 1));
      } else {
        SINGA_CUBLAS_CHECK(cublasDscal(h, n, &beta, Y.data<T>(), 1));
      }
    }
    return;
  }
  gemmBatched<T>(h, a, b, alpha, beta, Y.data<T>(), Y.shape()[1], 1, 0, 0, 0);
}

}  // namespace

void registerGemmKernels(KernelRegistry& r) {
  r.add(OpId::kMatMul, DeviceType::kCuda, DType::kFloat32, matmulKernel<float>);
  r.add(OpId::kMatMul, DeviceType::kCuda, DType::kFloat64, matmulKernel<double>);
  r.add(OpId::kGemm, DeviceType::kCuda, DType::kFloat32, gemmKernel<float>);
  r.add(OpId::kGemm, DeviceType::kCuda, DType::kFloat64, gemmKernel<double>);
}

}  // namespace singa::cuda
