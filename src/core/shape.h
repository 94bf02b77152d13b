// Shapes are plain int64 vectors (ONNX uses int64 dims). Helpers for element counts, contiguous
// strides, NumPy/ONNX broadcasting and printing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace singa {

using Shape = std::vector<int64_t>;

/// The element count of `shape`. Every dimension must be >= 0 and the product must fit in int64
/// (ShapeError naming the shape otherwise): shapes come from untrusted models, and a wrapped
/// count would allocate too little and let kernels write past the block.
int64_t numelOf(const Shape& shape);
/// a * b and a + b for non-negative sizes; ShapeError naming `what` when the result overflows int64.
int64_t checkedMul(int64_t a, int64_t b, const char* what);
int64_t checkedAdd(int64_t a, int64_t b, const char* what);
/// The bytes of `numel` elements of `elemSize` bytes (ShapeError when that overflows).
size_t checkedBytes(int64_t numel, size_t elemSize, const char* what);
/// Row-major strides (in elements) of a contiguous tensor of `shape`.
std::vector<int64_t> contiguousStrides(const Shape& shape);
/// "[2, 3, 4]"
std::string shapeStr(const Shape& shape);
/// NumPy/ONNX multidirectional broadcasting; throws ShapeError naming `op` and both shapes.
Shape broadcastShapes(const Shape& a, const Shape& b, const char* op);
/// Normalises a possibly negative axis into [0, ndim); throws ValueError naming `op`.
int normalizeAxis(int64_t axis, int ndim, const char* op);

}  // namespace singa

namespace std {
// Lets shapes stream into error messages: SINGA_THROW(ShapeError, "got " << x.shape()).
inline ostream& operator<<(ostream& os, const singa::Shape& s) { return os << singa::shapeStr(s); }
}  // namespace std
