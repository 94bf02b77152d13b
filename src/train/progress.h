// Training progress for humans: a redrawn bar on a terminal, periodic log lines otherwise
// (batch jobs, CI logs). Both show loss, accuracy, images/s and the ETA of the epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace singa::train {

class Progress {
 public:
  /// `logEvery`: steps between log lines when not on a terminal. `enabled` false prints nothing.
  Progress(bool enabled, int64_t logEvery, std::FILE* out = stderr);

  void startEpoch(int64_t epoch, int64_t numEpochs, int64_t stepsPerEpoch);
  /// Called after each step with that step's loss and correct count over `samples` images.
  void step(int64_t stepIndex, double loss, int64_t correct, int64_t samples);
  /// Ends the epoch line; returns the epoch's mean loss.
  double endEpoch();

  double epochImagesPerSec() const;

 private:
  void render(bool final);

  bool enabled_, tty_;
  int64_t logEvery_;
  std::FILE* out_;
  int64_t epoch_ = 0, numEpochs_ = 0, steps_ = 0, done_ = 0;
  double lossSum_ = 0;
  int64_t correct_ = 0, samples_ = 0;
  double lastLoss_ = 0;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

/// "1:05", "12:03:04"
std::string formatDuration(double seconds);

}  // namespace singa::train
