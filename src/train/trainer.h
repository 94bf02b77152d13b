// Trainer: the training loop as a library, shared by singa_train, the examples and Python.
//
//   Trainer trainer(model, options);              // options: plain data (trainer_options.h)
//   TrainResult r = trainer.fit(data.train, &data.test);
//
// It owns the loop (epochs, shuffled per-rank shards, gradient accumulation), the optimizer
// (built from the options, or given), the LR schedule with warm-up, fine-tuning (frozen
// parameters, a head learning rate, gradient clipping, label smoothing), per-epoch validation
// with early stopping, checkpoints (periodic, epoch end, best) with exact resume, preemption on
// SIGTERM/SIGINT, the progress line and the metrics file. Distributed state is not global: the
// caller passes the Communicator (a world of one when none is given); with more than one rank
// the optimizer is wrapped in a DistributedOptimizer. Only rank 0 prints, evaluates and writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "singa/data/dataset.h"
#include "singa/data/loader.h"
#include "singa/data/source.h"
#include "singa/train/trainer_options.h"

namespace singa {

class Communicator;
class DistributedOptimizer;
class LRSchedule;
class Module;
class Optimizer;

/// Loss and accuracy over a data set.
struct EvalResult {
  double loss = 0, accuracy = 0;
  double top5 = 0;  ///< the true class among the 5 highest logits (1 with 5 classes or fewer)
  int64_t samples = 0;
};

/// What the hooks see after a step.
struct StepInfo {
  int64_t epoch = 0;        ///< 0-based
  int64_t step = 0;         ///< batch index within the epoch
  int64_t stepsPerEpoch = 0;
  int64_t globalBatch = 0;  ///< epoch * stepsPerEpoch + step
  double loss = 0;
  double lr = 0;
  const Batch* batch = nullptr;  ///< the batch just trained on (its data set indices: batch->indices)
};

/// What the hooks see after an epoch (validation fields on rank 0, or every rank when early
/// stopping needs them).
struct EpochInfo {
  int64_t epoch = 0;  ///< 0-based; the epoch just finished
  double trainLoss = 0;
  bool validated = false;
  EvalResult validation;
  bool best = false;  ///< the best validation accuracy so far
  PipelineStats data;  ///< this rank's input pipeline during the epoch (skipped samples, waits)
};

struct TrainResult {
  bool preempted = false;     ///< stopped by SIGTERM/SIGINT or a stop request (resume from the checkpoint, if any)
  bool stoppedEarly = false;  ///< early stopping ended the run
  int64_t epochsRun = 0;      ///< epochs completed, counting resumed ones
  double finalTrainLoss = 0;  ///< the last step's loss
  double trainImagesPerSec = 0;
  double dataImagesPerSec = 0;  ///< what the input pipeline's loading threads sustained (rank 0)
  double dataWaitSeconds = 0;   ///< time steps waited for a batch (rank 0)
  int64_t skippedSamples = 0;   ///< bad samples left out (rank 0; skipBadSamples)
  EvalResult validation;      ///< after the last epoch (rank 0)
  double bestAccuracy = 0;
  int64_t bestEpoch = -1;     ///< 0-based, -1 when nothing was validated
  std::string lastCheckpoint, bestCheckpoint;
};

struct BenchmarkResult {
  double imagesPerSec = 0, msPerStep = 0, peakRssMiB = -1;
};

class Trainer {
 public:
  using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& labels)>;
  using Transform = std::function<Tensor(const Tensor& images)>;

