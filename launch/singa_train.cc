// singa_train: trains a model on a data set (IDX, image folders, CIFAR, arrays) and reports metrics. A thin
// mapping from flags to TrainerOptions: the loop, checkpoints, preemption and fine-tuning are the
// library's Trainer (src/train).
//
//   singa_train --model cnn --epochs 1 --batch-size 64 --lr 0.01 --seed 0
//   singa_train --onnx cnn.onnx --last-layers -1 --num-classes 10 --freeze base --head-lr 0.05
//   singa_train --model cnn --benchmark --threads 2
//
// Only main() turns errors into exit codes: 0 success, 1 a runtime error (message printed),
// 2 bad usage, 3 stopped by SIGTERM/SIGINT after writing a checkpoint (resumable: rerun with
// --resume; see src/train/checkpointing.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <memory>

#include "singa/comm/rank_env.h"
#include "launch/cli_main.h"
#include "launch/distributed.h"
#include "launch/train_options.h"
#include "singa/singa.h"

namespace singa::launch {
namespace {

/// singa_train's exit code after a SIGTERM/SIGINT stop that wrote a checkpoint.
constexpr int kExitResumable = 3;

/// --device: "cuda" without an index means the GPU of this rank's local rank (modulo the visible
/// GPUs, so a scheduler that shows each rank one GPU gets cuda:0 everywhere).
Device rankDevice(const std::string& spec) {
  Device dev = Device::parse(spec);
  if (dev.isCuda() && spec.find(':') == std::string::npos) {
    const int count = deviceCount(DeviceType::kCuda);
    if (count > 0) dev = Device::cuda(detectRankInfo().localRank % count);
  }
  return dev;
}

/// --model NAME, or --onnx MODEL [--last-layers -k] [--num-classes N]; `modelInput` becomes the
/// [1, C, H, W] image the model takes, `classes` its number of outputs.
std::shared_ptr<Module> buildTrainModel(const TrainOptions& o, const Dataset& train, Device dev, Shape& modelInput,
                                        int64_t& classes) {
  const Shape s = train.sampleShape();
  SINGA_CHECK(s.size() == 3 && train.sampleDType() == DType::kFloat32, ValueError,
              "data set '" << train.source() << "' holds samples of shape " << s << " (" << dtypeName(train.sampleDType())
                           << "); the built-in models and image fine-tuning take images [C, H, W]");
  modelInput = {1, s[0], s[1], s[2]};
  if (o.onnx.empty()) {
    SINGA_CHECK(o.lastLayers == 0 && o.numClasses == 0, ValueError,
                "--last-layers and --num-classes apply to an imported model: add --onnx MODEL");
    // Built for the data: its image shape, and as many classes as its training labels reach.
    classes = train.numClasses();
    std::shared_ptr<Module> model = buildModel(o.model, classes, ImageShape{s[0], s[1], s[2]});
    model->to(dev);
    return model;
  }
  SINGA_CHECK(o.lastLayers == 0 || o.numClasses > 0, ValueError,
              "--last-layers " << o.lastLayers << " cuts the model's final layers: add --num-classes N for "
                               "the new head that replaces them");
  auto model = loadForFineTuning(o.onnx, o.lastLayers, o.numClasses, modelInput, dev, o.inputSize);
  modelInput = model->inputShape();
  classes = checkClassifier(*model, modelInput, train.labels(), o.onnx);
  return model;
}

void printDataWarnings(const Dataset* data) {
  if (const auto* folder = dynamic_cast<const ImageFolderDataset*>(data)) {
    for (const std::string& w : folder->warnings()) std::fprintf(stderr, "singa_train: warning: %s\n", w.c_str());
  }
}

/// --benchmark-data: the input pipeline alone, as training would run it on this rank.
int benchmarkData(const TrainOptions& o, std::shared_ptr<const Dataset> train, Communicator& comm) {
  DataLoader loader(train, trainLoaderOptions(o.trainer, comm.rank(), comm.worldSize()));
  const DataBenchmarkResult r = benchmarkLoader(loader, o.trainer.benchmarkSteps, o.trainer.benchmarkWarmupSteps);
  if (comm.rank() == 0) {
    std::printf("benchmark-data: %s, batch %lld, %d workers, %lld timed batches after %lld warm-up\n",
                train->source().c_str(), static_cast<long long>(o.trainer.batchSize), r.workers,
                static_cast<long long>(o.trainer.benchmarkSteps), static_cast<long long>(o.trainer.benchmarkWarmupSteps));
    std::printf("data_images_per_sec %.1f\n", r.imagesPerSec);
    if (!o.trainer.metricsJson.empty()) {
      nlohmann::json j{{"data_images_per_sec", r.imagesPerSec}, {"images", r.images}, {"seconds", r.seconds},
                       {"workers", r.workers}, {"batch_size", o.trainer.batchSize}};
      std::ofstream(o.trainer.metricsJson) << j.dump(2) << "\n";
    }
  }
  if (comm.worldSize() > 1) comm.barrier();
  return 0;
}

int run(TrainOptions& o) {
  setNumThreads(o.threads > 0 ? o.threads : 2);
  const Device dev = rankDevice(o.device);
  Communicator& comm = initCommunicator(o.commBackend, dev, o.commTimeoutSeconds);
  manualSeed(o.trainer.seed);
  setDefaultWeightInit(o.init == "torch" ? WeightInit::kTorchUniform : WeightInit::kHeNormal);
  TransformOptions transforms = o.transforms;
  if (!o.normalize.empty()) parseNormalize(o.normalize, transforms.mean, transforms.std);
  DataSpecOptions specOptions;
  specOptions.allowEmptyClasses = o.trainer.skipBadSamples;
  DataSplits data = openDataSpec(o.data, transforms, specOptions);
  // A validation image folder is indexed by the training classes, so the labels agree.
  specOptions.classes = data.train->classNames();
  if (!o.valData.empty()) data.test = openEvalSpec(o.valData, transforms, specOptions);
  const bool root = comm.rank() == 0;
  if (root) {
    printDataWarnings(data.train.get());
    printDataWarnings(data.test.get());
  }
  if (!o.trainer.metricsJson.empty()) prepareOutputFile(o.trainer.metricsJson, "--metrics-json");
  if (o.benchmarkData) return benchmarkData(o, data.train, comm);
  if (!o.exportPath.empty()) prepareOutputFile(o.exportPath, "--export");
  Shape modelInput;
  int64_t classes = 0;
  std::shared_ptr<Module> model = buildTrainModel(o, *data.train, dev, modelInput, classes);
  // Image sources convert to an imported model's channel count as they load (3 -> 1 as well).
  for (Dataset* d : {data.train.get(), data.test.get()}) {
    if (d != nullptr && d->decodes() && transforms.channels == 0 && d->sampleShape()[0] != modelInput[1]) {
      TransformOptions t = d->transforms();
      t.channels = modelInput[1];
      d->setTransforms(t);
    }
  }
  model->train();
  // Validation labels the model has no output for would fail only after a whole epoch.
  if (data.test) checkLabelsBelow(*data.test, classes, o.valData.empty() ? "the test split of --data" : "--val-data");

  TrainerOptions& t = o.trainer;
  const std::string modelName = o.onnx.empty() ? o.model : o.onnx;
  t.shuffle = !o.noShuffle;
  t.overlap = !o.noOverlap;
  t.programName = "singa_train";
  t.configJson = trainConfigJson(o);
  t.metricsExtraJson = nlohmann::json{{"model", modelName}, {"init", o.init}}.dump();
  Trainer trainer(model, t, &comm);
  const Shape dataShape = data.train->sampleShape();
  if (modelInput[1] != dataShape[0] || modelInput[2] != dataShape[1] || modelInput[3] != dataShape[2]) {
    trainer.setInputTransform(
        [modelInput](const Tensor& x) { return adaptImages(x, modelInput[1], modelInput[2], modelInput[3]); });
  }
  trainer.onStep([inject = faultInjector(comm.rank())](const StepInfo& s) { inject(s.globalBatch); });
  if (o.benchmark) {
    trainer.benchmark(data.train);
    if (comm.worldSize() > 1) comm.barrier();
    return 0;
  }
  if (!t.quiet && root) {
    const int64_t limit = t.limitTrain > 0 ? std::min(t.limitTrain, data.train->size()) : data.train->size();
    // On a CPU device the line also says which GEMM and convolution kernels run.
    const std::string kernels = dev.isCpu() ? "; " + cpu::cpuKernelsDescription() : "";
    // On N ranks: the hosts and the ranks on each ("4 ranks on 2 hosts: node-a[0,1] node-b[2,3]").
    const std::string ranks =
        comm.worldSize() > 1 ? std::to_string(comm.worldSize()) + " ranks on " + comm.hostLayout() + ", " : "";
    std::fprintf(stderr,
                 "singa_train: model %s (%lld parameters), data %s (%lld train, %lld test), %sdevice %s, "
                 "%d threads, optimizer %s lr %g%s\n",
                 modelName.c_str(), static_cast<long long>(model->numParameters()), data.description.c_str(),
                 static_cast<long long>(limit), static_cast<long long>(data.test ? data.test->size() : 0),
                 ranks.c_str(), dev.str().c_str(), numThreads(), t.optimizer.c_str(), t.lr, kernels.c_str());
  }
  const TrainResult r = trainer.fit(data.train, data.test);
  if (r.preempted) return kExitResumable;
  if (!o.exportPath.empty() && root) {
    exportTrained(*model, modelInput, o.exportPath, o.opset);
    std::printf("exported %s (ONNX opset %d)\n", o.exportPath.c_str(), o.opset);
  }
  if (root && r.epochsRun == 0 && t.epochs == 0) {
    std::printf("final: test accuracy %.2f%%, test loss %.6f (evaluation only, --epochs 0)\n",
                100.0 * r.validation.accuracy, r.validation.loss);
  } else if (root && !data.test) {
    std::printf("final: no test data (add --val-data), final train loss %.9g, %.0f train images/s\n",
                r.finalTrainLoss, r.trainImagesPerSec);
  } else if (root) {
    std::printf("final: test accuracy %.2f%%, final train loss %.9g, %.0f train images/s\n",
                100.0 * r.validation.accuracy, r.finalTrainLoss, r.trainImagesPerSec);
  }
  std::fflush(stdout);
  if (comm.worldSize() > 1) comm.barrier();  // rank 0 may still be exporting
  return 0;
}

}  // namespace
}  // namespace singa::launch

int main(int argc, char** argv) {
  CLI::App app{"singa_train: train or fine-tune a model on Fashion-MNIST, an image folder, CIFAR or arrays"};
  singa::launch::TrainOptions options;
  singa::launch::addTrainFlags(app, options);
  app.set_version_flag("--version", [] { return singa::launch::versionText("singa_train"); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const singa::Error& e) {  // --version: a bad SINGA_CONV (kernels/cpu/conv_dnnl.h)
    std::fprintf(stderr, "%s: error: %s\n", "singa_train", e.what());
    return 1;
  }
  return singa::launch::runGuarded(
      "singa_train", [&] { return singa::launch::run(options); },
      [](const std::string& line) { singa::launch::abortIfDistributed(line); });
}
