// Tensor: a shape, a dtype and strides over shared Storage with an element offset. Copying a
// Tensor copies a handle (like shared_ptr); views (reshape of a contiguous tensor, transpose,
// permute, slice) share storage. Autograd state (requires_grad, grad, the node that produced the
// tensor) lives in the impl so every handle sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

  // Autograd.
  bool requiresGrad = false;
  std::shared_ptr<TensorImpl> grad;             // accumulated gradient of a leaf
  std::shared_ptr<autograd::Node> gradFn;       // node that produced this tensor (non-leaf)
  int outputIndex = 0;                          // which output of gradFn
  std::function<void(const std::string&, TensorImpl&)> gradReadyHook;  // see Tensor::onGradReady
  std::function<std::shared_ptr<TensorImpl>(TensorImpl&)> gradBuffer;  // see Tensor::setGradBuffer
  std::string name;                             // parameter name, or ONNX value name
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

  /// Typed pointer to the first element (checks dtype; CPU or device pointer).
  template <class T>
  T* data() const;
  void* rawData() const;

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
  bool requiresGrad() const { return impl().requiresGrad; }
  Tensor& setRequiresGrad(bool value = true);
  /// The accumulated gradient (undefined until backward reaches this leaf).
  Tensor grad() const;
  void setGrad(const Tensor& g);
  /// Drops the gradient (next backward starts from zero).
  void zeroGrad();
  bool isLeaf() const { return impl().gradFn == nullptr; }
  const std::shared_ptr<autograd::Node>& gradFn() const { return impl().gradFn; }
  /// Back-propagates from this tensor (a scalar unless `grad` is given).
  void backward(const Tensor& grad = Tensor()) const;
  /// Same storage, cut from the graph.
  Tensor detach() const;
  /// Called once per backward pass when this leaf's gradient is final.
  void onGradReady(std::function<void(const std::string&, TensorImpl&)> hook);
  /// Where backward writes this leaf's gradient when it has none yet: `provider` returns a
  /// contiguous tensor of the leaf's shape and dtype that the engine copies the first gradient
  /// into (and then accumulates as usual), or null for the default (a fresh copy). The
  /// DistributedOptimizer points it at the parameter's slot in its bucket, saving a copy.
  void setGradBuffer(std::function<std::shared_ptr<TensorImpl>(TensorImpl&)> provider);

  const std::string& name() const { return impl().name; }
  Tensor& setName(const std::string& name);

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& implPtr() const { return impl_; }
  std::string str(int maxElements = 16) const;

 private:
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
  if (DTypeOf<T>::value != dtype()) {
    SINGA_THROW(TypeError, "tensor data requested as " << dtypeName(DTypeOf<T>::value)
                                                       << " but the tensor is " << dtypeName(dtype()));
  }
  return static_cast<T*>(rawData());
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
