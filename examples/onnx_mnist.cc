// The ONNX tutorial, in C++: train the MNIST CNN, export it to ONNX, load it back, run inference,
// re-train the imported model, and do transfer learning by cutting the imported graph before its
// final layer and appending new layers (500 -> 128 -> 32 -> 10). Test accuracy after each stage.
// The tutorial's own steps (export, import, inference, the cut) are spelled out; every training
// stage is the library's Trainer.
//
//   onnx_mnist [DATA_SPEC] [TRAIN_LIMIT] [TEST_LIMIT] [OUT_DIR]
//   onnx_mnist fashion-mnist 12800 2000 onnx_out
//
// OUT_DIR receives cnn/model_op17.onnx and transfer/model_op17.onnx, each with a sample input
// (input_0.pb) and this engine's output for it (output_0.pb), as ONNX backend test data.
#include <singa/singa.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using namespace singa;

namespace {

// Transfer learning: the imported graph up to (not including) its final layer, then new layers.
class TransferModel : public Module {
 public:
  explicit TransferModel(std::shared_ptr<onnxio::ImportedModel> imported) {
    base = registerModule("base", std::move(imported));
    head = registerModule("head", std::make_shared<Sequential>(Sequential::NamedModules{
                                      {"fc1", std::make_shared<Linear>(500, 128)}, {"relu1", std::make_shared<ReLU>()},
                                      {"fc2", std::make_shared<Linear>(128, 32)}, {"relu2", std::make_shared<ReLU>()},
                                      {"fc3", std::make_shared<Linear>(32, 10)}}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor features = base->run({x}, /*lastLayers=*/-1)[0];  // [N, 500] before the final MatMul
    return head->forward(features);
  }

  std::shared_ptr<onnxio::ImportedModel> base;
  std::shared_ptr<Sequential> head;
};

// The Trainer runs every training stage: one epoch of SGD with momentum 0.9 at `lr`.
TrainerOptions stage(double lr, int64_t trainLimit, int64_t testLimit) {
  TrainerOptions o;
  o.lr = lr;
  o.momentum = 0.9;
  o.limitTrain = trainLimit;
  o.limitValidation = testLimit;
  o.quiet = true;
  return o;
}

// Largest |a - b| over two equally shaped float tensors.
double maxAbsDiff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.toVector<float>(), y = b.toVector<float>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(static_cast<double>(x[i]) - y[i]));
  return m;
}

// Exports `model` to dir/model_op17.onnx with a sample input and the engine's output for it.
std::string exportWithTestData(Module& model, const Tensor& sample, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/model_op17.onnx";
  onnxio::ExportOptions eo;
  eo.inputNames = {"input"};
  eo.outputNames = {"logits"};
  onnxio::exportModuleToFile(model, {sample}, path, eo);
  model.eval();
  autograd::NoGradGuard noGrad;
  onnxio::writeTensorFile(sample, dir + "/input_0.pb", "input");
  onnxio::writeTensorFile(model(sample), dir + "/output_0.pb", "logits");
  return path;
}

}  // namespace

int main(int argc, char** argv) try {
  const MnistData data = loadDataSpec(argc > 1 ? argv[1] : "fashion-mnist");
  const int64_t trainLimit = argc > 2 ? std::atoll(argv[2]) : 0;
  const int64_t testLimit = argc > 3 ? std::atoll(argv[3]) : 0;
  const std::string out = argc > 4 ? argv[4] : "onnx_mnist_out";
  manualSeed(0);
  const Tensor sample = data.test.images.slice(0, 0, 8).to(DType::kFloat32) / 255.0;

  // 1. Train the CNN.
  auto cnn = std::make_shared<TutorialCnn>();
  Trainer train(cnn, stage(0.01, trainLimit, testLimit));
  train.fit(data.train);
  std::printf("1. trained CNN:            test accuracy %.2f%%\n", 100.0 * train.evaluate(data.test).accuracy);

  // 2. Export it to ONNX, 3. load it back and run inference.
  const std::string cnnPath = exportWithTestData(*cnn, sample, out + "/cnn");
  auto imported = onnxio::prepareFile(cnnPath);
  {
    autograd::NoGradGuard noGrad;
    cnn->eval();
    std::printf("2. exported %s; imported outputs differ by at most %.3g\n", cnnPath.c_str(),
                maxAbsDiff((*cnn)(sample), (*imported)(sample)));
  }
  Trainer retrain(imported, stage(0.005, trainLimit, testLimit));
  const double importedAcc = 100.0 * retrain.evaluate(data.test).accuracy;
  std::printf("3. imported model:         test accuracy %.2f%%\n", importedAcc);

  // 4. Re-train the imported model (all its initializers are parameters).
  retrain.fit(data.train);
  const double retrainedAcc = 100.0 * retrain.evaluate(data.test).accuracy;
  std::printf("4. re-trained import:      test accuracy %.2f%%\n", retrainedAcc);

  // 5. Transfer learning: cut before the final layer, append 500 -> 128 -> 32 -> 10, and train
  //    the new layers on top of the frozen imported ones.
  auto transfer = std::make_shared<TransferModel>(onnxio::prepareFile(cnnPath));
  TrainerOptions transferOptions = stage(0.01, trainLimit, testLimit);
  transferOptions.freeze = {"base"};
  Trainer transferTrainer(transfer, transferOptions);
  transferTrainer.fit(data.train);
  const double transferAcc = 100.0 * transferTrainer.evaluate(data.test).accuracy;
  std::printf("5. transfer-learned model: test accuracy %.2f%%\n", transferAcc);

  // 6. The transfer-learned model exports and re-imports with the same outputs.
  const std::string tPath = exportWithTestData(*transfer, sample, out + "/transfer");
  auto again = onnxio::prepareFile(tPath);
  autograd::NoGradGuard noGrad;
  transfer->eval();
  std::printf("6. exported %s; re-imported outputs differ by at most %.3g\n", tPath.c_str(),
              maxAbsDiff((*transfer)(sample), (*again)(sample)));
  std::printf("summary: re-training changed accuracy by %+.2f points; transfer learning reached %.2f%% "
              "(chance: 10%%)\n", retrainedAcc - importedAcc, transferAcc);
  return 0;
} catch (const singa::Error& e) {
  std::fprintf(stderr, "onnx_mnist: error: %s\n", e.what());
  return 1;
}
