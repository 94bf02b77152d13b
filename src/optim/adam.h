// Adam and AdamW with PyTorch's exact rules (torch.optim.Adam / AdamW, amsgrad off):
//   t += 1;  g = g + weightDecay * p (Adam)  or  p = p * (1 - lr * weightDecay) (AdamW)
//   m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g^2
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The step count t is kept per parameter (a parameter without a gradient is not advanced).
#pragma once

#include "singa/optim/optimizer.h"

namespace singa {

class Adam : public Optimizer {
 public:
  Adam(NamedParams params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weightDecay = 0.0);
  Adam(const Module& module, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weightDecay = 0.0);
  std::string typeName() const override { return decoupled_ ? "AdamW" : "Adam"; }

  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  double weightDecay() const { return weightDecay_; }

 protected:
  /// AdamW's constructors: decoupled weight decay.
  Adam(NamedParams params, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled);
  void update(const std::string& name, Tensor& param, const Tensor& grad,
              std::map<std::string, Tensor>& state) override;
  std::vector<std::string> stateNames() const override { return {"step", "exp_avg", "exp_avg_sq"}; }

 private:
  void validate() const;
  double beta1_, beta2_, eps_, weightDecay_;
  bool decoupled_ = false;
};

/// Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW).
class AdamW : public Adam {
 public:
  AdamW(NamedParams params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 1e-2);
  AdamW(const Module& module, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 1e-2);
};

}  // namespace singa
