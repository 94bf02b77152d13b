// Stochastic gradient descent with PyTorch's exact rule (torch.optim.SGD):
//   d = g + weightDecay * p
//   b = d on the first step, else momentum * b + (1 - dampening) * d
//   d = d + momentum * b (Nesterov) or b
//   p = p - lr * d
#pragma once

#include "singa/optim/optimizer.h"

namespace singa {

class SGD : public Optimizer {
 public:
  SGD(NamedParams params, double lr, double momentum = 0.0, double dampening = 0.0, bool nesterov = false,
      double weightDecay = 0.0);
  SGD(const Module& module, double lr, double momentum = 0.0, double dampening = 0.0, bool nesterov = false,
      double weightDecay = 0.0);
  std::string typeName() const override { return "SGD"; }

  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  bool nesterov() const { return nesterov_; }
  double weightDecay() const { return weightDecay_; }

 protected:
  void update(const std::string& name, Tensor& param, const Tensor& grad,
              std::map<std::string, Tensor>& state) override;
  std::vector<std::string> stateNames() const override;

 private:
  void validate() const;
  double momentum_, dampening_;
  bool nesterov_;
  double weightDecay_;
};

}  // namespace singa
