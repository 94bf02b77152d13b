// Elementwise ops: unary math and activations, broadcasting binary arithmetic, comparisons,
// logic, Where, and the variadic Sum/Mean/Max/Min. Kernels are in kernels/cpu/elementwise*.cc.
//
// Backward rules. Unary ops use one fused kernel "<Op>Grad"(dy, v) -> dy * f'(v), where v is
// the input, or the output for ops whose derivative is cheaper from it (Exp, Sqrt, Sigmoid,
// Tanh, ...). A rule that needs the output captures a detached view of it: capturing the output
// handle itself would make a cycle output -> node -> rule -> output and leak the graph.
// Broadcasting binary ops reduce each input's gradient back to its shape with sumTo.
#include <cmath>

#include "singa/ops/op_util.h"
#include "singa/ops/ops.h"

namespace singa::ops {
namespace {

using autograd::BackwardFn;
using detail::finish1;
using detail::requireDefined;
using detail::runOp1;
using detail::wantsGrad;
using Grads = std::vector<Tensor>;

/// The inverse of broadcasting `g` from `shape` (free when nothing was broadcast).
Tensor reduceTo(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : sumTo(g, shape); }

/// True when the op being built will record a node, so backward rules are only built then.
bool recording(const std::vector<Tensor>& inputs) { return autograd::needsGrad(inputs); }

Tensor zeroLike(const Tensor& t) { return detail::scalarLike(0.0, t); }

// ---- unary ---------------------------------------------------------------------------------

enum class GradRule {
  kZero,       // piecewise constant (Sign, Floor, Ceil, Round)
  kNeg,        // -dy
  kFromInput,  // "<Op>Grad"(dy, x)
  kFromOutput  // "<Op>Grad"(dy, y)
};

/// A unary op's backward: the rule and, for kFromInput / kFromOutput, its fused grad kernel.
struct UnaryGrad {
  GradRule rule;
  OpId kernel = OpId::kCount;
};
constexpr UnaryGrad kZeroGrad{GradRule::kZero};
constexpr UnaryGrad kNegGrad{GradRule::kNeg};
constexpr UnaryGrad fromInput(OpId kernel) { return {GradRule::kFromInput, kernel}; }
constexpr UnaryGrad fromOutput(OpId kernel) { return {GradRule::kFromOutput, kernel}; }

/// Validates, runs kernel `op` with `params`, records trace (with `attrs`) and backward.
/// `integerOk`: the op also takes integer dtypes (its kernels say which); otherwise floating
/// point only.
Tensor unary(OpId op, const Tensor& x, const Attrs& attrs, const UnaryParams& params, bool integerOk,
             UnaryGrad grad) {
  const char* name = opName(op);
  requireDefined(name, x, "input");
  if (!integerOk) detail::requireFloat(name, x);
  const KernelParams kp = params;
  Tensor y = runOp1(op, x.dtype(), {x}, x.shape(), x.dtype(), Attrs(), &kp);
  BackwardFn backward;
  if (recording({x})) {
    switch (grad.rule) {
      case GradRule::kZero:
        backward = [x](const Grads&) { return Grads{Tensor::zeros(x.shape(), x.dtype(), x.device())}; };
        break;
      case GradRule::kNeg:
        backward = [](const Grads& g) { return Grads{neg(g[0])}; };
        break;
      case GradRule::kFromInput:
      case GradRule::kFromOutput: {
        const Tensor v = grad.rule == GradRule::kFromInput ? x : y.detach();
        backward = [kernel = grad.kernel, v, kp](const Grads& g) {
          return Grads{runOp1(kernel, v.dtype(), {g[0], v}, v.shape(), v.dtype(), Attrs(), &kp)};
        };
        break;
      }
    }
  }
  return finish1(name, attrs, {x}, y, std::move(backward));
}

Tensor floatUnary(OpId op, const Tensor& x, UnaryGrad grad, const Attrs& attrs = Attrs(),
                  const UnaryParams& params = UnaryParams()) {
  return unary(op, x, attrs, params, false, grad);
}

// ---- binary --------------------------------------------------------------------------------

/// Checks both operands and returns the broadcast output shape.
Shape binaryShape(const char* op, const Tensor& a, const Tensor& b) {
  requireDefined(op, a, "first input");
  requireDefined(op, b, "second input");
  SINGA_CHECK(a.dtype() == b.dtype(), TypeError,
              op << ": operands have different dtypes (" << dtypeName(a.dtype()) << " and "
                 << dtypeName(b.dtype()) << "); convert one with ops::cast");
  return broadcastShapes(a.shape(), b.shape(), op);
}

/// Runs binary kernel `op` with output dtype `outDType` (bool for comparisons).
Tensor runBinary(OpId op, const Tensor& a, const Tensor& b, DType outDType, const KernelParams* params = nullptr) {
  const Shape shape = binaryShape(opName(op), a, b);
  return runOp1(op, a.dtype(), {a, b}, shape, outDType, Attrs(), params);
}

/// Gradients of max/min: dy to a where `aWins`, else to b.
Grads selectGrads(const Tensor& aWins, const Tensor& g, const Tensor& a, const Tensor& b) {
  const Tensor zero = zeroLike(g);
  return {wantsGrad(a) ? reduceTo(where(aWins, g, zero), a.shape()) : Tensor(),
          wantsGrad(b) ? reduceTo(where(aWins, zero, g), b.shape()) : Tensor()};
}

/// trunc(q) = q rounded toward zero, from floor/ceil.
Tensor truncOf(const Tensor& q) { return where(less(q, zeroLike(q)), ceil(q), floor(q)); }

// ---- variadic ------------------------------------------------------------------------------

/// Checks the inputs of a variadic op and returns their common broadcast shape.
Shape variadicShape(const char* op, const std::vector<Tensor>& xs) {
  SINGA_CHECK(!xs.empty(), ValueError, op << ": needs at least one input");
  Shape shape = {};
  for (size_t i = 0; i < xs.size(); ++i) {
    requireDefined(op, xs[i], "an input");
    SINGA_CHECK(xs[i].dtype() == xs[0].dtype(), TypeError,
                op << ": input " << i << " is " << dtypeName(xs[i].dtype()) << " but input 0 is "
                   << dtypeName(xs[0].dtype()) << "; convert with ops::cast");
    shape = broadcastShapes(shape, xs[i].shape(), op);
  }
  return shape;
}

/// Folds binary kernel `kernel` over the inputs (no trace, no node).
Tensor foldKernel(OpId kernel, const std::vector<Tensor>& xs) {
  if (xs.size() == 1) return xs[0].clone();
  const DType dt = xs[0].dtype();
  Tensor acc = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) {
    acc = runOp1(kernel, dt, {acc, xs[i]}, broadcastShapes(acc.shape(), xs[i].shape(), opName(kernel)), dt);
  }
  return acc;
}

/// Max/Min of several inputs: each output element's gradient goes to the first input that
/// attains it.
Tensor variadicExtreme(OpId op, const std::vector<Tensor>& xs) {
  variadicShape(opName(op), xs);
  Tensor y = foldKernel(op, xs);
  BackwardFn backward;
  if (recording(xs)) {
    backward = [xs, yv = y.detach()](const Grads& g) {
      Grads grads(xs.size());
      const Tensor zero = zeroLike(g[0]);
      Tensor taken;  // bool, y's shape: elements already given to an earlier input
      for (size_t i = 0; i < xs.size(); ++i) {
        Tensor hit = equal(xs[i], yv);
        if (taken.defined()) hit = logicalAnd(hit, logicalNot(taken));
        taken = taken.defined() ? logicalOr(taken, hit) : hit;
        if (wantsGrad(xs[i])) grads[i] = reduceTo(where(hit, g[0], zero), xs[i].shape());
      }
      return grads;
    };
  }
  return finish1(opName(op), Attrs(), xs, y, std::move(backward));
}

}  // namespace

