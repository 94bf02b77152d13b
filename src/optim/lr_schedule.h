// Learning-rate schedules. A schedule remembers the optimizer's lr at construction as the base,
// and each step() advances its counter by one (call it once per epoch, or once per iteration
// for per-step schedules) and sets the optimizer's lr to lrAt(counter), as PyTorch's
// schedulers do (counter 0 = the base lr, set at construction).
//
// An optional linear warmup ramps the lr from warmupStartFactor * base to base over the first
// `warmupSteps` counts; the schedule proper then starts from its count 0.
#pragma once

#include <cstdint>
#include <string>

namespace singa {

class Optimizer;

class LRSchedule {
 public:
  LRSchedule(Optimizer& optimizer, int64_t warmupSteps = 0, double warmupStartFactor = 0.0);
  virtual ~LRSchedule() = default;

  /// Advances the counter and sets the optimizer's lr.
  void step();
  /// The lr at count `t` (warmup included).
  double lrAt(int64_t t) const;
  /// The current count (0 right after construction).
  int64_t lastEpoch() const { return last_; }
  /// Jumps to count `t` and sets the lr for it (resume from a checkpoint).
  void setLastEpoch(int64_t t);
  double baseLr() const { return baseLr_; }
  virtual std::string typeName() const = 0;

 protected:
  /// The schedule proper at count `t` >= 0 (after warmup), given the base lr.
  virtual double scheduled(int64_t t) const = 0;

 private:
  Optimizer& optimizer_;
  double baseLr_;
  int64_t warmup_;
  double warmupStart_;
  int64_t last_ = 0;
};

/// lr = base * gamma^floor(t / stepSize).
class StepLR : public LRSchedule {
 public:
  StepLR(Optimizer& optimizer, int64_t stepSize, double gamma = 0.1, int64_t warmupSteps = 0,
         double warmupStartFactor = 0.0);
  std::string typeName() const override { return "StepLR"; }

 protected:
  double scheduled(int64_t t) const override;

 private:
  int64_t stepSize_;
  double gamma_;
};

/// lr = etaMin + (base - etaMin) * (1 + cos(pi * t / tMax)) / 2, held at etaMin after tMax.
class CosineAnnealingLR : public LRSchedule {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t tMax, double etaMin = 0.0, int64_t warmupSteps = 0,
                    double warmupStartFactor = 0.0);
  std::string typeName() const override { return "CosineAnnealingLR"; }

 protected:
  double scheduled(int64_t t) const override;

 private:
  int64_t tMax_;
  double etaMin_;
};

/// A constant lr after an optional warmup (warmup alone).
class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(Optimizer& optimizer, int64_t warmupSteps = 0, double warmupStartFactor = 0.0)
      : LRSchedule(optimizer, warmupSteps, warmupStartFactor) {}
  std::string typeName() const override { return "ConstantLR"; }

 protected:
  double scheduled(int64_t) const override { return baseLr(); }
};

}  // namespace singa
