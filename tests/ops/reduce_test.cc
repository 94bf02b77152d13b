// Reductions against a naive loop over every element (several axis sets, negative axes,
// keepdims, strided inputs, integer dtypes, the leading-axis fast path), ArgMax/ArgMin with ties,
// sumTo, traced attributes, and finite-difference gradient checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::expectGradientsMatch;

Tensor randomTensor(const Shape& shape, uint64_t seed, DType dtype = DType::kFloat64) {
  Tensor t(shape, DType::kFloat64);
  Generator g(seed);
  uniform_(t, -1.0, 1.0, g);
  return t.to(dtype);
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.at(i));
  return out;
}

// Reference: folds every element of x into the output slot its kept indices select.
std::vector<double> naiveReduce(const Tensor& x, std::vector<int64_t> axes, const std::string& op) {
  const int n = x.ndim();
  if (axes.empty()) {
    for (int i = 0; i < n; ++i) axes.push_back(i);
  }
  std::vector<bool> red(n, false);
  for (int64_t a : axes) red[a < 0 ? a + n : a] = true;
  int64_t outN = 1, count = 1;
  for (int i = 0; i < n; ++i) (red[i] ? count : outN) *= x.shape()[i];
  const double init = op == "max" ? -INFINITY : op == "min" ? INFINITY : op == "prod" ? 1.0 : 0.0;
  std::vector<double> out(outN, init);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    int64_t rem = flat, o = 0, mul = 1;
    for (int i = n - 1; i >= 0; --i) {
      const int64_t idx = rem % x.shape()[i];
      rem /= x.shape()[i];
      if (!red[i]) {
        o += idx * mul;
        mul *= x.shape()[i];
      }
    }
    const double v = x.at(flat);
    double& acc = out[o];
    if (op == "sum" || op == "mean") acc += v;
    if (op == "prod") acc *= v;
    if (op == "max") acc = std::max(acc, v);
    if (op == "min") acc = std::min(acc, v);
  }
  if (op == "mean") {
    for (double& v : out) v /= static_cast<double>(count);
  }
  return out;
}

using ReduceFn = std::function<Tensor(const Tensor&, const std::vector<int64_t>&, bool)>;

struct Named {
  const char* name;
  ReduceFn fn;
};

const std::vector<Named>& reductions() {
  static const std::vector<Named> r = {{"sum", ops::reduceSum},
                                       {"mean", ops::reduceMean},
                                       {"max", ops::reduceMax},
                                       {"min", ops::reduceMin},
                                       {"prod", ops::reduceProd}};
  return r;
}

void checkAgainstNaive(const Tensor& x, double tol) {
  const std::vector<std::vector<int64_t>> axisSets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, -2}, {0, 1}, {0, 1, 2}};
  for (const Named& r : reductions()) {
    for (const auto& axes : axisSets) {
      for (bool keep : {false, true}) {
        SCOPED_TRACE(std::string(r.name) + " keepdims=" + std::to_string(keep) + " axes=" + shapeStr(axes));
        Tensor y = r.fn(x, axes, keep);
        Shape expectShape;
        for (int i = 0; i < x.ndim(); ++i) {
          bool red = axes.empty();
          for (int64_t a : axes) red = red || (a < 0 ? a + x.ndim() : a) == i;
          if (!red) expectShape.push_back(x.shape()[i]);
          if (red && keep) expectShape.push_back(1);
        }
        EXPECT_EQ(y.shape(), expectShape);
        EXPECT_EQ(y.dtype(), x.dtype());
        const std::vector<double> ref = naiveReduce(x, axes, r.name), got = values(y);
        ASSERT_EQ(got.size(), ref.size());
        for (size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(got[k], ref[k], tol * (1 + std::fabs(ref[k]))) << k;
      }
    }
  }
}

TEST(Reduce, MatchesNaiveFloat64) { checkAgainstNaive(randomTensor({3, 4, 5}, 1), 1e-12); }

TEST(Reduce, MatchesNaiveFloat32Strided) {
  Tensor x = ops::transpose(randomTensor({4, 5, 3}, 2, DType::kFloat32), {2, 0, 1});
  ASSERT_FALSE(x.isContiguous());
  checkAgainstNaive(x, 1e-5);
}

