// Training progress for humans (see progress.h).
#include "singa/train/progress.h"

#include <unistd.h>

#include <algorithm>

namespace singa::train {

std::string formatDuration(double seconds) {
  long s = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

Progress::Progress(bool enabled, int64_t logEvery, std::FILE* out)
    : enabled_(enabled), tty_(isatty(fileno(out)) != 0), logEvery_(std::max<int64_t>(1, logEvery)), out_(out) {}

void Progress::startEpoch(int64_t epoch, int64_t numEpochs, int64_t stepsPerEpoch) {
  epoch_ = epoch;
  numEpochs_ = numEpochs;
  steps_ = stepsPerEpoch;
  done_ = 0;
  lossSum_ = 0;
  correct_ = samples_ = 0;
  start_ = lastDraw_ = std::chrono::steady_clock::now();
}

void Progress::step(int64_t stepIndex, double loss, int64_t correct, int64_t samples) {
  done_ = stepIndex + 1;
  lossSum_ += loss;
  lastLoss_ = loss;
  correct_ += correct;
  samples_ += samples;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - lastDraw_ > std::chrono::milliseconds(100) || done_ == steps_) {
      lastDraw_ = now;
      render(false);
    }
  } else if (done_ % logEvery_ == 0 && done_ != steps_) {
    render(false);
  }
}

double Progress::epochImagesPerSec() const {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return secs > 0 ? static_cast<double>(samples_) / secs : 0.0;
}

void Progress::render(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double ips = secs > 0 ? static_cast<double>(samples_) / secs : 0.0;
  double eta = done_ > 0 ? secs / static_cast<double>(done_) * static_cast<double>(steps_ - done_) : 0.0;
  double acc = samples_ > 0 ? 100.0 * static_cast<double>(correct_) / static_cast<double>(samples_) : 0.0;
  double meanLoss = done_ > 0 ? lossSum_ / static_cast<double>(done_) : 0.0;
  if (tty_) {
    const int width = 28;
    int filled = steps_ > 0 ? static_cast<int>(width * done_ / steps_) : width;
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
    std::fprintf(out_, "\repoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.1f%% %.0f img/s %s %s ",
                 static_cast<long long>(epoch_ + 1), static_cast<long long>(numEpochs_), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(steps_), meanLoss, acc, ips,
                 final ? "took" : "ETA", formatDuration(final ? secs : eta).c_str());
    if (final) std::fputc('\n', out_);
  } else {
    std::fprintf(out_, "epoch %lld/%lld step %lld/%lld loss %.4f (last %.4f) acc %.1f%% %.0f img/s %s %s\n",
                 static_cast<long long>(epoch_ + 1), static_cast<long long>(numEpochs_),
                 static_cast<long long>(done_), static_cast<long long>(steps_), meanLoss, lastLoss_, acc,
                 ips, final ? "took" : "ETA", formatDuration(final ? secs : eta).c_str());
  }
  std::fflush(out_);
}

double Progress::endEpoch() {
  if (enabled_) render(true);
  return done_ > 0 ? lossSum_ / static_cast<double>(done_) : 0.0;
}

}  // namespace singa::train
