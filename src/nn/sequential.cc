// Sequential's forward: feed each child's output to the next.
#include "singa/nn/sequential.h"

#include "singa/core/error.h"

namespace singa {

std::shared_ptr<Module> Sequential::operator[](size_t i) const {
  SINGA_CHECK(i < children().size(), ValueError,
              "Sequential: index " << i << " is out of range for " << children().size() << " modules");
  return children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& [name, child] : children()) y = child->forward(y);
  return y;
}

}  // namespace singa
