// Tensor: a shape, a dtype and strides over shared Storage with an element offset. Copying a
// Tensor copies a handle (like shared_ptr); views (reshape of a contiguous tensor, transpose,
// permute, slice) share storage. Autograd state (requires_grad, grad, the node that produced the
// tensor, gradient hooks) lives behind one AutogradMeta pointer in the impl, so every handle sees
// it and a tensor that never takes part in autograd carries only a null pointer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "singa/core/autograd_meta.h"
#include "singa/core/device.h"
#include "singa/core/dtype.h"
#include "singa/core/shape.h"

namespace singa {

namespace autograd {
class Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::vector<int64_t> strides;  // in elements
  int64_t offset = 0;            // in elements
  DType dtype = DType::kFloat32;

  /// Autograd state: null until the tensor takes part in autograd (see AutogradMeta).
  std::unique_ptr<AutogradMeta> autograd;
  std::string name;  // parameter name, or ONNX value name

  /// The autograd state, allocated on first use.
  AutogradMeta& autogradMeta() {
    if (!autograd) autograd = std::make_unique<AutogradMeta>();
    return *autograd;
  }
};

class Tensor {
 public:
  /// An undefined tensor (defined() is false).
  Tensor() = default;
  /// An uninitialised tensor of `shape`.
  explicit Tensor(const Shape& shape, DType dtype = DType::kFloat32, Device device = Device::cpu());
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  static Tensor empty(const Shape& shape, DType dtype = DType::kFloat32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::kFloat32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::kFloat32,
                     Device device = Device::cpu());
  /// A 0-d tensor.
  static Tensor scalar(double value, DType dtype = DType::kFloat32, Device device = Device::cpu());
  /// Copies `values` (row-major) into a new CPU tensor of `shape`; numel must match.
  template <class T>
  static Tensor fromVector(const std::vector<T>& values, const Shape& shape);
  /// 0, 1, ..., n-1 as int64 (or another dtype).
  static Tensor arange(int64_t n, DType dtype = DType::kInt64);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  /// Size of dimension `axis` (negative counts from the end).
  int64_t dim(int axis) const;
  int ndim() const { return static_cast<int>(impl().shape.size()); }
  int64_t numel() const { return numelOf(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  const std::vector<int64_t>& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype()); }
  bool isContiguous() const;
  /// True when both handles view the same storage.
  bool sharesStorage(const Tensor& other) const;

  /// Typed pointer to the first element (checks dtype; CPU or device pointer), to read or write:
  /// counts as a write to the storage (Storage::version()), so caches derived from the contents
  /// (reordered convolution weights) are rebuilt. Ask again for each update rather than keeping
  /// the pointer across other engine calls, and do not write while another thread runs ops that
  /// read the tensor: a cache made in between would keep the old values.
  template <class T>
  T* data() const;
  void* rawData() const;
  /// The same pointer, to read only: the storage's version does not move, so caches derived
  /// from the contents (reordered convolution weights) stay valid. Nothing may be written
  /// through it.
  template <class T>
  const T* readData() const;
  const void* rawReadData() const;
  /// TypeError unless the tensor's dtype is `requested` (data<T>() and readData<T>() check it).
  void checkDataType(DType requested) const {
    if (requested != dtype()) {
      SINGA_THROW(TypeError, "tensor data requested as " << dtypeName(requested) << " but the tensor is "
                                                         << dtypeName(dtype()));
    }
  }

