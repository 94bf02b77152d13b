// What a Trainer does, as plain data: one struct a program fills from its flags (singa_train),
// from code (the examples) or from Python, so every front end trains the same way. Defaults are
// singa_train's defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace singa {

/// Checkpoints and resume (see src/checkpoint for the format).
struct CheckpointOptions {
  std::string dir;      ///< "" = no checkpoints; else one at each epoch end and on a stop signal
  int64_t every = 0;    ///< also every N optimizer steps (0 = epoch ends only)
  int keep = 3;         ///< keep the newest K step checkpoints
  bool resume = false;  ///< continue from the newest valid checkpoint in `dir`
  /// Also keep dir/best: the checkpoint of the epoch with the best validation metric so far
  /// (never pruned; meta.json's config carries {"best": {"metric", "value", "epoch"}}).
  bool keepBest = false;
};

struct TrainerOptions {
  // ---- schedule of the run ----------------------------------------------------------------
  int64_t epochs = 1;
  int64_t batchSize = 64;       ///< per rank
  int64_t evalBatchSize = 500;
  bool shuffle = true;
  uint64_t seed = 0;            ///< data order (the caller seeds initialisation: manualSeed)
  int64_t limitTrain = 0;       ///< use only the first N training samples (0 = all)
  int64_t limitValidation = 0;  ///< evaluate on only the first N samples (0 = all)

  // ---- input pipeline (DataLoaderOptions) ------------------------------------------------------
  int workers = -1;              ///< loading threads (-1 = pick: defaultWorkers; 0 = on the training thread)
  int prefetch = 0;              ///< batches loaded ahead (0 = twice the workers, at least 2)
  bool skipBadSamples = false;   ///< leave out samples that cannot be loaded (counted per epoch) instead of stopping

  // ---- optimizer (built by the Trainer unless one is given to it) -----------------------------
  std::string optimizer = "sgd";  ///< sgd, adam, adamw
  double lr = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  double weightDecay = 0.0;

  // ---- learning-rate schedule, counted in optimizer steps ------------------------------------
  std::string lrSchedule = "none";  ///< none, step (x stepGamma every stepEpochs), cosine (to 0 at the end)
  double stepGamma = 0.1;
  int64_t stepEpochs = 1;
  /// Linear warm-up from lr * warmupStartFactor to lr over warmupEpochs epochs plus warmupSteps
  /// optimizer steps; the schedule proper starts after it.
  double warmupEpochs = 0.0;
  int64_t warmupSteps = 0;
  double warmupStartFactor = 0.1;

  // ---- fine-tuning ----------------------------------------------------------------------------
  std::vector<std::string> freeze;  ///< name patterns of parameters kept fixed (see name_pattern.h)
  std::string headPattern = "head";  ///< the parameters headLr applies to
  double headLr = 0.0;               ///< learning rate of the head (0 = lr)
  double clipGradNorm = 0.0;         ///< clip gradients to this global norm (0 = off)
  double labelSmoothing = 0.0;       ///< of the default cross-entropy loss
  /// Stop when the validation accuracy has not improved for this many epochs (0 = never).
  int64_t earlyStoppingPatience = 0;

  // ---- data parallelism (the Communicator is given to the Trainer) -----------------------
  int gradAccumulation = 1;  ///< micro-batches summed before each update
  double bucketMiB = 25.0;
  double firstBucketMiB = 1.0;
  std::string gradCompression = "none";  ///< none, fp16, bf16
  bool overlap = true;                   ///< all-reduce during backward

  // ---- checkpoints, reporting -----------------------------------------------------------------
  CheckpointOptions checkpoint;
  std::string configJson = "{}";  ///< the run's configuration, recorded in every checkpoint
  std::string metricsJson;        ///< write the final metrics here (rank 0; "" = no file)
  /// Extra keys (a JSON object) merged into the metrics file, e.g. the model's name.
  std::string metricsExtraJson = "{}";
  int64_t logEvery = 100;  ///< steps between progress lines when not on a terminal
  bool quiet = false;      ///< no progress lines (epoch results are still printed)
  std::string programName = "trainer";  ///< prefixes messages ("singa_train: resuming from ...")

  // ---- benchmark mode (Trainer::benchmark) ----------------------------------------------------
  int64_t benchmarkSteps = 100;
  int64_t benchmarkWarmupSteps = 10;
  /// Count the wait for each batch in the timed step (the input pipeline's cost as training sees it).
  bool benchmarkIncludeData = false;
};

}  // namespace singa
