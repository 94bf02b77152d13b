// The one list of kernel ops. Every (op, device type, dtype) slot of the kernel registry, every
// kernel registration, every dispatch from an op function and every row of the cross-backend op
// test table (tests/ops/op_table_test.cc) is named by an OpId generated from this list, so an op
// is spelled once. The names are the ones kernels have always had (mostly ONNX op types; the
// backward kernels are "<Op>Grad"). opFromName is for diagnostics and tooling only: dispatch never
// compares strings.
//
// X(name, inputs, description): `inputs` is the number of tensor inputs the kernel reads
// (-1: variable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace singa {

// clang-format off
// The simple float unary ops: one line each makes the OpId (and "<Name>Grad" unless the gradient
// is None), the public function ops::<function>(x) with its backward rule (ops.h,
// elementwise.cc), the CPU and CUDA kernels (their math is kernels/unary_math.h's struct <Name>)
// and the ONNX converter (the op type <Name>, from opset `since`; none for since 0).
// X(A, Name, function, gradient from Input | Output | None, ONNX since-opset, description); A is
// passed through for the expanding macro.
#define SINGA_FLOAT_UNARY_OPS(X, A)                                                                     \
  X(A, Exp, exp, Output, 1, "e^x")                                                                     \
  X(A, Log, log, Input, 1, "ln x")                                                                     \
  X(A, Sqrt, sqrt, Output, 1, "square root")                                                           \
  X(A, Reciprocal, reciprocal, Output, 1, "1 / x")                                                     \
  X(A, Sin, sin, Input, 1, "sine")                                                                     \
  X(A, Cos, cos, Input, 1, "cosine")                                                                   \
  X(A, Tan, tan, Output, 1, "tangent")                                                                 \
  X(A, Asin, asin, Input, 1, "arcsine")                                                                \
  X(A, Acos, acos, Input, 1, "arccosine")                                                              \
  X(A, Atan, atan, Input, 1, "arctangent")                                                             \
  X(A, Sinh, sinh, Input, 1, "hyperbolic sine")                                                        \
  X(A, Cosh, cosh, Input, 1, "hyperbolic cosine")                                                      \
  X(A, Tanh, tanh, Output, 1, "hyperbolic tangent")                                                    \
  X(A, Asinh, asinh, Input, 1, "inverse hyperbolic sine")                                              \
  X(A, Acosh, acosh, Input, 1, "inverse hyperbolic cosine")                                            \
  X(A, Atanh, atanh, Input, 1, "inverse hyperbolic tangent")                                           \
  X(A, Erf, erf, Input, 1, "error function")                                                           \
  X(A, Floor, floor, None, 1, "round down")                                                            \
  X(A, Ceil, ceil, None, 1, "round up")                                                                \
  X(A, Round, round, None, 11, "round half to even")                                                   \
  X(A, Sigmoid, sigmoid, Output, 1, "1 / (1 + e^-x)")                                                  \
  X(A, Softplus, softplus, Input, 1, "ln(1 + e^x)")                                                    \
  X(A, Softsign, softsign, Input, 1, "x / (1 + |x|)")                                                  \
  X(A, HardSwish, hardSwish, Input, 1, "x * clamp(x / 6 + 1/2, 0, 1)")                                \
  X(A, Silu, silu, Input, 0, "x * sigmoid(x) (imported Sigmoid + Mul fused; no ONNX op of its own)")

// SINGA_OPS entries for the float unary list: the op, then its gradient kernel.
#define SINGA_UNARY_GRAD_ID_Input(X, Name, desc) X(Name##Grad, 2, "gradient of " desc)
#define SINGA_UNARY_GRAD_ID_Output(X, Name, desc) X(Name##Grad, 2, "gradient of " desc ", from the output")
#define SINGA_UNARY_GRAD_ID_None(X, Name, desc)
#define SINGA_UNARY_OP_IDS(X, Name, function, grad, since, desc) \
  X(Name, 1, desc) SINGA_UNARY_GRAD_ID_##grad(X, Name, desc)

