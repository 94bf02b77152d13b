// Per-rank sharded mini-batches, loaded on the caller or by a pool of worker threads. The
// permutation is computed from (seed, epoch) only, so all ranks agree without communicating, and
// a resumed run reproduces the same order; augmentations are seeded per sample (source.h).
#include "singa/data/loader.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/core/rng.h"

namespace singa {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kSkippedListed = 8;  // bad samples named in PipelineStats (the rest are counted)
constexpr int kWorkerNice = 10;       // loading threads' nice value (relative weight ~1/10 of a compute thread)

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void merge(PipelineStats& into, const PipelineStats& from) {
  into.samples += from.samples;
  into.busySeconds += from.busySeconds;
  into.waitSeconds += from.waitSeconds;
  into.skipped += from.skipped;
  for (const std::string& s : from.skippedSamples) {
    if (into.skippedSamples.size() < kSkippedListed) into.skippedSamples.push_back(s);
  }
}

}  // namespace

struct DataLoader::Pending {
  Batch batch;
  std::exception_ptr error;
  PipelineStats skips;  ///< the batch's bad samples, counted when the batch is handed out (step order)
};

double PipelineStats::imagesPerSecond() const {
  if (busySeconds <= 0) return 0;
  return static_cast<double>(samples) * static_cast<double>(std::max(workers, 1)) / busySeconds;
}

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

int defaultWorkers(const Dataset& data, int computeThreads) {
  if (!data.decodes()) return 0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(cores - computeThreads, 1, 8);
}

DataLoader::DataLoader(Tensor images, Tensor labels, int64_t batchSize, bool shuffle, uint64_t seed,
                       int rank, int worldSize, bool dropLast)
    : DataLoader(std::move(images), std::move(labels),
                 DataLoaderOptions{batchSize, shuffle, seed, rank, worldSize, dropLast, 0}) {}

DataLoader::DataLoader(Tensor images, Tensor labels, const DataLoaderOptions& options)
    : DataLoader(std::make_shared<TensorDataset>(std::move(images), std::move(labels), "DataLoader"), options) {}

DataLoader::DataLoader(std::shared_ptr<const Dataset> data, const DataLoaderOptions& options)
    : data_(std::move(data)), options_(options) {
  SINGA_CHECK(data_ != nullptr, ValueError, "DataLoader: no data set given");
  SINGA_CHECK(options.batchSize >= 1, ValueError,
              "DataLoader: batch size must be at least 1, got " << options.batchSize);
  SINGA_CHECK(options.worldSize >= 1 && options.rank >= 0 && options.rank < options.worldSize, ValueError,
              "DataLoader: rank " << options.rank << " is outside [0, " << options.worldSize << ")");
  SINGA_CHECK(options.limit >= 0, ValueError, "DataLoader: limit must be >= 0, got " << options.limit);
  SINGA_CHECK(options.workers >= -1 && options.workers <= 256, ValueError,
              "DataLoader: workers must be in [0, 256] (or -1 to pick), got " << options.workers);
  SINGA_CHECK(options.prefetch >= 1 && options.prefetch <= 1024, ValueError,
              "DataLoader: prefetch must be in [1, 1024] batches, got " << options.prefetch);
  workers_ = options.workers >= 0 ? options.workers : defaultWorkers(*data_, numThreads());
  numSamples_ = data_->size();
  if (options.limit > 0 && options.limit < numSamples_) numSamples_ = options.limit;
  SINGA_CHECK(stepsPerEpoch() >= 1, ValueError,
              "DataLoader: " << numSamples_ << " samples over " << options.worldSize << " ranks give "
                             << shardSize() << " per rank, fewer than one batch of " << options.batchSize
                             << "; use a smaller batch size or dropLast=false");
  setEpoch(0);
}

DataLoader::~DataLoader() { stopWorkers(); }

int64_t DataLoader::stepsPerEpoch() const {
  const int64_t shard = shardSize();
  return options_.dropLast ? shard / options_.batchSize
                           : (shard + options_.batchSize - 1) / options_.batchSize;
}

