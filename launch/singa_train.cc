// singa_train: trains a model on an IDX (MNIST-format) data set and reports metrics.
//
//   singa_train --model cnn --epochs 1 --batch-size 64 --lr 0.01 --seed 0
//   singa_train --model cnn --benchmark --threads 2
//
// Only main() turns errors into exit codes: 0 success, 1 a runtime error (message printed),
// 2 bad usage, 3 stopped by SIGTERM/SIGINT after writing a checkpoint (resumable: rerun with --resume;
// see launch/checkpointing.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "data/dataset.h"
#include "data/loader.h"
#include "launch/checkpointing.h"
#include "launch/cli_main.h"
#include "launch/distributed.h"
#include "comm/rank_env.h"
#include "launch/models.h"
#include "launch/onnx_model.h"
#include "launch/progress.h"
#include "launch/train_options.h"
#include "nn/nn.h"
#include "optim/adam.h"
#include "optim/lr_schedule.h"
#include "optim/sgd.h"
#include "singa/singa.h"

#ifdef SINGA_USE_CUDA
namespace singa::cuda {
int deviceCount();  // kernels/cuda/cuda_device.h (not included: it needs the CUDA headers)
}  // namespace singa::cuda
#endif

namespace singa::launch {
namespace {

using Clock = std::chrono::steady_clock;

// [1, C, H, W] an imported model takes when it differs from the data's images (--onnx); empty
// when images go in as they are.
Shape gAdaptTo;

/// A batch of images as the model takes them, on `dev`.
Tensor modelInput(const Tensor& images, Device dev) {
  if (gAdaptTo.empty()) return images.to(dev);
  return adaptImages(images, gAdaptTo[1], gAdaptTo[2], gAdaptTo[3]).to(dev);
}

/// Peak resident set size of this process in MiB (VmHWM), or -1 when unknown.
double peakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

std::unique_ptr<Optimizer> makeOptimizer(const TrainOptions& o, const Module& model) {
  if (o.optimizer == "adam") return std::make_unique<Adam>(model, o.lr, 0.9, 0.999, 1e-8, o.weightDecay);
  if (o.optimizer == "adamw") return std::make_unique<AdamW>(model, o.lr, 0.9, 0.999, 1e-8, o.weightDecay);
  return std::make_unique<SGD>(model, o.lr, o.momentum, 0.0, o.nesterov, o.weightDecay);
}

std::unique_ptr<LRSchedule> makeSchedule(const TrainOptions& o, Optimizer& opt) {
  if (o.lrSchedule == "step") return std::make_unique<StepLR>(opt, 1, 0.1);
  if (o.lrSchedule == "cosine") return std::make_unique<CosineAnnealingLR>(opt, std::max<int64_t>(o.epochs, 1));
  return nullptr;
}

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
};

EvalResult evaluate(Module& model, const MnistSplit& split, const TrainOptions& o, Device dev) {
  model.eval();
  autograd::NoGradGuard noGrad;
  DataLoaderOptions lo;
  lo.batchSize = o.evalBatchSize;
  lo.shuffle = false;
  lo.dropLast = false;
  lo.limit = o.limitTest;
  DataLoader loader(split.images, split.labels, lo);
  loader.setEpoch(0);
  EvalResult r;
  double lossSum = 0;
  int64_t correct = 0;
  Batch b;
  while (loader.next(b)) {
    Tensor logits = model.forward(modelInput(b.images, dev));
    Tensor labels = b.labels.to(dev);
    lossSum += crossEntropyLoss(logits, labels).item() * static_cast<double>(b.labels.numel());
    correct += countCorrect(logits, labels);
    r.samples += b.labels.numel();
  }
  model.train();
  if (r.samples > 0) {
    r.loss = lossSum / static_cast<double>(r.samples);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.samples);
  }
  return r;
}