TEST(Reduce, MatchesNaiveIntegers) {
  Tensor x = ops::cast(ops::mul(randomTensor({3, 4, 5}, 3), 3.0), DType::kInt32);
  for (const Named& r : reductions()) {
    if (std::string(r.name) == "mean" || std::string(r.name) == "prod") continue;  // truncation / overflow
    for (const std::vector<int64_t>& axes : {std::vector<int64_t>{1}, std::vector<int64_t>{0, 2}}) {
      EXPECT_EQ(values(r.fn(x, axes, false)), naiveReduce(x, axes, r.name)) << r.name;
    }
  }
  Tensor small = Tensor::fromVector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(values(ops::reduceProd(small, {1})), (std::vector<double>{6, 120}));
  EXPECT_EQ(values(ops::reduceMean(small, {0})), (std::vector<double>{2, 3, 4}));  // integer division
  EXPECT_EQ(ops::reduceSum(small).dtype(), DType::kInt64);
  // Integer sums wrap modulo 2^64 (NumPy's behaviour; accumulating in int64 overflowed, undefined).
  const int64_t big = int64_t{1} << 62;
  Tensor wraps = Tensor::fromVector<int64_t>({big, big, big, 5}, {4});
  EXPECT_EQ(ops::reduceSum(wraps).toVector<int64_t>(), (std::vector<int64_t>{-big + 5}));  // 3 * 2^62 + 5 mod 2^64
  Tensor negatives = Tensor::fromVector<int32_t>({-7, -2}, {2});
  EXPECT_EQ(ops::reduceMean(negatives, {0}).toVector<int32_t>(), (std::vector<int32_t>{-4}));  // -9 / 2 truncates
  EXPECT_EQ(ops::reduceProd(Tensor::fromVector<uint16_t>({65535, 65535}, {2}), {0}).toVector<uint16_t>(),
            (std::vector<uint16_t>{1}));
}

TEST(Reduce, LeadingAxisFastPath) {
  Tensor x = randomTensor({64, 500}, 4, DType::kFloat32);
  EXPECT_EQ(values(ops::reduceSum(x, {0})).size(), 500u);
  std::vector<double> got = values(ops::reduceSum(x, {0})), ref = naiveReduce(x, {0}, "sum");
  for (size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(got[k], ref[k], 1e-4);
  got = values(ops::reduceMax(x, {0}, true));
  EXPECT_EQ(got, naiveReduce(x, {0}, "max"));
}

TEST(Reduce, ScalarsEmptyAndErrors) {
  Tensor s = Tensor::scalar(3.0, DType::kFloat64);
  EXPECT_EQ(ops::reduceSum(s).item(), 3.0);
  EXPECT_EQ(ops::reduceSum(Tensor({2, 0})).item(), 0.0);
  EXPECT_EQ(values(ops::reduceSum(Tensor({2, 0}), {1})), (std::vector<double>{0, 0}));
  EXPECT_THROW(ops::reduceMax(Tensor({2, 0}), {1}), ShapeError);
  EXPECT_THROW(ops::reduceSum(randomTensor({2, 3}, 5), {2}), ValueError);
  EXPECT_THROW(ops::reduceSum(randomTensor({2, 3}, 5), {1, -1}), ValueError);
}

TEST(Reduce, NaNPropagatesThroughMax) {
  Tensor x = Tensor::fromVector<double>({1, NAN, 3, 0}, {2, 2});
  std::vector<double> m = values(ops::reduceMax(x, {1}));
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], 3);
}

TEST(Reduce, RowsOfInfinityKeepIt) {
  // A fully masked attention row: max of -inf is -inf (not the lowest finite float).
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::fromVector<float>({-inf, -inf, 1, -inf, inf, inf}, {3, 2});
  std::vector<double> mx = values(ops::reduceMax(x, {1}));
  std::vector<double> mn = values(ops::reduceMin(x, {1}));
  EXPECT_EQ(mx[0], -inf);
  EXPECT_EQ(mx[1], 1);
  EXPECT_EQ(mn[2], inf);
}

