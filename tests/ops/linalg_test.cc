// MatMul and Gemm against a naive triple loop: 1-D promotion, broadcast batch dims, transposed
// and strided operands (the BLAS transpose-flag path and the packing fallback), integer dtypes,
// the Linear-layer shapes, Gemm's alpha/beta/trans flags and C broadcasting, error messages and
// finite-difference gradient checks.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <cmath>
#include <limits>

#include "gradcheck.h"
#include "singa/kernels/cpu/im2col.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::expectGradientsMatch;
using test::expectTensorNear;

Tensor randomTensor(const Shape& shape, uint64_t seed, DType dtype = DType::kFloat64) {
  if (numelOf(shape) == 0) return Tensor(shape, dtype);
  Tensor t(shape, DType::kFloat64);
  Generator g(seed);
  uniform_(t, -1.0, 1.0, g);
  return t.to(dtype);
}

// Reference NumPy matmul on doubles: promotes 1-D operands, broadcasts batch dims by index.
Tensor naiveMatmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const size_t nb = std::max(as.size(), bs.size()) - 2;
  Shape batch(nb);
  auto dimOf = [&](const Shape& s, size_t i) {  // batch dim i of s, right-aligned (1 if absent)
    const size_t own = s.size() - 2;
    return i + own < nb ? int64_t{1} : s[i + own - nb];
  };
  for (size_t i = 0; i < nb; ++i) batch[i] = std::max(dimOf(as, i), dimOf(bs, i));
  Shape outShape = batch;
  outShape.push_back(M);
  outShape.push_back(N);
  std::vector<double> out(numelOf(outShape));
  const int64_t nBatch = numelOf(batch);
  for (int64_t bi = 0; bi < nBatch; ++bi) {
    // Flat offsets of this batch in a and b (broadcast dims index 0).
    int64_t rem = bi, offA = 0, offB = 0, strideA = M * K, strideB = K * N;
    for (size_t i = nb; i-- > 0;) {
      const int64_t idx = rem % batch[i];
      rem /= batch[i];
      const int64_t da = dimOf(as, i), db = dimOf(bs, i);
      offA += (da == 1 ? 0 : idx) * strideA;
      offB += (db == 1 ? 0 : idx) * strideB;
      strideA *= da;
      strideB *= db;
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += a.at(offA + i * K + k) * b.at(offB + k * N + j);
        out[(bi * M + i) * N + j] = acc;
      }
  }
  Shape result = batch;
  if (a.ndim() != 1) result.push_back(M);
  if (b.ndim() != 1) result.push_back(N);
  return Tensor::fromVector<double>(out, result);
}

void checkMatmul(const Shape& sa, const Shape& sb, DType dtype = DType::kFloat64, double tol = 1e-12) {
  SCOPED_TRACE(shapeStr(sa) + " x " + shapeStr(sb));
  Tensor a = randomTensor(sa, 1, dtype), b = randomTensor(sb, 2, dtype);
  Tensor y = ops::matmul(a, b);
  EXPECT_EQ(y.dtype(), dtype);
  expectTensorNear(y, naiveMatmul(a, b), tol, tol);
}

TEST(MatMul, MatchesNaiveWithPromotionAndBroadcast) {
  checkMatmul({3, 4}, {4, 5});
  checkMatmul({4}, {4, 5});
  checkMatmul({3, 4}, {4});
  checkMatmul({4}, {4});
  checkMatmul({2, 3, 4}, {4, 5});        // folded into one GEMM
  checkMatmul({3, 4}, {2, 4, 5});        // A broadcast over B's batch
  checkMatmul({2, 1, 3, 4}, {3, 4, 5});  // both broadcast
  checkMatmul({2, 3, 4}, {4});
  checkMatmul({4}, {2, 4, 5});
  checkMatmul({1, 4}, {4, 1});
  checkMatmul({3, 0}, {0, 2});  // K = 0: zeros
  checkMatmul({2, 3, 4}, {2, 4, 5}, DType::kFloat32, 1e-5);
}

