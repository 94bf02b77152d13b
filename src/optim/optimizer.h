// Optimizer: updates named parameters from their accumulated gradients. The base class owns the
// parameter list, the learning rate, the step counter and per-parameter state tensors (momentum
// buffers, Adam moments), and turns that state into one name -> tensor map for checkpoints
// ("conv1.weight.momentum_buffer", "step", "lr"). Subclasses implement update() for one
// parameter, which runs a fused kernel ("SGDUpdate", "AdamUpdate") through the kernel registry so
// every device backend can provide its own.
//
// Every public member is virtual so a wrapper (the distributed optimizer, which all-reduces
// gradients before delegating) can stand in wherever an Optimizer& is expected.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

class Module;

class Optimizer {
 public:
  using NamedParams = std::vector<std::pair<std::string, Tensor>>;

  /// `params` in a fixed order (the same on every rank); names must be unique.
  Optimizer(NamedParams params, double lr);
  /// All of `module.namedParameters()` (frozen ones are kept but skipped while frozen).
  Optimizer(const Module& module, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Short name ("SGD", "Adam", ...).
  virtual std::string typeName() const { return "Optimizer"; }

  /// One update of every parameter that requires a gradient and has one (others are skipped);
  /// runs without recording autograd nodes. Increments stepCount().
  virtual void step();
  /// Drops every parameter's gradient.
  virtual void zeroGrad();
  virtual double lr() const { return lr_; }
  virtual void setLr(double lr);
  /// Number of step() calls so far.
  virtual int64_t stepCount() const { return steps_; }
  virtual const NamedParams& namedParameters() const { return params_; }

  /// Parameter groups: the parameters `pattern` selects (see matchesNamePattern: a name, a
  /// prefix such as "head", or a glob) are updated with lr() * factor (Caffe's lr_mult), so an
  /// LR schedule scales every group alike, as PyTorch's schedulers scale each group's lr.
  /// Returns how many parameters it applies to; ValueError when none or factor < 0.
  virtual int setLrMultiplier(const std::string& pattern, double factor);
  /// The multiplier of parameter `name` (1 unless set).
  virtual double lrMultiplier(const std::string& name) const;
  /// Clips the gradients to this global L2 norm at the start of every step() (clipGradNorm;
  /// 0 = off). Under a distributed optimizer it applies to the averaged gradients.
  virtual void setMaxGradNorm(double maxNorm);
  virtual double maxGradNorm() const { return maxGradNorm_; }
  /// The gradients' global norm before clipping at the last step() (0 when clipping is off).
  virtual double lastGradNorm() const { return lastGradNorm_; }

  /// "step" (int64 scalar), "lr" (float64 scalar) and "<param>.<state>" for every state tensor.
  /// State tensors are the live ones (updated in place by later steps); clone to snapshot.
  virtual std::map<std::string, Tensor> stateDict() const;
  /// Restores a stateDict(). Validates everything first and throws (naming the first problem)
  /// on a missing "step", an unexpected key, a parameter with only part of its state, or a
  /// shape mismatch (ShapeError with both shapes); copies nothing in that case.
  virtual void loadStateDict(const std::map<std::string, Tensor>& state);

 protected:
  /// Updates one parameter. `state` holds its named state tensors (empty before its first
  /// update). The default throws NotSupportedError (wrappers override step() instead).
  virtual void update(const std::string& name, Tensor& param, const Tensor& grad,
                      std::map<std::string, Tensor>& state);
  /// Names of the per-parameter state tensors this optimizer keeps (for loadStateDict).
  virtual std::vector<std::string> stateNames() const { return {}; }
  /// Shape a state tensor must have: the parameter's, or {} (scalar) for counters.
  virtual bool isScalarState(const std::string& stateName) const { return stateName == "step"; }

  NamedParams params_;
  std::vector<std::map<std::string, Tensor>> state_;  // parallel to params_
  double lr_;
  int64_t steps_ = 0;
  std::vector<double> lrMultipliers_;  // parallel to params_
  double maxGradNorm_ = 0.0;
  double lastGradNorm_ = 0.0;
};

}  // namespace singa
