// The optimizer base: parameter bookkeeping, the step loop, and state-dict I/O with validation.
#include "singa/optim/optimizer.h"

#include <cmath>
#include <set>
#include <sstream>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/nn/module.h"
#include "singa/nn/name_pattern.h"
#include "singa/optim/clip_grad.h"

namespace singa {

Optimizer::Optimizer(NamedParams params, double lr) : params_(std::move(params)), lr_(lr) {
  SINGA_CHECK(lr >= 0.0, ValueError, "optimizer: learning rate must be >= 0, got " << lr);
  std::set<std::string> names;
  for (const auto& [name, t] : params_) {
    SINGA_CHECK(t.defined(), ValueError, "optimizer: parameter '" << name << "' is undefined");
    SINGA_CHECK(isFloating(t.dtype()), TypeError,
                "optimizer: parameter '" << name << "' is " << dtypeName(t.dtype())
                                         << "; only floating-point tensors can be optimized");
    SINGA_CHECK(names.insert(name).second, ValueError,
                "optimizer: parameter name '" << name << "' appears twice; names must be unique");
  }
  state_.resize(params_.size());
  lrMultipliers_.assign(params_.size(), 1.0);
}

Optimizer::Optimizer(const Module& module, double lr) : Optimizer(module.namedParameters(), lr) {}

void Optimizer::setLr(double lr) {
  SINGA_CHECK(lr >= 0.0, ValueError, typeName() << ": learning rate must be >= 0, got " << lr);
  lr_ = lr;
}

void Optimizer::update(const std::string& name, Tensor&, const Tensor&, std::map<std::string, Tensor>&) {
  SINGA_THROW(NotSupportedError, typeName() << " does not update parameters itself (parameter '" << name
                                            << "'); override step()");
}

int Optimizer::setLrMultiplier(const std::string& pattern, double factor) {
  SINGA_CHECK(factor >= 0.0 && std::isfinite(factor), ValueError,
              typeName() << ": the learning-rate multiplier of '" << pattern << "' must be finite and >= 0, got "
                         << factor);
  std::vector<std::string> names;
  for (const auto& [name, t] : params_) names.push_back(name);
  const std::vector<std::string> chosen = selectNames(names, pattern, typeName() + " learning-rate group");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (matchesNamePattern(params_[i].first, pattern)) lrMultipliers_[i] = factor;
  }
  return static_cast<int>(chosen.size());
}

double Optimizer::lrMultiplier(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].first == name) return lrMultipliers_[i];
  }
  SINGA_THROW(ValueError, typeName() << ": no parameter named '" << name << "'");
}

void Optimizer::setMaxGradNorm(double maxNorm) {
  SINGA_CHECK(maxNorm >= 0.0 && std::isfinite(maxNorm), ValueError,
              typeName() << ": the gradient-norm limit must be finite and >= 0 (0 = off), got " << maxNorm);
  maxGradNorm_ = maxNorm;
}

void Optimizer::step() {
  autograd::NoGradGuard noGrad;
  if (maxGradNorm_ > 0.0) lastGradNorm_ = clipGradNorm(params_, maxGradNorm_);
  // Subclasses read lr_ in update(): it holds each parameter's group lr during its update.
  struct RestoreLr {
    double& lr;
    double base;
    ~RestoreLr() { lr = base; }
  } restore{lr_, lr_};
  for (size_t i = 0; i < params_.size(); ++i) {
    lr_ = restore.base * lrMultipliers_[i];
    auto& [name, param] = params_[i];
    if (!param.requiresGrad()) continue;
    Tensor grad = param.grad();
    if (!grad.defined()) continue;
    SINGA_CHECK(grad.shape() == param.shape(), ShapeError,
                typeName() << ": gradient of '" << name << "' has shape " << grad.shape()
                           << " but the parameter has " << param.shape());
    SINGA_CHECK(grad.device() == param.device(), ValueError,
                typeName() << ": gradient of '" << name << "' is on " << grad.device().str()
                           << " but the parameter is on " << param.device().str());
    SINGA_CHECK(param.isContiguous(), ValueError,
                typeName() << ": parameter '" << name << "' must be contiguous to be updated in place");
    if (grad.dtype() != param.dtype()) grad = grad.to(param.dtype());
    update(name, param, grad.contiguous(), state_[i]);
  }
  ++steps_;
}

