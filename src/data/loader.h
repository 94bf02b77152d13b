// Mini-batches for data-parallel training. Every epoch the sample order is a permutation seeded
// by (seed, epoch) on its own random stream, identical on every rank; rank r takes every
// worldSize-th sample of it (a disjoint shard), and every rank gets the same number of steps so
// collectives stay in step.
//
// Samples come from a Dataset (source.h): in memory (uint8 images scaled to [0, 1], float32,
// int64 token ids) or decoded from files. With workers > 0 a pool of threads loads whole batches
// ahead of the step that needs them (at most `prefetch` batches ready or in flight), so a step
// does not wait for decoding when the workers keep up. A sample's random augmentations depend
// only on (seed, epoch, sample index): batches are the same for any number of workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "singa/core/tensor.h"
#include "singa/data/source.h"

namespace singa {

/// One mini-batch.
struct Batch {
  Tensor images;     ///< float32 [B, ...] (uint8 sources scaled to [0, 1]), or int64 token ids
  Tensor labels;     ///< int64 [B]
  int64_t step = 0;  ///< index of this batch within its epoch
  std::vector<int64_t> indices;  ///< the data set indices of its samples, in order
  int64_t skipped = 0;           ///< bad samples left out of it (skipBadSamples)
};

struct DataLoaderOptions {
  int64_t batchSize = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  int rank = 0;
  int worldSize = 1;
  /// Drop the last, smaller batch of a shard (otherwise it is returned short).
  bool dropLast = true;
  /// Use only the first `limit` samples (0 = all).
  int64_t limit = 0;
  /// Random augmentations on (training); off, a random crop is a center crop and nothing flips.
  bool augment = false;
  /// Threads loading batches ahead: 0 = load in next() on the calling thread (in parallel over
  /// the batch), -1 = pick (defaultWorkers).
  int workers = 0;
  /// Batches loaded ahead (ready or in flight) when workers > 0.
  int prefetch = 4;
  /// A sample that cannot be loaded is left out of its batch and counted, instead of an error.
  bool skipBadSamples = false;
};

/// What the pipeline did since the last resetStats().
struct PipelineStats {
  int64_t samples = 0;       ///< samples loaded (including skipped ones)
  double busySeconds = 0;    ///< summed over workers: time spent loading
  double waitSeconds = 0;    ///< time next() waited for a batch that was not ready
  int workers = 0;           ///< threads loading (0 = on the caller)
  int64_t skipped = 0;       ///< bad samples left out
  std::vector<std::string> skippedSamples;  ///< the first few: "'path': reason"
  /// Images per second the loading threads sustain together (samples / (busy / workers)).
  double imagesPerSecond() const;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> data, const DataLoaderOptions& options);
  /// `images`: uint8 or float32 [N, ...] (uint8 is scaled by 1/255), or int64/int32 token ids;
  /// `labels`: integer [N]. Throws ShapeError/ValueError for mismatched counts or bad options
  /// (batchSize < 1, rank outside [0, worldSize), a shard smaller than one batch with dropLast).
  DataLoader(Tensor images, Tensor labels, const DataLoaderOptions& options);
  DataLoader(Tensor images, Tensor labels, int64_t batchSize, bool shuffle = true, uint64_t seed = 0,
             int rank = 0, int worldSize = 1, bool dropLast = true);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Starts `epoch` (its permutation) at batch `startStep` (to resume mid-epoch).
  void setEpoch(int64_t epoch, int64_t startStep = 0);
  /// Next batch of the current epoch; false once the epoch is done. Rethrows a worker's error.
  bool next(Batch& batch);
  /// Batch `step` of the current epoch, loaded now on the calling thread (random access; does
  /// not move the cursor).
  Batch batch(int64_t step) const;

  int64_t epoch() const { return epoch_; }
  /// Index of the batch next() returns.
  int64_t currentStep() const { return step_; }
  /// Batches per epoch on every rank.
  int64_t stepsPerEpoch() const;
  /// Samples used (after `limit`), over all ranks.
  int64_t numSamples() const { return numSamples_; }
  /// Samples this rank sees per epoch (the same on every rank).
  int64_t shardSize() const { return numSamples_ / options_.worldSize; }
  /// Indices (into the data set) of this rank's shard for the current epoch, in order.
  const std::vector<int64_t>& shardIndices() const { return shard_; }
  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *data_; }
  /// Loading threads in use.
  int workers() const { return workers_; }

  PipelineStats stats() const;
  void resetStats();

 private:
  struct Pending;
  Batch load(int64_t step, bool parallel, PipelineStats* stats) const;
  void startWorkers();
  void stopWorkers();
  void workerLoop();

  std::shared_ptr<const Dataset> data_;
  DataLoaderOptions options_;
  int workers_ = 0;
  int64_t numSamples_ = 0;
  int64_t epoch_ = 0;
  int64_t step_ = 0;
  std::vector<int64_t> shard_;

  // Worker pool state (guarded by mu_).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  int64_t nextToLoad_ = 0;
  std::map<int64_t, std::unique_ptr<Pending>> done_;
  PipelineStats stats_;
};

/// The permutation of [0, n) for (seed, epoch): Fisher-Yates driven by a Generator whose state
/// mixes seed and epoch (a stream apart from manualSeed(seed)).
std::vector<int64_t> epochPermutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

/// Loading threads for `data` when none are asked for: the cores left after `computeThreads`
/// (at least 1, at most 8) for data sets that decode files, 0 for data in memory.
int defaultWorkers(const Dataset& data, int computeThreads);

/// Times the loader alone: `steps` batches (more epochs when needed) after `warmupSteps`.
struct DataBenchmarkResult {
  double imagesPerSec = 0;
  int64_t images = 0;
  double seconds = 0;
  int workers = 0;
};
DataBenchmarkResult benchmarkLoader(DataLoader& loader, int64_t steps, int64_t warmupSteps);

}  // namespace singa
