// The Tensor methods that run ops (copies through the kernel registry, views through the shape
// ops, casts) or the tape: declared with Tensor in the core layer, defined here in the ops layer,
// so the core layer does not include anything above it.
#include "singa/autograd/node.h"
#include "singa/autograd/trace.h"
#include "singa/core/tensor.h"
#include "singa/ops/ops.h"
#include "singa/ops/registry.h"

namespace singa {

Tensor Tensor::contiguous() const {
  if (isContiguous()) return *this;
  std::vector<Tensor> outs{Tensor(shape(), dtype(), device())};
  runKernel(OpId::kCopy, dtype(), device(), {*this}, outs);
  autograd::record("Contiguous", {*this}, outs,
                   [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  autograd::trace("Identity", Attrs(), {*this}, outs);
  return outs[0];
}

Tensor Tensor::clone() const {
  std::vector<Tensor> outs{Tensor(shape(), dtype(), device())};
  runKernel(OpId::kCopy, dtype(), device(), {*this}, outs);
  return outs[0];
}

Tensor Tensor::reshape(const Shape& shape) const { return ops::reshape(*this, shape); }

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int64_t> perm(ndim());
  for (int i = 0; i < ndim(); ++i) perm[i] = i;
  std::swap(perm[normalizeAxis(a, ndim(), "transpose")], perm[normalizeAxis(b, ndim(), "transpose")]);
  return ops::transpose(*this, perm);
}

Tensor Tensor::permute(const std::vector<int>& order) const {
  return ops::transpose(*this, std::vector<int64_t>(order.begin(), order.end()));
}

Tensor Tensor::slice(int axis, int64_t start, int64_t end, int64_t step) const {
  return ops::slice(*this, {start}, {end}, {axis}, {step});
}

Tensor Tensor::to(DType dtype) const { return dtype == this->dtype() ? *this : ops::cast(*this, dtype); }

void Tensor::copyFrom(const Tensor& src) {
  SINGA_CHECK(src.shape() == shape(), ShapeError,
              "copyFrom: source shape " << src.shape() << " differs from destination " << shape());
  SINGA_CHECK(isContiguous(), ValueError, "copyFrom: destination must be contiguous");
  Tensor s = src.device() == device() ? src : src.to(device());
  if (s.dtype() == dtype() && s.isContiguous()) {
    deviceBackend(device().type).copy(rawData(), device(), s.rawData(), device(), nbytes());
    return;
  }
  std::vector<Tensor> outs{*this};
  runKernel(OpId::kCopy, s.dtype(), device(), {s}, outs);
}

void Tensor::fill(double value) {
  std::vector<Tensor> outs{*this};
  const KernelParams kp = FillParams{value};
  runKernel(OpId::kFill, dtype(), device(), {}, outs, Attrs(), &kp);
}

void Tensor::backward(const Tensor& grad) const { autograd::backward(*this, grad); }

}  // namespace singa
