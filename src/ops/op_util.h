// Shared plumbing for op implementations (src/ops/*.cc): output allocation, device checks,
// kernel dispatch, autograd recording and tracing in one place.
#pragma once

#include <string>
#include <vector>

#include "singa/autograd/node.h"
#include "singa/autograd/trace.h"
#include "singa/core/attrs.h"
#include "singa/core/tensor.h"
#include "singa/ops/registry.h"

namespace singa::ops::detail {

struct OutSpec {
  Shape shape;
  DType dtype;
};

/// Throws when the defined inputs are not all on one device; returns that device.
Device commonDevice(const char* op, const std::vector<Tensor>& inputs);

/// Allocates outputs on the inputs' device and runs kernel `kernel` selected by `dtype`.
/// `params`: the kernel's typed parameters (kernel_params.h), for the families that take them.
std::vector<Tensor> runOp(OpId kernel, DType dtype, const std::vector<Tensor>& inputs,
                          const std::vector<OutSpec>& outs, const Attrs& attrs = Attrs(),
                          const KernelParams* params = nullptr);
/// Single-output form.
Tensor runOp1(OpId kernel, DType dtype, const std::vector<Tensor>& inputs,
              const Shape& outShape, DType outDType, const Attrs& attrs = Attrs(), const KernelParams* params = nullptr);

/// Records the trace entry (when tracing) and the autograd node (when needed) for an op.
/// `backward` may be empty for non-differentiable ops.
void finish(const std::string& onnxOp, const Attrs& attrs, const std::vector<Tensor>& inputs,
            std::vector<Tensor>& outputs, autograd::BackwardFn backward);
inline Tensor finish1(const std::string& onnxOp, const Attrs& attrs, const std::vector<Tensor>& inputs,
                      Tensor output, autograd::BackwardFn backward) {
  std::vector<Tensor> outs{std::move(output)};
  finish(onnxOp, attrs, inputs, outs, std::move(backward));
  return outs[0];
}

/// Throws TypeError "op: expected a floating-point tensor, got int64" etc.
void requireFloat(const char* op, const Tensor& x);
void requireDefined(const char* op, const Tensor& x, const char* what);

/// True when gradients should be computed for `t` (it requires one or comes from a node that does).
inline bool wantsGrad(const Tensor& t) { return t.defined() && (t.requiresGrad() || t.gradFn() != nullptr); }

/// A scalar tensor of `like`'s dtype and device.
Tensor scalarLike(double v, const Tensor& like);

}  // namespace singa::ops::detail
