// The Trainer's loop: fit (epochs, steps, validation, best checkpoint, early stopping,
// preemption) and evaluate. Setup, the optimizer and schedule factories, benchmark mode and the
// metrics file are in trainer_setup.cc.
#include "singa/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "singa/autograd/node.h"
#include "singa/comm/communicator.h"
#include "singa/comm/distributed_optimizer.h"
#include "singa/core/error.h"
#include "singa/nn/loss.h"
#include "singa/nn/module.h"
#include "singa/optim/lr_schedule.h"
#include "singa/optim/optimizer.h"
#include "singa/train/checkpointing.h"
#include "singa/train/progress.h"

namespace singa {

using Clock = std::chrono::steady_clock;

Tensor Trainer::input(const Tensor& images) const {
  return transform_ ? transform_(images).to(device_) : images.to(device_);
}

Tensor Trainer::optimizerStep(const Tensor& x, const Tensor& y, Tensor* logitsOut) {
  Tensor logits = model_->forward(x);
  Tensor loss = loss_(logits, y);
  optimizer_->zeroGrad();
  loss.backward();
  optimizer_->step();
  // The schedule counts optimizer updates (with accumulation, one per k micro-batches).
  if (schedule_ && schedule_->lastEpoch() != optimizer_->stepCount()) schedule_->setLastEpoch(optimizer_->stepCount());
  if (logitsOut != nullptr) *logitsOut = logits.detach();
  return loss;
}

std::pair<double, int64_t> Trainer::trainStep(const Batch& b) {
  Tensor y = b.labels.to(device_);
  Tensor logits;
  Tensor loss = optimizerStep(input(b.images), y, &logits);
  return {loss.item(), countCorrect(logits, y)};
}

bool Trainer::agreeOnAll(bool flag) {
  if (worldSize() == 1) return flag;
  Tensor t = Tensor::scalar(flag ? 1.0 : 0.0, DType::kFloat32, device_);
  comm_->allReduce(t);
  return t.item() > 0.0;
}

EvalResult Trainer::evaluate(const MnistSplit& data) {
  return evaluate(std::make_shared<TensorDataset>(data, "validation data"));
}

EvalResult Trainer::evaluate(std::shared_ptr<const Dataset> data) {
  model_->eval();
  autograd::NoGradGuard noGrad;
  DataLoaderOptions lo = loaderOptions();
  lo.batchSize = options_.evalBatchSize;
  lo.shuffle = false;
  lo.dropLast = false;
  lo.limit = options_.limitValidation;
  lo.augment = false;
  lo.rank = 0;
  lo.worldSize = 1;
  DataLoader loader(std::move(data), lo);
  loader.setEpoch(0);
  EvalResult r;
  double lossSum = 0;
  int64_t correct = 0, top5 = 0;
  Batch b;
  while (loader.next(b)) {
    if (b.labels.numel() == 0) continue;  // every sample of the batch was bad (skipBadSamples)
    Tensor logits = model_->forward(input(b.images));
    Tensor labels = b.labels.to(device_);
    lossSum += crossEntropyLoss(logits, labels).item() * static_cast<double>(b.labels.numel());
    correct += countCorrect(logits, labels);
    top5 += countTopK(logits, labels, 5);
    r.samples += b.labels.numel();
  }
  model_->train();
  if (r.samples > 0) {
    r.loss = lossSum / static_cast<double>(r.samples);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.samples);
    r.top5 = static_cast<double>(top5) / static_cast<double>(r.samples);
  }
  reportSkipped(-1, loader.stats());
  return r;
}

TrainResult Trainer::fit(const MnistSplit& train, const MnistSplit* validation) {
  return fit(std::make_shared<TensorDataset>(train, "training data"),
             validation != nullptr ? std::make_shared<TensorDataset>(*validation, "validation data") : nullptr);
}

