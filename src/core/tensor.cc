#include "singa/core/tensor.h"

#include <cmath>
#include <iomanip>
#include <sstream>


namespace singa {

Tensor::Tensor(const Shape& shape, DType dtype, Device device) : impl_(std::make_shared<TensorImpl>()) {
  for (int64_t d : shape) {
    SINGA_CHECK(d >= 0, ShapeError, "Tensor: negative dimension in shape " << shape);
  }
  const size_t bytes = checkedBytes(numelOf(shape), dtypeSize(dtype), "Tensor");
  impl_->shape = shape;
  impl_->strides = contiguousStrides(shape);
  impl_->dtype = dtype;
  try {
    impl_->storage = std::make_shared<Storage>(bytes, device);
  } catch (const MemoryError& e) {
    SINGA_THROW(MemoryError, "a " << dtypeName(dtype) << shape << " tensor " << e.what());
  }
}

void normalizeBools(Tensor& t) {
  SINGA_ASSERT(t.dtype() == DType::kBool && t.device().isCpu() && t.isContiguous());
  auto* bytes = static_cast<unsigned char*>(t.rawData());
  for (int64_t i = 0; i < t.numel(); ++i) bytes[i] = bytes[i] != 0;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return Tensor(shape, dtype, device); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t(shape, dtype, device);
  t.zero();
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t({n}, DType::kInt64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return dtype == DType::kInt64 ? t : t.to(dtype);
}

TensorImpl& Tensor::impl() const {
  SINGA_CHECK(impl_ != nullptr, ValueError, "operation on an undefined tensor");
  return *impl_;
}

int64_t Tensor::dim(int axis) const {
  // normalizeAxis lets axis 0 through for rank 0 (ops that treat a scalar as one element); a
  // 0-d tensor has no dimension to return.
  SINGA_CHECK(ndim() > 0, ShapeError, "a 0-d tensor (a scalar) has no dimension " << axis << "; expected a tensor of rank > " << axis);
  int a = normalizeAxis(axis, ndim(), "Tensor::dim");
  return impl().shape[a];
}

bool Tensor::isContiguous() const {
  const TensorImpl& t = impl();
  if (numelOf(t.shape) == 0) return true;
  int64_t expected = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == 1) continue;
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

bool Tensor::sharesStorage(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

void* Tensor::rawData() const {
  const TensorImpl& t = impl();
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<int64_t>(dtypeSize(t.dtype));
}

const void* Tensor::rawReadData() const {
  const TensorImpl& t = impl();
  return static_cast<const char*>(t.storage->readData()) + t.offset * static_cast<int64_t>(dtypeSize(t.dtype));
}

Tensor makeView(const Tensor& base, const Shape& shape, const std::vector<int64_t>& strides,
                int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous();
  Tensor out(shape(), dtype(), device);
  Device copier = device.isCpu() ? src.device() : device;
  deviceBackend(copier.type).copy(out.rawData(), device, src.rawData(), src.device(), nbytes());
  return out;
}

void Tensor::zero() {
  SINGA_CHECK(isContiguous(), ValueError, "zero: tensor must be contiguous");
  deviceBackend(device().type).memset0(rawData(), nbytes(), device().index);
}

double Tensor::item() const {
  SINGA_CHECK(numel() == 1, ShapeError, "item: tensor has " << numel() << " elements " << shape()
                                                            << ", expected exactly one");
  return at(0);
}

double Tensor::at(int64_t flatIndex) const {
  SINGA_CHECK(flatIndex >= 0 && flatIndex < numel(), ValueError,
              "at: index " << flatIndex << " out of range for " << numel() << " elements");
  Tensor c = to(Device::cpu());
  // Walk the strides so views need no copy.
  int64_t rem = flatIndex, off = 0;
  for (int i = c.ndim() - 1; i >= 0; --i) {
    int64_t d = c.shape()[i];
    off += (rem % d) * c.strides()[i];
    rem /= d;
  }
  const char* base = static_cast<const char*>(c.impl().storage->readData());
  double v = 0;
  SINGA_DISPATCH_ALL(c.dtype(), T,
                     v = static_cast<double>(reinterpret_cast<const T*>(base)[c.offset() + off]));
  return v;
}

Tensor& Tensor::setRequiresGrad(bool value) {
  SINGA_CHECK(!value || isFloating(dtype()), TypeError,
              "only floating-point tensors can require gradients (this one is " << dtypeName(dtype()) << ")");
  if (value || impl().autograd) impl().autogradMeta().requiresGrad = value;
  return *this;
}

Tensor Tensor::grad() const {
  const AutogradMeta* m = impl().autograd.get();
  return m != nullptr && m->grad ? Tensor(m->grad) : Tensor();
}

void Tensor::setGrad(const Tensor& g) {
  if (!g.defined()) {
    zeroGrad();
    return;
  }
  impl().autogradMeta().grad = g.implPtr();
}

void Tensor::zeroGrad() {
  if (AutogradMeta* m = impl().autograd.get()) m->grad = nullptr;
}

Tensor Tensor::detach() const { return makeView(*this, shape(), strides(), offset()); }

uint64_t Tensor::registerPostAccumulateGradHook(PostAccumulateGradHook hook) {
  SINGA_CHECK(hook != nullptr, ValueError, "registerPostAccumulateGradHook: the hook is empty");
  AutogradMeta& m = impl().autogradMeta();
  const uint64_t id = m.nextHookId++;
  m.postAccumulateGradHooks.emplace_back(id, std::move(hook));
  return id;
}

bool Tensor::removePostAccumulateGradHook(uint64_t id) {
  AutogradMeta* m = impl().autograd.get();
  if (m == nullptr) return false;
  auto& hooks = m->postAccumulateGradHooks;
  for (auto it = hooks.begin(); it != hooks.end(); ++it) {
    if (it->first == id) {
      hooks.erase(it);
      return true;
    }
  }
  return false;
}

Tensor& Tensor::setName(const std::string& name) {
  impl().name = name;
  return *this;
}

std::string Tensor::str(int maxElements) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << dtypeName(dtype()) << ", " << shapeStr(shape()) << ", " << device().str() << ") [";
  int64_t n = std::min<int64_t>(numel(), maxElements);
  for (int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << std::setprecision(6) << at(i);
  if (numel() > n) os << ", ...";
  os << "]";
  return os.str();
}

}  // namespace singa