// ---- unary, integer-capable -------------------------------------------------------------------

Tensor abs(const Tensor& x) { return unary(OpId::kAbs, x, Attrs(), {}, true, fromInput(OpId::kAbsGrad)); }
Tensor neg(const Tensor& x) { return unary(OpId::kNeg, x, Attrs(), {}, true, kNegGrad); }
Tensor sign(const Tensor& x) { return unary(OpId::kSign, x, Attrs(), {}, true, kZeroGrad); }
Tensor relu(const Tensor& x) { return unary(OpId::kRelu, x, Attrs(), {}, true, fromInput(OpId::kReluGrad)); }

Tensor clip(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  Attrs attrs;
  UnaryParams p;
  if (min) {
    attrs.set("min", *min);
    p.lo = *min;
    p.hasLo = true;
  }
  if (max) {
    attrs.set("max", *max);
    p.hi = *max;
    p.hasHi = true;
  }
  return unary(OpId::kClip, x, attrs, p, true, fromInput(OpId::kClipGrad));
}

Tensor identity(const Tensor& x) {
  // A view: Identity never copies (the output shares x's storage).
  requireDefined("Identity", x, "input");
  Tensor y = makeView(x, x.shape(), x.strides(), x.offset());
  BackwardFn backward;
  if (recording({x})) backward = [](const Grads& g) { return Grads{g[0]}; };
  return finish1("Identity", Attrs(), {x}, y, std::move(backward));
}

