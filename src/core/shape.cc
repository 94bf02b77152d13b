#include "core/shape.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace singa {

int64_t numelOf(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<int64_t> contiguousStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
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
