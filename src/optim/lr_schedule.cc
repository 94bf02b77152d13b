// Closed-form schedules: the lr for a count is a pure function of (base, count), so resuming at
// any count reproduces the same sequence.
#include "singa/optim/lr_schedule.h"

#include <cmath>

#include "singa/core/error.h"
#include "singa/optim/optimizer.h"

namespace singa {

LRSchedule::LRSchedule(Optimizer& optimizer, int64_t warmupSteps, double warmupStartFactor)
    : optimizer_(optimizer), baseLr_(optimizer.lr()), warmup_(warmupSteps), warmupStart_(warmupStartFactor) {
  SINGA_CHECK(warmupSteps >= 0, ValueError, "LR schedule: warmup steps must be >= 0, got " << warmupSteps);
  SINGA_CHECK(warmupStartFactor >= 0.0 && warmupStartFactor <= 1.0, ValueError,
              "LR schedule: warmup start factor must be in [0, 1], got " << warmupStartFactor);
  // Count 0 is the start of warmup when there is one.
  if (warmup_ > 0) optimizer_.setLr(baseLr_ * warmupStart_);
}

double LRSchedule::lrAt(int64_t t) const {
  if (t < warmup_) {
    const double f = warmupStart_ + (1.0 - warmupStart_) * static_cast<double>(t) / static_cast<double>(warmup_);
    return baseLr_ * f;
  }
  return scheduled(t - warmup_);
}

void LRSchedule::step() { setLastEpoch(last_ + 1); }

void LRSchedule::setLastEpoch(int64_t t) {
  SINGA_CHECK(t >= 0, ValueError, typeName() << ": count must be >= 0, got " << t);
  last_ = t;
  optimizer_.setLr(lrAt(t));
}

StepLR::StepLR(Optimizer& optimizer, int64_t stepSize, double gamma, int64_t warmupSteps,
               double warmupStartFactor)
    : LRSchedule(optimizer, warmupSteps, warmupStartFactor), stepSize_(stepSize), gamma_(gamma) {
  SINGA_CHECK(stepSize >= 1, ValueError, "StepLR: step size must be >= 1, got " << stepSize);
  SINGA_CHECK(gamma > 0.0, ValueError, "StepLR: gamma must be positive, got " << gamma);
}

double StepLR::scheduled(int64_t t) const {
  return baseLr() * std::pow(gamma_, static_cast<double>(t / stepSize_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t tMax, double etaMin, int64_t warmupSteps,
                                     double warmupStartFactor)
    : LRSchedule(optimizer, warmupSteps, warmupStartFactor), tMax_(tMax), etaMin_(etaMin) {
  SINGA_CHECK(tMax >= 1, ValueError, "CosineAnnealingLR: tMax must be >= 1, got " << tMax);
  SINGA_CHECK(etaMin >= 0.0, ValueError, "CosineAnnealingLR: etaMin must be >= 0, got " << etaMin);
}

double CosineAnnealingLR::scheduled(int64_t t) const {
  if (t >= tMax_) return etaMin_;
  const double kPi = 3.14159265358979323846;
  return etaMin_ + (baseLr() - etaMin_) * (1.0 + std::cos(kPi * static_cast<double>(t) / static_cast<double>(tMax_))) / 2.0;
}

}  // namespace singa