// ---- unary, floating point -------------------------------------------------------------------

// The float unary list (op_list.h): each function runs its kernel and records its backward rule,
// dy * d(x) or dy * d(y) through the "<Name>Grad" kernel, or zero for the rounding ops.
#define SINGA_UNARY_RULE_Input(Name) fromInput(OpId::k##Name##Grad)
#define SINGA_UNARY_RULE_Output(Name) fromOutput(OpId::k##Name##Grad)
#define SINGA_UNARY_RULE_None(Name) kZeroGrad
#define SINGA_DEFINE_FLOAT_UNARY(A, Name, function, grad, since, desc) \
  Tensor function(const Tensor& x) { return floatUnary(OpId::k##Name, x, SINGA_UNARY_RULE_##grad(Name)); }
SINGA_FLOAT_UNARY_OPS(SINGA_DEFINE_FLOAT_UNARY, )
#undef SINGA_DEFINE_FLOAT_UNARY
#undef SINGA_UNARY_RULE_Input
#undef SINGA_UNARY_RULE_Output
#undef SINGA_UNARY_RULE_None

// The activations with constants: Attrs{...} for the trace, UnaryParams{alpha, beta, gamma} for
// the kernels.
Tensor elu(const Tensor& x, double alpha) {
  return floatUnary(OpId::kElu, x, fromInput(OpId::kEluGrad), Attrs{{"alpha", alpha}}, UnaryParams{alpha});
}

Tensor selu(const Tensor& x, double alpha, double gamma) {
  return floatUnary(OpId::kSelu, x, fromInput(OpId::kSeluGrad), Attrs{{"alpha", alpha}, {"gamma", gamma}},
                    UnaryParams{alpha, 0.0, gamma});
}

Tensor leakyRelu(const Tensor& x, double alpha) {
  return floatUnary(OpId::kLeakyRelu, x, fromInput(OpId::kLeakyReluGrad), Attrs{{"alpha", alpha}},
                    UnaryParams{alpha});
}

Tensor hardSigmoid(const Tensor& x, double alpha, double beta) {
  return floatUnary(OpId::kHardSigmoid, x, fromInput(OpId::kHardSigmoidGrad), Attrs{{"alpha", alpha}, {"beta", beta}},
                    UnaryParams{alpha, beta});
}

Tensor celu(const Tensor& x, double alpha) {
  SINGA_CHECK(alpha != 0.0, ValueError, "Celu: alpha must be non-zero (it divides x)");
  return floatUnary(OpId::kCelu, x, fromInput(OpId::kCeluGrad), Attrs{{"alpha", alpha}}, UnaryParams{alpha});
}

Tensor thresholdedRelu(const Tensor& x, double alpha) {
  return floatUnary(OpId::kThresholdedRelu, x, fromInput(OpId::kThresholdedReluGrad), Attrs{{"alpha", alpha}},
                    UnaryParams{alpha});
}

// ---- binary arithmetic -----------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kAdd, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [sa = a.shape(), sb = b.shape(), wa = wantsGrad(a), wb = wantsGrad(b)](const Grads& g) {
      return Grads{wa ? reduceTo(g[0], sa) : Tensor(), wb ? reduceTo(g[0], sb) : Tensor()};
    };
  }
  return finish1("Add", Attrs(), {a, b}, y, std::move(backward));
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kSub, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [sa = a.shape(), sb = b.shape(), wa = wantsGrad(a), wb = wantsGrad(b)](const Grads& g) {
      return Grads{wa ? reduceTo(g[0], sa) : Tensor(), wb ? reduceTo(neg(g[0]), sb) : Tensor()};
    };
  }
  return finish1("Sub", Attrs(), {a, b}, y, std::move(backward));
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kMul, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [a, b](const Grads& g) {
      return Grads{wantsGrad(a) ? reduceTo(mul(g[0], b), a.shape()) : Tensor(),
                   wantsGrad(b) ? reduceTo(mul(g[0], a), b.shape()) : Tensor()};
    };
  }
  return finish1("Mul", Attrs(), {a, b}, y, std::move(backward));
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kDiv, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [a, b](const Grads& g) {
      // da = dy / b; db = -dy * a / b^2
      return Grads{wantsGrad(a) ? reduceTo(div(g[0], b), a.shape()) : Tensor(),
                   wantsGrad(b) ? reduceTo(neg(div(mul(g[0], a), mul(b, b))), b.shape()) : Tensor()};
    };
  }
  return finish1("Div", Attrs(), {a, b}, y, std::move(backward));
}

