// Training checkpoints. A checkpoint is a directory
//   step-000000001234/
//     model.safetensors      parameters and buffers under the model's own names (Python's
//                            safetensors and PyTorch read it as is)
//     optimizer.safetensors  the optimizer's state dict ("step", "lr", "<param>.momentum_buffer")
//     meta.json              where training stands (epoch, step, data position, RNG, world size,
//                            the run's configuration), each file's size and CRC-32, a CRC-32 per
//                            tensor, and a CRC-32 of meta.json itself
// written into a temporary directory, fsync'ed, and renamed into place, so a reader sees a
// checkpoint whole or not at all. Reading verifies every size and checksum, and errors name the
// file and the first damaged or mismatched tensor.
//
//   checkpoint::CheckpointManager ckpts("runs/a", /*keep=*/3, rank, worldSize);
//   ckpts.save(model, optimizer, state);                  // rank 0 writes, others return ""
//   if (auto c = ckpts.loadNewestValid(&skipped)) { restoreModel(*c, model); ... }
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {
class Module;
class Optimizer;
}  // namespace singa

namespace singa::checkpoint {

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kMetaFile = "meta.json";
constexpr int kFormatVersion = 1;

/// Where training stands when a checkpoint is written.
struct TrainingState {
  int64_t epoch = 0;           ///< epoch in progress (0-based); epoch E with stepInEpoch 0 = E not started
  int64_t stepInEpoch = 0;     ///< batches of `epoch` each rank has trained
  int64_t samplesInEpoch = 0;  ///< samples of the epoch's permutation consumed over all ranks
  int64_t globalStep = 0;      ///< optimizer steps since the start of training
  int worldSize = 1;
  int64_t batchSize = 0;       ///< per rank
  uint64_t rngSeed = 0;        ///< the global generator (dropout, initialisers)
  uint64_t rngCounter = 0;
  int64_t scheduleEpoch = 0;   ///< the LR schedule's count
  std::string configJson = "{}";  ///< the run's configuration, a JSON object
};

struct Checkpoint {
  std::string path;
  TrainingState state;
  std::map<std::string, Tensor> model;      ///< parameters and buffers
  std::map<std::string, Tensor> optimizer;  ///< Optimizer::stateDict()
};

/// The three files of a checkpoint (file name -> contents), sizes and checksums filled in; what
/// writeCheckpoint writes and parseCheckpoint reads.
std::map<std::string, std::string> encodeCheckpoint(const std::map<std::string, Tensor>& model,
                                                    const std::map<std::string, Tensor>& optimizer,
                                                    const TrainingState& state);
/// Writes a checkpoint directory at `path` atomically (a sibling temporary directory is
/// written, fsync'ed and renamed; an existing `path` is replaced). Throws IoError.
void writeCheckpoint(const std::string& path, const std::map<std::string, Tensor>& model,
                     const std::map<std::string, Tensor>& optimizer, const TrainingState& state);
void writeCheckpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const TrainingState& state);

/// Reads and verifies a checkpoint directory. Throws IoError naming the file and, when one is
/// concerned, the tensor: missing files, special files (FIFOs, devices), oversized files,
/// truncation, checksum failures, malformed or too deeply nested JSON, out-of-range fields.
Checkpoint readCheckpoint(const std::string& path);
/// The same from file contents held in memory (file name -> bytes); `path` names it in errors.
Checkpoint parseCheckpoint(const std::map<std::string, std::string>& files, const std::string& path);

/// Copies the checkpoint's tensors into `model` after checking, in the model's order, that every
/// parameter and buffer is there with the same shape and dtype and nothing else is: the error
/// (ValueError / ShapeError) names the file and the first mismatched tensor.
void restoreModel(const Checkpoint& checkpoint, Module& model);
/// Optimizer::loadStateDict with errors that name the checkpoint file, after checking that the
/// step counters are whole numbers in [0, 2^62] (the top-level one equal to the global step) and
/// the lr is finite and >= 0.
void restoreOptimizer(const Checkpoint& checkpoint, Optimizer& optimizer);

/// A directory of checkpoints: naming, writing by rank 0, keeping the newest K, and finding the
/// newest one that verifies.
class CheckpointManager {
 public:
  /// `keep` >= 1 checkpoints are kept. Only `rank` 0 writes or deletes anything.
  CheckpointManager(std::string dir, int keep, int rank = 0, int worldSize = 1);

  /// Rank 0: writes dir/step-<globalStep> and deletes all but the newest `keep` of the checkpoints
  /// up to that step (newer ones, e.g. a damaged one --resume skipped, are left alone); returns its path.
  /// Other ranks return "" without touching the disk.
  std::string save(const Module& model, const Optimizer& optimizer, const TrainingState& state);
  /// Paths of the complete (renamed-into-place) checkpoints "step-<digits>", newest (highest step) first.
  std::vector<std::string> list() const;
  /// The newest checkpoint that reads and verifies. Every newer one that does not is skipped and
  /// described in `skipped` ("path: reason"). nullopt when there is none.
  std::optional<Checkpoint> loadNewestValid(std::vector<std::string>* skipped = nullptr) const;
  /// The directory name of the checkpoint for `globalStep` ("step-000000001234").
  static std::string entryName(int64_t globalStep);
  const std::string& dir() const { return dir_; }

 private:
  void removeStaleTemporaries() const;
  void prune(int64_t writtenStep) const;

  std::string dir_;
  int keep_;
  int rank_;
  int worldSize_;
};

}  // namespace singa::checkpoint
