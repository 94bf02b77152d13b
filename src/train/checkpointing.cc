// Resume, periodic, epoch-end and best checkpoints, and the SIGTERM/SIGINT stop flag of the
// Trainer (see checkpointing.h).
#include "singa/train/checkpointing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <optional>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/error.h"
#include "singa/core/rng.h"
#include "singa/data/loader.h"
#include "singa/nn/module.h"
#include "singa/optim/lr_schedule.h"
#include "singa/optim/optimizer.h"

namespace singa::train {
namespace {

volatile std::sig_atomic_t gStopSignal = 0;

extern "C" void onStopSignal(int sig) { gStopSignal = sig; }

}  // namespace

void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

bool stopSignalReceived() { return gStopSignal != 0; }
int stopSignalNumber() { return static_cast<int>(gStopSignal); }
void resetStopSignal() { gStopSignal = 0; }

struct TrainCheckpointer::SavedHandlers {
  struct sigaction term {};
  struct sigaction intr {};
};

TrainCheckpointer::TrainCheckpointer(const CheckpointOptions& options, std::string configJson, std::string program,
                                     int rank, int worldSize, AgreeFn agree)
    : options_(options), configJson_(std::move(configJson)), program_(std::move(program)), rank_(rank),
      worldSize_(worldSize),
      agree_(std::move(agree)) {
  SINGA_CHECK(worldSize == 1 || agree_, ValueError,
              "checkpoints: with " << worldSize << " ranks a way to agree on stopping (an all-reduce) is required");
  if (!options_.dir.empty()) {
    manager_ = std::make_unique<checkpoint::CheckpointManager>(options_.dir, options_.keep, rank, worldSize);
    savedHandlers_ = std::make_unique<SavedHandlers>();
    sigaction(SIGTERM, nullptr, &savedHandlers_->term);
    sigaction(SIGINT, nullptr, &savedHandlers_->intr);
    installStopHandlers();
  }
}

TrainCheckpointer::~TrainCheckpointer() {
  if (savedHandlers_) {
    sigaction(SIGTERM, &savedHandlers_->term, nullptr);
    sigaction(SIGINT, &savedHandlers_->intr, nullptr);
  }
}

ResumePoint TrainCheckpointer::resume(Module& model, Optimizer& optimizer, LRSchedule* schedule,
                                      const DataLoader& loader) {
  ResumePoint at;
  if (!manager_ || !options_.resume) return at;
  std::vector<std::string> skipped;
  std::optional<checkpoint::Checkpoint> c = manager_->loadNewestValid(&skipped);
  if (rank_ == 0) {
    for (const std::string& s : skipped) std::fprintf(stderr, "%s: skipping damaged checkpoint %s\n", program_.c_str(), s.c_str());
  }
  if (!c) {
    if (rank_ == 0) {
      std::fprintf(stderr, "%s: --resume: no valid checkpoint in '%s'; starting from the beginning\n",
                   program_.c_str(), options_.dir.c_str());
    }
    return at;
  }
  checkpoint::restoreModel(*c, model);
  checkpoint::restoreOptimizer(*c, optimizer);
  if (schedule) schedule->setLastEpoch(c->state.scheduleEpoch);
  auto lrIt = c->optimizer.find("lr");
  if (lrIt != c->optimizer.end()) optimizer.setLr(lrIt->second.item());  // exactly the saved value
  globalGenerator().setState(c->state.rngSeed, c->state.rngCounter);

  // Data position: samples of the epoch's permutation already consumed by all ranks together.
  const int64_t perStep = loader.options().batchSize * worldSize_;
  at.resumed = true;
  at.epoch = c->state.epoch;
  at.startStep = std::min(c->state.samplesInEpoch / perStep, loader.stepsPerEpoch());
  lastSavedStep_ = c->state.globalStep;
  if (rank_ == 0) {
    std::fprintf(stderr, "%s: resuming from %s (epoch %lld, step %lld of the epoch, global step %lld",
                 program_.c_str(), c->path.c_str(), static_cast<long long>(at.epoch + 1), static_cast<long long>(at.startStep),
                 static_cast<long long>(c->state.globalStep));
    if (c->state.worldSize != worldSize_ || c->state.batchSize != loader.options().batchSize) {
      std::fprintf(stderr, "; re-sharded from %d ranks x batch %lld to %d x %lld", c->state.worldSize,
                   static_cast<long long>(c->state.batchSize), worldSize_,
                   static_cast<long long>(loader.options().batchSize));
      if (c->state.samplesInEpoch % perStep != 0) {
        std::fprintf(stderr, ", %lld samples of the epoch are seen again",
                     static_cast<long long>(c->state.samplesInEpoch % perStep));
      }
    }
    std::fprintf(stderr, ")\n");
  }
  return at;
}

namespace {

checkpoint::TrainingState stateOf(const Optimizer& optimizer, const LRSchedule* schedule, int64_t epoch,
                                  int64_t stepInEpoch, int64_t batchSize, int worldSize, const std::string& config) {
  checkpoint::TrainingState s;
  s.epoch = epoch;
  s.stepInEpoch = stepInEpoch;
  s.samplesInEpoch = stepInEpoch * batchSize * worldSize;
  s.globalStep = optimizer.stepCount();
  s.worldSize = worldSize;
  s.batchSize = batchSize;
  s.rngSeed = globalGenerator().seed();
  s.rngCounter = globalGenerator().counter();
  s.scheduleEpoch = schedule ? schedule->lastEpoch() : 0;
  s.configJson = config;
  return s;
}

}  // namespace

void TrainCheckpointer::save(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t epoch,
                             int64_t stepInEpoch, int64_t batchSize) {
  const checkpoint::TrainingState s =
      stateOf(optimizer, schedule, epoch, stepInEpoch, batchSize, worldSize_, configJson_);
  const std::string path = manager_->save(model, optimizer, s);
  if (!path.empty()) lastPath_ = path;
  lastSavedStep_ = s.globalStep;
}

std::string TrainCheckpointer::saveBest(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t nextEpoch,
                                        int64_t batchSize, const std::string& metric, double value) {
  if (!manager_ || !options_.keepBest || rank_ != 0) return "";
  nlohmann::json config = nlohmann::json::parse(configJson_, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) config = nlohmann::json::object();
  config["best"] = {{"metric", metric}, {"value", value}, {"epoch", nextEpoch}};
  const std::string path = options_.dir + "/best";
  checkpoint::writeCheckpoint(path, model, optimizer,
                              stateOf(optimizer, schedule, nextEpoch, 0, batchSize, worldSize_, config.dump()));
  return path;
}

bool TrainCheckpointer::previousBest(double& value, int64_t& nextEpoch) const {
  const std::string path = options_.dir + "/best";
  std::error_code ec;
  if (!manager_ || !options_.keepBest || !options_.resume || !std::filesystem::exists(path, ec)) return false;
  try {
    const checkpoint::Checkpoint c = checkpoint::readCheckpoint(path);
    const nlohmann::json best = nlohmann::json::parse(c.state.configJson).at("best");
    value = best.at("value").get<double>();
    nextEpoch = best.at("epoch").get<int64_t>();
    return true;
  } catch (const std::exception& e) {
    if (rank_ == 0) std::fprintf(stderr, "%s: ignoring the best checkpoint %s: %s\n", program_.c_str(), path.c_str(), e.what());
    return false;
  }
}

bool TrainCheckpointer::afterStep(Module& model, Optimizer& optimizer, LRSchedule* schedule,
                                  const DataLoader& loader, bool requested, bool poll) {
  if (!manager_ && !poll) return false;
  const bool local = stopSignalReceived() || requested;
  const bool stop = worldSize_ > 1 ? agree_(local) : local;
  const int64_t globalStep = optimizer.stepCount();
  if (!manager_) {
    if (stop && rank_ == 0) {
      std::fprintf(stderr,
                   "%s: stopping as asked at epoch %lld step %lld (global step %lld); no checkpoint directory "
                   "was given, so nothing was saved (set one to resume)\n",
                   program_.c_str(), static_cast<long long>(loader.epoch() + 1),
                   static_cast<long long>(loader.currentStep()), static_cast<long long>(globalStep));
    }
    return stop;
  }
  const bool endOfEpoch = loader.currentStep() >= loader.stepsPerEpoch();
  // At an epoch's last step the epoch-end checkpoint follows at once; a stop writes it here.
  const bool periodic = options_.every > 0 && globalStep % options_.every == 0 && !endOfEpoch;
  if (stop || periodic) save(model, optimizer, schedule, loader.epoch(), loader.currentStep(), loader.options().batchSize);
  if (stop && rank_ == 0) {
    if (stopSignalNumber() != 0) {
      std::fprintf(stderr,
                   "%s: stopping on signal %d at epoch %lld step %lld (global step %lld); checkpoint %s "
                   "written; continue with --resume (exit code 3)\n",
                   program_.c_str(), stopSignalNumber(), static_cast<long long>(loader.epoch() + 1),
                   static_cast<long long>(loader.currentStep()), static_cast<long long>(globalStep),
                   lastPath_.c_str());
    } else {
      std::fprintf(stderr,
                   "%s: stopping as asked at epoch %lld step %lld (global step %lld); checkpoint %s written; "
                   "resume from it to continue\n",
                   program_.c_str(), static_cast<long long>(loader.epoch() + 1),
                   static_cast<long long>(loader.currentStep()), static_cast<long long>(globalStep),
                   lastPath_.c_str());
    }
  }
  return stop;
}

void TrainCheckpointer::afterEpoch(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t nextEpoch,
                                   int64_t batchSize) {
  if (!manager_) return;
  save(model, optimizer, schedule, nextEpoch, 0, batchSize);
}

}  // namespace singa::train