Tensor pow(const Tensor& a, const Tensor& b) {
  requireDefined("Pow", a, "base");
  requireDefined("Pow", b, "exponent");
  // ONNX lets the exponent have another dtype: it is converted to the base's dtype. A float
  // exponent converts through ops::cast so its gradient still flows.
  // The trace keeps the original exponent so the exported graph stays connected.
  Tensor e = b;
  if (b.dtype() != a.dtype()) {
    if (isFloating(a.dtype()) && isFloating(b.dtype())) {
      e = cast(b, a.dtype());
    } else {
      e = Tensor(b.shape(), a.dtype(), b.device());
      std::vector<Tensor> outs{e};
      runKernel(OpId::kCopy, b.dtype(), b.device(), {b}, outs);
    }
  }
  Tensor y = runBinary(OpId::kPow, a, e, a.dtype());
  BackwardFn backward;
  if (recording({a, e})) {
    backward = [a, e, yv = y.detach()](const Grads& g) {
      Grads grads(2);
      // da = dy * e * a^(e-1); de = dy * y * log(a) where a > 0 (0 elsewhere, where log fails)
      if (wantsGrad(a)) grads[0] = reduceTo(mul(g[0], mul(e, pow(a, sub(e, 1.0)))), a.shape());
      if (wantsGrad(e)) {
        const Tensor zero = zeroLike(a);
        Tensor d = where(greater(a, zero), mul(yv, log(a)), zero);
        grads[1] = reduceTo(mul(g[0], d), e.shape());
      }
      return grads;
    };
  }
  std::vector<Tensor> outs{y};
  autograd::trace("Pow", Attrs(), {a, isFloating(b.dtype()) ? e : b}, outs);
  if (backward) autograd::record("Pow", {a, e}, outs, std::move(backward));
  return outs[0];
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kMax, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [a, b](const Grads& g) { return selectGrads(greaterOrEqual(a, b), g[0], a, b); };
  }
  return finish1("Max", Attrs(), {a, b}, y, std::move(backward));
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(OpId::kMin, a, b, a.dtype());
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [a, b](const Grads& g) { return selectGrads(lessOrEqual(a, b), g[0], a, b); };
  }
  return finish1("Min", Attrs(), {a, b}, y, std::move(backward));
}

