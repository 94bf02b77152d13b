#include "singa/ops/op_util.h"

namespace singa::ops::detail {

Device commonDevice(const char* op, const std::vector<Tensor>& inputs) {
  Device dev = Device::cpu();
  bool found = false;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    if (!found) {
      dev = t.device();
      found = true;
    } else if (t.device() != dev) {
      SINGA_THROW(ValueError, op << ": inputs are on different devices (" << dev.str() << " and "
                                 << t.device().str() << "); move them with .to(device) first");
    }
  }
  return dev;
}

std::vector<Tensor> runOp(OpId kernel, DType dtype, const std::vector<Tensor>& inputs,
                          const std::vector<OutSpec>& outs, const Attrs& attrs, const KernelParams* params) {
  Device dev = commonDevice(opName(kernel), inputs);
  const KernelFn& fn = KernelRegistry::global().find(kernel, dev.type, dtype);
  std::vector<Tensor> outputs;
  outputs.reserve(outs.size());
  for (const OutSpec& o : outs) outputs.emplace_back(o.shape, o.dtype, dev);
  KernelContext ctx{inputs, outputs, attrs, params};
  fn(ctx);
  return outputs;
}

Tensor runOp1(OpId kernel, DType dtype, const std::vector<Tensor>& inputs,
              const Shape& outShape, DType outDType, const Attrs& attrs, const KernelParams* params) {
  return runOp(kernel, dtype, inputs, {{outShape, outDType}}, attrs, params)[0];
}

void finish(const std::string& onnxOp, const Attrs& attrs, const std::vector<Tensor>& inputs,
            std::vector<Tensor>& outputs, autograd::BackwardFn backward) {
  autograd::trace(onnxOp, attrs, inputs, outputs);
  if (backward) autograd::record(onnxOp, inputs, outputs, std::move(backward));
}

void requireFloat(const char* op, const Tensor& x) {
  SINGA_CHECK(isFloating(x.dtype()), TypeError,
              op << ": expected a floating-point tensor, got " << dtypeName(x.dtype()));
}

void requireDefined(const char* op, const Tensor& x, const char* what) {
  SINGA_CHECK(x.defined(), ValueError, op << ": " << what << " is undefined");
}

Tensor scalarLike(double v, const Tensor& like) {
  return Tensor::scalar(v, like.dtype(), like.device());
}

}  // namespace singa::ops::detail
