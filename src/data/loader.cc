// Per-rank sharded mini-batches. The permutation is computed from (seed, epoch) only, so all
// ranks agree without communicating, and a resumed run reproduces the same order.
#include "singa/data/loader.h"

#include <algorithm>
#include <utility>

#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/core/rng.h"

namespace singa {

std::vector<int64_t> epochPermutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  if (!shuffle) return perm;
  // The data order gets its own stream, independent of the parameter-initialisation stream that
  // the same --seed starts (manualSeed(seed)): a different SplitMix64 state per (seed, epoch).
  Generator g(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL + static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(g.nextBelow(static_cast<uint64_t>(i + 1)));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

DataLoader::DataLoader(Tensor images, Tensor labels, int64_t batchSize, bool shuffle, uint64_t seed,
                       int rank, int worldSize, bool dropLast)
    : DataLoader(std::move(images), std::move(labels),
                 DataLoaderOptions{batchSize, shuffle, seed, rank, worldSize, dropLast, 0}) {}

DataLoader::DataLoader(Tensor images, Tensor labels, const DataLoaderOptions& options)
    : options_(options) {
  SINGA_CHECK(images.defined() && labels.defined(), ValueError, "DataLoader: images or labels are undefined");
  SINGA_CHECK(images.dtype() == DType::kUInt8 || images.dtype() == DType::kFloat32, TypeError,
              "DataLoader: images must be uint8 or float32, got " << dtypeName(images.dtype()));
  SINGA_CHECK(isInteger(labels.dtype()), TypeError,
              "DataLoader: labels must be an integer tensor, got " << dtypeName(labels.dtype()));
  SINGA_CHECK(images.ndim() >= 1 && labels.ndim() == 1 && images.dim(0) == labels.dim(0), ShapeError,
              "DataLoader: images " << images.shape() << " and labels " << labels.shape()
                                    << " must have the same number of samples (labels 1-D)");
  SINGA_CHECK(options.batchSize >= 1, ValueError,
              "DataLoader: batch size must be at least 1, got " << options.batchSize);
  SINGA_CHECK(options.worldSize >= 1 && options.rank >= 0 && options.rank < options.worldSize, ValueError,
              "DataLoader: rank " << options.rank << " is outside [0, " << options.worldSize << ")");
  SINGA_CHECK(options.limit >= 0, ValueError, "DataLoader: limit must be >= 0, got " << options.limit);
  // Host copies once (a no-op for CPU tensors already contiguous); batches are gathered from them.
  images_ = images.to(Device::cpu()).contiguous();
  labels_ = labels.to(Device::cpu()).contiguous();
  numSamples_ = images.dim(0);
  if (options.limit > 0 && options.limit < numSamples_) numSamples_ = options.limit;
  SINGA_CHECK(stepsPerEpoch() >= 1, ValueError,
              "DataLoader: " << numSamples_ << " samples over " << options.worldSize << " ranks give "
                             << shardSize() << " per rank, fewer than one batch of " << options.batchSize
                             << "; use a smaller batch size or dropLast=false");
  setEpoch(0);
}

int64_t DataLoader::stepsPerEpoch() const {
  const int64_t shard = shardSize();
  return options_.dropLast ? shard / options_.batchSize
                           : (shard + options_.batchSize - 1) / options_.batchSize;
}

void DataLoader::setEpoch(int64_t epoch, int64_t startStep) {
  SINGA_CHECK(epoch >= 0, ValueError, "DataLoader: epoch must be >= 0, got " << epoch);
  SINGA_CHECK(startStep >= 0 && startStep <= stepsPerEpoch(), ValueError,
              "DataLoader: start step " << startStep << " is outside [0, " << stepsPerEpoch() << "]");
  epoch_ = epoch;
  step_ = startStep;
  const std::vector<int64_t> perm = epochPermutation(numSamples_, options_.seed, epoch, options_.shuffle);
  // Strided shard: rank r takes positions r, r + W, r + 2W, ...; the numSamples % W samples at
  // the end of the permutation are left out this epoch (a different set each epoch).
  const int64_t shard = shardSize();
  shard_.resize(static_cast<size_t>(shard));
  for (int64_t k = 0; k < shard; ++k) shard_[k] = perm[options_.rank + k * options_.worldSize];
}

bool DataLoader::next(Batch& out) {
  if (step_ >= stepsPerEpoch()) return false;
  out = batch(step_);
  ++step_;
  return true;
}

Batch DataLoader::batch(int64_t step) const {
  SINGA_CHECK(step >= 0 && step < stepsPerEpoch(), ValueError,
              "DataLoader: step " << step << " is outside [0, " << stepsPerEpoch() << ")");
  const int64_t begin = step * options_.batchSize;
  const int64_t count = std::min<int64_t>(options_.batchSize, shardSize() - begin);
  const int64_t sampleSize = numSamples_ > 0 ? images_.numel() / images_.dim(0) : 0;

  Shape shape = images_.shape();
  shape[0] = count;
  Batch b;
  b.step = step;
  b.images = Tensor(shape, DType::kFloat32);
  b.labels = Tensor({count}, DType::kInt64);
  float* dst = b.images.data<float>();
  const int64_t* idx = shard_.data() + begin;
  if (images_.dtype() == DType::kUInt8) {
    const uint8_t* src = images_.data<uint8_t>();
    parallelFor(count, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const uint8_t* s = src + idx[i] * sampleSize;
        float* d = dst + i * sampleSize;
        for (int64_t k = 0; k < sampleSize; ++k) d[k] = static_cast<float>(s[k]) / 255.0f;
      }
    });
  } else {
    const float* src = images_.data<float>();
    for (int64_t i = 0; i < count; ++i) {
      std::copy(src + idx[i] * sampleSize, src + (idx[i] + 1) * sampleSize, dst + i * sampleSize);
    }
  }
  int64_t* lab = b.labels.data<int64_t>();
  SINGA_DISPATCH_NUMERIC(labels_.dtype(), T, {
    const T* src = labels_.data<T>();
    for (int64_t i = 0; i < count; ++i) lab[i] = static_cast<int64_t>(src[idx[i]]);
  });
  return b;
}

}  // namespace singa
