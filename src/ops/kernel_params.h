// Typed kernel parameters. Every kernel family that has options takes them as one of the
// structs below: the op function (src/ops/*.cc, src/optim/*.cc) checks and parses its options
// once (defaults filled, axes normalised, auto_pad resolved to explicit pads, Pad's mode turned
// into an enum) and hands the result to its kernels through KernelContext::params, so CPU and CUDA
// kernels read plain fields (ctx.paramsAs<P>("Kernel")) instead of looking up string-keyed Attrs
// on every call. Attrs stay at the ONNX edge: the trace, the exporter and the ONNX converters.
// The user-facing option structs (ops::ConvParams, ops::PoolParams) are reused as the kernels'
// window description. A new parametrised op adds its struct here and to KernelParams (or reuses
// one: AxisParams for any op whose only option is one axis).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace singa::ops {

struct ConvParams {
  std::vector<int64_t> strides;    // per spatial dim (default 1)
  std::vector<int64_t> pads;       // [begin..., end...] (default 0)
  std::vector<int64_t> dilations;  // default 1
  int64_t group = 1;
  std::string autoPad = "NOTSET";  // NOTSET | SAME_UPPER | SAME_LOWER | VALID
};

struct PoolParams {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> pads;
  std::vector<int64_t> dilations;
  bool ceilMode = false;
  bool countIncludePad = false;  // AveragePool only
  std::string autoPad = "NOTSET";
};

}  // namespace singa::ops

namespace singa {

/// Conv, ConvGradInput, ConvGradWeight, ConvGradBias and ConvTranspose: the resolved window
/// (every field one value per spatial dim, pads [begin..., end...], autoPad NOTSET; the kernel
/// size is the weight's) and, for Conv, whether to apply Relu or Clip as the output is stored.
struct ConvKernelParams {
  ops::ConvParams window;
  bool fuseRelu = false;
  /// Conv only (ops::convClip): y = min(max(y, clipLo), clipHi) as the Clip kernel computes it
  /// (NaN stays NaN; an absent bound is -inf / +inf).
  bool fuseClip = false;
  double clipLo = 0.0, clipHi = 0.0;
  /// Conv only, set in inference (no gradient recorded): a kernel that reorders the weights into
  /// its own layout may keep the result with the weights' storage for the next call
  /// (Storage::derived, checked against Storage::version), as weights rarely change between
  /// inference calls.
  bool cacheWeights = false;
};

/// MaxPool, MaxPoolGrad, AveragePool, AveragePoolGrad: the resolved ops::PoolParams (kernel,
/// strides, dilations one value per spatial dim, explicit pads; ceil mode already applied to
/// the output shape the op allocated).
using PoolKernelParams = ops::PoolParams;

/// Every unary elementwise kernel and its "<Op>Grad" (ops::abs ... ops::thresholdedRelu): the
/// activation constants of Elu, Selu, LeakyRelu, HardSigmoid, Celu, ThresholdedRelu and Clip's
/// bounds; the unparametrised ops get the defaults.
struct UnaryParams {
  double alpha = 0, beta = 0, gamma = 0;
  double lo = 0, hi = 0;              // Clip's min and max, read only when given
  bool hasLo = false, hasHi = false;  // (a missing bound clips nothing)
};

/// Mod: C fmod (sign of the dividend) or Python-style (sign of the divisor).
struct ModParams {
  bool fmod = false;
};

/// Gemm: Y = alpha op(A) op(B) + beta C.
struct GemmParams {
  double alpha = 1, beta = 1;
  bool transA = false, transB = false;
};

/// ReduceSum/Mean/Prod/Max/Min and ReduceMaxGrad/MinGrad/ProdGrad: the reduced axes,
/// normalised, sorted and distinct (empty: nothing reduced; every axis is listed explicitly).
/// keepdims only shapes the output the op allocates.
struct ReduceParams {
  std::vector<int64_t> axes;
};

/// ArgMax, ArgMin: the normalised axis and which extremum wins a tie.
struct ArgReduceParams {
  int64_t axis = 0;
  bool selectLastIndex = false;
};

/// The ops whose one option is a normalised axis: Softmax, LogSoftmax (and their grads),
/// Concat, Gather, GatherGrad.
struct AxisParams {
  int64_t axis = 0;
};

/// Pad and PadGrad: the mode checked and parsed once by the op.
enum class PadMode : int { kConstant = 0, kReflect = 1, kEdge = 2 };
struct PadParams {
  std::vector<int64_t> pads;  // [begin_0..begin_n, end_0..end_n]
  PadMode mode = PadMode::kConstant;
  double value = 0;  // the constant, converted to the tensor's dtype by the kernel
};

/// Fill: every element of the output set to value (converted to its dtype).
struct FillParams {
  double value = 0;
};

/// BatchNormTraining, BatchNormInference, BatchNormGrad. `training` (grad only): inputs 3 and 4
/// are the batch mean and 1/std (true) or the running mean and variance (false).
struct BatchNormParams {
  double epsilon = 1e-5;
  double momentum = 0.9;
  bool training = true;
  /// CPU only: a ReLU fused onto the output (forward), and onto dy in BatchNormGrad, which then
  /// takes the fused output y as a sixth input (dy counts where y > 0).
  bool relu = false;
  /// CPU only: a Clip fused onto the output (never with relu), with Clip's bounds (a missing one
  /// clips nothing). BatchNormTraining then has a fourth output, a uint8 mask of where Clip's
  /// backward passes dy (lo <= v <= hi of the value before clipping), which BatchNormGrad takes
  /// as its sixth input.
  bool clip = false;
  bool clipHasLo = false, clipHasHi = false;
  double clipLo = 0, clipHi = 0;
};

/// Dropout: the drop ratio and the generator state (seed, counter) the mask is drawn from.
struct DropoutParams {
  double ratio = 0;
  uint64_t seed = 0, counter = 0;
};

/// SGDUpdate (outputs {param[, momentum_buffer]}, input {grad}).
struct SGDParams {
  double lr = 0, momentum = 0, dampening = 0, weightDecay = 0;
  bool nesterov = false;
  bool initBuffer = false;  // first step: the momentum buffer is set to the gradient
};

/// AdamUpdate (outputs {param, exp_avg, exp_avg_sq}, input {grad}); step counts from 1.
struct AdamParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weightDecay = 0;
  bool decoupled = false;  // AdamW
  int64_t step = 1;
};

/// Copy as Cast to a float8 type: what lies beyond the largest finite value (saturate: that value;
/// else infinity or NaN), and how a value rounds to a float8e8m0 power of two. Copy kernels without
/// parameters use the defaults (ONNX Cast's).
struct CastParams {
  bool saturate = true;
  uint8_t e8m0Rounding = 0;  // narrow::E8M0Rounding: 0 up, 1 down, 2 nearest
};

/// What KernelContext::params points at: nothing (kernels without options: Copy, Add, MatMul,
/// Tile, Where, ...), or one op family's parameters.
using KernelParams =
    std::variant<std::monostate, ConvKernelParams, PoolKernelParams, UnaryParams, ModParams, GemmParams, ReduceParams,
                 ArgReduceParams, AxisParams, PadParams, FillParams, BatchNormParams, DropoutParams, SGDParams,
                 AdamParams, CastParams>;

}  // namespace singa
