// Linear algebra: MatMul (NumPy semantics: 1-D operands promoted to a row / column matrix, batch
// dims broadcast) and Gemm (alpha op(A) op(B) + beta C). Both run the CPU GEMM kernel straight
// from the operands' strides, so the gradients are written as products with transposed *views*
// (dA = g B^T, dB = A^T g) and never copy a weight to transpose it.
#include "singa/ops/ops.h"
#include "singa/ops/op_util.h"

namespace singa::ops {
namespace {

// Promotes a 1-D matmul operand to 2-D ([1, K] on the left, [K, 1] on the right) as a plain view.
Tensor promote(const Tensor& t, bool left) {
  if (t.ndim() != 1) return t;
  const int64_t n = t.shape()[0], s = t.strides()[0];
  return left ? makeView(t, {1, n}, {n * s, s}, t.offset()) : makeView(t, {n, 1}, {s, 1}, t.offset());
}

// Swaps the last two dims (a view).
Tensor transposeLast2(const Tensor& t) {
  std::vector<int64_t> perm(t.ndim());
  for (int i = 0; i < t.ndim(); ++i) perm[i] = i;
  std::swap(perm[t.ndim() - 1], perm[t.ndim() - 2]);
  return transpose(t, perm);
}

struct MatMulShapes {
  Shape promoted;  // [batch..., M, N]
  Shape result;    // with the promoted 1-D dims removed
};

MatMulShapes matmulShapes(const Tensor& a, const Tensor& b, const Tensor& a2, const Tensor& b2) {
  const int ra = a2.ndim(), rb = b2.ndim();
  SINGA_CHECK(a2.shape()[ra - 1] == b2.shape()[rb - 2], ShapeError,
              "MatMul: inner dimensions do not match: a has shape " << a.shape() << " and b " << b.shape() << " ("
                                                                    << a2.shape()[ra - 1] << " vs "
                                                                    << b2.shape()[rb - 2]
                                                                    << "); a's last dim must equal b's second-to-last");
  const Shape ab(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcastShapes(ab, bb, "MatMul");
  } catch (const ShapeError&) {
    SINGA_THROW(ShapeError, "MatMul: batch dimensions of a " << a.shape() << " and b " << b.shape()
                                                             << " cannot be broadcast together");
  }
  MatMulShapes s;
  s.promoted = batch;
  s.promoted.push_back(a2.shape()[ra - 2]);
  s.promoted.push_back(b2.shape()[rb - 1]);
  s.result = batch;
  if (a.ndim() != 1) s.result.push_back(a2.shape()[ra - 2]);
  if (b.ndim() != 1) s.result.push_back(b2.shape()[rb - 1]);
  return s;
}

void checkSameDType(const char* op, const Tensor& a, const Tensor& b, const char* na, const char* nb) {
  SINGA_CHECK(a.dtype() == b.dtype(), TypeError,
              op << ": " << na << " is " << dtypeName(a.dtype()) << " but " << nb << " is " << dtypeName(b.dtype())
                 << "; cast one of them first");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::requireDefined("MatMul", a, "a");
  detail::requireDefined("MatMul", b, "b");
  checkSameDType("MatMul", a, b, "a", "b");
  SINGA_CHECK(a.ndim() >= 1 && b.ndim() >= 1, ShapeError,
              "MatMul: operands must have at least one dimension, got a " << a.shape() << " and b " << b.shape());
  const Tensor a2 = promote(a, true), b2 = promote(b, false);
  const MatMulShapes s = matmulShapes(a, b, a2, b2);
  Tensor y = detail::runOp1(OpId::kMatMul, a.dtype(), {a2, b2}, s.promoted, a.dtype());
  y = makeView(y, s.result, contiguousStrides(s.result), 0);
  const Shape promoted = s.promoted;
  return detail::finish1("MatMul", Attrs(), {a, b}, y, [a, b, promoted](const std::vector<Tensor>& g) {
    const Tensor a2 = promote(a, true), b2 = promote(b, false);
    const Tensor g2 = reshape(g[0], promoted, true);
    Tensor ga, gb;
    if (detail::wantsGrad(a)) ga = reshape(sumTo(matmul(g2, transposeLast2(b2)), a2.shape()), a.shape(), true);
    if (detail::wantsGrad(b)) gb = reshape(sumTo(matmul(transposeLast2(a2), g2), b2.shape()), b.shape(), true);
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta, bool transA,
            bool transB) {
  detail::requireDefined("Gemm", a, "A");
  detail::requireDefined("Gemm", b, "B");
  checkSameDType("Gemm", a, b, "A", "B");
  SINGA_CHECK(a.ndim() == 2 && b.ndim() == 2, ShapeError,
              "Gemm: A and B must be 2-D, got A " << a.shape() << " and B " << b.shape());
  const int64_t M = a.shape()[transA ? 1 : 0], K = a.shape()[transA ? 0 : 1];
  const int64_t Kb = b.shape()[transB ? 1 : 0], N = b.shape()[transB ? 0 : 1];
  SINGA_CHECK(K == Kb, ShapeError,
              "Gemm: inner dimensions do not match: A " << a.shape() << (transA ? " (transposed)" : "") << " and B "
                                                        << b.shape() << (transB ? " (transposed)" : "") << " give K = "
                                                        << K << " vs " << Kb);
  const Shape out{M, N};
  std::vector<Tensor> inputs{a, b};
  if (c.defined()) {
    checkSameDType("Gemm", a, c, "A", "C");
    Shape bc;
    try {
      bc = broadcastShapes(c.shape(), out, "Gemm");
    } catch (const ShapeError&) {
      bc.clear();
    }
    SINGA_CHECK(bc == out, ShapeError,
                "Gemm: C of shape " << c.shape() << " does not broadcast to the result shape " << out << " (A "
                                    << a.shape() << ", B " << b.shape() << ")");
    inputs.push_back(c);
  }
  Attrs attrs{{"alpha", alpha}, {"beta", beta}, {"transA", int64_t(transA ? 1 : 0)}, {"transB", int64_t(transB ? 1 : 0)}};
  const KernelParams kp = GemmParams{alpha, beta, transA, transB};
  Tensor y = detail::runOp1(OpId::kGemm, a.dtype(), inputs, out, a.dtype(), Attrs(), &kp);
  return detail::finish1("Gemm", attrs, inputs, y, [a, b, c, alpha, beta, transA, transB](const std::vector<Tensor>& g) {
    const Tensor& gy = g[0];  // [M, N]
    std::vector<Tensor> grads(c.defined() ? 3 : 2);
    if (detail::wantsGrad(a)) {
      // dA = alpha g op(B)^T, or its transpose when A is stored transposed.
      grads[0] = transA ? gemm(b, gy, Tensor(), alpha, 0.0, transB, true)
                        : gemm(gy, b, Tensor(), alpha, 0.0, false, !transB);
    }
    if (detail::wantsGrad(b)) {
      // dB = alpha op(A)^T g, or its transpose when B is stored transposed.
      grads[1] = transB ? gemm(gy, a, Tensor(), alpha, 0.0, true, transA)
                        : gemm(a, gy, Tensor(), alpha, 0.0, !transA, false);
    }
    if (c.defined() && detail::wantsGrad(c)) {
      Tensor gc = sumTo(gy, c.shape());
      grads[2] = beta == 1.0 ? gc : mul(gc, beta);
    }
    return grads;
  });
}

}  // namespace singa::ops