// blasGemm's one-row and one-column products go to GEMV: every transpose flag, leading
// dimensions past the matrices' widths, beta 0 over a NaN-filled C (not read) and beta 0.5 over
// values, against a double loop.
template <class T>
void checkThinBlasGemm() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 37, 19}, {23, 1, 17}, {1, 1, 9}, {1, 40, 1}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (double beta : {0.0, 0.5}) {
          SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + (ta ? " A^T" : "") +
                       (tb ? " B^T" : "") + " beta " + std::to_string(beta));
          // op(A) is m x k: A stored m x k (lda >= k) or k x m (lda >= m); likewise B.
          const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
          std::vector<T> a(static_cast<size_t>((ta ? k : m) * lda)), b(static_cast<size_t>((tb ? n : k) * ldb));
          std::vector<T> c(static_cast<size_t>(m * ldc));
          for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<T>(std::sin(0.7 * static_cast<double>(i) + 0.1));
          for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<T>(std::cos(0.3 * static_cast<double>(i) + 0.2));
          for (size_t i = 0; i < c.size(); ++i) c[i] = beta == 0 ? static_cast<T>(nan) : static_cast<T>(0.01 * i);
          const std::vector<T> c0 = c;
          cpu::blasGemm(ta, tb, m, n, k, T(2), a.data(), lda, b.data(), ldb, static_cast<T>(beta), c.data(), ldc);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t p = 0; p < k; ++p) {
                want += static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) *
                        static_cast<double>(tb ? b[j * ldb + p] : b[p * ldb + j]);
              }
              want = 2 * want + (beta == 0 ? 0.0 : beta * static_cast<double>(c0[i * ldc + j]));
              EXPECT_NEAR(static_cast<double>(c[i * ldc + j]), want, 1e-4 * (1 + std::fabs(want))) << i << "," << j;
            }
            for (int64_t j = n; j < ldc && j < static_cast<int64_t>(c.size()) - i * ldc; ++j) {
              const T got = c[i * ldc + j], was = c0[i * ldc + j];
              EXPECT_TRUE(got == was || (std::isnan(got) && std::isnan(was))) << "wrote past the row at " << i << "," << j;
            }
          }
        }
      }
    }
  }
}

TEST(MatMul, OneRowOrColumnProductsOnBlas) {
  checkThinBlasGemm<float>();
  checkThinBlasGemm<double>();
}

TEST(MatMul, StridedOperands) {
  Tensor a = randomTensor({4, 3}, 3), b = randomTensor({5, 4}, 4);
  // Transposed views go to BLAS with the transpose flag.
  Tensor at = ops::transpose(a), bt = ops::transpose(b);
  expectTensorNear(ops::matmul(at, bt), naiveMatmul(at.contiguous(), bt.contiguous()), 1e-12, 1e-12);
  // Neither unit stride (every other column): packed.
  Tensor wide = randomTensor({3, 8}, 5);
  Tensor every2 = ops::slice(wide, {0}, {8}, {1}, {2});  // [3, 4] with column stride 2
  Tensor rowsEvery2 = ops::slice(ops::transpose(randomTensor({10, 4}, 6)), {0}, {10}, {1}, {2});  // [4, 5]
  expectTensorNear(ops::matmul(every2, rowsEvery2),
                   naiveMatmul(every2.contiguous(), rowsEvery2.contiguous()), 1e-12, 1e-12);
  // A batch of transposed matrices.
  Tensor bat = ops::transpose(randomTensor({2, 4, 3}, 7), {0, 2, 1});
  expectTensorNear(ops::matmul(bat, b.slice(0, 0, 4)), naiveMatmul(bat.contiguous(), b.slice(0, 0, 4).contiguous()),
                   1e-12, 1e-12);
}

