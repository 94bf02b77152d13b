// Adam / AdamW: option checks, per-parameter step counters and dispatch of the fused
// "AdamUpdate" kernel (kernels/cpu/optim.cc); the bias corrections are computed here in double.
#include "singa/optim/adam.h"

#include "singa/core/error.h"
#include "singa/nn/module.h"
#include "singa/ops/registry.h"

namespace singa {

Adam::Adam(NamedParams params, double lr, double beta1, double beta2, double eps, double weightDecay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weightDecay, false) {}

Adam::Adam(const Module& module, double lr, double beta1, double beta2, double eps, double weightDecay)
    : Adam(module.namedParameters(), lr, beta1, beta2, eps, weightDecay, false) {}

Adam::Adam(NamedParams params, double lr, double beta1, double beta2, double eps, double weightDecay,
           bool decoupled)
    : Optimizer(std::move(params), lr), beta1_(beta1), beta2_(beta2), eps_(eps), weightDecay_(weightDecay),
      decoupled_(decoupled) {
  validate();
}

void Adam::validate() const {
  SINGA_CHECK(beta1_ >= 0.0 && beta1_ < 1.0 && beta2_ >= 0.0 && beta2_ < 1.0, ValueError,
              typeName() << ": betas must be in [0, 1), got (" << beta1_ << ", " << beta2_ << ")");
  SINGA_CHECK(eps_ >= 0.0, ValueError, typeName() << ": eps must be >= 0, got " << eps_);
  SINGA_CHECK(weightDecay_ >= 0.0, ValueError, typeName() << ": weight decay must be >= 0, got " << weightDecay_);
}

void Adam::update(const std::string&, Tensor& param, const Tensor& grad, std::map<std::string, Tensor>& state) {
  if (state.empty()) {
    state["step"] = Tensor::scalar(0, DType::kInt64);
    state["exp_avg"] = Tensor::zeros(param.shape(), param.dtype(), param.device());
    state["exp_avg_sq"] = Tensor::zeros(param.shape(), param.dtype(), param.device());
  }
  int64_t& t = state["step"].data<int64_t>()[0];
  ++t;
  const KernelParams kp = AdamParams{lr_, beta1_, beta2_, eps_, weightDecay_, decoupled_, t};
  std::vector<Tensor> outputs{param, state["exp_avg"], state["exp_avg_sq"]};
  runKernel(OpId::kAdamUpdate, param.dtype(), param.device(), {grad}, outputs, Attrs(), &kp);
}

AdamW::AdamW(NamedParams params, double lr, double beta1, double beta2, double eps, double weightDecay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weightDecay, true) {}

AdamW::AdamW(const Module& module, double lr, double beta1, double beta2, double eps, double weightDecay)
    : Adam(module.namedParameters(), lr, beta1, beta2, eps, weightDecay, true) {}

}  // namespace singa