/// One optimisation step; returns the loss value and the number of correct predictions.
std::pair<double, int64_t> trainStep(Module& model, Optimizer& opt, const Batch& b, Device dev) {
  Tensor x = modelInput(b.images, dev);
  Tensor y = b.labels.to(dev);
  Tensor logits = model.forward(x);
  Tensor loss = crossEntropyLoss(logits, y);
  opt.zeroGrad();
  loss.backward();
  opt.step();
  return {loss.item(), countCorrect(logits.detach(), y)};
}

int runBenchmark(Module& model, Optimizer& opt, DataLoader& loader, const TrainOptions& o, Device dev) {
  Batch b;
  loader.setEpoch(0);
  auto nextBatch = [&]() {
    if (!loader.next(b)) {
      loader.setEpoch(loader.epoch() + 1);
      SINGA_CHECK(loader.next(b), ValueError,
                  "--benchmark: the training set has fewer images than one batch of " << o.batchSize);
    }
  };
  for (int64_t i = 0; i < o.warmupSteps; ++i) {
    nextBatch();
    trainStep(model, opt, b, dev);
  }
  double seconds = 0;
  for (int64_t i = 0; i < o.benchmarkSteps; ++i) {
    nextBatch();  // data preparation is not part of the timed step
    auto t0 = Clock::now();
    trainStep(model, opt, b, dev);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double images = static_cast<double>(o.benchmarkSteps * o.batchSize * worldSize());
  if (!isRoot()) return 0;
  std::printf("benchmark: model %s, batch %lld, %d threads, %lld timed steps after %lld warm-up\n",
              o.model.c_str(), static_cast<long long>(o.batchSize), numThreads(),
              static_cast<long long>(o.benchmarkSteps), static_cast<long long>(o.warmupSteps));
  std::printf("train_images_per_sec %.1f\nms_per_step %.3f\npeak_rss_mib %.1f\n", images / seconds,
              1000.0 * seconds / static_cast<double>(o.benchmarkSteps), peakRssMiB());
  if (!o.metricsJson.empty()) {
    nlohmann::json j{{"train_images_per_sec", images / seconds},
                     {"ms_per_step", 1000.0 * seconds / static_cast<double>(o.benchmarkSteps)},
                     {"peak_rss_mib", peakRssMiB()},
                     {"threads", numThreads()},
                     {"batch_size", o.batchSize},
                     {"world_size", worldSize()}};
    std::ofstream(o.metricsJson) << j.dump(2) << "\n";
  }
  return 0;
}

/// --model NAME, or --onnx MODEL [--last-layers -k] [--num-classes N], on `dev`.
std::shared_ptr<Module> buildTrainModel(const TrainOptions& o, const MnistData& data, Device dev) {
  const Shape dataShape = {1, data.train.images.shape()[1], data.train.images.shape()[2],
                           data.train.images.shape()[3]};
  if (o.onnx.empty()) {
    SINGA_CHECK(o.lastLayers == 0 && o.numClasses == 0, ValueError,
                "--last-layers and --num-classes apply to an imported model: add --onnx MODEL");
    std::shared_ptr<Module> model = buildModel(o.model);
    model->to(dev);
    return model;
  }
  SINGA_CHECK(o.lastLayers == 0 || o.numClasses > 0, ValueError,
              "--last-layers " << o.lastLayers << " cuts the model's final layers: add --num-classes N for "
                               "the new head that replaces them");
  auto model = loadForFineTuning(o.onnx, o.lastLayers, o.numClasses, dataShape, dev, o.inputSize);
  if (model->inputShape() != dataShape) gAdaptTo = model->inputShape();
  // The output must be one logit per class of the data.
  int64_t classes = 0;
  {
    autograd::NoGradGuard noGrad;
    model->eval();
    Tensor out = model->forward(Tensor::zeros(model->inputShape(), DType::kFloat32, dev));
    if (out.ndim() == 2) classes = out.shape()[1];
    SINGA_CHECK(out.ndim() == 2, ShapeError,
                "--onnx " << o.onnx << ": the model outputs " << shapeStr(out.shape())
                          << " per image, not [1, classes]; cut it and add a head, e.g. --last-layers -1 "
                             "--num-classes 10");
  }
  const Tensor labels = data.train.labels;
  int64_t maxLabel = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) maxLabel = std::max<int64_t>(maxLabel, labels.at(i));
  SINGA_CHECK(classes > maxLabel, ShapeError,
              "--onnx " << o.onnx << ": the model has " << classes << " outputs but the data has "
                        << maxLabel + 1 << " classes; add --num-classes " << maxLabel + 1
                        << " (with --last-layers -1 to replace its final layer)");
  return model;
}

