// Elementwise ops: forward values against std:: math and naive loops written here, every dtype
// family, broadcasting (0-d, size 0, [2,1,3] + [4,1], strided views, multi-threaded sizes),
// traced attributes, error messages, and a finite-difference gradient check per differentiable op.
#include <gtest/gtest.h>

#include <limits>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "singa/singa.h"

namespace singa {
namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;
using RefFn = std::function<double(double)>;

Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::fromVector<double>(v, s); }
Tensor f32(const std::vector<float>& v, const Shape& s) { return Tensor::fromVector<float>(v, s); }

std::vector<double> values(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.at(i));
  return out;
}

/// Expects `what()` to throw E with every one of `parts` in its message.
template <class E>
void expectThrowMentions(const std::function<void()>& what, const std::vector<std::string>& parts) {
  try {
    what();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << " lacks " << p;
  }
}

double sigmoidRef(double x) { return 1.0 / (1.0 + std::exp(-x)); }
const double kSeluAlpha = 1.67326319217681884765625, kSeluGamma = 1.05070102214813232421875;

struct UnaryCase {
  const char* name;
  UnaryFn op;
  RefFn ref;
  std::vector<double> xs;  // forward inputs
  std::vector<double> gx;  // gradcheck inputs, away from kinks (empty: not differentiable)
};

const std::vector<double> kAny = {-2.5, -1.2, -0.3, 0.0, 0.4, 1.1, 2.7};
const std::vector<double> kAnyGrad = {-2.1, -0.7, -0.2, 0.3, 0.9, 1.7};
const std::vector<double> kPos = {0.1, 0.5, 1.0, 2.3, 7.0};
const std::vector<double> kPosGrad = {0.3, 0.6, 1.1, 1.9, 2.4, 3.3};
const std::vector<double> kUnit = {-0.9, -0.4, 0.0, 0.3, 0.8};
const std::vector<double> kUnitGrad = {-0.75, -0.4, -0.1, 0.2, 0.5, 0.7};

std::vector<UnaryCase> unaryCases() {
  return {
      {"abs", ops::abs, [](double x) { return std::fabs(x); }, kAny, kAnyGrad},
      {"neg", ops::neg, [](double x) { return -x; }, kAny, kAnyGrad},
      {"sign", ops::sign, [](double x) { return double((x > 0) - (x < 0)); }, kAny, kAnyGrad},
      {"exp", ops::exp, [](double x) { return std::exp(x); }, kAny, kAnyGrad},
      {"log", ops::log, [](double x) { return std::log(x); }, kPos, kPosGrad},
      {"sqrt", ops::sqrt, [](double x) { return std::sqrt(x); }, kPos, kPosGrad},
      {"reciprocal", ops::reciprocal, [](double x) { return 1 / x; }, kPos, kAnyGrad},
      {"sin", ops::sin, [](double x) { return std::sin(x); }, kAny, kAnyGrad},
      {"cos", ops::cos, [](double x) { return std::cos(x); }, kAny, kAnyGrad},
      {"tan", ops::tan, [](double x) { return std::tan(x); }, kUnit, kUnitGrad},
      {"asin", ops::asin, [](double x) { return std::asin(x); }, kUnit, kUnitGrad},
      {"acos", ops::acos, [](double x) { return std::acos(x); }, kUnit, kUnitGrad},
      {"atan", ops::atan, [](double x) { return std::atan(x); }, kAny, kAnyGrad},
      {"sinh", ops::sinh, [](double x) { return std::sinh(x); }, kAny, kAnyGrad},
      {"cosh", ops::cosh, [](double x) { return std::cosh(x); }, kAny, kAnyGrad},
      {"tanh", ops::tanh, [](double x) { return std::tanh(x); }, kAny, kAnyGrad},
      {"asinh", ops::asinh, [](double x) { return std::asinh(x); }, kAny, kAnyGrad},
      {"acosh", ops::acosh, [](double x) { return std::acosh(x); }, {1.0, 1.3, 2.0, 5.0}, {1.25, 1.6, 2.2, 4.0}},
      {"atanh", ops::atanh, [](double x) { return std::atanh(x); }, kUnit, kUnitGrad},
      {"erf", ops::erf, [](double x) { return std::erf(x); }, kAny, kAnyGrad},
      {"floor", ops::floor, [](double x) { return std::floor(x); }, kAny, kAnyGrad},
      {"ceil", ops::ceil, [](double x) { return std::ceil(x); }, kAny, kAnyGrad},
      {"round", ops::round, [](double x) { return std::nearbyint(x); }, kAny, kAnyGrad},
      {"sigmoid", ops::sigmoid, sigmoidRef, kAny, kAnyGrad},
      {"relu", ops::relu, [](double x) { return x > 0 ? x : 0; }, kAny, kAnyGrad},
      {"softplus", ops::softplus, [](double x) { return std::log(1 + std::exp(x)); }, kAny, kAnyGrad},
      {"softsign", ops::softsign, [](double x) { return x / (1 + std::fabs(x)); }, kAny, kAnyGrad},
      {"elu", [](const Tensor& x) { return ops::elu(x, 0.7); },
       [](double x) { return x > 0 ? x : 0.7 * (std::exp(x) - 1); }, kAny, kAnyGrad},
      {"selu", [](const Tensor& x) { return ops::selu(x); },
       [](double x) { return x > 0 ? kSeluGamma * x : kSeluGamma * kSeluAlpha * (std::exp(x) - 1); }, kAny,
       kAnyGrad},
      {"leakyRelu", [](const Tensor& x) { return ops::leakyRelu(x, 0.1); },
       [](double x) { return x >= 0 ? x : 0.1 * x; }, kAny, kAnyGrad},
      {"hardSigmoid", [](const Tensor& x) { return ops::hardSigmoid(x, 0.3, 0.4); },
       [](double x) { return std::fmax(0.0, std::fmin(1.0, 0.3 * x + 0.4)); }, kAny, kAnyGrad},
      {"hardSwish", ops::hardSwish,
       [](double x) { return x * std::fmax(0.0, std::fmin(1.0, x / 6 + 0.5)); }, {-4, -3, -1, 0, 2, 3, 5},
       {-3.5, -2.0, -0.5, 0.7, 2.5, 3.4}},
      {"celu", [](const Tensor& x) { return ops::celu(x, 0.8); },
       [](double x) { return std::fmax(0.0, x) + std::fmin(0.0, 0.8 * (std::exp(x / 0.8) - 1)); }, kAny,
       kAnyGrad},
      {"thresholdedRelu", [](const Tensor& x) { return ops::thresholdedRelu(x, 0.5); },
       [](double x) { return x > 0.5 ? x : 0; }, kAny, kAnyGrad},
      {"clip", [](const Tensor& x) { return ops::clip(x, -1.0, 1.5); },
       [](double x) { return std::fmin(1.5, std::fmax(-1.0, x)); }, kAny, kAnyGrad},
      {"clipMinOnly", [](const Tensor& x) { return ops::clip(x, -1.0, std::nullopt); },
       [](double x) { return std::fmax(-1.0, x); }, kAny, kAnyGrad},
      {"identity", ops::identity, [](double x) { return x; }, kAny, kAnyGrad},
  };
}