TEST(MatMul, Integers) {
  Tensor a = Tensor::fromVector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::fromVector<int64_t>({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor y = ops::matmul(a, b);
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(y.toVector<int64_t>(), (std::vector<int64_t>{58, 64, 139, 154}));
  Tensor y32 = ops::matmul(a.to(DType::kInt32), ops::transpose(a.to(DType::kInt32)));
  EXPECT_EQ(y32.toVector<int32_t>(), (std::vector<int32_t>{14, 32, 32, 77}));
}

TEST(MatMul, LinearLayerShapes) {
  // The training loop's Linear: y = x W^T with W [500, 800], and its backward products.
  Tensor x = randomTensor({64, 800}, 8, DType::kFloat32), w = randomTensor({500, 800}, 9, DType::kFloat32);
  Tensor y = ops::matmul(x, ops::transpose(w));
  ASSERT_EQ(y.shape(), (Shape{64, 500}));
  Tensor g = randomTensor({64, 500}, 10, DType::kFloat32);
  Tensor dw = ops::matmul(ops::transpose(g), x);  // [500, 800]
  Tensor dx = ops::matmul(g, w);                  // [64, 800]
  // Spot-check entries against direct dot products.
  auto dot = [](const Tensor& p, int64_t pOff, int64_t pStride, const Tensor& q, int64_t qOff, int64_t qStride,
                int64_t n) {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += p.at(pOff + k * pStride) * q.at(qOff + k * qStride);
    return s;
  };
  for (int64_t i : {0, 17, 63})
    for (int64_t j : {0, 250, 499}) {
      EXPECT_NEAR(y.at(i * 500 + j), dot(x, i * 800, 1, w, j * 800, 1, 800), 1e-3);
      EXPECT_NEAR(dx.at(i * 800 + j), dot(g, i * 500, 1, w, j, 800, 500), 1e-3);
      EXPECT_NEAR(dw.at(j * 800 + i), dot(g, j, 500, x, i, 800, 64), 1e-3);
    }
}

TEST(MatMul, Errors) {
  Tensor a = randomTensor({2, 3}, 1), b = randomTensor({4, 5}, 2);
  try {
    ops::matmul(a, b);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MatMul"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 5]"), std::string::npos) << msg;
  }
  EXPECT_THROW(ops::matmul(randomTensor({2, 2, 3}, 1), randomTensor({3, 3, 4}, 2)), ShapeError);
  EXPECT_THROW(ops::matmul(a, randomTensor({3, 2}, 1, DType::kFloat32)), TypeError);
  EXPECT_THROW(ops::matmul(Tensor::scalar(1.0, DType::kFloat64), a), ShapeError);
}

// Reference Gemm on doubles.
Tensor naiveGemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta, bool ta, bool tb) {
  Tensor oa = ta ? ops::transpose(a).contiguous() : a, ob = tb ? ops::transpose(b).contiguous() : b;
  Tensor y = naiveMatmul(oa, ob);
  const int64_t M = y.shape()[0], N = y.shape()[1];
  std::vector<double> v(M * N);
  Tensor cb = c.defined() ? ops::expand(c, {M, N}) : Tensor();
  for (int64_t i = 0; i < M * N; ++i) v[i] = alpha * y.at(i) + (c.defined() ? beta * cb.at(i) : 0.0);
  return Tensor::fromVector<double>(v, {M, N});
}

