// Helpers shared by the converter families (internal header): reading compile-time values (shapes,
// axes, pads) from int64 tensors on the CPU, building small constant tensors, and element-wise
// CPU evaluation for the few converters that produce values outside autograd (indices, masks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "singa/core/tensor.h"
#include "singa/onnx/converter.h"

namespace singa::onnxio {

/// Values of an integer (or bool / float) tensor as int64, read on the CPU.
std::vector<int64_t> intsOf(const Tensor& t);
/// Values of any tensor as double, read on the CPU (row-major).
std::vector<double> doublesOf(const Tensor& t);
/// A CPU int64 tensor of `shape` (1-D of values.size() when shape is omitted).
Tensor intsTensor(const std::vector<int64_t>& values, Shape shape = {-1}, Device device = Device::cpu());
/// A tensor of `dtype` on `device` holding `values` (converted element-wise from double).
Tensor fromDoubles(const std::vector<double>& values, const Shape& shape, DType dtype,
                   Device device = Device::cpu());
/// A tensor of `dtype` on `device` holding int64 `values` (converted element-wise).
Tensor fromInts(const std::vector<int64_t>& values, const Shape& shape, DType dtype,
                Device device = Device::cpu());
/// A 0-d tensor of `like`'s dtype and device.
Tensor scalarOf(double v, const Tensor& like);

/// Input `i` when present (defined), else an undefined tensor (for optional trailing inputs).
inline Tensor optionalInput(const std::vector<Tensor>& in, size_t i) {
  return i < in.size() ? in[i] : Tensor();
}
inline bool hasInput(const std::vector<Tensor>& in, size_t i) { return i < in.size() && in[i].defined(); }

/// Throws ValueError naming the node when input `i` is missing.
const Tensor& requireInput(const ConvertContext& ctx, const std::vector<Tensor>& in, size_t i,
                           const char* what);

/// An int list given either as attribute `attr` (older opsets) or as input `index` (newer ones).
/// Returns `dflt` when neither is present; `present` (optional) tells whether one was.
std::vector<int64_t> intsFromAttrOrInput(const ConvertContext& ctx, const std::vector<Tensor>& in,
                                         size_t index, const std::string& attr,
                                         const std::vector<int64_t>& dflt = {}, bool* present = nullptr);

/// Throws before a converter builds a host-side buffer of `count` elements of `elemSize` bytes
/// sized from the model (a vector of `depth`, of output positions, of a DFT matrix): ValueError
/// when `count` is negative, ShapeError when the bytes overflow, MemoryError naming `what` when
/// they would pass the allocation ceiling (core/memory_limit.h; twice the bytes are checked, as
/// the buffer is followed by the tensor built from it). Call it once per buffer.
void checkHostBuffer(const ConvertContext& ctx, int64_t count, size_t elemSize, const std::string& what);

/// The single value of a scalar-like input (its first element) as int64 / double; ValueError
/// naming `what` when the tensor is empty.
int64_t scalarInt(const ConvertContext& ctx, const Tensor& t, const char* what);
double scalarDouble(const ConvertContext& ctx, const Tensor& t, const char* what);

/// Normalises possibly negative axes against `ndim` (ValueError naming the node when out of range).
std::vector<int64_t> normalizeAxes(const ConvertContext& ctx, const std::vector<int64_t>& axes, int ndim);

/// Casts `t` to `dtype` when it differs (differentiable for float -> float).
inline Tensor castTo(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : t.to(dtype); }

/// out[i...] = x[..., indices[i...], ...] along `axis` (NumPy take_along_axis / ONNX
/// GatherElements): `indices` (non-negative, row-major over `indexShape`) must have x's rank.
/// Computed as one engine Gather over the flattened input, so gradients flow to x.
Tensor takeAlongAxis(const Tensor& x, const std::vector<int64_t>& indices, const Shape& indexShape,
                     int axis);

/// Moves dimension `from` to position `to` (a transpose; differentiable).
Tensor moveAxis(const Tensor& x, int from, int to);

/// A STRINGS attribute (empty when absent).
std::vector<std::string> stringsAttr(const Attrs& attrs, const std::string& name);

/// Wraps a single output.
inline std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

}  // namespace singa::onnxio