TEST(ElementwiseUnary, ForwardMatchesStdMathInBothFloatTypes) {
  for (const UnaryCase& c : unaryCases()) {
    SCOPED_TRACE(c.name);
    const int64_t n = static_cast<int64_t>(c.xs.size());
    Tensor x64 = f64(c.xs, {n});
    Tensor y64 = c.op(x64);
    EXPECT_EQ(y64.dtype(), DType::kFloat64);
    ASSERT_EQ(y64.shape(), x64.shape());
    std::vector<float> xf(c.xs.begin(), c.xs.end());
    Tensor y32 = c.op(f32(xf, {n}));
    EXPECT_EQ(y32.dtype(), DType::kFloat32);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(y64.at(i), c.ref(c.xs[i]), 1e-12 + 1e-12 * std::fabs(c.ref(c.xs[i]))) << "x=" << c.xs[i];
      const double r32 = c.ref(static_cast<double>(xf[i]));
      EXPECT_NEAR(y32.at(i), r32, 1e-6 + 1e-6 * std::fabs(r32)) << "x=" << c.xs[i];
    }
  }
}

TEST(ElementwiseUnary, GradientsMatchFiniteDifferences) {
  for (const UnaryCase& c : unaryCases()) {
    SCOPED_TRACE(c.name);
    Tensor x = f64(c.gx, {static_cast<int64_t>(c.gx.size())});
    x.setRequiresGrad();
    test::expectGradientsMatch([&](const std::vector<Tensor>& in) { return c.op(in[0]); }, {x});
  }
}

TEST(ElementwiseUnary, RoundIsHalfToEven) {
  Tensor y = ops::round(f32({-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 2.4f, 2.6f}, {8}));
  EXPECT_EQ(values(y), (std::vector<double>{-2, -2, 0, 0, 2, 2, 2, 3}));
}

TEST(ElementwiseUnary, StableAtExtremes) {
  Tensor y = ops::softplus(f32({100.f, -100.f}, {2}));
  EXPECT_FLOAT_EQ(y.at(0), 100.f);
  EXPECT_NEAR(y.at(1), 0.0, 1e-30);
  Tensor s = ops::sigmoid(f32({-100.f, 100.f}, {2}));
  EXPECT_FALSE(std::isnan(s.at(0)));
  EXPECT_NEAR(s.at(0), 0.0, 1e-30);
  EXPECT_EQ(s.at(1), 1.0);
  Tensor c = ops::clip(f32({-INFINITY, INFINITY, NAN}, {3}), std::nullopt, std::nullopt);
  EXPECT_EQ(c.at(0), -INFINITY);
  EXPECT_EQ(c.at(1), INFINITY);
  EXPECT_TRUE(std::isnan(c.at(2)));
}