/// --device: "cuda" without an index means the GPU of this rank's local rank (modulo the visible
/// GPUs, so a scheduler that shows each rank one GPU gets cuda:0 everywhere).
Device rankDevice(const std::string& spec) {
  Device dev = Device::parse(spec);
#ifdef SINGA_USE_CUDA
  if (dev.isCuda() && spec.find(':') == std::string::npos && deviceAvailable(DeviceType::kCuda)) {
    const int count = ::singa::cuda::deviceCount();
    if (count > 0) dev = Device::cuda(detectRankInfo().localRank % count);
  }
#endif
  return dev;
}

int run(const TrainOptions& o) {
  setNumThreads(o.threads > 0 ? o.threads : 2);
  const Device dev = rankDevice(o.device);
  Distributed& dist = initDistributed(dev);
  manualSeed(o.seed);
  setDefaultWeightInit(o.init == "torch" ? WeightInit::kTorchUniform : WeightInit::kHeNormal);
  MnistData data = loadDataSpec(o.data);
  if (!o.exportPath.empty()) prepareOutputFile(o.exportPath, "--export");
  if (!o.metricsJson.empty()) prepareOutputFile(o.metricsJson, "--metrics-json");
  std::shared_ptr<Module> model = buildTrainModel(o, data, dev);
  model->train();
  std::unique_ptr<Optimizer> opt = dist.wrap(makeOptimizer(o, *model), *model);
  std::unique_ptr<LRSchedule> schedule = makeSchedule(o, *opt);

  DataLoaderOptions lo;
  lo.batchSize = o.batchSize;
  lo.shuffle = !o.noShuffle;
  lo.seed = o.seed;
  lo.limit = o.limitTrain;
  lo.rank = dist.rank();
  lo.worldSize = dist.worldSize();
  DataLoader loader(data.train.images, data.train.labels, lo);
  dist.verifySteps(loader.stepsPerEpoch());
  if (o.benchmark) {
    const int rc = runBenchmark(*model, *opt, loader, o, dev);
    dist.finish();
    return rc;
  }
  // Ranks agree to stop on a signal by an all-reduce of the flag (see launch/checkpointing.h).
  TrainCheckpointer checkpointer(o.checkpoint, trainConfigJson(o), dist.rank(), dist.worldSize(), [&](bool stop) {
    Tensor flag = Tensor::scalar(stop ? 1.0 : 0.0, DType::kFloat32, dev);
    dist.comm().allReduce(flag);
    return flag.item() > 0.0;
  });
  const ResumePoint start = checkpointer.resume(*model, *opt, schedule.get(), loader);

  if (!o.quiet && dist.isRoot()) {
    std::fprintf(stderr, "singa_train: model %s (%lld parameters), data %s (%lld train, %lld test), device %s, "
                 "%d threads, optimizer %s lr %g\n",
                 (o.onnx.empty() ? o.model : o.onnx).c_str(), static_cast<long long>(model->numParameters()), data.dir.c_str(),
                 static_cast<long long>(loader.numSamples()), static_cast<long long>(data.test.size()),
                 dev.str().c_str(), numThreads(), o.optimizer.c_str(), o.lr);
  }
  Progress progress(!o.quiet && dist.isRoot(), o.logEvery);
  double lastLoss = 0, trainSeconds = 0;
  int64_t trainImages = 0;
  EvalResult ev;
  for (int64_t epoch = start.epoch; epoch < o.epochs; ++epoch) {
    loader.setEpoch(epoch, epoch == start.epoch ? start.startStep : 0);
    progress.startEpoch(epoch, o.epochs, loader.stepsPerEpoch());
    auto t0 = Clock::now();
    Batch b;
    while (loader.next(b)) {
      auto [loss, correct] = trainStep(*model, *opt, b, dev);
      progress.step(b.step, loss, correct, b.labels.numel());
      lastLoss = loss;
      trainImages += b.labels.numel() * dist.worldSize();
      dist.afterStep(epoch * loader.stepsPerEpoch() + b.step);
      if (checkpointer.afterStep(*model, *opt, schedule.get(), loader)) return kExitResumable;
    }
    trainSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    double meanLoss = progress.endEpoch();
    if (schedule) schedule->step();
    dist.syncBuffers(*model);
    if (dist.isRoot()) ev = evaluate(*model, data.test, o, dev);
    if (dist.isRoot()) std::printf("epoch %lld: train loss %.9g, test loss %.6f, test accuracy %.2f%%\n",
                static_cast<long long>(epoch + 1), meanLoss, ev.loss, 100.0 * ev.accuracy);
    std::fflush(stdout);
    checkpointer.afterEpoch(*model, *opt, schedule.get(), epoch + 1, o.batchSize);
  }
  if (o.epochs == 0 && dist.isRoot()) ev = evaluate(*model, data.test, o, dev);
  if (!o.exportPath.empty() && dist.isRoot()) {
    const Shape sample = gAdaptTo.empty() ? Shape{1, data.train.images.shape()[1], data.train.images.shape()[2],
                                                  data.train.images.shape()[3]}
                                          : gAdaptTo;
    exportTrained(*model, sample, o.exportPath, o.opset);
    std::printf("exported %s (ONNX opset %d)\n", o.exportPath.c_str(), o.opset);
  }
  const double ips = trainSeconds > 0 ? static_cast<double>(trainImages) / trainSeconds : 0.0;
  if (dist.isRoot() && o.epochs == 0) {
    std::printf("final: test accuracy %.2f%%, test loss %.6f (evaluation only, --epochs 0)\n", 100.0 * ev.accuracy, ev.loss);
  } else if (dist.isRoot()) {
    std::printf("final: test accuracy %.2f%%, final train loss %.9g, %.0f train images/s\n", 100.0 * ev.accuracy,
                lastLoss, ips);
  }
  if (!o.metricsJson.empty() && dist.isRoot()) {
    nlohmann::json j{{"test_accuracy", ev.accuracy},   {"test_loss", ev.loss},
                     {"final_train_loss", lastLoss},   {"train_images_per_sec", ips},
                     {"epochs", o.epochs},             {"world_size", dist.worldSize()},
                     {"batch_size", o.batchSize},      {"threads", numThreads()},
                     {"seed", o.seed},                 {"model", o.onnx.empty() ? o.model : o.onnx},
                     {"init", o.init},
                     {"peak_rss_mib", peakRssMiB()}};
    std::ofstream out(o.metricsJson);
    SINGA_CHECK(out.good(), IoError, "cannot write --metrics-json file '" << o.metricsJson << "'");
    out << j.dump(2) << "\n";
  }
  dist.finish();
  return 0;
}

}  // namespace
}  // namespace singa::launch

int main(int argc, char** argv) {
  CLI::App app{"singa_train: train a model on Fashion-MNIST (or any MNIST-format IDX data set)"};
  singa::launch::TrainOptions options;
  singa::launch::addTrainFlags(app, options);
  singa::launch::addDistributedFlags(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return singa::launch::runGuarded(
      "singa_train", [&] { return singa::launch::run(options); },
      [](const std::string& line) { singa::launch::abortIfDistributed(line); });
}
