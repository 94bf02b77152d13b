// The functional op API: every tensor computation of the engine. Each op validates its inputs
// (a ShapeError / TypeError naming the op and the shapes or dtypes), allocates outputs on the
// inputs' device, runs the registered kernel, records an autograd node when an input needs a
// gradient, and records a trace entry (ONNX op type + attributes) when a Tracer is active.
//
// Trace convention: ops record ONNX op types with *attribute* forms for values that newer opsets
// take as inputs (Reshape "shape", Squeeze/Unsqueeze/Reduce* "axes", Slice "starts"/"ends"/
// "axes"/"steps", Pad "pads"/"value"/"mode", Clip "min"/"max", Expand "shape", Tile "repeats",
// Split "split"); the exporter converts them for the chosen opset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "singa/core/tensor.h"
#include "singa/ops/kernel_params.h"
#include "singa/ops/op_list.h"

namespace singa::ops {

// ---- elementwise unary (floating point; Abs/Neg/Sign also integer) --------------------------
// exp, log, sqrt, reciprocal, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, asinh, acosh,
// atanh, erf, floor, ceil, round (half to even, as ONNX Round), sigmoid, softplus, softsign,
// hardSwish: one declaration each from the float unary list (op_list.h).
#define SINGA_DECLARE_FLOAT_UNARY(A, Name, function, grad, since, desc) Tensor function(const Tensor& x);
SINGA_FLOAT_UNARY_OPS(SINGA_DECLARE_FLOAT_UNARY, )
#undef SINGA_DECLARE_FLOAT_UNARY
Tensor abs(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor selu(const Tensor& x, double alpha = 1.67326319217681884765625,
            double gamma = 1.05070102214813232421875);
Tensor leakyRelu(const Tensor& x, double alpha = 0.01);
Tensor hardSigmoid(const Tensor& x, double alpha = 0.2, double beta = 0.5);
Tensor celu(const Tensor& x, double alpha = 1.0);
Tensor thresholdedRelu(const Tensor& x, double alpha = 1.0);
/// Clamps to [min, max]; either bound may be absent.
Tensor clip(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor identity(const Tensor& x);

// ---- elementwise binary with NumPy/ONNX broadcasting ---------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // integer division truncates (ONNX Div)
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor mod(const Tensor& a, const Tensor& b, bool fmod = false);
/// PRelu: x if x >= 0 else slope * x (slope broadcast to x).
Tensor prelu(const Tensor& x, const Tensor& slope);
// Scalar forms (the scalar takes x's dtype).
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor pow(const Tensor& a, double b);

// ---- comparison and logic (outputs bool) ---------------------------------------------------
Tensor equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor lessOrEqual(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greaterOrEqual(const Tensor& a, const Tensor& b);
Tensor logicalAnd(const Tensor& a, const Tensor& b);
Tensor logicalOr(const Tensor& a, const Tensor& b);
Tensor logicalXor(const Tensor& a, const Tensor& b);
Tensor logicalNot(const Tensor& a);
/// cond ? x : y, all three broadcast.
Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y);

// ---- variadic (ONNX Sum / Mean / Max / Min; broadcasting) -----------------------------------
Tensor sum(const std::vector<Tensor>& xs);
Tensor mean(const std::vector<Tensor>& xs);
Tensor max(const std::vector<Tensor>& xs);
Tensor min(const std::vector<Tensor>& xs);

// ---- reductions (empty axes = all axes) ------------------------------------------------------
Tensor reduceSum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepDims = false);
Tensor reduceMean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepDims = false);
Tensor reduceMax(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepDims = false);
Tensor reduceMin(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepDims = false);
Tensor reduceProd(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepDims = false);
/// int64 indices of the max / min along `axis` (first occurrence unless selectLastIndex).
Tensor argmax(const Tensor& x, int64_t axis, bool keepDims = true, bool selectLastIndex = false);
Tensor argmin(const Tensor& x, int64_t axis, bool keepDims = true, bool selectLastIndex = false);
/// Sums `x` down to `shape` (the inverse of broadcasting; used by backward rules).
Tensor sumTo(const Tensor& x, const Shape& shape);

// ---- linear algebra --------------------------------------------------------------------------
/// NumPy matmul: 1-D operands promoted, batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
/// ONNX Gemm: alpha * op(A) op(B) + beta * C, A and B 2-D, C broadcast to the result (optional).
Tensor gemm(const Tensor& a, const Tensor& b, const Tensor& c = Tensor(), double alpha = 1.0,
            double beta = 1.0, bool transA = false, bool transB = false);

// ---- shape and data movement -----------------------------------------------------------------
/// ONNX Reshape semantics: one -1, and 0 copies the input dim unless allowZero.
Tensor reshape(const Tensor& x, const Shape& shape, bool allowZero = false);
/// 2-D [prod(d[:axis]), prod(d[axis:])].
Tensor flatten(const Tensor& x, int64_t axis = 1);
/// Empty perm reverses the axes (ONNX default).
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm = {});
Tensor squeeze(const Tensor& x, const std::vector<int64_t>& axes = {});
Tensor unsqueeze(const Tensor& x, const std::vector<int64_t>& axes);
/// ONNX Slice: starts/ends clamped, negative values count from the end; empty axes = 0..n-1.
Tensor slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
             const std::vector<int64_t>& axes = {}, const std::vector<int64_t>& steps = {});
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
/// Splits along `axis` into pieces of `sizes` (or `numOutputs` equal pieces when sizes is empty).
std::vector<Tensor> split(const Tensor& x, int64_t axis, const std::vector<int64_t>& sizes,
                          int64_t numOutputs = 0);
