// Checkpoint flags, resume, periodic and epoch-end checkpoints, and the SIGTERM/SIGINT stop flag
// for singa_train (see checkpointing.h).
#include "launch/checkpointing.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/loader.h"
#include "launch/cli_checks.h"
#include "launch/train_options.h"
#include "nn/module.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"

namespace singa::launch {
namespace {

volatile std::sig_atomic_t gStopSignal = 0;

extern "C" void onStopSignal(int sig) { gStopSignal = sig; }

}  // namespace

void addCheckpointFlags(CLI::App& app, CheckpointOptions& o) {
  auto* dir = app.add_option("--checkpoint-dir", o.dir,
                             "Write checkpoints (safetensors + meta.json) into this directory at each epoch end, "
                             "and on SIGTERM/SIGINT before exiting with code 3 (resumable)");
  app.add_option("--checkpoint-every", o.every, "Also write a checkpoint every N optimizer steps (0: epoch ends only)")
      ->check(kNonNegative)
      ->needs(dir)
      ->capture_default_str();
  app.add_option("--keep-checkpoints", o.keep, "Keep the newest K checkpoints")
      ->check(kPositive)
      ->needs(dir)
      ->capture_default_str();
  app.add_flag("--resume", o.resume,
               "Continue from the newest valid checkpoint in --checkpoint-dir (damaged ones are reported and "
               "skipped; starts afresh when there is none)")
      ->needs(dir);
}

std::string trainConfigJson(const TrainOptions& o) {
  nlohmann::json j{{"model", o.model},           {"data", o.data},
                   {"epochs", o.epochs},         {"batch_size", o.batchSize},
                   {"lr", o.lr},                 {"momentum", o.momentum},
                   {"nesterov", o.nesterov},     {"weight_decay", o.weightDecay},
                   {"optimizer", o.optimizer},   {"lr_schedule", o.lrSchedule},
                   {"seed", o.seed},             {"device", o.device},
                   {"limit_train", o.limitTrain}, {"init", o.init}};
  return j.dump();
}

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

TrainCheckpointer::TrainCheckpointer(const CheckpointOptions& options, std::string configJson, int rank,
                                     int worldSize, AgreeFn agree)
    : options_(options), configJson_(std::move(configJson)), rank_(rank), worldSize_(worldSize),
      agree_(std::move(agree)) {
  SINGA_CHECK(worldSize == 1 || agree_, ValueError,
              "checkpoints: with " << worldSize << " ranks a way to agree on stopping (an all-reduce) is required");
  if (!options_.dir.empty()) {
    manager_ = std::make_unique<checkpoint::CheckpointManager>(options_.dir, options_.keep, rank, worldSize);
    installStopHandlers();
  }
}

TrainCheckpointer::~TrainCheckpointer() = default;

ResumePoint TrainCheckpointer::resume(Module& model, Optimizer& optimizer, LRSchedule* schedule,
                                      const DataLoader& loader) {
  ResumePoint at;
  if (!manager_ || !options_.resume) return at;
  std::vector<std::string> skipped;
  std::optional<checkpoint::Checkpoint> c = manager_->loadNewestValid(&skipped);
  if (rank_ == 0) {
    for (const std::string& s : skipped) std::fprintf(stderr, "singa_train: skipping damaged checkpoint %s\n", s.c_str());
  }
  if (!c) {
    if (rank_ == 0) {
      std::fprintf(stderr, "singa_train: --resume: no valid checkpoint in '%s'; starting from the beginning\n",
                   options_.dir.c_str());
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
    std::fprintf(stderr, "singa_train: resuming from %s (epoch %lld, step %lld of the epoch, global step %lld",
                 c->path.c_str(), static_cast<long long>(at.epoch + 1), static_cast<long long>(at.startStep),
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

void TrainCheckpointer::save(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t epoch,
                             int64_t stepInEpoch, int64_t batchSize) {
  checkpoint::TrainingState s;
  s.epoch = epoch;
  s.stepInEpoch = stepInEpoch;
  s.samplesInEpoch = stepInEpoch * batchSize * worldSize_;
  s.globalStep = optimizer.stepCount();
  s.worldSize = worldSize_;
  s.batchSize = batchSize;
  s.rngSeed = globalGenerator().seed();
  s.rngCounter = globalGenerator().counter();
  s.scheduleEpoch = schedule ? schedule->lastEpoch() : 0;
  s.configJson = configJson_;
  const std::string path = manager_->save(model, optimizer, s);
  if (!path.empty()) lastPath_ = path;
  lastSavedStep_ = s.globalStep;
}

bool TrainCheckpointer::afterStep(Module& model, Optimizer& optimizer, LRSchedule* schedule,
                                  const DataLoader& loader) {
  if (!manager_) return false;
  const bool stop = worldSize_ > 1 ? agree_(stopSignalReceived()) : stopSignalReceived();
  const int64_t globalStep = optimizer.stepCount();
  const bool endOfEpoch = loader.currentStep() >= loader.stepsPerEpoch();
  // At an epoch's last step the epoch-end checkpoint follows at once; a stop writes it here.
  const bool periodic = options_.every > 0 && globalStep % options_.every == 0 && !endOfEpoch;
  if (stop || periodic) save(model, optimizer, schedule, loader.epoch(), loader.currentStep(), loader.options().batchSize);
  if (stop && rank_ == 0) {
    std::fprintf(stderr,
                 "singa_train: stopping on signal %d at epoch %lld step %lld (global step %lld); checkpoint %s "
                 "written; continue with --resume (exit code %d)\n",
                 stopSignalNumber(), static_cast<long long>(loader.epoch() + 1),
                 static_cast<long long>(loader.currentStep()), static_cast<long long>(globalStep), lastPath_.c_str(),
                 kExitResumable);
  }
  return stop;
}

void TrainCheckpointer::afterEpoch(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t nextEpoch,
                                   int64_t batchSize) {
  if (!manager_) return;
  save(model, optimizer, schedule, nextEpoch, 0, batchSize);
}

}  // namespace singa::launch