TEST(Reduce, Traced) {
  Tensor x = randomTensor({2, 3}, 6);
  autograd::Tracer tracer;
  ops::reduceMean(x, {-1}, true);
  ops::reduceSum(x);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "ReduceMean");
  EXPECT_EQ(tracer.records()[0].attrs.getInts("axes"), (std::vector<int64_t>{1}));
  EXPECT_EQ(tracer.records()[0].attrs.getInt("keepdims"), 1);
  EXPECT_EQ(tracer.records()[1].attrs.getInts("axes"), (std::vector<int64_t>{0, 1}));
}

TEST(ArgMaxMin, TiesAndKeepDims) {
  Tensor x = Tensor::fromVector<float>({1, 3, 3, 2, 2, 0}, {2, 3});
  Tensor a = ops::argmax(x, 1, false);
  EXPECT_EQ(a.dtype(), DType::kInt64);
  EXPECT_EQ(values(a), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(ops::argmax(x, -1, false, true)), (std::vector<double>{2, 1}));
  EXPECT_EQ(values(ops::argmin(x, 1, false)), (std::vector<double>{0, 2}));
  EXPECT_EQ(values(ops::argmin(x, 0, false, true)), (std::vector<double>{0, 1, 1}));
  Tensor k = ops::argmax(x, 0);
  EXPECT_EQ(k.shape(), (Shape{1, 3}));
  EXPECT_EQ(values(k), (std::vector<double>{1, 0, 0}));
  Tensor i = Tensor::fromVector<int64_t>({5, -1, 7, 7}, {4});
  EXPECT_EQ(ops::argmax(i, 0, false).item(), 2);
  EXPECT_EQ(ops::argmin(i, 0, false).item(), 1);
  EXPECT_THROW(ops::argmax(x, 2), ValueError);
}

TEST(SumTo, InvertsBroadcasting) {
  Tensor x = randomTensor({2, 3, 4}, 7);
  Tensor y = ops::sumTo(x, {3, 1});
  EXPECT_EQ(y.shape(), (Shape{3, 1}));
  std::vector<double> ref = naiveReduce(x, {0, 2}, "sum"), got = values(y);
  for (size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(got[k], ref[k], 1e-12);
  EXPECT_EQ(ops::sumTo(x, {4}).shape(), (Shape{4}));
  EXPECT_NEAR(ops::sumTo(x, {}).item(), naiveReduce(x, {}, "sum")[0], 1e-12);
  EXPECT_TRUE(ops::sumTo(x, {2, 3, 4}).sharesStorage(x));
  EXPECT_THROW(ops::sumTo(x, {5}), ShapeError);
  EXPECT_THROW(ops::sumTo(x, {1, 2, 3, 4}), ShapeError);
  autograd::Tracer tracer;
  ops::sumTo(x, {4});
  EXPECT_TRUE(tracer.records().empty());
}

// ---- gradients -------------------------------------------------------------------------------

Tensor grad(const Shape& s, uint64_t seed) { return randomTensor(s, seed).setRequiresGrad(); }

TEST(ReduceGrad, SumAndMean) {
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceSum(in[0], {1}); }, {grad({2, 3, 4}, 10)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceSum(in[0]); }, {grad({2, 3}, 11)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceMean(in[0], {0, -1}, true); },
                       {grad({2, 3, 4}, 12)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::sumTo(in[0], {3, 1}); }, {grad({2, 3, 4}, 13)});
}

TEST(ReduceGrad, MaxMinProd) {
  // Distinct random values keep every extremum unique (the gradient is defined).
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceMax(in[0], {1}); }, {grad({3, 4}, 14)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceMin(in[0], {0, 2}, true); },
                       {grad({2, 3, 4}, 15)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceMax(in[0]); }, {grad({5}, 16)});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceProd(in[0], {1}); }, {grad({3, 4}, 17)});
  Tensor withZero = Tensor::fromVector<double>({0.5, 0.0, -1.5, 2.0, 0.7, 1.1}, {2, 3});
  withZero.setRequiresGrad();
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceProd(in[0], {1}); }, {withZero});
  // Max over a transposed (strided) input.
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reduceMax(ops::transpose(in[0]), {1}); },
                       {grad({4, 3}, 18)});
}

}  // namespace
}  // namespace singa