/// ONNX Pad: pads = [begin_0, ..., begin_n, end_0, ..., end_n]; mode constant|reflect|edge.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode = "constant",
           double value = 0.0);
/// ONNX Gather: indices (int32/int64, negative allowed) along `axis`.
Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis = 0);
Tensor cast(const Tensor& x, DType dtype);
/// Cast with ONNX's float8 options: `saturate` (what lies beyond the target's largest finite
/// value) and the rounding to float8e8m0 (CastParams). The narrow storage types (core/dtype.h)
/// are reached and left only through Cast.
Tensor cast(const Tensor& x, DType dtype, const CastParams& params);
/// Broadcasts x to `shape` (ONNX Expand: bidirectional broadcast).
Tensor expand(const Tensor& x, const Shape& shape);
Tensor tile(const Tensor& x, const std::vector<int64_t>& repeats);
/// ONNX Shape: int64 1-D tensor of x's dims.
Tensor shapeOf(const Tensor& x);
/// ONNX ConstantOfShape.
Tensor constantOfShape(const Shape& shape, double value = 0.0, DType dtype = DType::kFloat32);

// ---- neural network ops ----------------------------------------------------------------------
// ConvParams and PoolParams (the options below) are declared in singa/ops/kernel_params.h.
/// ONNX Conv, NC + 1..3 spatial dims; w: [Cout, Cin/group, k...]; b optional [Cout].
Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p);
/// relu(conv(x, w, b)). When nothing records it (no gradient wanted, no export tracer active)
/// and the tensors are on the CPU, the convolution kernel applies the ReLU as it stores its
/// output (one pass instead of two, inference of imported models); otherwise the two ops.
Tensor convRelu(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p);
/// clip(conv(x, w, b), min, max) (ONNX Clip's bounds: absent is unbounded). Like convRelu, one
/// kernel that clips as it stores when nothing needs gradients, no trace is recording and the
/// tensors are on the CPU (mobilenet's Conv -> Clip(0, 6) in inference); else the two ops.
Tensor convClip(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p, std::optional<double> min,
                std::optional<double> max);

struct ConvTransposeParams : ConvParams {
  std::vector<int64_t> outputPadding;
  std::vector<int64_t> outputShape;  // overrides pads when given
};
/// ONNX ConvTranspose; w: [Cin, Cout/group, k...].
Tensor convTranspose(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTransposeParams& p);

Tensor maxPool(const Tensor& x, const PoolParams& p);
Tensor avgPool(const Tensor& x, const PoolParams& p);
Tensor globalAvgPool(const Tensor& x);
Tensor globalMaxPool(const Tensor& x);

/// BatchNormalization over axis 1. In training, normalises with batch statistics and updates
/// runningMean/runningVar in place: r = momentum * r + (1 - momentum) * batch (ONNX convention;
/// the unbiased variance is stored). In inference, uses the running statistics.
Tensor batchNorm(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                 const Tensor& runningVar, bool training, double momentum = 0.9, double epsilon = 1e-5);

/// relu(batchNorm(...)), in training and inference. On the CPU, with no export tracer active, one
/// op: the BatchNorm kernels apply the ReLU as they store (and mask dy in backward), bit-identical
/// to the two ops, one pass and one tensor fewer each way; otherwise the two ops.
Tensor batchNormRelu(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                     const Tensor& runningVar, bool training, double momentum = 0.9, double epsilon = 1e-5);

/// clip(batchNorm(...), min, max) (mobilenet's BatchNormalization -> Clip(0, 6)). On the CPU, with
/// no export tracer active, one op: the kernels clip as they store, and training keeps a byte
/// mask of where Clip's backward passes dy instead of the float tensor between the two ops;
/// bit-identical to the two ops. With fixed statistics and a gradient wanted, the two ops.
Tensor batchNormClip(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                     const Tensor& runningVar, bool training, double momentum, double epsilon,
                     std::optional<double> min, std::optional<double> max);

/// Inverted dropout: zeroes with probability `ratio`, scales the rest by 1/(1-ratio), when training.
Tensor dropout(const Tensor& x, double ratio, bool training);

Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor logSoftmax(const Tensor& x, int64_t axis = -1);
/// Mean over the batch of -log softmax(logits)[label]; logits [N, C], labels int32/int64 [N].
Tensor softmaxCrossEntropy(const Tensor& logits, const Tensor& labels);
/// Mean of (a - b)^2.
Tensor mseLoss(const Tensor& a, const Tensor& b);

// ---- operators --------------------------------------------------------------------------------
}  // namespace singa::ops

namespace singa {
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
}  // namespace singa
