// Parameter-free layers: each forwards to one op of src/ops/ops.h.
#include "singa/nn/activations.h"

#include <sstream>

#include "singa/ops/ops.h"

namespace singa {

Tensor ReLU::forward(const Tensor& x) { return ops::relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return ops::sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return ops::tanh(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return ops::leakyRelu(x, slope_); }
Tensor ELU::forward(const Tensor& x) { return ops::elu(x, alpha_); }
Tensor Softmax::forward(const Tensor& x) { return ops::softmax(x, axis_); }
Tensor Flatten::forward(const Tensor& x) { return ops::flatten(x, axis_); }

std::string LeakyReLU::extraRepr() const {
  std::ostringstream os;
  os << "negative_slope=" << slope_;
  return os.str();
}

std::string ELU::extraRepr() const {
  std::ostringstream os;
  os << "alpha=" << alpha_;
  return os.str();
}

std::string Softmax::extraRepr() const { return "axis=" + std::to_string(axis_); }
std::string Flatten::extraRepr() const { return "axis=" + std::to_string(axis_); }

}  // namespace singa
