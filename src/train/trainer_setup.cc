// The Trainer's setup (freezing, parameter groups, clipping, the data loader, the distributed
// wrap, the schedule), the optimizer and schedule factories, benchmark mode and the metrics file.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "singa/comm/communicator.h"
#include "singa/comm/distributed_optimizer.h"
#include "singa/core/blas_coretype.h"
#include "singa/core/cpu_features.h"
#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/nn/loss.h"
#include "singa/nn/module.h"
#include "singa/nn/name_pattern.h"
#include "singa/optim/adam.h"
#include "singa/optim/lr_schedule.h"
#include "singa/optim/sgd.h"
#include "singa/train/trainer.h"

namespace singa {

std::unique_ptr<Optimizer> makeOptimizer(const TrainerOptions& o, const Module& model) {
  if (o.optimizer == "sgd") return std::make_unique<SGD>(model, o.lr, o.momentum, 0.0, o.nesterov, o.weightDecay);
  if (o.optimizer == "adam") return std::make_unique<Adam>(model, o.lr, 0.9, 0.999, 1e-8, o.weightDecay);
  if (o.optimizer == "adamw") return std::make_unique<AdamW>(model, o.lr, 0.9, 0.999, 1e-8, o.weightDecay);
  SINGA_THROW(ValueError, "unknown optimizer '" << o.optimizer << "' (known: sgd, adam, adamw)");
}

std::unique_ptr<LRSchedule> makeSchedule(const TrainerOptions& o, Optimizer& optimizer, int64_t stepsPerEpoch) {
  SINGA_CHECK(o.warmupEpochs >= 0 && std::isfinite(o.warmupEpochs) && o.warmupSteps >= 0, ValueError,
              "LR warm-up must be >= 0 epochs and steps, got " << o.warmupEpochs << " epochs and " << o.warmupSteps
                                                               << " steps");
  const int64_t spe = std::max<int64_t>(stepsPerEpoch, 1);
  const int64_t warmup = o.warmupSteps + std::llround(o.warmupEpochs * static_cast<double>(spe));
  if (o.lrSchedule == "step") {
    SINGA_CHECK(o.stepEpochs >= 1, ValueError, "step LR decay: the period must be >= 1 epoch, got " << o.stepEpochs);
    return std::make_unique<StepLR>(optimizer, o.stepEpochs * spe, o.stepGamma, warmup, o.warmupStartFactor);
  }
  if (o.lrSchedule == "cosine") {
    const int64_t tMax = std::max<int64_t>(o.epochs * spe - warmup, 1);
    return std::make_unique<CosineAnnealingLR>(optimizer, tMax, 0.0, warmup, o.warmupStartFactor);
  }
  SINGA_CHECK(o.lrSchedule == "none", ValueError,
              "unknown LR schedule '" << o.lrSchedule << "' (known: none, step, cosine)");
  if (warmup > 0) return std::make_unique<ConstantLR>(optimizer, warmup, o.warmupStartFactor);
  return nullptr;
}

double peakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

namespace {

// The CPU and, on a CPU device, the GEMM and convolution kernels the figures came from
// (core/blas_coretype.h, kernels/cpu/conv_dnnl.h).
void addKernelInfo(nlohmann::json& j, const Device& device) {
  j["cpu"] = describeCpu(detectCpuFeatures());
  if (device.isCpu()) {
    j["gemm"] = describeBlas(repairBlasCoretype());
    j["conv"] = cpu::convBackendDescription();
  }
}

}  // namespace

Trainer::Trainer(std::shared_ptr<Module> model, TrainerOptions options, Communicator* comm)
    : model_(std::move(model)), options_(std::move(options)), comm_(comm) {
  SINGA_CHECK(model_ != nullptr, ValueError, "Trainer: no model given");
  if (comm_ == nullptr) {
    ownedComm_ = makeLocalCommunicator();
    comm_ = ownedComm_.get();
  }
  const auto params = model_->namedParameters();
  if (!params.empty()) device_ = params.front().second.device();
}

Trainer::~Trainer() = default;

int Trainer::rank() const { return comm_->rank(); }
int Trainer::worldSize() const { return comm_->worldSize(); }

void Trainer::setOptimizer(std::unique_ptr<Optimizer> optimizer) {
  SINGA_CHECK(!prepared_, ValueError, "Trainer::setOptimizer: call it before fit() or benchmark()");
  optimizer_ = std::move(optimizer);
}

Optimizer& Trainer::optimizer() {
  if (!optimizer_) optimizer_ = makeOptimizer(options_, *model_);
  return *optimizer_;
}

DataLoaderOptions Trainer::loaderOptions() const { return trainLoaderOptions(options_, rank(), worldSize()); }

DataLoaderOptions trainLoaderOptions(const TrainerOptions& o, int rank, int worldSize) {
  DataLoaderOptions lo;
  lo.batchSize = o.batchSize;
  lo.shuffle = o.shuffle;
  lo.seed = o.seed;
  lo.limit = o.limitTrain;
  lo.rank = rank;
  lo.worldSize = worldSize;
  lo.augment = true;
  lo.workers = o.workers;
  lo.prefetch = o.prefetch > 0 ? o.prefetch : std::max(2, 2 * std::max(o.workers, 1));
  lo.skipBadSamples = o.skipBadSamples;
  return lo;
}

void Trainer::prepare(std::shared_ptr<const Dataset> train) {
  const TrainerOptions& o = options_;
  SINGA_CHECK(train != nullptr, ValueError, "Trainer: no training data given");
  loader_ = std::make_unique<DataLoader>(std::move(train), loaderOptions());
  if (worldSize() > 1) {  // collectives stay in step only when every rank runs as many steps
    const int64_t steps = loader_->stepsPerEpoch();
    std::vector<int64_t> all = comm_->allGather(Tensor::fromVector<int64_t>({steps}, {1})).toVector<int64_t>();
    for (int r = 0; r < worldSize(); ++r) {
      SINGA_CHECK(all[static_cast<size_t>(r)] == all[0], CommError,
                  "data sharding: rank " << r << " has " << all[static_cast<size_t>(r)]
                                         << " steps per epoch but rank 0 has " << all[0]
                                         << "; every rank must load the same data set with the same "
                                            "--batch-size and --limit-train");
    }
  }
  if (prepared_) return;
  prepared_ = true;
  std::vector<std::string> names;
  for (const auto& [name, t] : model_->namedParameters()) names.push_back(name);
  for (const std::string& pattern : o.freeze) {
    for (const std::string& name : selectNames(names, pattern, "--freeze")) model_->setRequiresGrad(name, false);
  }
  Optimizer& opt = optimizer();
  if (o.headLr > 0.0) {
    SINGA_CHECK(opt.lr() > 0.0, ValueError, "--head-lr " << o.headLr << " is set relative to --lr: give --lr > 0");
    opt.setLrMultiplier(o.headPattern, o.headLr / opt.lr());
  }
  if (o.clipGradNorm > 0.0) opt.setMaxGradNorm(o.clipGradNorm);
  if (worldSize() > 1 || o.gradAccumulation > 1) {
    DistributedOptions d;
    // At least a byte, at most 2^62 (beyond any model; keeps the conversion defined).
    auto bytesOf = [](double mib) { return static_cast<size_t>(std::clamp(mib * 1048576.0, 1.0, 0x1p62)); };
    d.bucketBytes = bytesOf(o.bucketMiB);
    d.firstBucketBytes = bytesOf(o.firstBucketMiB);
    SINGA_CHECK(o.gradCompression == "none" || o.gradCompression == "fp16" || o.gradCompression == "bf16",
                ValueError, "unknown gradient compression '" << o.gradCompression << "' (known: none, fp16, bf16)");
    d.compression = o.gradCompression == "fp16"   ? DType::kFloat16
                    : o.gradCompression == "bf16" ? DType::kBFloat16
                                                  : DType::kFloat32;
    d.accumulationSteps = o.gradAccumulation;
    d.overlap = o.overlap;
    auto wrapped = std::make_unique<DistributedOptimizer>(std::move(optimizer_), *comm_, d, model_.get());
    distributed_ = wrapped.get();
    optimizer_ = std::move(wrapped);
  }
  schedule_ = makeSchedule(o, *optimizer_, loader_->stepsPerEpoch() / std::max(o.gradAccumulation, 1));
  if (!loss_) {
    const double smoothing = o.labelSmoothing;
    loss_ = [smoothing](const Tensor& logits, const Tensor& labels) {
      return crossEntropyLoss(logits, labels, smoothing);
    };
  }
}

BenchmarkResult Trainer::benchmark(const MnistSplit& train) {
  return benchmark(std::make_shared<TensorDataset>(train, "training data"));
}

BenchmarkResult Trainer::benchmark(std::shared_ptr<const Dataset> train) {
  prepare(std::move(train));
  const TrainerOptions& o = options_;
  SINGA_CHECK(o.benchmarkSteps > 0, ValueError, "benchmark: benchmarkSteps must be positive, got " << o.benchmarkSteps);
  DataLoader& loader = *loader_;
  Batch b;
  loader.setEpoch(0);
  auto nextBatch = [&]() {
    if (!loader.next(b)) {
      loader.setEpoch(loader.epoch() + 1);
      SINGA_CHECK(loader.next(b), ValueError,
                  "--benchmark: the training set has fewer images than one batch of " << o.batchSize);
    }
  };
  for (int64_t i = 0; i < o.benchmarkWarmupSteps; ++i) {
    nextBatch();
    trainStep(b);
  }
  double seconds = 0;
  if (o.benchmarkIncludeData) {
    // The whole step: waiting for the batch, its transforms and copy to the device, the update.
    for (int64_t i = 0; i < o.benchmarkSteps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      nextBatch();
      trainStep(b);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } else {
    // The training work alone, as a peer framework's benchmark times it: batches transformed
    // (resized) and copied to the device beforehand (up to 64 of them while they take under
    // 32 MiB together, at least one; reused in turn, so the peak memory is the training's, as a
    // peer holding one batch measures it), then the timed steps back to back with no host wait
    // between them (the host queues work while the GPU runs), and one wait for the device at the end.
    std::vector<std::pair<Tensor, Tensor>> staged;
    size_t stagedBytes = 0, batchBytes = 0;
    while (static_cast<int64_t>(staged.size()) < std::min<int64_t>(o.benchmarkSteps, 64) &&
           (staged.empty() || stagedBytes + batchBytes <= (size_t{32} << 20))) {
      nextBatch();
      staged.emplace_back(input(b.images), b.labels.to(device_));
      batchBytes = staged.back().first.numel() * dtypeSize(staged.back().first.dtype());
      stagedBytes += batchBytes;
    }
    deviceBackend(device_.type).synchronize(device_.index);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor loss;
    for (int64_t i = 0; i < o.benchmarkSteps; ++i) {
      const auto& [x, y] = staged[static_cast<size_t>(i) % staged.size()];
      // Detached: the loss keeps its step's graph, and with it every activation saved for
      // backward, alive while it lives; held across the next step it doubled the peak memory.
      loss = optimizerStep(x, y).detach();
    }
    loss.item();  // waits for the last step (and reports any deferred device-side error)
    deviceBackend(device_.type).synchronize(device_.index);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  BenchmarkResult r;
  r.imagesPerSec = static_cast<double>(o.benchmarkSteps * o.batchSize * worldSize()) / seconds;
  r.msPerStep = 1000.0 * seconds / static_cast<double>(o.benchmarkSteps);
  r.peakRssMiB = peakRssMiB();
  printCommStats();
  if (rank() != 0) return r;
  std::printf("benchmark: model %s, batch %lld, %d threads, %lld timed steps after %lld warm-up%s\n",
              model_->typeName().c_str(), static_cast<long long>(o.batchSize), numThreads(),
              static_cast<long long>(o.benchmarkSteps), static_cast<long long>(o.benchmarkWarmupSteps),
              o.benchmarkIncludeData ? ", waits for data included" : "");
  if (device_.isCpu()) std::printf("%s\n", cpu::cpuKernelsDescription().c_str());
  std::printf("train_images_per_sec %.1f\nms_per_step %.3f\npeak_rss_mib %.1f\n", r.imagesPerSec, r.msPerStep,
              r.peakRssMiB);
  if (!o.metricsJson.empty()) {
    nlohmann::json j{{"train_images_per_sec", r.imagesPerSec}, {"ms_per_step", r.msPerStep},
                     {"peak_rss_mib", r.peakRssMiB},           {"threads", numThreads()},
                     {"batch_size", o.batchSize},              {"world_size", worldSize()}};
    addKernelInfo(j, device_);
    std::ofstream(o.metricsJson) << j.dump(2) << "\n";
  }
  return r;
}

void Trainer::writeMetrics(const TrainResult& r) const {
  const TrainerOptions& o = options_;
  if (o.metricsJson.empty()) return;
  nlohmann::json j{{"test_accuracy", r.validation.accuracy},
                   {"test_loss", r.validation.loss},
                   {"final_train_loss", r.finalTrainLoss},
                   {"train_images_per_sec", r.trainImagesPerSec},
                   {"epochs", o.epochs},
                   {"epochs_run", r.epochsRun},
                   {"stopped_early", r.stoppedEarly},
                   {"world_size", worldSize()},
                   {"batch_size", o.batchSize},
                   {"threads", numThreads()},
                   {"seed", o.seed},
                   {"peak_rss_mib", peakRssMiB()}};
  if (r.validation.samples > 0) {
    j["val_top1"] = r.validation.accuracy;
    j["val_top5"] = r.validation.top5;
  }
  addKernelInfo(j, device_);
  j["data_images_per_sec"] = r.dataImagesPerSec;
  j["data_wait_seconds"] = r.dataWaitSeconds;
  j["data_workers"] = loader_ ? loader_->workers() : 0;
  j["skipped_samples"] = r.skippedSamples;
  if (r.bestEpoch >= 0) {
    j["best_test_accuracy"] = r.bestAccuracy;
    j["best_epoch"] = r.bestEpoch + 1;
  }
  const nlohmann::json extra = nlohmann::json::parse(o.metricsExtraJson, nullptr, /*allow_exceptions=*/false);
  SINGA_CHECK(extra.is_object(), ValueError, "TrainerOptions::metricsExtraJson is not a JSON object");
  j.update(extra);
  std::ofstream out(o.metricsJson);
  SINGA_CHECK(out.good(), IoError, "cannot write --metrics-json file '" << o.metricsJson << "'");
  out << j.dump(2) << "\n";
}

void Trainer::reportSkipped(int64_t epoch, const PipelineStats& s) const {
  if (s.skipped == 0) return;
  std::string where = epoch >= 0 ? "in epoch " + std::to_string(epoch + 1) : std::string("in validation");
  if (worldSize() > 1) where += " on rank " + std::to_string(rank());
  std::fprintf(stderr, "%s: warning: skipped %lld bad samples %s (--skip-bad-samples):\n", options_.programName.c_str(),
               static_cast<long long>(s.skipped), where.c_str());
  for (const std::string& line : s.skippedSamples) std::fprintf(stderr, "  %s\n", line.c_str());
  if (static_cast<int64_t>(s.skippedSamples.size()) < s.skipped) {
    std::fprintf(stderr, "  ... and %lld more\n", static_cast<long long>(s.skipped - static_cast<int64_t>(s.skippedSamples.size())));
  }
}

void Trainer::printCommStats() const {
  if (distributed_ == nullptr || rank() != 0 || distributed_->stats().exchanges == 0 || worldSize() == 1) return;
  const CommStats& s = distributed_->stats();
  const double steps = static_cast<double>(s.exchanges);
  const double hidden = s.commSeconds > 0 ? 1.0 - std::min(1.0, s.exposedSeconds / s.commSeconds) : 0.0;
  std::fprintf(stderr,
               "gradient exchange: %d ranks, %lld steps, %.2f MB and %.1f buckets per step, all-reduce %.3f ms "
               "per step, exposed after backward %.3f ms per step, hidden behind backward %.1f%%\n",
               worldSize(), static_cast<long long>(s.exchanges), static_cast<double>(s.bytes) / steps / 1e6,
               static_cast<double>(s.buckets) / steps, 1e3 * s.commSeconds / steps, 1e3 * s.exposedSeconds / steps,
               100.0 * hidden);
}

}  // namespace singa
