// Op table rows for the unary math and activation ops and their fused "<Op>Grad" kernels. A
// forward row checks f(x) against std:: math (contiguous and non-contiguous inputs) and f's
// gradient by finite differences; a grad row runs backward through the public op and checks
// dx = dy * f'(x) against the closed-form derivative, then runs the forward op's gradient check.
#include <cmath>

#include "tests/ops/op_table.h"

namespace singa::optable {
namespace {

using F = std::function<double(double)>;
using UnaryFn = std::function<Tensor(const Tensor&)>;

struct Unary {
  OpId op;
  UnaryFn fn;
  F f;
  double lo, hi;
  bool differentiable;
  OpId gradOp = OpId::kCount;  // its fused grad kernel, if any
  F df;                        // f'(x)
};

double sigmoidOf(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const std::vector<Unary>& unaries() {
  constexpr double kSeluAlpha = 1.67326319217681884765625, kSeluGamma = 1.05070102214813232421875;
  static const std::vector<Unary> list = {
      {OpId::kAbs, ops::abs, [](double x) { return std::abs(x); }, -1, 1, true, OpId::kAbsGrad,
       [](double x) { return x > 0 ? 1.0 : -1.0; }},
      {OpId::kNeg, ops::neg, [](double x) { return -x; }, -1, 1, true, OpId::kCount, nullptr},
      {OpId::kSign, ops::sign, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }, -1, 1, false, OpId::kCount, nullptr},
      {OpId::kRelu, ops::relu, [](double x) { return std::max(x, 0.0); }, -1, 1, true, OpId::kReluGrad,
       [](double x) { return x > 0 ? 1.0 : 0.0; }},
      {OpId::kClip, [](const Tensor& x) { return ops::clip(x, -0.5, 0.6); },
       [](double x) { return std::min(std::max(x, -0.5), 0.6); }, -1, 1, true, OpId::kClipGrad,
       [](double x) { return x >= -0.5 && x <= 0.6 ? 1.0 : 0.0; }},
      {OpId::kExp, ops::exp, [](double x) { return std::exp(x); }, -2, 2, true, OpId::kExpGrad,
       [](double x) { return std::exp(x); }},
      {OpId::kLog, ops::log, [](double x) { return std::log(x); }, 0.2, 3, true, OpId::kLogGrad,
       [](double x) { return 1.0 / x; }},
      {OpId::kSqrt, ops::sqrt, [](double x) { return std::sqrt(x); }, 0.2, 3, true, OpId::kSqrtGrad,
       [](double x) { return 0.5 / std::sqrt(x); }},
      {OpId::kReciprocal, ops::reciprocal, [](double x) { return 1.0 / x; }, 0.5, 2, true, OpId::kReciprocalGrad,
       [](double x) { return -1.0 / (x * x); }},
      {OpId::kSin, ops::sin, [](double x) { return std::sin(x); }, -2, 2, true, OpId::kSinGrad,
       [](double x) { return std::cos(x); }},
      {OpId::kCos, ops::cos, [](double x) { return std::cos(x); }, -2, 2, true, OpId::kCosGrad,
       [](double x) { return -std::sin(x); }},
      {OpId::kTan, ops::tan, [](double x) { return std::tan(x); }, -1.2, 1.2, true, OpId::kTanGrad,
       [](double x) { return 1.0 / (std::cos(x) * std::cos(x)); }},
      {OpId::kAsin, ops::asin, [](double x) { return std::asin(x); }, -0.9, 0.9, true, OpId::kAsinGrad,
       [](double x) { return 1.0 / std::sqrt(1 - x * x); }},
      {OpId::kAcos, ops::acos, [](double x) { return std::acos(x); }, -0.9, 0.9, true, OpId::kAcosGrad,
       [](double x) { return -1.0 / std::sqrt(1 - x * x); }},
      {OpId::kAtan, ops::atan, [](double x) { return std::atan(x); }, -3, 3, true, OpId::kAtanGrad,
       [](double x) { return 1.0 / (1 + x * x); }},
      {OpId::kSinh, ops::sinh, [](double x) { return std::sinh(x); }, -2, 2, true, OpId::kSinhGrad,
       [](double x) { return std::cosh(x); }},
      {OpId::kCosh, ops::cosh, [](double x) { return std::cosh(x); }, -2, 2, true, OpId::kCoshGrad,
       [](double x) { return std::sinh(x); }},
      {OpId::kTanh, ops::tanh, [](double x) { return std::tanh(x); }, -2, 2, true, OpId::kTanhGrad,
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }},
      {OpId::kAsinh, ops::asinh, [](double x) { return std::asinh(x); }, -3, 3, true, OpId::kAsinhGrad,
       [](double x) { return 1.0 / std::sqrt(x * x + 1); }},
      {OpId::kAcosh, ops::acosh, [](double x) { return std::acosh(x); }, 1.2, 3, true, OpId::kAcoshGrad,
       [](double x) { return 1.0 / std::sqrt(x * x - 1); }},
      {OpId::kAtanh, ops::atanh, [](double x) { return std::atanh(x); }, -0.9, 0.9, true, OpId::kAtanhGrad,
       [](double x) { return 1.0 / (1 - x * x); }},
      {OpId::kErf, ops::erf, [](double x) { return std::erf(x); }, -2, 2, true, OpId::kErfGrad,
       [](double x) { return 2.0 / std::sqrt(M_PI) * std::exp(-x * x); }},
      {OpId::kFloor, ops::floor, [](double x) { return std::floor(x); }, -3, 3, false, OpId::kCount, nullptr},
      {OpId::kCeil, ops::ceil, [](double x) { return std::ceil(x); }, -3, 3, false, OpId::kCount, nullptr},
      {OpId::kRound, ops::round, [](double x) { return std::nearbyint(x); }, -3, 3, false, OpId::kCount, nullptr},
      {OpId::kSigmoid, ops::sigmoid, sigmoidOf, -4, 4, true, OpId::kSigmoidGrad,
       [](double x) { return sigmoidOf(x) * (1 - sigmoidOf(x)); }},
      {OpId::kSoftplus, ops::softplus, [](double x) { return std::log1p(std::exp(x)); }, -4, 4, true,
       OpId::kSoftplusGrad, sigmoidOf},
      {OpId::kSoftsign, ops::softsign, [](double x) { return x / (1 + std::abs(x)); }, -3, 3, true,
       OpId::kSoftsignGrad, [](double x) { return 1.0 / ((1 + std::abs(x)) * (1 + std::abs(x))); }},
      {OpId::kElu, [](const Tensor& x) { return ops::elu(x, 0.7); },
       [](double x) { return x < 0 ? 0.7 * (std::exp(x) - 1) : x; }, -2, 2, true, OpId::kEluGrad,
       [](double x) { return x < 0 ? 0.7 * std::exp(x) : 1.0; }},
      {OpId::kSelu, [](const Tensor& x) { return ops::selu(x); },
       [=](double x) { return kSeluGamma * (x < 0 ? kSeluAlpha * (std::exp(x) - 1) : x); }, -2, 2, true,
       OpId::kSeluGrad, [=](double x) { return kSeluGamma * (x < 0 ? kSeluAlpha * std::exp(x) : 1.0); }},
      {OpId::kLeakyRelu, [](const Tensor& x) { return ops::leakyRelu(x, 0.1); },
       [](double x) { return x < 0 ? 0.1 * x : x; }, -1, 1, true, OpId::kLeakyReluGrad,
       [](double x) { return x < 0 ? 0.1 : 1.0; }},
      {OpId::kHardSigmoid, [](const Tensor& x) { return ops::hardSigmoid(x, 0.2, 0.5); },
       [](double x) { return std::min(std::max(0.2 * x + 0.5, 0.0), 1.0); }, -4, 4, true, OpId::kHardSigmoidGrad,
       [](double x) { return (0.2 * x + 0.5 > 0 && 0.2 * x + 0.5 < 1) ? 0.2 : 0.0; }},
      {OpId::kHardSwish, ops::hardSwish, [](double x) { return x * std::min(std::max(x / 6 + 0.5, 0.0), 1.0); }, -4,
       4, true, OpId::kHardSwishGrad,
       [](double x) { return x < -3 ? 0.0 : (x > 3 ? 1.0 : x / 3 + 0.5); }},
      {OpId::kSilu, ops::silu, [](double x) { return x / (1 + std::exp(-x)); }, -6, 6, true, OpId::kSiluGrad,
       [](double x) {
         const double s = 1 / (1 + std::exp(-x));
         return s * (1 + x * (1 - s));
       }},
      {OpId::kCelu, [](const Tensor& x) { return ops::celu(x, 0.8); },
       [](double x) { return std::max(0.0, x) + std::min(0.0, 0.8 * (std::exp(x / 0.8) - 1)); }, -2, 2, true,
       OpId::kCeluGrad, [](double x) { return x > 0 ? 1.0 : std::exp(x / 0.8); }},
      {OpId::kThresholdedRelu, [](const Tensor& x) { return ops::thresholdedRelu(x, 0.3); },
       [](double x) { return x > 0.3 ? x : 0.0; }, -1, 1, true, OpId::kThresholdedReluGrad,
       [](double x) { return x > 0.3 ? 1.0 : 0.0; }},
  };
  return list;
}

Tensor mapUnary(const Tensor& x, const F& f) {
  return mapRef({x}, [&](const std::vector<double>& v) { return f(v[0]); }, x.dtype());
}

/// Forward cases: contiguous [3,4], non-contiguous [4,3], and int32 for the integer-capable ops.
std::vector<Case> forwardCases(const Unary& u) {
  Case c;
  c.run = [fn = u.fn](const Tensors& in) { return fn(in[0]); };
  c.reference = [f = u.f](const Tensors& in) { return mapUnary(in[0], f); };
  c.gradCheck = u.differentiable;
  c.rtol = 1e-12;
  c.atol = 1e-12;
  Case contiguous = c, strided = c;
  contiguous.what = "[3,4]";
  contiguous.inputs = {uniform({3, 4}, u.lo, u.hi, 21)};
  strided.what = "non-contiguous [4,3]";
  strided.inputs = {nonContiguous(uniform({4, 3}, u.lo, u.hi, 22))};
  std::vector<Case> cases{contiguous, strided};
  for (Case& k : cases) {
    if (u.differentiable) k.inputs[0] = wantGrad(k.inputs[0]);
  }
  if (u.op == OpId::kAbs || u.op == OpId::kNeg || u.op == OpId::kSign || u.op == OpId::kRelu || u.op == OpId::kClip) {
    Case ints = c;
    ints.what = "int32 [2,5]";
    ints.gradCheck = false;
    ints.inputs = {ops::floor(uniform({2, 5}, -4, 4, 23)).to(DType::kInt32)};
    ints.reference = [f = u.f](const Tensors& in) {
      return mapRef(in, [&](const std::vector<double>& v) { return std::trunc(f(v[0])); }, DType::kInt32);
    };
    cases.push_back(ints);
  }
  return cases;
}

/// Grad-kernel cases: dx of sum(op(x) * dy) by backward against dy * f'(x), then the forward
/// op's gradient check.
std::vector<Case> gradCases(const Unary& u) {
  Case direct;
  direct.what = "dx = dy * f'(x), broadcast-free [3,4]";
  direct.inputs = {uniform({3, 4}, u.lo, u.hi, 31), uniform({3, 4}, -1, 1, 32)};
  direct.run = [fn = u.fn](const Tensors& in) {
    Tensor x = in[0].detach().clone();
    x.setRequiresGrad();
    fn(x).backward(in[1]);
    return x.grad();
  };
  direct.reference = [df = u.df](const Tensors& in) {
    return mapRef(in, [&](const std::vector<double>& v) { return v[1] * df(v[0]); });
  };
  direct.rtol = 1e-10;
  std::vector<Case> cases{direct};
  std::vector<Case> fwd = forwardCases(u);
  fwd[0].what = "gradient check of " + std::string(opName(u.op));
  cases.push_back(fwd[0]);
  return cases;
}

}  // namespace

std::vector<Row> unaryRows() {
  std::vector<Row> rows;
  for (const Unary& u : unaries()) {
    rows.push_back({u.op, [u] { return forwardCases(u); }, ""});
    if (u.gradOp != OpId::kCount) {
      rows.push_back({u.gradOp, [u] { return gradCases(u); },
                      std::string("reached through the backward of ") + opName(u.op) + "; covered by its gradient check"});
    }
  }
  return rows;
}

}  // namespace singa::optable