#define SINGA_UNARY_GRAD_OPS(X)                                                                        \
  X(AbsGrad, 2, "dy * sign(x)")                                                                      \
  X(ReluGrad, 2, "dy * (x > 0)")                                                                     \
  X(EluGrad, 2, "Elu backward from x")                                                               \
  X(SeluGrad, 2, "Selu backward from x")                                                             \
  X(LeakyReluGrad, 2, "LeakyRelu backward from x")                                                   \
  X(HardSigmoidGrad, 2, "HardSigmoid backward from x")                                               \
  X(CeluGrad, 2, "Celu backward from x")                                                             \
  X(ThresholdedReluGrad, 2, "ThresholdedRelu backward from x")                                       \
  X(ClipGrad, 2, "dy where min <= x <= max")

#define SINGA_OPS(X)                                                                                   \
  /* data movement */                                                                              \
  X(Copy, 1, "copy (and convert) a strided tensor into a contiguous one")                            \
  X(Fill, 0, "set every element to attribute `value`")                                               \
  X(StridedCopy, 1, "copy a broadcast/strided view into a tensor of any strides")                    \
  X(Concat, -1, "join tensors along `axis`")                                                         \
  X(Gather, 2, "take slices along `axis` at integer indices")                                        \
  X(GatherGrad, 2, "scatter-add dy into zeros at the gathered indices")                              \
  X(Pad, 1, "constant / reflect / edge padding")                                                     \
  X(PadGrad, 1, "gradient of Pad")                                                                   \
  X(Tile, 1, "repeat along each axis")                                                               \
  /* broadcasting binary arithmetic, comparison, logic */                                          \
  X(Add, 2, "a + b")                                                                                 \
  X(Sub, 2, "a - b")                                                                                 \
  X(Mul, 2, "a * b")                                                                                 \
  X(Div, 2, "a / b")                                                                                 \
  X(Pow, 2, "a ^ b")                                                                                 \
  X(Max, 2, "max(a, b), NaN-propagating")                                                            \
  X(Min, 2, "min(a, b), NaN-propagating")                                                            \
  X(Mod, 2, "a mod b (sign of b), or fmod with attribute fmod=1")                                    \
  X(PRelu, 2, "x < 0 ? slope * x : x")                                                               \
  X(Equal, 2, "a == b")                                                                              \
  X(Less, 2, "a < b")                                                                                \
  X(LessOrEqual, 2, "a <= b")                                                                        \
  X(Greater, 2, "a > b")                                                                             \
  X(GreaterOrEqual, 2, "a >= b")                                                                     \
  X(And, 2, "logical and")                                                                           \
  X(Or, 2, "logical or")                                                                             \
  X(Xor, 2, "logical xor")                                                                           \
  X(Not, 1, "logical not")                                                                           \
  X(Where, 3, "cond ? x : y")                                                                        \
  /* unary math and activations */                                                                 \
  SINGA_FLOAT_UNARY_OPS(SINGA_UNARY_OP_IDS, X)                                                       \
  X(Abs, 1, "|x|")                                                                                   \
  X(Neg, 1, "-x")                                                                                    \
  X(Sign, 1, "sign(x)")                                                                              \
  X(Relu, 1, "max(x, 0)")                                                                            \
  X(Clip, 1, "clamp to [min, max]")                                                                  \
  X(Elu, 1, "x < 0 ? alpha * (e^x - 1) : x")                                                         \
  X(Selu, 1, "gamma * (x < 0 ? alpha * (e^x - 1) : x)")                                              \
  X(LeakyRelu, 1, "x < 0 ? alpha * x : x")                                                           \
  X(HardSigmoid, 1, "clamp(alpha * x + beta, 0, 1)")                                                 \
  X(Celu, 1, "max(0, x) + min(0, alpha * (e^(x/alpha) - 1))")                                        \
  X(ThresholdedRelu, 1, "x > alpha ? x : 0")                                                         \
  SINGA_UNARY_GRAD_OPS(X)                                                                            \
  /* reductions */                                                                                 \
  X(ReduceSum, 1, "sum over `axes`")                                                                 \
  X(ReduceMean, 1, "mean over `axes`")                                                               \
  X(ReduceProd, 1, "product over `axes`")                                                            \
  X(ReduceMax, 1, "maximum over `axes`")                                                             \
  X(ReduceMin, 1, "minimum over `axes`")                                                             \
  X(ArgMax, 1, "index of the maximum along `axis`")                                                  \
  X(ArgMin, 1, "index of the minimum along `axis`")                                                  \
  X(ReduceMaxGrad, 2, "dy to the first maximum")                                                     \
  X(ReduceMinGrad, 2, "dy to the first minimum")                                                     \
  X(ReduceProdGrad, 2, "dy * product of the other elements")                                         \
  /* linear algebra */                                                                             \
  X(MatMul, 2, "batched matrix product")                                                             \
  X(Gemm, -1, "alpha * op(A) op(B) + beta * C")                                                      \
  /* convolution and pooling */                                                                    \
  X(Conv, -1, "N-d convolution (x, w[, b]), optional fused Relu")                                   \
  X(ConvGradInput, 2, "dx of Conv from (dy, w)")                                                     \
  X(ConvTranspose, -1, "transposed convolution (x, w[, b])")                                         \
  X(ConvGradWeight, 2, "dw (and db) of Conv from (x, dy)")                                           \
  X(ConvGradBias, 1, "db of Conv from dy")                                                           \
  X(MaxPool, 1, "max pooling, with argmax indices")                                                  \
  X(MaxPoolGrad, 2, "dx of MaxPool from (dy, argmax)")                                               \
  X(AveragePool, 1, "average pooling")                                                               \
  X(AveragePoolGrad, 1, "dx of AveragePool from dy")                                                 \
  /* normalization, dropout */                                                                     \
  X(BatchNormTraining, 5, "batch statistics, updates running mean/var")                              \
  X(BatchNormInference, 5, "normalise with running statistics")                                      \
  X(BatchNormGrad, 5, "dx, dscale, dbias of BatchNorm")                                              \
  X(Dropout, 1, "zero with probability `ratio`, scale the rest; also the mask")                      \
  /* softmax and losses */                                                                         \
  X(Softmax, 1, "softmax along `axis`")                                                              \
  X(LogSoftmax, 1, "log-softmax along `axis`")                                                       \
  X(SoftmaxGrad, 2, "dx of Softmax from (dy, y)")                                                    \
  X(LogSoftmaxGrad, 2, "dx of LogSoftmax from (dy, y)")                                              \
  X(SoftmaxCrossEntropyLoss, 2, "mean cross-entropy of softmax(logits) and labels, and the probs")   \
  X(SoftmaxCrossEntropyLossGrad, 3, "d logits from (probs, labels, dloss)")                          \
  /* optimizers */                                                                                 \
  X(SGDUpdate, 1, "in-place SGD step (momentum, Nesterov, weight decay)")                            \
  X(AdamUpdate, 1, "in-place Adam/AdamW step")
// clang-format on

/// A kernel op. `OpId::kConv` etc.; kCount is the number of ops, not an op.
enum class OpId : uint16_t {
#define SINGA_OP_ENUM(name, inputs, desc) k##name,
  SINGA_OPS(SINGA_OP_ENUM)
#undef SINGA_OP_ENUM
      kCount
};

inline constexpr size_t kOpCount = static_cast<size_t>(OpId::kCount);

/// The op's name ("Conv", "ReluGrad"), for messages and traces.
const char* opName(OpId op);
/// A one-line description of what the kernel computes.
const char* opDescription(OpId op);
/// Number of tensor inputs the kernel reads, -1 when variable.
int opInputCount(OpId op);
/// The op named `name`, for diagnostics and tooling only (never on a dispatch path).
std::optional<OpId> opFromName(std::string_view name);

}  // namespace singa
