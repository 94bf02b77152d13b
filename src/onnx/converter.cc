// The converter registry (built once, explicitly, from each family's registration function) and
// the shared converter helpers.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <mutex>

#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {

void ConvertContext::check(bool cond, const std::string& what) const {
  // The executor prefixes "node 'NAME' (OpType): "; the op type is repeated so the message
  // reads like the engine ops' own ("Conv: strides ...").
  SINGA_CHECK(cond, ValueError, opType << ": " << what);
}

const ConverterRegistry& ConverterRegistry::instance() {
  static ConverterRegistry* registry = [] {
    auto* r = new ConverterRegistry();
    registerElementwiseConverters(*r);
    registerMathConverters(*r);
    registerNnConverters(*r);
    registerShapeConverters(*r);
    registerReduceConverters(*r);
    registerIndexConverters(*r);
    registerLossConverters(*r);
    registerResizeConverters(*r);
    registerQuantConverters(*r);
    registerSignalConverters(*r);
    registerMiscConverters(*r);
    registerRnnConverters(*r);
    registerSampleConverters(*r);
    registerTrainingConverters(*r);
    registerAttentionConverters(*r);
    registerBitwiseConverters(*r);
    registerExtraMathConverters(*r);
    registerSpatialConverters(*r);
    registerSeqModelConverters(*r);
    registerSequenceConverters(*r);
    registerControlConverters(*r);
    registerTextConverters(*r);
    registerMlConverters(*r);
    registerStringConverters(*r);
    return r;
  }();
  return *registry;
}

void ConverterRegistry::add(const std::string& opType, int sinceVersion, ConvertFn fn,
                            bool differentiable) {
  auto& list = entries_[opType];
  list.push_back({sinceVersion, fn, nullptr, differentiable});
  std::sort(list.begin(), list.end(),
            [](const ConverterEntry& a, const ConverterEntry& b) { return a.sinceVersion < b.sinceVersion; });
}

void ConverterRegistry::addValueOp(const std::string& opType, int sinceVersion, ValueConvertFn fn,
                                   bool differentiable) {
  auto& list = entries_[opType];
  list.push_back({sinceVersion, nullptr, fn, differentiable});
  std::sort(list.begin(), list.end(),
            [](const ConverterEntry& a, const ConverterEntry& b) { return a.sinceVersion < b.sinceVersion; });
}

void ConverterRegistry::setValueForm(const std::string& opType, ValueConvertFn fn) {
  for (ConverterEntry& e : entries_[opType]) {
    if (e.fn != nullptr) e.valueFn = fn;
  }
}

void ConverterRegistry::setValueForm(const std::string& opType, ValueConvertFn fn, bool (*when)(const Attrs&)) {
  setValueForm(opType, fn);
  for (ConverterEntry& e : entries_[opType]) {
    if (e.fn != nullptr) e.valueWhen = when;
  }
}

const ConverterEntry* ConverterRegistry::find(const std::string& opType, int opset) const {
  auto it = entries_.find(opType);
  if (it == entries_.end()) return nullptr;
  const ConverterEntry* best = nullptr;
  for (const ConverterEntry& e : it->second) {
    if (e.sinceVersion <= opset) best = &e;
  }
  // An entry without a function marks a version whose semantics are not implemented.
  return best != nullptr && (best->fn != nullptr || best->valueFn != nullptr) ? best : nullptr;
}

std::vector<std::string> ConverterRegistry::opTypes() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

// ---- helpers ---------------------------------------------------------------------------------

namespace {

template <class T>
int64_t toInt64(T v) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<int64_t>(v);
  } else {
    double d = static_cast<double>(v);
    if (!(d == d)) return 0;
    if (d >= 9.2233720368547758e18) return INT64_MAX;
    if (d <= -9.2233720368547758e18) return INT64_MIN;
    return static_cast<int64_t>(d);
  }
}

template <class T>
T convertDouble(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(toInt64(v));
  } else {
    return static_cast<T>(v);
  }
}

template <class T>
T convertInt(int64_t v) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(v);
  } else {
    return static_cast<T>(static_cast<double>(v));
  }
}

Tensor cpuContiguous(const Tensor& t) {
  Tensor c = t.device().isCpu() ? t : t.to(Device::cpu());
  return c.isContiguous() ? c : c.clone();
}

}  // namespace

std::vector<int64_t> intsOf(const Tensor& t) {
  if (!t.defined()) return {};
  Tensor c = cpuContiguous(t);
  std::vector<int64_t> out(static_cast<size_t>(c.numel()));
  SINGA_DISPATCH_ALL(c.dtype(), T, {
    const T* p = static_cast<const T*>(c.rawData());
    for (size_t i = 0; i < out.size(); ++i) out[i] = toInt64(p[i]);
  });
  return out;
}

