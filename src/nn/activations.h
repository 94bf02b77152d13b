// Parameter-free layers: activations, Softmax, Flatten and Identity. Each wraps one op, so
// Sequential models can mix them with parameterised layers.
#pragma once

#include <cstdint>
#include <string>

#include "singa/nn/module.h"

namespace singa {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "ReLU"; }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Tanh"; }
};

/// x if x >= 0 else slope * x.
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negativeSlope = 0.01) : slope_(negativeSlope) {}
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "LeakyReLU"; }
  std::string extraRepr() const override;
  double negativeSlope() const { return slope_; }

 private:
  double slope_;
};

/// x if x > 0 else alpha * (exp(x) - 1).
class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : alpha_(alpha) {}
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "ELU"; }
  std::string extraRepr() const override;
  double alpha() const { return alpha_; }

 private:
  double alpha_;
};

/// Softmax along `axis` (negative counts from the end).
class Softmax : public Module {
 public:
  explicit Softmax(int64_t axis = -1) : axis_(axis) {}
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Softmax"; }
  std::string extraRepr() const override;
  int64_t axis() const { return axis_; }

 private:
  int64_t axis_;
};

/// ONNX Flatten: [prod(d[:axis]), prod(d[axis:])] (axis 1 = PyTorch's nn.Flatten()).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t axis = 1) : axis_(axis) {}
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Flatten"; }
  std::string extraRepr() const override;
  int64_t axis() const { return axis_; }

 private:
  int64_t axis_;
};

/// Returns its input unchanged (a placeholder, e.g. for a removed classifier head).
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string typeName() const override { return "Identity"; }
};

}  // namespace singa
