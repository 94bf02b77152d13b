// Mini-batches for data-parallel training. Every epoch the sample order is a permutation seeded
// by (seed, epoch) on its own random stream, identical on every rank; rank r takes every worldSize-th sample of it
// (a disjoint shard), and every rank gets the same number of steps so collectives stay in step.
// Images stay uint8 in memory and are converted to float32 in [0, 1] one batch at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "singa/core/tensor.h"

namespace singa {

/// One mini-batch.
struct Batch {
  Tensor images;     ///< float32 [B, C, H, W], uint8 sources scaled to [0, 1]
  Tensor labels;     ///< int64 [B]
  int64_t step = 0;  ///< index of this batch within its epoch
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
};

class DataLoader {
 public:
  /// `images`: uint8 or float32 [N, ...] (uint8 is scaled by 1/255); `labels`: integer [N].
  /// Throws ShapeError/ValueError for mismatched counts or bad options (batchSize < 1,
  /// rank outside [0, worldSize), a shard smaller than one batch with dropLast).
  DataLoader(Tensor images, Tensor labels, const DataLoaderOptions& options);
  DataLoader(Tensor images, Tensor labels, int64_t batchSize, bool shuffle = true, uint64_t seed = 0,
             int rank = 0, int worldSize = 1, bool dropLast = true);

  /// Starts `epoch` (its permutation) at batch `startStep` (to resume mid-epoch).
  void setEpoch(int64_t epoch, int64_t startStep = 0);
  /// Next batch of the current epoch; false once the epoch is done.
  bool next(Batch& batch);
  /// Batch `step` of the current epoch (random access; does not move the cursor).
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

 private:
  Tensor images_;
  Tensor labels_;
  DataLoaderOptions options_;
  int64_t numSamples_ = 0;
  int64_t epoch_ = 0;
  int64_t step_ = 0;
  std::vector<int64_t> shard_;
};

/// The permutation of [0, n) for (seed, epoch): Fisher-Yates driven by a Generator whose state mixes seed and epoch (a stream apart from manualSeed(seed)).
std::vector<int64_t> epochPermutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

}  // namespace singa
