// Typed kernel parameters. An op function (src/ops/nn_conv.cc) parses its options once (defaults
// filled, auto_pad resolved to explicit pads) and hands the result to its kernels through
// KernelContext::params, so CPU and CUDA kernels read plain fields instead of looking up
// string-keyed Attrs on every call. Attrs stay at the ONNX edge: the trace, the exporter and the
// ONNX converters. The user-facing option structs (ops::ConvParams, ops::PoolParams) are reused
// as the kernels' window description.
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
/// size is the weight's) and, for Conv, whether to apply Relu as the output is stored.
struct ConvKernelParams {
  ops::ConvParams window;
  bool fuseRelu = false;
};

/// MaxPool, MaxPoolGrad, AveragePool, AveragePoolGrad: the resolved ops::PoolParams (kernel,
/// strides, dilations one value per spatial dim, explicit pads; ceil mode already applied to
/// the output shape the op allocated).
using PoolKernelParams = ops::PoolParams;

/// What KernelContext::params points at: nothing, or one op family's parameters.
using KernelParams = std::variant<std::monostate, ConvKernelParams, PoolKernelParams>;

}  // namespace singa
