// Shapes are plain int64 vectors (ONNX uses int64 dims). Helpers for element counts, contiguous
// strides, NumPy/ONNX broadcasting and printing.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace singa {

using Shape = std::vector<int64_t>;

int64_t numelOf(const Shape& shape);
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