template <class T>
void checkIntegerUnary(bool isSigned) {
  SCOPED_TRACE(dtypeName(DTypeOf<T>::value));
  std::vector<T> xs = isSigned ? std::vector<T>{T(-7), T(-1), T(0), T(3), T(100)}
                               : std::vector<T>{T(0), T(1), T(3), T(100), T(250)};
  Tensor x = Tensor::fromVector<T>(xs, {5});
  Tensor a = ops::abs(x), s = ops::sign(x), r = ops::relu(x), c = ops::clip(x, -2.0, 50.0), id = ops::identity(x);
  for (Tensor t : {a, s, r, c, id}) EXPECT_EQ(t.dtype(), DTypeOf<T>::value);
  for (int i = 0; i < 5; ++i) {
    const double v = static_cast<double>(xs[i]);
    EXPECT_EQ(a.at(i), std::fabs(v));
    EXPECT_EQ(s.at(i), (v > 0) - (v < 0));
    EXPECT_EQ(r.at(i), v > 0 ? v : 0);
    EXPECT_EQ(c.at(i), std::fmin(50.0, std::fmax(isSigned ? -2.0 : 0.0, v)));
    EXPECT_EQ(id.at(i), v);
  }
  if (isSigned) {
    Tensor n = ops::neg(x);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(n.at(i), -static_cast<double>(xs[i]));
  } else {
    EXPECT_THROW(ops::neg(x), TypeError);
  }
}

TEST(ElementwiseUnary, IntegerDtypes) {
  checkIntegerUnary<int8_t>(true);
  checkIntegerUnary<int16_t>(true);
  checkIntegerUnary<int32_t>(true);
  checkIntegerUnary<int64_t>(true);
  checkIntegerUnary<uint8_t>(false);
  // Bounds beyond the dtype's range clamp instead of overflowing.
  Tensor c = ops::clip(Tensor::fromVector<int8_t>({-128, 5, 127}, {3}), -1e9, 1e9);
  EXPECT_EQ(values(c), (std::vector<double>{-128, 5, 127}));
}

TEST(ElementwiseUnary, ErrorsNameTheOp) {
  expectThrowMentions<TypeError>([] { ops::exp(Tensor::fromVector<int32_t>({1}, {1})); }, {"Exp", "int32"});
  expectThrowMentions<ValueError>([] { ops::celu(f32({1.f}, {1}), 0.0); }, {"Celu", "alpha"});
  EXPECT_THROW(ops::relu(Tensor()), ValueError);
}