std::vector<double> doublesOf(const Tensor& t) {
  if (!t.defined()) return {};
  Tensor c = cpuContiguous(t);
  if (isNarrow(c.dtype())) c = ops::cast(c, DType::kFloat64);  // exact for every narrow type
  std::vector<double> out(static_cast<size_t>(c.numel()));
  SINGA_DISPATCH_ALL(c.dtype(), T, {
    const T* p = static_cast<const T*>(c.rawData());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

Tensor intsTensor(const std::vector<int64_t>& values, Shape shape, Device device) {
  if (shape.size() == 1 && shape[0] == -1) shape[0] = static_cast<int64_t>(values.size());
  return fromInts(values, shape, DType::kInt64, device);
}

Tensor fromDoubles(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  if (isNarrow(dtype)) return ops::cast(fromDoubles(values, shape, DType::kFloat64), dtype).to(device);
  Tensor t(shape, dtype, Device::cpu());
  SINGA_ASSERT(static_cast<int64_t>(values.size()) == t.numel());
  SINGA_DISPATCH_ALL(dtype, T, {
    T* p = static_cast<T*>(t.rawData());
    for (size_t i = 0; i < values.size(); ++i) p[i] = convertDouble<T>(values[i]);
  });
  return device.isCpu() ? t : t.to(device);
}

Tensor fromInts(const std::vector<int64_t>& values, const Shape& shape, DType dtype, Device device) {
  if (isNarrow(dtype)) return ops::cast(fromInts(values, shape, DType::kInt64), dtype).to(device);
  Tensor t(shape, dtype, Device::cpu());
  SINGA_ASSERT(static_cast<int64_t>(values.size()) == t.numel());
  SINGA_DISPATCH_ALL(dtype, T, {
    T* p = static_cast<T*>(t.rawData());
    for (size_t i = 0; i < values.size(); ++i) p[i] = convertInt<T>(values[i]);
  });
  return device.isCpu() ? t : t.to(device);
}

Tensor scalarOf(double v, const Tensor& like) { return fromDoubles({v}, {}, like.dtype(), like.device()); }

const Tensor& requireInput(const ConvertContext& ctx, const std::vector<Tensor>& in, size_t i,
                           const char* what) {
  ctx.check(i < in.size() && in[i].defined(),
            std::string("input ") + std::to_string(i) + " (" + what + ") is required");
  return in[i];
}

std::vector<int64_t> intsFromAttrOrInput(const ConvertContext& ctx, const std::vector<Tensor>& in,
                                         size_t index, const std::string& attr,
                                         const std::vector<int64_t>& dflt, bool* present) {
  if (present) *present = true;
  if (hasInput(in, index)) return intsOf(in[index]);
  if (ctx.attrs.has(attr)) return ctx.attrs.getInts(attr);
  if (present) *present = false;
  return dflt;
}

void checkHostBuffer(const ConvertContext& ctx, int64_t count, size_t elemSize, const std::string& what) {
  ctx.check(count >= 0, what + " would have a negative size (" + std::to_string(count) + ")");
  const size_t bytes = checkedBytes(count, elemSize, what.c_str());
  // Twice the bytes must fit: the buffer is followed by the tensor built from it.
  SINGA_CHECK(bytes <= memoryLimit() / 2, MemoryError,
              ctx.opType << ": " << what << " of " << count << " elements would need "
                         << formatBytes(static_cast<double>(bytes)) << " twice over (the buffer and its tensor); the limit is "
                         << formatBytes(static_cast<double>(memoryLimit())) << " (SINGA_MEMORY_LIMIT sets it)");
}

int64_t scalarInt(const ConvertContext& ctx, const Tensor& t, const char* what) {
  ctx.check(t.defined() && t.numel() >= 1, std::string(what) + " must hold a value, got an empty tensor");
  return intsOf(t)[0];
}

double scalarDouble(const ConvertContext& ctx, const Tensor& t, const char* what) {
  ctx.check(t.defined() && t.numel() >= 1, std::string(what) + " must hold a value, got an empty tensor");
  return doublesOf(t)[0];
}

std::vector<int64_t> normalizeAxes(const ConvertContext& ctx, const std::vector<int64_t>& axes, int ndim) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) {
    ctx.check(a >= -ndim && a < ndim, "axis " + std::to_string(a) + " is out of range for a " +
                                          std::to_string(ndim) + "-D input");
    out.push_back(a < 0 ? a + ndim : a);
  }
  return out;
}

Tensor takeAlongAxis(const Tensor& x, const std::vector<int64_t>& indices, const Shape& indexShape,
                     int axis) {
  const int nd = x.ndim();
  SINGA_ASSERT(static_cast<int>(indexShape.size()) == nd);
  const std::vector<int64_t> xStrides = contiguousStrides(x.shape());
  std::vector<int64_t> flat(indices.size());
  std::vector<int64_t> pos(nd, 0);
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off += (d == axis ? indices[i] : pos[d]) * xStrides[d];
    flat[i] = off;
    for (int d = nd - 1; d >= 0; --d) {
      if (++pos[d] < indexShape[d]) break;
      pos[d] = 0;
    }
  }
  Tensor xf = ops::reshape(x, {x.numel()});
  return ops::gather(xf, intsTensor(flat, indexShape, x.device()), 0);
}

std::vector<std::string> stringsAttr(const Attrs& attrs, const std::string& name) {
  auto it = attrs.all().find(name);
  if (it == attrs.all().end()) return {};
  if (const auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
  if (const auto* v = std::get_if<std::string>(&it->second)) return {*v};
  return {};
}

Tensor moveAxis(const Tensor& x, int from, int to) {
  if (from == to) return x;
  std::vector<int64_t> order;
  for (int d = 0; d < x.ndim(); ++d) {
    if (d != from) order.push_back(d);
  }
  order.insert(order.begin() + to, from);
  return ops::transpose(x, order);
}

}  // namespace singa::onnxio