  /// `comm`: the job's communicator (must outlive the Trainer); nullptr = one process.
  Trainer(std::shared_ptr<Module> model, TrainerOptions options, Communicator* comm = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Uses `optimizer` (over the model's parameters) instead of one built from the options.
  void setOptimizer(std::unique_ptr<Optimizer> optimizer);
  /// The loss (default: cross-entropy with options.labelSmoothing).
  void setLoss(LossFn loss) { loss_ = std::move(loss); }
  /// Applied to every batch of images before the model (e.g. adaptImages to an imported model's input).
  void setInputTransform(Transform t) { transform_ = std::move(t); }
  /// Hooks for user code, called on every rank.
  void onStep(std::function<void(const StepInfo&)> f) { onStep_ = std::move(f); }
  void onEpoch(std::function<void(const EpochInfo&)> f) { onEpoch_ = std::move(f); }
  /// After each checkpoint rank 0 writes (its path).
  void onCheckpoint(std::function<void(const std::string&)> f) { onCheckpoint_ = std::move(f); }
  /// Polled after every training step on every rank: when it returns true on any rank, all
  /// ranks stop after that step (a checkpoint is written when checkpoints are on) and fit()
  /// returns with `preempted` set. The Python Trainer stops this way on Ctrl-C.
  void setStopRequest(std::function<bool()> f) { stopRequest_ = std::move(f); }

  /// Trains on `train` for options.epochs, validating on `validation` after each epoch when
  /// given. Resumes when options.checkpoint.resume is set. Batches come from a DataLoader with
  /// options.workers loading threads and random augmentations on.
  TrainResult fit(std::shared_ptr<const Dataset> train, std::shared_ptr<const Dataset> validation = nullptr);
  /// The same on tensors (images [N, ...], integer labels [N]).
  TrainResult fit(const MnistSplit& train, const MnistSplit* validation = nullptr);
  /// Loss, top-1 and top-5 accuracy of the model on `data` (first options.limitValidation
  /// samples, augmentations off); no gradients.
  EvalResult evaluate(std::shared_ptr<const Dataset> data);
  EvalResult evaluate(const MnistSplit& data);
  /// Times options.benchmarkSteps training steps after benchmarkWarmupSteps; prints the figures
  /// (rank 0) and writes them to options.metricsJson.
  BenchmarkResult benchmark(std::shared_ptr<const Dataset> train);
  BenchmarkResult benchmark(const MnistSplit& train);

  Module& model() { return *model_; }
  /// The optimizer in use (wrapped when distributed); built on first use.
  Optimizer& optimizer();
  const TrainerOptions& options() const { return options_; }
  int rank() const;
  int worldSize() const;

 private:
  void prepare(std::shared_ptr<const Dataset> train);
  DataLoaderOptions loaderOptions() const;
  std::pair<double, int64_t> trainStep(const Batch& b);
  /// Forward, loss, backward and update on inputs already on the device; returns the loss (not
  /// read back: no host wait) and the logits through `logits` when given.
  Tensor optimizerStep(const Tensor& x, const Tensor& y, Tensor* logits = nullptr);
  Tensor input(const Tensor& images) const;
  bool agreeOnAll(bool flag);
  void writeMetrics(const TrainResult& r) const;
  void reportSkipped(int64_t epoch, const PipelineStats& s) const;
  void printCommStats() const;

  std::shared_ptr<Module> model_;
  TrainerOptions options_;
  std::unique_ptr<Communicator> ownedComm_;
  Communicator* comm_;
  std::unique_ptr<Optimizer> optimizer_;
  DistributedOptimizer* distributed_ = nullptr;
  std::unique_ptr<LRSchedule> schedule_;
  std::unique_ptr<DataLoader> loader_;
  LossFn loss_;
  Transform transform_;
  std::function<void(const StepInfo&)> onStep_;
  std::function<void(const EpochInfo&)> onEpoch_;
  std::function<void(const std::string&)> onCheckpoint_;
  std::function<bool()> stopRequest_;
  Device device_ = Device::cpu();
  bool prepared_ = false;
};

/// The optimizer `o` names, over `model`'s parameters (ValueError for an unknown name).
std::unique_ptr<Optimizer> makeOptimizer(const TrainerOptions& o, const Module& model);
/// The LR schedule of `o` counted in optimizer steps (`stepsPerEpoch` of them per epoch), or
/// nullptr for a constant lr without warm-up.
std::unique_ptr<LRSchedule> makeSchedule(const TrainerOptions& o, Optimizer& optimizer, int64_t stepsPerEpoch);
/// The training DataLoader's options for `o` on `rank` of `worldSize` (augmentations on).
DataLoaderOptions trainLoaderOptions(const TrainerOptions& o, int rank, int worldSize);
/// Peak resident set size of this process in MiB (VmHWM), or -1 when unknown.
double peakRssMiB();

}  // namespace singa
