// The Trainer's checkpointing and preemption: restoring a run from the newest valid checkpoint,
// writing checkpoints every N steps and at each epoch end, keeping the best one, and stopping
// cleanly on SIGTERM / SIGINT.
//
// Preemption: the signal handlers only set a flag. After every step all ranks agree on it (a
// one-value all-reduce through `AgreeFn` when the world size is above 1), so every rank stops
// at the same step boundary; rank 0 writes a checkpoint and the Trainer reports `preempted`
// (singa_train then exits with code 3). Slurm sends SIGTERM before a time limit
// (sbatch --signal=TERM@120), so a job can be requeued and continue with resume.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "singa/train/trainer_options.h"

namespace singa {
class Module;
class Optimizer;
class LRSchedule;
class DataLoader;
namespace checkpoint {
class CheckpointManager;
}
}  // namespace singa

namespace singa::train {

/// Installs SIGTERM and SIGINT handlers that set the stop flag (and nothing else).
void installStopHandlers();
/// Whether this process has received SIGTERM/SIGINT since installStopHandlers().
bool stopSignalReceived();
/// The signal that set the flag (0 when none).
int stopSignalNumber();
/// Clears the flag (a process that handled a stop and trains again, e.g. from Python).
void resetStopSignal();

/// Where training continues.
struct ResumePoint {
  bool resumed = false;
  int64_t epoch = 0;      ///< first epoch to run
  int64_t startStep = 0;  ///< batch of that epoch to start at
};

class TrainCheckpointer {
 public:
  /// Logical OR of a flag over all ranks (world size 1: the flag itself).
  using AgreeFn = std::function<bool(bool)>;

  /// `configJson`: the run's configuration (a JSON object) recorded in every checkpoint;
  /// `program` prefixes the messages printed on stderr (rank 0). With checkpoints on, the stop
  /// handlers are installed for the checkpointer's lifetime (the previous ones come back after).
  /// A caller that polls (afterStep's `poll`) must do so on every rank: the ranks agree in a
  /// collective.
  TrainCheckpointer(const CheckpointOptions& options, std::string configJson, std::string program, int rank = 0,
                    int worldSize = 1, AgreeFn agree = AgreeFn());
  ~TrainCheckpointer();

  bool enabled() const { return manager_ != nullptr; }
  /// With resume: restores model, optimizer, LR schedule and RNG from the newest valid
  /// checkpoint (reporting damaged newer ones on stderr) and returns where to continue, re-sharding
  /// the data position when the world size or batch size changed. Otherwise {epoch 0, step 0}.
  ResumePoint resume(Module& model, Optimizer& optimizer, LRSchedule* schedule, const DataLoader& loader);
  /// After each training step. Writes a checkpoint every `every` steps; returns true when the
  /// ranks agreed to stop (a checkpoint has then been written when checkpoints are on).
  /// `requested`: this rank's caller asks to stop; `poll`: agree on stopping even without
  /// checkpoints (a caller with a stop request, such as the Python Trainer on Ctrl-C).
  bool afterStep(Module& model, Optimizer& optimizer, LRSchedule* schedule, const DataLoader& loader,
                 bool requested = false, bool poll = false);
  /// After an epoch's end work: writes the epoch-end checkpoint (position `nextEpoch`, step 0).
  void afterEpoch(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t nextEpoch, int64_t batchSize);
  /// Rank 0, with keepBest: replaces dir/best with the current state (call after afterEpoch for
  /// an epoch whose `metric` value is the best so far). Returns its path ("" when not written).
  std::string saveBest(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t nextEpoch,
                       int64_t batchSize, const std::string& metric, double value);
  /// With keepBest and resume: the value and epoch count recorded in dir/best by an earlier run
  /// (false when there is none or it does not verify, which is reported on stderr).
  bool previousBest(double& value, int64_t& nextEpoch) const;
  /// Path of the last step checkpoint written ("" if none).
  const std::string& lastPath() const { return lastPath_; }

 private:
  void save(Module& model, Optimizer& optimizer, LRSchedule* schedule, int64_t epoch, int64_t stepInEpoch,
            int64_t batchSize);

  CheckpointOptions options_;
  std::string configJson_;
  std::string program_;
  int rank_, worldSize_;
  AgreeFn agree_;
  std::unique_ptr<checkpoint::CheckpointManager> manager_;
  std::string lastPath_;
  int64_t lastSavedStep_ = -1;
  struct SavedHandlers;
  std::unique_ptr<SavedHandlers> savedHandlers_;  ///< the SIGTERM/SIGINT handlers before ours, restored at the end
};

}  // namespace singa::train
