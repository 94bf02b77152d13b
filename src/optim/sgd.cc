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
  Attrs attrs{{"lr", lr_},
              {"momentum", momentum_},
              {"dampening", dampening_},
              {"weight_decay", weightDecay_},
              {"nesterov", int64_t{nesterov_ ? 1 : 0}}};
  std::vector<Tensor> outputs{param};
  if (momentum_ != 0.0) {
    auto it = state.find("momentum_buffer");
    const bool first = it == state.end();
    if (first) it = state.emplace("momentum_buffer", Tensor(param.shape(), param.dtype(), param.device())).first;
    attrs.set("init_buffer", int64_t{first ? 1 : 0});
    outputs.push_back(it->second);
  }
  runKernel(OpId::kSGDUpdate, param.dtype(), param.device(), {grad}, outputs, attrs);
}

}  // namespace singa