TEST(Gemm, FlagsAndBroadcastC) {
  const int64_t M = 3, K = 4, N = 5;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      Tensor a = randomTensor(ta ? Shape{K, M} : Shape{M, K}, 11);
      Tensor b = randomTensor(tb ? Shape{N, K} : Shape{K, N}, 12);
      for (const Shape& cs : {Shape{N}, Shape{M, 1}, Shape{}, Shape{M, N}}) {
        Tensor c = randomTensor(cs, 13);
        expectTensorNear(ops::gemm(a, b, c, 0.7, -1.3, ta, tb), naiveGemm(a, b, c, 0.7, -1.3, ta, tb), 1e-12, 1e-12);
      }
      expectTensorNear(ops::gemm(a, b, Tensor(), 2.0, 1.0, ta, tb), naiveGemm(a, b, Tensor(), 2.0, 1.0, ta, tb), 1e-12,
                       1e-12);
    }
  Tensor i = Tensor::fromVector<int32_t>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ops::gemm(i, i, Tensor::fromVector<int32_t>({1, 1}, {2}), 1, 2).toVector<int32_t>(),
            (std::vector<int32_t>{9, 12, 17, 24}));
}

TEST(Gemm, Errors) {
  Tensor a = randomTensor({3, 4}, 1), b = randomTensor({5, 6}, 2);
  try {
    ops::gemm(a, b);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Gemm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[5, 6]"), std::string::npos) << msg;
  }
  EXPECT_THROW(ops::gemm(a, randomTensor({4, 2}, 3), randomTensor({3, 3}, 4)), ShapeError);
  EXPECT_THROW(ops::gemm(randomTensor({2, 3, 4}, 1), b), ShapeError);
}

TEST(Gemm, Traced) {
  Tensor a = randomTensor({2, 3}, 1), b = randomTensor({4, 3}, 2), c = randomTensor({4}, 3);
  autograd::Tracer tracer;
  ops::gemm(a, b, c, 1.0, 1.0, false, true);
  ops::matmul(a, ops::transpose(b));
  ASSERT_EQ(tracer.records().size(), 3u);  // Gemm, Transpose, MatMul
  EXPECT_EQ(tracer.records()[0].opType, "Gemm");
  EXPECT_EQ(tracer.records()[0].inputs.size(), 3u);
  EXPECT_EQ(tracer.records()[0].attrs.getInt("transB"), 1);
  EXPECT_EQ(tracer.records()[2].opType, "MatMul");
}

// ---- gradients -------------------------------------------------------------------------------

Tensor grad(const Shape& s, uint64_t seed) { return randomTensor(s, seed).setRequiresGrad(); }

TEST(MatMulGrad, ShapesAndBroadcast) {
  auto mm = [](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); };
  expectGradientsMatch(mm, {grad({3, 4}, 1), grad({4, 2}, 2)});
  expectGradientsMatch(mm, {grad({4}, 3), grad({4, 2}, 4)});
  expectGradientsMatch(mm, {grad({3, 4}, 5), grad({4}, 6)});
  expectGradientsMatch(mm, {grad({4}, 7), grad({4}, 8)});
  expectGradientsMatch(mm, {grad({2, 3, 4}, 9), grad({4, 2}, 10)});
  expectGradientsMatch(mm, {grad({2, 1, 3, 4}, 11), grad({3, 4, 2}, 12)});
  // Only one side needs a gradient; transposed operand.
  Tensor fixed = randomTensor({2, 4}, 13);
  expectGradientsMatch([fixed](const std::vector<Tensor>& in) { return ops::matmul(in[0], ops::transpose(fixed)); },
                       {grad({3, 4}, 14)});
}

TEST(GemmGrad, AllFlags) {
  const int64_t M = 3, K = 4, N = 2;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      Tensor a = grad(ta ? Shape{K, M} : Shape{M, K}, 20), b = grad(tb ? Shape{N, K} : Shape{K, N}, 21);
      expectGradientsMatch(
          [ta, tb](const std::vector<Tensor>& in) { return ops::gemm(in[0], in[1], in[2], 0.8, 1.7, ta, tb); },
          {a, b, grad({N}, 22)});
      expectGradientsMatch([ta, tb](const std::vector<Tensor>& in) { return ops::gemm(in[0], in[1], Tensor(), 1.0, 1.0, ta, tb); },
                           {a, b});
    }
}

}  // namespace
}  // namespace singa