TrainResult Trainer::fit(std::shared_ptr<const Dataset> train, std::shared_ptr<const Dataset> validation) {
  prepare(std::move(train));
  const bool root = rank() == 0;
  const int world = worldSize();
  DataLoader& loader = *loader_;
  Optimizer& opt = *optimizer_;
  const TrainerOptions& o = options_;
  train::TrainCheckpointer checkpointer(o.checkpoint, o.configJson, o.programName, rank(), world,
                                        [this](bool stop) { return agreeOnAll(stop); });
  const train::ResumePoint start = checkpointer.resume(*model_, opt, schedule_.get(), loader);
  auto reportCheckpoint = [&](const std::string& path) {
    if (onCheckpoint_ && root && !path.empty()) onCheckpoint_(path);
  };

  train::Progress progress(!o.quiet && root, o.logEvery);
  TrainResult r;
  r.epochsRun = start.epoch;
  double trainSeconds = 0;
  int64_t trainImages = 0, epochsSinceBest = 0;
  int64_t bestNextEpoch = 0;  // a resumed run competes with the best epoch of the runs before it
  if (checkpointer.previousBest(r.bestAccuracy, bestNextEpoch)) {
    r.bestEpoch = bestNextEpoch - 1;
    epochsSinceBest = std::max<int64_t>(start.epoch - bestNextEpoch, 0);
  }
  for (int64_t epoch = start.epoch; epoch < o.epochs; ++epoch) {
    loader.setEpoch(epoch, epoch == start.epoch ? start.startStep : 0);
    loader.resetStats();
    progress.startEpoch(epoch, o.epochs, loader.stepsPerEpoch());
    const auto t0 = Clock::now();
    Batch b;
    while (loader.next(b)) {
      if (b.labels.numel() == 0) continue;  // every sample of the batch was bad (skipBadSamples)
      const auto [loss, correct] = trainStep(b);
      progress.step(b.step, loss, correct, b.labels.numel());
      r.finalTrainLoss = loss;
      trainImages += b.labels.numel() * world;
      if (onStep_) {
        onStep_(StepInfo{epoch, b.step, loader.stepsPerEpoch(), epoch * loader.stepsPerEpoch() + b.step, loss,
                         opt.lr(), &b});
      }
      const std::string before = checkpointer.lastPath();
      const bool requested = stopRequest_ && stopRequest_();
      const bool stop = checkpointer.afterStep(*model_, opt, schedule_.get(), loader, requested,
                                               static_cast<bool>(stopRequest_));
      if (checkpointer.lastPath() != before) reportCheckpoint(checkpointer.lastPath());
      if (stop) {
        r.preempted = true;
        r.lastCheckpoint = checkpointer.lastPath();
        return r;
      }
    }
    trainSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    EpochInfo info;
    info.epoch = epoch;
    info.data = loader.stats();
    reportSkipped(epoch, info.data);
    r.skippedSamples += info.data.skipped;
    r.dataWaitSeconds += info.data.waitSeconds;
    if (info.data.busySeconds > 0) r.dataImagesPerSec = info.data.imagesPerSecond();
    info.trainLoss = progress.endEpoch();
    if (world > 1) averageBuffers(*comm_, *model_);  // evaluation and export see every rank's statistics
    if (validation != nullptr && root) {
      info.validation = evaluate(validation);
      info.validated = true;
      std::printf("epoch %lld: train loss %.9g, test loss %.6f, test accuracy %.2f%% (top-5 %.2f%%)\n",
                  static_cast<long long>(epoch + 1), info.trainLoss, info.validation.loss,
                  100.0 * info.validation.accuracy, 100.0 * info.validation.top5);
    } else if (root) {
      std::printf("epoch %lld: train loss %.9g\n", static_cast<long long>(epoch + 1), info.trainLoss);
    }
    std::fflush(stdout);
    checkpointer.afterEpoch(*model_, opt, schedule_.get(), epoch + 1, o.batchSize);
    reportCheckpoint(checkpointer.lastPath());
    r.epochsRun = epoch + 1;
    r.validation = info.validation;
    if (info.validated && (r.bestEpoch < 0 || info.validation.accuracy > r.bestAccuracy)) {
      info.best = true;
      r.bestAccuracy = info.validation.accuracy;
      r.bestEpoch = epoch;
      epochsSinceBest = 0;
      const std::string best = checkpointer.saveBest(*model_, opt, schedule_.get(), epoch + 1, o.batchSize,
                                                     "test_accuracy", info.validation.accuracy);
      if (!best.empty()) r.bestCheckpoint = best;
      reportCheckpoint(best);
    } else if (info.validated) {
      ++epochsSinceBest;
    }
    if (onEpoch_) onEpoch_(info);
    // Rank 0 alone validates: it decides, and every rank stops at the same epoch.
    const bool patienceOut = root && validation != nullptr && o.earlyStoppingPatience > 0 &&
                             epochsSinceBest >= o.earlyStoppingPatience;
    if (o.earlyStoppingPatience > 0 && agreeOnAll(patienceOut) && epoch + 1 < o.epochs) {
      r.stoppedEarly = true;
      if (root) {
        std::printf("early stopping after epoch %lld: test accuracy has not improved for %lld epochs (best %.2f%% "
                    "after epoch %lld)\n",
                    static_cast<long long>(epoch + 1), static_cast<long long>(epochsSinceBest),
                    100.0 * r.bestAccuracy, static_cast<long long>(r.bestEpoch + 1));
      }
      break;
    }
  }
  if (r.epochsRun == start.epoch && validation != nullptr && root) r.validation = evaluate(validation);
  r.lastCheckpoint = checkpointer.lastPath();
  r.trainImagesPerSec = trainSeconds > 0 ? static_cast<double>(trainImages) / trainSeconds : 0.0;
  if (root) writeMetrics(r);
  printCommStats();
  return r;
}

}  // namespace singa