Tensor mod(const Tensor& a, const Tensor& b, bool fmod) {
  binaryShape("Mod", a, b);
  SINGA_CHECK(fmod || !isFloating(a.dtype()), ValueError,
              "Mod: floating-point inputs (" << dtypeName(a.dtype())
                                             << ") need fmod=true, as ONNX Mod requires");
  const Attrs attrs{{"fmod", int64_t{fmod ? 1 : 0}}};  // for the trace
  const KernelParams kp = ModParams{fmod};
  Tensor y = runBinary(OpId::kMod, a, b, a.dtype(), &kp);
  BackwardFn backward;
  if (recording({a, b})) {
    backward = [a, b](const Grads& g) {
      // fmod(a, b) = a - trunc(a / b) * b: da = dy, db = -dy * trunc(a / b)
      return Grads{wantsGrad(a) ? reduceTo(g[0], a.shape()) : Tensor(),
                   wantsGrad(b) ? reduceTo(neg(mul(g[0], truncOf(div(a, b)))), b.shape()) : Tensor()};
    };
  }
  return finish1("Mod", attrs, {a, b}, y, std::move(backward));
}

Tensor prelu(const Tensor& x, const Tensor& slope) {
  const Shape shape = binaryShape("PRelu", x, slope);
  SINGA_CHECK(shape == x.shape(), ShapeError,
              "PRelu: slope shape " << slope.shape() << " must broadcast to the input shape "
                                    << x.shape() << " (it may not enlarge it)");
  Tensor y = runOp1(OpId::kPRelu, x.dtype(), {x, slope}, shape, x.dtype());
  BackwardFn backward;
  if (recording({x, slope})) {
    backward = [x, slope](const Grads& g) {
      const Tensor zero = zeroLike(x);
      const Tensor pos = greaterOrEqual(x, zero);
      return Grads{wantsGrad(x) ? where(pos, g[0], mul(g[0], slope)) : Tensor(),
                   wantsGrad(slope) ? reduceTo(where(pos, zero, mul(g[0], x)), slope.shape()) : Tensor()};
    };
  }
  return finish1("PRelu", Attrs(), {x, slope}, y, std::move(backward));
}

Tensor add(const Tensor& a, double b) { return add(a, detail::scalarLike(b, a)); }
Tensor sub(const Tensor& a, double b) { return sub(a, detail::scalarLike(b, a)); }
Tensor mul(const Tensor& a, double b) { return mul(a, detail::scalarLike(b, a)); }
Tensor div(const Tensor& a, double b) { return div(a, detail::scalarLike(b, a)); }
Tensor pow(const Tensor& a, double b) { return pow(a, detail::scalarLike(b, a)); }

// ---- comparison and logic --------------------------------------------------------------------

namespace {

Tensor compare(OpId op, const Tensor& a, const Tensor& b) {
  Tensor y = runBinary(op, a, b, DType::kBool);
  return finish1(opName(op), Attrs(), {a, b}, y, nullptr);
}

void requireBool(const char* op, const Tensor& t) {
  requireDefined(op, t, "input");
  SINGA_CHECK(t.dtype() == DType::kBool, TypeError,
              op << ": expected bool tensors, got " << dtypeName(t.dtype())
                 << "; make one with a comparison (ops::greater, ...) or ops::cast(x, DType::kBool)");
}

Tensor logical(OpId op, const Tensor& a, const Tensor& b) {
  requireBool(opName(op), a);
  requireBool(opName(op), b);
  return compare(op, a, b);
}

}  // namespace