void DataLoader::setEpoch(int64_t epoch, int64_t startStep) {
  SINGA_CHECK(epoch >= 0, ValueError, "DataLoader: epoch must be >= 0, got " << epoch);
  SINGA_CHECK(startStep >= 0 && startStep <= stepsPerEpoch(), ValueError,
              "DataLoader: start step " << startStep << " is outside [0, " << stepsPerEpoch() << "]");
  stopWorkers();
  epoch_ = epoch;
  step_ = startStep;
  nextToLoad_ = startStep;
  done_.clear();
  const std::vector<int64_t> perm = epochPermutation(numSamples_, options_.seed, epoch, options_.shuffle);
  // Strided shard: rank r takes positions r, r + W, r + 2W, ...; the numSamples % W samples at
  // the end of the permutation are left out this epoch (a different set each epoch).
  const int64_t shard = shardSize();
  shard_.resize(static_cast<size_t>(shard));
  for (int64_t k = 0; k < shard; ++k) shard_[k] = perm[options_.rank + k * options_.worldSize];
}

void DataLoader::startWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
  stats_.workers = workers_;
  for (int w = 0; w < workers_; ++w) threads_.emplace_back([this] { workerLoop(); });
}

void DataLoader::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void DataLoader::workerLoop() {
  // Below the compute threads' priority: on a machine whose cores all compute, loading takes the
  // time they leave (between steps, while they wait) rather than preempting a parallel region,
  // and when a step does wait for a batch the core is free for the workers.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kWorkerNice);
  const int64_t steps = stepsPerEpoch();
  for (;;) {
    int64_t s = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || (nextToLoad_ < steps && nextToLoad_ < step_ + options_.prefetch);
      });
      if (stopping_) return;
      s = nextToLoad_++;
    }
    auto pending = std::make_unique<Pending>();
    PipelineStats local;
    try {
      pending->batch = load(s, /*parallel=*/false, &local);
    } catch (...) {
      pending->error = std::current_exception();
    }
    // Workers finish batches in any order; the bad samples are listed when their batch is handed
    // out, so the list reads in epoch order whatever the thread timing.
    pending->skips.skipped = local.skipped;
    pending->skips.skippedSamples = std::move(local.skippedSamples);
    local.skipped = 0;
    local.skippedSamples.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      merge(stats_, local);
      done_[s] = std::move(pending);
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  if (step_ >= stepsPerEpoch()) return false;
  if (workers_ == 0) {
    PipelineStats local;
    out = load(step_, /*parallel=*/true, &local);
    std::lock_guard<std::mutex> lock(mu_);
    merge(stats_, local);
    ++step_;
    return true;
  }
  if (threads_.empty()) startWorkers();
  std::unique_ptr<Pending> pending;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [&] { return done_.count(step_) > 0; };
    if (!ready()) {
      const auto t0 = Clock::now();
      cv_.wait(lock, ready);
      stats_.waitSeconds += secondsSince(t0);
    }
    auto it = done_.find(step_);
    pending = std::move(it->second);
    done_.erase(it);
    merge(stats_, pending->skips);
    ++step_;
  }
  cv_.notify_all();  // a slot is free
  if (pending->error) std::rethrow_exception(pending->error);
  out = std::move(pending->batch);
  return true;
}

Batch DataLoader::batch(int64_t step) const {
  SINGA_CHECK(step >= 0 && step < stepsPerEpoch(), ValueError,
              "DataLoader: step " << step << " is outside [0, " << stepsPerEpoch() << ")");
  return load(step, /*parallel=*/true, nullptr);
}

