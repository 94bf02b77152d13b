#include "singa/core/shape.h"

#include <algorithm>
#include <sstream>

#include "singa/core/error.h"

namespace singa {

int64_t numelOf(const Shape& shape) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0) SINGA_THROW(ShapeError, "shape " << shapeStr(shape) << " has a negative dimension");
    overflow = overflow || __builtin_mul_overflow(n, d, &n);
  }
  // A zero dimension makes the count 0 even when an earlier partial product overflowed.
  if (overflow && std::find(shape.begin(), shape.end(), 0) == shape.end()) {
    SINGA_THROW(ShapeError, "shape " << shapeStr(shape) << " has more elements than a 64-bit count can hold");
  }
  return overflow ? 0 : n;
}

int64_t checkedMul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) {
    SINGA_THROW(ShapeError, what << ": size " << a << " x " << b << " is negative or overflows a 64-bit count");
  }
  return r;
}

int64_t checkedAdd(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) {
    SINGA_THROW(ShapeError, what << ": size " << a << " + " << b << " is negative or overflows a 64-bit count");
  }
  return r;
}

size_t checkedBytes(int64_t numel, size_t elemSize, const char* what) {
  size_t r = 0;
  if (numel < 0 || __builtin_mul_overflow(static_cast<size_t>(numel), elemSize, &r) ||
      r > static_cast<size_t>(INT64_MAX)) {
    SINGA_THROW(ShapeError, what << ": " << numel << " elements of " << elemSize
                                 << " bytes overflow a 64-bit byte count");
  }
  return r;
}

std::vector<int64_t> contiguousStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    if (__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s)) {
      SINGA_THROW(ShapeError, "shape " << shapeStr(shape) << " is too large: its strides overflow a 64-bit count");
    }
  }
  return strides;
}

std::string shapeStr(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

Shape broadcastShapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      SINGA_THROW(ShapeError, op << ": shapes " << shapeStr(a) << " and " << shapeStr(b)
                                 << " cannot be broadcast together (dimension " << i << ": " << da
                                 << " vs " << db << ")");
    }
  }
  return out;
}

int normalizeAxis(int64_t axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= std::max(ndim, 1)) {
    SINGA_THROW(ValueError, op << ": axis " << axis << " is out of range for a tensor of rank "
                               << ndim << " (valid: " << -ndim << " to " << ndim - 1 << ")");
  }
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

}  // namespace singa