Tensor equal(const Tensor& a, const Tensor& b) { return compare(OpId::kEqual, a, b); }
Tensor less(const Tensor& a, const Tensor& b) { return compare(OpId::kLess, a, b); }
Tensor lessOrEqual(const Tensor& a, const Tensor& b) { return compare(OpId::kLessOrEqual, a, b); }
Tensor greater(const Tensor& a, const Tensor& b) { return compare(OpId::kGreater, a, b); }
Tensor greaterOrEqual(const Tensor& a, const Tensor& b) { return compare(OpId::kGreaterOrEqual, a, b); }
Tensor logicalAnd(const Tensor& a, const Tensor& b) { return logical(OpId::kAnd, a, b); }
Tensor logicalOr(const Tensor& a, const Tensor& b) { return logical(OpId::kOr, a, b); }
Tensor logicalXor(const Tensor& a, const Tensor& b) { return logical(OpId::kXor, a, b); }

Tensor logicalNot(const Tensor& a) {
  requireBool("Not", a);
  Tensor y = runOp1(OpId::kNot, DType::kBool, {a}, a.shape(), DType::kBool);
  return finish1("Not", Attrs(), {a}, y, nullptr);
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  requireDefined("Where", cond, "condition");
  requireDefined("Where", x, "x");
  requireDefined("Where", y, "y");
  SINGA_CHECK(cond.dtype() == DType::kBool, TypeError,
              "Where: the condition must be bool, got " << dtypeName(cond.dtype())
                                                        << "; make it with a comparison or ops::cast");
  SINGA_CHECK(x.dtype() == y.dtype(), TypeError,
              "Where: x and y have different dtypes (" << dtypeName(x.dtype()) << " and "
                                                       << dtypeName(y.dtype()) << "); convert one with ops::cast");
  Shape shape;
  try {
    shape = broadcastShapes(broadcastShapes(cond.shape(), x.shape(), "Where"), y.shape(), "Where");
  } catch (const ShapeError&) {
    SINGA_THROW(ShapeError, "Where: condition " << cond.shape() << ", x " << x.shape() << " and y "
                                                << y.shape() << " cannot be broadcast together");
  }
  Tensor out = runOp1(OpId::kWhere, x.dtype(), {cond, x, y}, shape, x.dtype());
  BackwardFn backward;
  if (recording({x, y})) {
    backward = [cond, x, y](const Grads& g) {
      const Tensor zero = zeroLike(g[0]);
      return Grads{Tensor(), wantsGrad(x) ? reduceTo(where(cond, g[0], zero), x.shape()) : Tensor(),
                   wantsGrad(y) ? reduceTo(where(cond, zero, g[0]), y.shape()) : Tensor()};
    };
  }
  return finish1("Where", Attrs(), {cond, x, y}, out, std::move(backward));
}

// ---- variadic ------------------------------------------------------------------------------------

Tensor sum(const std::vector<Tensor>& xs) {
  variadicShape("Sum", xs);
  Tensor y = foldKernel(OpId::kAdd, xs);
  BackwardFn backward;
  if (recording(xs)) {
    backward = [xs](const Grads& g) {
      Grads grads(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) {
        if (wantsGrad(xs[i])) grads[i] = reduceTo(g[0], xs[i].shape());
      }
      return grads;
    };
  }
  return finish1("Sum", Attrs(), xs, y, std::move(backward));
}

Tensor mean(const std::vector<Tensor>& xs) {
  variadicShape("Mean", xs);
  detail::requireFloat("Mean", xs[0]);
  const double n = static_cast<double>(xs.size());
  Tensor total = foldKernel(OpId::kAdd, xs);
  Tensor y = runOp1(OpId::kDiv, total.dtype(), {total, detail::scalarLike(n, total)}, total.shape(), total.dtype());
  BackwardFn backward;
  if (recording(xs)) {
    backward = [xs, n](const Grads& g) {
      const Tensor share = div(g[0], n);
      Grads grads(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) {
        if (wantsGrad(xs[i])) grads[i] = reduceTo(share, xs[i].shape());
      }
      return grads;
    };
  }
  return finish1("Mean", Attrs(), xs, y, std::move(backward));
}

Tensor max(const std::vector<Tensor>& xs) { return variadicExtreme(OpId::kMax, xs); }
Tensor min(const std::vector<Tensor>& xs) { return variadicExtreme(OpId::kMin, xs); }

}  // namespace singa::ops