TEST(ElementwiseUnary, StridedInputsAndLargeSizes) {
  // A transposed view [40, 3000] of a [3000, 40] tensor: large enough for several threads.
  const int64_t r = 3000, c = 40;
  Tensor base({r, c}, DType::kFloat32);
  float* p = base.data<float>();
  for (int64_t i = 0; i < r * c; ++i) p[i] = static_cast<float>((i * 7919) % 1001) / 100.0f - 5.0f;
  Tensor view = makeView(base, {c, r}, {1, c}, 0);
  ASSERT_FALSE(view.isContiguous());
  Tensor y = ops::relu(view), g = ops::exp(view);
  for (int64_t i = 0; i < c; i += 7) {
    for (int64_t j = 0; j < r; j += 13) {
      const float v = p[j * c + i];
      EXPECT_EQ(y.at(i * r + j), v > 0 ? v : 0);
      EXPECT_FLOAT_EQ(static_cast<float>(g.at(i * r + j)), std::exp(v));
    }
  }
  EXPECT_EQ(ops::relu(Tensor::zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(ops::sigmoid(Tensor::scalar(0.0)).item(), 0.5);
}

TEST(ElementwiseUnary, TraceRecordsOnnxTypesAndAttributes) {
  Tensor x = f32({1.f, -2.f}, {2});
  autograd::Tracer tracer;
  ops::clip(x, std::nullopt, 2.0);
  ops::clip(x, -1.0, 2.0);
  ops::selu(x);
  ops::leakyRelu(x, 0.2);
  ops::hardSigmoid(x);
  ops::thresholdedRelu(x, 0.3);
  ops::relu(x);
  const auto& recs = tracer.records();
  ASSERT_EQ(recs.size(), 7u);
  EXPECT_EQ(recs[0].opType, "Clip");
  EXPECT_FALSE(recs[0].attrs.has("min"));
  EXPECT_EQ(recs[0].attrs.getFloat("max"), 2.0);
  EXPECT_EQ(recs[1].attrs.getFloat("min"), -1.0);
  EXPECT_EQ(recs[2].opType, "Selu");
  EXPECT_EQ(recs[2].attrs.getFloat("alpha"), kSeluAlpha);
  EXPECT_EQ(recs[2].attrs.getFloat("gamma"), kSeluGamma);
  EXPECT_EQ(recs[3].opType, "LeakyRelu");
  EXPECT_EQ(recs[3].attrs.getFloat("alpha"), 0.2);
  EXPECT_EQ(recs[4].opType, "HardSigmoid");
  EXPECT_EQ(recs[4].attrs.getFloat("beta"), 0.5);
  EXPECT_EQ(recs[5].opType, "ThresholdedRelu");
  EXPECT_EQ(recs[6].opType, "Relu");
  EXPECT_TRUE(recs[6].attrs.all().empty());
}

TEST(ElementwiseUnary, BackwardRulesDoNotKeepTheirOutputAlive) {
  // Rules built from the output hold a detached view: dropping the output frees its node.
  Tensor x = f32({0.5f, -1.f}, {2});
  x.setRequiresGrad();
  std::weak_ptr<autograd::Node> node;
  {
    Tensor y = ops::sigmoid(x);
    node = y.gradFn();
    ASSERT_FALSE(node.expired());
  }
  EXPECT_TRUE(node.expired());
}

// ---- binary -------------------------------------------------------------------------------

/// Naive NumPy broadcasting for rank-3 outputs: operands right-aligned, size-1 dims repeat.
double bcastAt(const Tensor& t, int64_t i0, int64_t i1, int64_t i2) {
  const int64_t idx[3] = {i0, i1, i2};
  const int off = 3 - t.ndim();
  int64_t flat = 0;
  for (int d = 0; d < t.ndim(); ++d) {
    const int64_t size = t.shape()[d];
    flat = flat * size + (size == 1 ? 0 : idx[d + off]);
  }
  return t.at(flat);
}

void expectBroadcastMatches(const Tensor& y, const Tensor& a, const Tensor& b,
                            const std::function<double(double, double)>& ref, double tol = 1e-12) {
  const Shape& s = y.shape();
  ASSERT_EQ(s.size(), 3u);
  for (int64_t i = 0; i < s[0]; ++i)
    for (int64_t j = 0; j < s[1]; ++j)
      for (int64_t k = 0; k < s[2]; ++k) {
        const double e = ref(bcastAt(a, i, j, k), bcastAt(b, i, j, k));
        EXPECT_NEAR(y.at((i * s[1] + j) * s[2] + k), e, tol + tol * std::fabs(e)) << i << "," << j << "," << k;
      }
}

TEST(ElementwiseBinary, BroadcastArithmeticFloat) {
  Tensor a = f64({0.5, 1.5, -2.0, 3.0, -0.25, 4.0}, {2, 1, 3});
  Tensor b = f64({1.25, -0.5, 2.0, 3.5}, {4, 1});
  struct Case {
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<double(double, double)> ref;
  };
  const std::vector<Case> cases = {
      {[](const Tensor& x, const Tensor& y) { return ops::add(x, y); }, [](double x, double y) { return x + y; }},
      {[](const Tensor& x, const Tensor& y) { return ops::sub(x, y); }, [](double x, double y) { return x - y; }},
      {[](const Tensor& x, const Tensor& y) { return ops::mul(x, y); }, [](double x, double y) { return x * y; }},
      {[](const Tensor& x, const Tensor& y) { return ops::div(x, y); }, [](double x, double y) { return x / y; }},
      {ops::maximum, [](double x, double y) { return std::fmax(x, y); }},
      {ops::minimum, [](double x, double y) { return std::fmin(x, y); }},
      {[](const Tensor& x, const Tensor& y) { return ops::mod(x, y, true); },
       [](double x, double y) { return std::fmod(x, y); }},
      {[](const Tensor& x, const Tensor& y) { return ops::pow(ops::abs(x), y); },
       [](double x, double y) { return std::pow(std::fabs(x), y); }},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE(c);
    Tensor y = cases[c].op(a, b);
    EXPECT_EQ(y.shape(), (Shape{2, 4, 3}));
    expectBroadcastMatches(y, c == 7 ? ops::abs(a) : a, b, [&](double x, double v) {
      return c == 7 ? std::pow(x, v) : cases[c].ref(x, v);
    });
  }
}

TEST(ElementwiseBinary, SpecialShapes) {
  // 0-d with 0-d, 0-d with n-d, size-0 outputs.
  EXPECT_EQ(ops::add(Tensor::scalar(2.0), Tensor::scalar(3.0)).item(), 5.0);
  Tensor v = ops::mul(Tensor::scalar(2.0), f32({1.f, 2.f, 3.f}, {3}));
  EXPECT_EQ(v.shape(), (Shape{3}));
  EXPECT_EQ(values(v), (std::vector<double>{2, 4, 6}));
  Tensor e = ops::add(Tensor::zeros({0, 3}), f32({1.f, 2.f, 3.f}, {3}));
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(ops::sub(Tensor({2, 0}), Tensor::zeros({1, 1})).shape(), (Shape{2, 0}));
  EXPECT_EQ(ops::less(Tensor::zeros({0}), Tensor::scalar(1.0)).dtype(), DType::kBool);
}

TEST(ElementwiseBinary, StridedAndLargeBroadcasts) {
  // Bias-style [N, C, H, W] + [1, C, 1, 1], row-style [N, F] + [F], and an outer product, each
  // big enough to be split across threads mid-row; plus a transposed (strided) operand.
  const int64_t n = 6, ch = 7, hw = 1111;
  Tensor x({n, ch, hw}, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 97) * 0.5f;
  Tensor biasF({1, ch, 1}, DType::kFloat32);
  for (int64_t c = 0; c < ch; ++c) biasF.data<float>()[c] = static_cast<float>(c) + 0.25f;
  Tensor y = ops::add(x, biasF);
  for (int64_t i = 0; i < x.numel(); i += 37) {
    const int64_t c = (i / hw) % ch;
    EXPECT_EQ(y.at(i), x.at(i) + biasF.at(c)) << i;
  }
  Tensor col = Tensor::full({40000, 1}, 2.0), row = f32({1.f, 2.f, 3.f}, {3});
  Tensor outer = ops::mul(col, row);
  EXPECT_EQ(outer.shape(), (Shape{40000, 3}));
  for (int64_t i = 0; i < outer.numel(); i += 1001) EXPECT_EQ(outer.at(i), 2.0 * (1 + i % 3));
  Tensor base = Tensor::fromVector<double>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = makeView(base, {3, 2}, {1, 3}, 0);  // base transposed
  Tensor s = ops::sub(t, f64({10, 20}, {2}));
  EXPECT_EQ(values(s), (std::vector<double>{-10, -17, -9, -16, -8, -15}));
}

template <class T>
void checkIntegerBinary() {
  SCOPED_TRACE(dtypeName(DTypeOf<T>::value));
  Tensor a = Tensor::fromVector<T>({T(-7), T(7), T(-7), T(7), T(6), T(0)}, {6});
  Tensor b = Tensor::fromVector<T>({T(2), T(-2), T(-2), T(2), T(0), T(3)}, {6});
  EXPECT_EQ(ops::add(a, b).dtype(), DTypeOf<T>::value);
  EXPECT_EQ(values(ops::add(a, b)), (std::vector<double>{-5, 5, -9, 9, 6, 3}));
  EXPECT_EQ(values(ops::sub(a, b)), (std::vector<double>{-9, 9, -5, 5, 6, -3}));
  EXPECT_EQ(values(ops::mul(a, b)), (std::vector<double>{-14, -14, 14, 14, 0, 0}));
  // Truncation toward zero; division by zero gives 0 rather than trapping.
  EXPECT_EQ(values(ops::div(a, b)), (std::vector<double>{-3, -3, 3, 3, 0, 0}));
  EXPECT_EQ(values(ops::mod(a, b)), (std::vector<double>{1, -1, -1, 1, 0, 0}));        // sign of divisor
  EXPECT_EQ(values(ops::mod(a, b, true)), (std::vector<double>{-1, 1, -1, 1, 0, 0}));  // sign of dividend
  EXPECT_EQ(values(ops::maximum(a, b)), (std::vector<double>{2, 7, -2, 7, 6, 3}));
  EXPECT_EQ(values(ops::minimum(a, b)), (std::vector<double>{-7, -2, -7, 2, 0, 0}));
  EXPECT_EQ(values(ops::add(a, 3.0)), (std::vector<double>{-4, 10, -4, 10, 9, 3}));
}

// Integer overflow wraps modulo 2^bits (as NumPy and onnxruntime): computed in C++ ints it was
// undefined behaviour (uint16 operands promote to int; the execution fuzzer found 65535 * 65535).
TEST(ElementwiseBinary, IntegerOverflowWraps) {
  Tensor u = Tensor::fromVector<uint16_t>({65535, 65535}, {2});
  EXPECT_EQ(ops::mul(u, u).toVector<uint16_t>(), (std::vector<uint16_t>{1, 1}));  // 0xFFFE0001 mod 2^16
  EXPECT_EQ(ops::add(u, u).toVector<uint16_t>(), (std::vector<uint16_t>{65534, 65534}));
  EXPECT_EQ(ops::pow(u, Tensor::fromVector<uint16_t>({2, 3}, {2})).toVector<uint16_t>(),
            (std::vector<uint16_t>{1, 65535}));
  const int32_t big = std::numeric_limits<int32_t>::max(), small = std::numeric_limits<int32_t>::min();
  Tensor i = Tensor::fromVector<int32_t>({big, small}, {2});
  EXPECT_EQ(ops::add(i, Tensor::fromVector<int32_t>({1, -1}, {2})).toVector<int32_t>(),
            (std::vector<int32_t>{small, big}));
  EXPECT_EQ(ops::sub(i, Tensor::fromVector<int32_t>({-1, 1}, {2})).toVector<int32_t>(),
            (std::vector<int32_t>{small, big}));
  EXPECT_EQ(ops::mul(i, Tensor::fromVector<int32_t>({2, 2}, {2})).toVector<int32_t>(),
            (std::vector<int32_t>{-2, 0}));
  const int64_t big64 = std::numeric_limits<int64_t>::max();
  Tensor l = Tensor::fromVector<int64_t>({big64}, {1});
  EXPECT_EQ(ops::mul(l, l).toVector<int64_t>(), (std::vector<int64_t>{1}));  // (2^63-1)^2 mod 2^64
  // -INT_MIN wraps to INT_MIN (NumPy's result), for Neg and Abs alike.
  Tensor m = Tensor::fromVector<int32_t>({small, -5}, {2});
  EXPECT_EQ(ops::neg(m).toVector<int32_t>(), (std::vector<int32_t>{small, 5}));
  EXPECT_EQ(ops::abs(m).toVector<int32_t>(), (std::vector<int32_t>{small, 5}));
  // Integer MatMul accumulates modulo 2^64: [2^62, 2^62] . [2, 2] = 2^64 -> 0.
  Tensor row = Tensor::fromVector<int64_t>({int64_t{1} << 62, int64_t{1} << 62}, {1, 2});
  Tensor col = Tensor::fromVector<int64_t>({2, 2}, {2, 1});
  EXPECT_EQ(ops::matmul(row, col).toVector<int64_t>(), (std::vector<int64_t>{0}));
}

TEST(ElementwiseBinary, IntegerDtypes) {
  checkIntegerBinary<int8_t>();
  checkIntegerBinary<int16_t>();
  checkIntegerBinary<int32_t>();
  checkIntegerBinary<int64_t>();
  Tensor u = Tensor::fromVector<uint8_t>({200, 7}, {2});
  EXPECT_EQ(values(ops::div(u, Tensor::fromVector<uint8_t>({3, 2}, {2}))), (std::vector<double>{66, 3}));
  Tensor big = Tensor::fromVector<int32_t>({INT32_MIN}, {1});
  EXPECT_EQ(ops::div(big, Tensor::fromVector<int32_t>({-1}, {1})).at(0), INT32_MIN);  // wraps, no trap
}

TEST(ElementwiseBinary, PowAndPRelu) {
  // An integer exponent tensor is converted to the base's dtype, and the trace keeps it.
  Tensor base = f32({2.f, 3.f, 0.5f}, {3});
  autograd::Tracer tracer;
  Tensor p = ops::pow(base, Tensor::fromVector<int64_t>({3, -1, 2}, {3}));
  EXPECT_EQ(p.dtype(), DType::kFloat32);
  test::expectTensorNear(p, f32({8.f, 1.f / 3.f, 0.25f}, {3}), 1e-7);
  ASSERT_EQ(tracer.records().size(), 1u);
  EXPECT_EQ(tracer.records()[0].opType, "Pow");
  EXPECT_EQ(tracer.records()[0].inputs[1].dtype(), DType::kInt64);
  EXPECT_EQ(values(ops::pow(Tensor::fromVector<int32_t>({3, -2, 5}, {3}), 3.0)),
            (std::vector<double>{27, -8, 125}));
  EXPECT_EQ(values(ops::pow(base, 2.0)), (std::vector<double>{4, 9, 0.25}));
  Tensor x = f64({-2, 1, -4, 3, 0, -1}, {2, 3});
  Tensor y = ops::prelu(x, f64({0.5, 0.25}, {2, 1}));
  EXPECT_EQ(values(y), (std::vector<double>{-1, 1, -2, 3, 0, -0.25}));
  expectThrowMentions<ShapeError>([&] { ops::prelu(x, f64({1, 2, 3, 4}, {4, 1, 1})); },
                                  {"PRelu", "[4, 1, 1]", "[2, 3]"});
}

TEST(ElementwiseBinary, ErrorsNameOpShapesAndDtypes) {
  expectThrowMentions<ShapeError>([] { ops::add(Tensor::zeros({2, 3}), Tensor::zeros({4})); },
                                  {"Add", "[2, 3]", "[4]"});
  expectThrowMentions<ShapeError>([] { ops::mul(Tensor::zeros({2, 1, 3}), Tensor::zeros({4, 2})); },
                                  {"Mul", "[2, 1, 3]", "[4, 2]"});
  expectThrowMentions<TypeError>([] { ops::sub(Tensor::zeros({2}), Tensor::zeros({2}, DType::kFloat64)); },
                                 {"Sub", "float32", "float64"});
  expectThrowMentions<ValueError>([] { ops::mod(Tensor::zeros({2}), Tensor::ones({2})); }, {"Mod", "fmod"});
  EXPECT_THROW(ops::add(Tensor::zeros({2}, DType::kBool), Tensor::zeros({2}, DType::kBool)), TypeError);
}

// ---- comparison, logic, where ---------------------------------------------------------------

TEST(ElementwiseLogic, ComparisonsGiveBool) {
  Tensor a = Tensor::fromVector<int64_t>({1, 2, 3}, {3, 1});
  Tensor b = Tensor::fromVector<int64_t>({2, 3}, {2});
  const std::vector<std::pair<std::function<Tensor(const Tensor&, const Tensor&)>, std::vector<double>>> cases = {
      {ops::equal, {0, 0, 1, 0, 0, 1}},         {ops::less, {1, 1, 0, 1, 0, 0}},
      {ops::lessOrEqual, {1, 1, 1, 1, 0, 1}},   {ops::greater, {0, 0, 0, 0, 1, 0}},
      {ops::greaterOrEqual, {0, 0, 1, 0, 1, 1}}};
  for (const auto& [op, expected] : cases) {
    Tensor y = op(a, b);
    EXPECT_EQ(y.dtype(), DType::kBool);
    EXPECT_EQ(y.shape(), (Shape{3, 2}));
    EXPECT_EQ(values(y), expected);
    Tensor yf = op(a.to(DType::kFloat64), b.to(DType::kFloat64));
    EXPECT_EQ(values(yf), expected);
  }
  Tensor t = Tensor::fromVector<bool>({true, false}, {2});
  EXPECT_EQ(values(ops::equal(t, Tensor::fromVector<bool>({true, true}, {2}))), (std::vector<double>{1, 0}));
}

TEST(ElementwiseLogic, LogicalOps) {
  Tensor a = Tensor::fromVector<bool>({true, true, false, false}, {4});
  Tensor b = Tensor::fromVector<bool>({true, false, true, false}, {4});
  EXPECT_EQ(values(ops::logicalAnd(a, b)), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ(values(ops::logicalOr(a, b)), (std::vector<double>{1, 1, 1, 0}));
  EXPECT_EQ(values(ops::logicalXor(a, b)), (std::vector<double>{0, 1, 1, 0}));
  EXPECT_EQ(values(ops::logicalNot(a)), (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(ops::logicalOr(a, Tensor::fromVector<bool>({false}, {})).shape(), (Shape{4}));
  expectThrowMentions<TypeError>([] { ops::logicalAnd(Tensor::zeros({2}), Tensor::zeros({2})); },
                                 {"And", "float32"});
  expectThrowMentions<TypeError>([] { ops::logicalNot(Tensor::zeros({2})); }, {"Not", "float32"});
}

TEST(ElementwiseLogic, WhereBroadcastsAllThree) {
  Tensor c = Tensor::fromVector<bool>({true, false, true}, {3});
  Tensor x = f64({1, 2}, {2, 1});
  Tensor y = Tensor::scalar(-1.0, DType::kFloat64);
  Tensor w = ops::where(c, x, y);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(w), (std::vector<double>{1, -1, 1, 2, -1, 2}));
  Tensor wi = ops::where(c, Tensor::fromVector<int32_t>({5, 6, 7}, {3}), Tensor::fromVector<int32_t>({0}, {1}));
  EXPECT_EQ(wi.dtype(), DType::kInt32);
  EXPECT_EQ(values(wi), (std::vector<double>{5, 0, 7}));
  expectThrowMentions<ShapeError>([&] { ops::where(c, f64({1, 2}, {2}), y); }, {"Where", "[3]", "[2]"});
  expectThrowMentions<TypeError>([&] { ops::where(Tensor::zeros({3}), x, y); }, {"Where", "bool"});
}

// ---- variadic and operators -------------------------------------------------------------------

TEST(ElementwiseVariadic, SumMeanMaxMin) {
  Tensor a = f64({1, 5, 3}, {3}), b = f64({4, 2}, {2, 1}), c = Tensor::scalar(2.5, DType::kFloat64);
  autograd::Tracer tracer;
  Tensor s = ops::sum({a, b, c}), m = ops::mean({a, b, c}), mx = ops::max({a, b, c}), mn = ops::min({a, b, c});
  ASSERT_EQ(tracer.records().size(), 4u);  // one record per op, none for the inner kernels
  EXPECT_EQ(tracer.records()[0].opType, "Sum");
  EXPECT_EQ(tracer.records()[0].inputs.size(), 3u);
  EXPECT_EQ(tracer.records()[1].opType, "Mean");
  EXPECT_EQ(tracer.records()[2].opType, "Max");
  EXPECT_EQ(tracer.records()[3].opType, "Min");
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(s), (std::vector<double>{7.5, 11.5, 9.5, 5.5, 9.5, 7.5}));
  test::expectTensorNear(m, f64({2.5, 23 / 6.0, 19 / 6.0, 11 / 6.0, 19 / 6.0, 2.5}, {2, 3}), 1e-12);
  EXPECT_EQ(values(mx), (std::vector<double>{4, 5, 4, 2.5, 5, 3}));
  EXPECT_EQ(values(mn), (std::vector<double>{1, 2.5, 2.5, 1, 2, 2}));
  EXPECT_EQ(values(ops::sum({a})), (std::vector<double>{1, 5, 3}));
  EXPECT_THROW(ops::sum({}), ValueError);
  expectThrowMentions<ShapeError>([&] { ops::max({a, f64({1, 2}, {2})}); }, {"Max", "[3]", "[2]"});
}

TEST(ElementwiseOperators, SpellTheOps) {
  Tensor a = f64({1, 2, 3}, {3}), b = f64({4, 5, 6}, {3});
  EXPECT_EQ(values(a + b), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(values(a - b), (std::vector<double>{-3, -3, -3}));
  EXPECT_EQ(values(a * b), (std::vector<double>{4, 10, 18}));
  EXPECT_EQ(values(b / a), (std::vector<double>{4, 2.5, 2}));
  EXPECT_EQ(values(-a), (std::vector<double>{-1, -2, -3}));
  EXPECT_EQ(values(a + 1.0), (std::vector<double>{2, 3, 4}));
  EXPECT_EQ(values(a - 1.0), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(values(a * 2.0), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(values(2.0 * a), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(values(a / 2.0), (std::vector<double>{0.5, 1, 1.5}));
}

// ---- gradients of the broadcasting ops ----------------------------------------------------------

Tensor leaf(const std::vector<double>& v, const Shape& s) { return f64(v, s).setRequiresGrad(); }

TEST(ElementwiseGrad, BinaryWithBroadcasting) {
  using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<const char*, BinaryFn>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return ops::pow(a, b); }},
      {"maximum", ops::maximum},
      {"minimum", ops::minimum},
      {"fmod", [](const Tensor& a, const Tensor& b) { return ops::mod(a, b, true); }},
      {"operators", [](const Tensor& a, const Tensor& b) { return (a * b - a / 2.0) / (b + 3.0) + 2.0 * -a; }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    // Positive, tie-free values with a/b far from integers keep pow, max/min and fmod smooth.
    Tensor a = leaf({5.3, 1.2, 2.2, 7.7, 0.6, 1.3}, {2, 1, 3});
    Tensor b = leaf({2.1, 1.7, 3.3, 1.45}, {4, 1});
    BinaryFn f = op;
    test::expectGradientsMatch([f](const std::vector<Tensor>& in) { return f(in[0], in[1]); }, {a, b});
    // Scalar (0-d) second operand, and the same-shape path.
    test::expectGradientsMatch([f](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
                               {a, leaf({0.9}, {})});
    test::expectGradientsMatch([f](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
                               {a, leaf({2.1, 0.45, 1.9, 3.1, 0.35, 2.6}, {2, 1, 3})});
  }
}

TEST(ElementwiseGrad, PReluWhereAndVariadic) {
  Tensor x = leaf({-2.0, 1.5, -0.4, 0.3, -1.1, 2.2, 0.7, -0.8, 1.9, -3.0, 0.2, -0.6}, {2, 3, 2});
  Tensor slope = leaf({0.25, -0.5, 0.1}, {3, 1});
  test::expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::prelu(in[0], in[1]); }, {x, slope});

  Tensor cond = Tensor::fromVector<bool>({true, false, false, true, true, false}, {2, 1, 3});
  test::expectGradientsMatch(
      [cond](const std::vector<Tensor>& in) { return ops::where(cond, in[0], in[1]); },
      {leaf({1.0, -2.0, 3.0, 0.5}, {4, 1}), leaf({0.1, 0.2, 0.3}, {3})});

  Tensor a = leaf({1.0, 5.0, 3.0}, {3}), b = leaf({4.0, 2.0}, {2, 1}), c = leaf({2.5}, {});
  for (auto op : {ops::sum, ops::mean, ops::max, ops::min}) {
    test::expectGradientsMatch([op](const std::vector<Tensor>& in) { return op(in); }, {a, b, c});
  }
}

TEST(ElementwiseGrad, TiesGoToTheFirstInput) {
  Tensor a = leaf({1.0, 2.0}, {2}), b = leaf({1.0, 3.0}, {2});
  ops::reduceSum(ops::max({a, b})).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0, 1}));
  Tensor p = leaf({1.0, 2.0}, {2}), q = leaf({1.0, 3.0}, {2});
  ops::reduceSum(ops::maximum(p, q)).backward();
  EXPECT_EQ(values(p.grad()), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(q.grad()), (std::vector<double>{0, 1}));
}

}  // namespace
}  // namespace singa