Batch DataLoader::load(int64_t step, bool parallel, PipelineStats* stats) const {
  const auto t0 = Clock::now();
  const int64_t begin = step * options_.batchSize;
  const int64_t count = std::min<int64_t>(options_.batchSize, shardSize() - begin);
  const Shape sampleShape = data_->sampleShape();
  const DType dtype = data_->sampleDType();
  int64_t sampleNumel = 1;
  for (int64_t d : sampleShape) sampleNumel *= d;
  const size_t sampleBytes = static_cast<size_t>(sampleNumel) * dtypeSize(dtype);

  Shape shape{count};
  shape.insert(shape.end(), sampleShape.begin(), sampleShape.end());
  Tensor images(shape, dtype);
  char* dst = static_cast<char*>(images.rawData());
  const int64_t* idx = shard_.data() + begin;
  std::vector<std::string> errors(static_cast<size_t>(count));
  std::vector<std::exception_ptr> failures(static_cast<size_t>(count));
  auto loadOne = [&](int64_t i) {
    try {
      Generator g = sampleGenerator(options_.seed, epoch_, idx[i]);
      data_->load(idx[i], options_.augment, g, dst + static_cast<size_t>(i) * sampleBytes);
    } catch (const std::exception& e) {
      failures[static_cast<size_t>(i)] = std::current_exception();
      errors[static_cast<size_t>(i)] = e.what();
    }
  };
  if (parallel && count > 1) {
    // Decoding is heavier than copying: smaller chunks then.
    parallelFor(count, data_->decodes() ? 1 : 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) loadOne(i);
    });
  } else {
    for (int64_t i = 0; i < count; ++i) loadOne(i);
  }

  Batch b;
  b.step = step;
  std::vector<int64_t> good;
  good.reserve(static_cast<size_t>(count));
  PipelineStats local;
  for (int64_t i = 0; i < count; ++i) {
    if (!failures[static_cast<size_t>(i)]) {
      good.push_back(i);
      continue;
    }
    if (!options_.skipBadSamples) std::rethrow_exception(failures[static_cast<size_t>(i)]);
    ++local.skipped;
    if (local.skippedSamples.size() < kSkippedListed) local.skippedSamples.push_back(errors[static_cast<size_t>(i)]);
  }
  if (static_cast<int64_t>(good.size()) == count) {
    b.images = std::move(images);
  } else {  // leave the bad samples out
    shape[0] = static_cast<int64_t>(good.size());
    b.images = Tensor(shape, dtype);
    char* packed = static_cast<char*>(b.images.rawData());
    for (size_t k = 0; k < good.size(); ++k) {
      std::memcpy(packed + k * sampleBytes, dst + static_cast<size_t>(good[k]) * sampleBytes, sampleBytes);
    }
  }
  b.skipped = local.skipped;
  b.labels = Tensor({static_cast<int64_t>(good.size())}, DType::kInt64);
  int64_t* lab = b.labels.data<int64_t>();
  b.indices.resize(good.size());
  for (size_t k = 0; k < good.size(); ++k) {
    b.indices[k] = idx[good[k]];
    lab[k] = data_->label(idx[good[k]]);
  }
  if (stats != nullptr) {
    local.samples = count;
    local.busySeconds = secondsSince(t0);
    merge(*stats, local);
  }
  return b;
}

PipelineStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PipelineStats s = stats_;
  s.workers = workers_;
  return s;
}

void DataLoader::resetStats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_ = PipelineStats{};
}

DataBenchmarkResult benchmarkLoader(DataLoader& loader, int64_t steps, int64_t warmupSteps) {
  SINGA_CHECK(steps >= 1 && warmupSteps >= 0, ValueError,
              "data benchmark: steps must be >= 1 and warm-up steps >= 0, got " << steps << " and " << warmupSteps);
  Batch b;
  auto nextBatch = [&] {
    if (!loader.next(b)) {
      loader.setEpoch(loader.epoch() + 1);
      SINGA_CHECK(loader.next(b), ValueError, "data benchmark: the data set has fewer samples than one batch");
    }
  };
  loader.setEpoch(0);
  for (int64_t i = 0; i < warmupSteps; ++i) nextBatch();
  DataBenchmarkResult r;
  r.workers = loader.workers();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    nextBatch();
    r.images += b.labels.numel() + b.skipped;
  }
  r.seconds = secondsSince(t0);
  r.imagesPerSec = r.seconds > 0 ? static_cast<double>(r.images) / r.seconds : 0;
  return r;
}

}  // namespace singa