void Optimizer::zeroGrad() {
  for (auto& [name, param] : params_) param.zeroGrad();
}

std::map<std::string, Tensor> Optimizer::stateDict() const {
  std::map<std::string, Tensor> out;
  out["step"] = Tensor::scalar(static_cast<double>(steps_), DType::kInt64);
  out["lr"] = Tensor::scalar(lr_, DType::kFloat64);
  for (size_t i = 0; i < params_.size(); ++i) {
    for (const auto& [stateName, t] : state_[i]) out[params_[i].first + "." + stateName] = t;
  }
  return out;
}

void Optimizer::loadStateDict(const std::map<std::string, Tensor>& state) {
  const std::vector<std::string> names = stateNames();
  auto stepIt = state.find("step");
  SINGA_CHECK(stepIt != state.end() && stepIt->second.defined() && stepIt->second.numel() == 1, ValueError,
              typeName() << ".loadStateDict: missing 'step' (a one-element step counter)");

  // Every key must be "step", "lr" or "<parameter>.<state name>".
  std::map<std::string, std::pair<size_t, std::string>> expected;  // key -> (param index, state)
  for (size_t i = 0; i < params_.size(); ++i) {
    for (const std::string& s : names) expected[params_[i].first + "." + s] = {i, s};
  }
  for (const auto& [key, t] : state) {
    if (key == "step" || key == "lr") continue;
    if (expected.count(key) == 0) {
      std::ostringstream kept;
      for (size_t k = 0; k < names.size(); ++k) kept << (k ? ", " : "") << names[k];
      SINGA_THROW(ValueError, typeName() << ".loadStateDict: unexpected '" << key << "'; this " << typeName()
                                         << " keeps "
                                         << (names.empty() ? std::string("no per-parameter state")
                                                           : "<parameter>." + kept.str() + " per parameter")
                                         << " (was the state saved from another optimizer or model?)");
    }
  }
  // Per parameter: all of its state or none (a parameter that was never updated).
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, param] = params_[i];
    size_t present = 0;
    for (const std::string& s : names) present += state.count(pname + "." + s);
    if (present != 0 && present != names.size()) {
      for (const std::string& s : names) {
        SINGA_CHECK(state.count(pname + "." + s) != 0, ValueError,
                    typeName() << ".loadStateDict: missing '" << pname << "." << s << "' while other state of '"
                               << pname << "' is present");
      }
    }
    for (const std::string& s : names) {
      auto it = state.find(pname + "." + s);
      if (it == state.end()) continue;
      const Tensor& t = it->second;
      SINGA_CHECK(t.defined(), ValueError, typeName() << ".loadStateDict: '" << it->first << "' is undefined");
      if (isScalarState(s)) {
        SINGA_CHECK(t.numel() == 1, ShapeError,
                    typeName() << ".loadStateDict: shape mismatch for '" << it->first << "': the state dict has "
                               << t.shape() << " but a one-element counter is expected");
      } else {
        SINGA_CHECK(t.shape() == param.shape(), ShapeError,
                    typeName() << ".loadStateDict: shape mismatch for '" << it->first << "': the state dict has "
                               << t.shape() << " but parameter '" << pname << "' has " << param.shape());
      }
    }
  }

  // Apply: fresh tensors on each parameter's device and dtype (counters stay int64 on the host).
  steps_ = static_cast<int64_t>(stepIt->second.item());
  auto lrIt = state.find("lr");
  if (lrIt != state.end() && lrIt->second.defined()) setLr(lrIt->second.item());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, param] = params_[i];
    std::map<std::string, Tensor> restored;
    for (const std::string& s : names) {
      auto it = state.find(pname + "." + s);
      if (it == state.end()) continue;
      if (isScalarState(s)) {
        restored[s] = Tensor::scalar(it->second.item(), DType::kInt64);
      } else {
        Tensor t(param.shape(), param.dtype(), param.device());
        t.copyFrom(it->second);
        restored[s] = t;
      }
    }
    state_[i] = std::move(restored);
  }
}

}  // namespace singa