  // ---- copies, views and conversion (recorded by autograd where differentiable) -------------
  /// Same data, contiguous row-major layout (a copy only when needed).
  Tensor contiguous() const;
  /// A new tensor with its own storage and the same values (no autograd link).
  Tensor clone() const;
  /// Reshape; one dim may be -1. A view when contiguous, else a copy.
  Tensor reshape(const Shape& shape) const;
  Tensor transpose(int a, int b) const;
  Tensor permute(const std::vector<int>& order) const;
  /// Elements [start, end) with `step` along `axis`: a view.
  Tensor slice(int axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  /// Copies `src`'s values into this tensor in place (shapes must match; dtype converted).
  void copyFrom(const Tensor& src);
  void fill(double value);
  void zero();

  template <class T>
  std::vector<T> toVector() const;
  /// Value of a one-element tensor as double.
  double item() const;
  /// Value at a flat row-major index, as double (slow; for tests and debugging).
  double at(int64_t flatIndex) const;

  // ---- autograd ------------------------------------------------------------------------------
  // Gradient accumulation rule (as PyTorch's): when backward reaches a leaf whose grad() is
  // undefined, the leaf gets a fresh copy of the incoming gradient. When grad() is defined, the
  // incoming gradient is added into it IN PLACE, so every handle to that tensor -- a grad() kept
  // from an earlier backward, or a view into a larger buffer installed with setGrad() -- sees the
  // sum. (A non-contiguous grad is replaced by the sum instead.) Hence:
  //  * several backward passes without zeroGrad() in between sum their gradients;
  //  * zeroGrad() drops the gradient, so a tensor obtained from grad() before it is never
  //    written by a later backward; clone() a gradient you hold to keep its values regardless;
  //  * a caller can setGrad() a zeroed view into its own buffer (a DDP bucket) and backward
  //    accumulates straight into that buffer. It must have the leaf's shape, dtype and device.

  /// True once autograd state was allocated for this tensor (cheap; no allocation).
  bool hasAutogradMeta() const { return impl().autograd != nullptr; }
  bool requiresGrad() const {
    const AutogradMeta* m = impl().autograd.get();
    return m != nullptr && m->requiresGrad;
  }
  Tensor& setRequiresGrad(bool value = true);
  /// The accumulated gradient (undefined until backward reaches this leaf or setGrad()).
  Tensor grad() const;
  /// Sets the gradient that backward accumulates into (undefined: drops it).
  void setGrad(const Tensor& g);
  /// Drops the gradient (next backward starts from a fresh one).
  void zeroGrad();
  bool isLeaf() const { return gradFn() == nullptr; }
  /// The node that produced this tensor (null for a leaf and outside autograd).
  const std::shared_ptr<autograd::Node>& gradFn() const {
    const AutogradMeta* m = impl().autograd.get();
    return m != nullptr ? m->gradFn : kNoGradFn;
  }
  /// Back-propagates from this tensor (a scalar unless `grad` is given).
  void backward(const Tensor& grad = Tensor()) const;
  /// Same storage, cut from the graph (no autograd state).
  Tensor detach() const;
  /// Registers `hook` to run once per backward pass that reaches this leaf, after the leaf's
  /// gradient has received all of that pass's contributions (grad() is then the accumulated
  /// value; it stays undefined when every contribution was undefined and none was set). Hooks run
  /// in registration order on the thread running backward, with grad mode off. Returns an id for
  /// removePostAccumulateGradHook. Only leaves accumulate gradients: a non-leaf's hook never runs.
  uint64_t registerPostAccumulateGradHook(PostAccumulateGradHook hook);
  /// Removes the hook registered under `id`; false if there is none.
  bool removePostAccumulateGradHook(uint64_t id);

  const std::string& name() const { return impl().name; }
  Tensor& setName(const std::string& name);

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& implPtr() const { return impl_; }
  std::string str(int maxElements = 16) const;

 private:
  inline static const std::shared_ptr<autograd::Node> kNoGradFn{};
  std::shared_ptr<TensorImpl> impl_;
};

/// A view of `base`'s storage with new shape/strides/offset (no copy, no autograd link).
Tensor makeView(const Tensor& base, const Shape& shape, const std::vector<int64_t>& strides,
                int64_t offset);

/// Bytes copied into a bool tensor from a file may hold any value, but a C++ bool must be 0 or 1
/// (anything else is undefined behaviour when read). Rewrites each byte of the contiguous CPU
/// bool tensor `t` as 0 or 1; readers of raw tensor data call it.
void normalizeBools(Tensor& t);

// ---- template definitions ------------------------------------------------------------------

template <class T>
T* Tensor::data() const {
  checkDataType(DTypeOf<T>::value);
  return static_cast<T*>(rawData());
}

template <class T>
const T* Tensor::readData() const {
  checkDataType(DTypeOf<T>::value);
  return static_cast<const T*>(rawReadData());
}

template <class T>
Tensor Tensor::fromVector(const std::vector<T>& values, const Shape& shape) {
  Tensor t(shape, DTypeOf<T>::value);
  SINGA_CHECK(static_cast<int64_t>(values.size()) == t.numel(), ShapeError,
              "fromVector: " << values.size() << " values do not fill shape " << shape);
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

template <class T>
std::vector<T> Tensor::toVector() const {
  Tensor c = to(Device::cpu()).to(DTypeOf<T>::value).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace singa
