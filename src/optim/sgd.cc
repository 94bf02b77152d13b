// SGD: option checks and dispatch of the fused "SGDUpdate" kernel (kernels/cpu/optim.cc).
#include "singa/optim/sgd.h"

#include "singa/core/error.h"
#include "singa/ops/registry.h"

namespace singa {

SGD::SGD(NamedParams params, double lr, double momentum, double dampening, bool nesterov, double weightDecay)
    : Optimizer(std::move(params), lr), momentum_(momentum), dampening_(dampening), nesterov_(nesterov),
      weightDecay_(weightDecay) {
  validate();
}

SGD::SGD(const Module& module, double lr, double momentum, double dampening, bool nesterov, double weightDecay)
    : Optimizer(module, lr), momentum_(momentum), dampening_(dampening), nesterov_(nesterov),
      weightDecay_(weightDecay) {
  validate();
}

void SGD::validate() const {
  SINGA_CHECK(momentum_ >= 0.0, ValueError, "SGD: momentum must be >= 0, got " << momentum_);
  SINGA_CHECK(weightDecay_ >= 0.0, ValueError, "SGD: weight decay must be >= 0, got " << weightDecay_);
  SINGA_CHECK(!nesterov_ || (momentum_ > 0.0 && dampening_ == 0.0), ValueError,
              "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum " << momentum_
                                                                                      << ", dampening "
                                                                                      << dampening_ << ")");
}

std::vector<std::string> SGD::stateNames() const {
  return momentum_ != 0.0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
}

void SGD::update(const std::string&, Tensor& param, const Tensor& grad, std::map<std::string, Tensor>& state) {
  SGDParams p;
  p.lr = lr_;
  p.momentum = momentum_;
  p.dampening = dampening_;
  p.weightDecay = weightDecay_;
  p.nesterov = nesterov_;
  std::vector<Tensor> outputs{param};
  if (momentum_ != 0.0) {
    auto it = state.find("momentum_buffer");
    p.initBuffer = it == state.end();
    if (p.initBuffer) it = state.emplace("momentum_buffer", Tensor(param.shape(), param.dtype(), param.device())).first;
    outputs.push_back(it->second);
  }
  const KernelParams kp = p;
  runKernel(OpId::kSGDUpdate, param.dtype(), param.device(), {grad}, outputs, Attrs(), &kp);
}

}  // namespace singa
