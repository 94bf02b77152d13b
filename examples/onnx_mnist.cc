// The ONNX tutorial, in C++: train the MNIST CNN, export it to ONNX, load it back, run inference,
// re-train the imported model, and do transfer learning by cutting the imported graph before its
// final layer and appending new layers (500 -> 128 -> 32 -> 10). Test accuracy after each stage.
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
#include <functional>
#include <string>

using namespace singa;

namespace {

// The tutorial CNN, this time as a Sequential.
std::shared_ptr<Sequential> makeCnn() {
  return std::make_shared<Sequential>(Sequential::NamedModules{
      {"conv1", std::make_shared<Conv2d>(1, 20, 5)},  {"relu1", std::make_shared<ReLU>()},
      {"pool1", std::make_shared<MaxPool2d>(2)},     {"conv2", std::make_shared<Conv2d>(20, 50, 5)},
      {"relu2", std::make_shared<ReLU>()},           {"pool2", std::make_shared<MaxPool2d>(2)},
      {"flatten", std::make_shared<Flatten>()},      {"fc1", std::make_shared<Linear>(800, 500, false)},
      {"relu3", std::make_shared<ReLU>()},           {"fc2", std::make_shared<Linear>(500, 10, false)}});
}

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

struct Data {
  MnistData mnist;
  int64_t trainLimit = 0, testLimit = 0;
};

void train(Module& model, Optimizer& opt, const Data& d, int epochs, const char* stage) {
  model.train();
  DataLoader loader(d.mnist.train.images, d.mnist.train.labels, DataLoaderOptions{64, true, 0, 0, 1, true, d.trainLimit});
  for (int epoch = 0; epoch < epochs; ++epoch) {
    loader.setEpoch(epoch);
    Batch b;
    double last = 0;
    while (loader.next(b)) {
      Tensor loss = crossEntropyLoss(model(b.images), b.labels);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      last = loss.item();
    }
    std::printf("  [%s] epoch %d: last batch loss %.4f\n", stage, epoch + 1, last);
  }
}

double accuracy(Module& model, const Data& d) {
  model.eval();
  autograd::NoGradGuard noGrad;
  DataLoader loader(d.mnist.test.images, d.mnist.test.labels, DataLoaderOptions{500, false, 0, 0, 1, false, d.testLimit});
  loader.setEpoch(0);
  int64_t correct = 0, seen = 0;
  Batch b;
  while (loader.next(b)) {
    correct += countCorrect(model(b.images), b.labels);
    seen += b.labels.numel();
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(seen);
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
  Data d;
  d.mnist = loadDataSpec(argc > 1 ? argv[1] : "fashion-mnist");
  d.trainLimit = argc > 2 ? std::atoll(argv[2]) : 0;
  d.testLimit = argc > 3 ? std::atoll(argv[3]) : 0;
  const std::string out = argc > 4 ? argv[4] : "onnx_mnist_out";
  manualSeed(0);
  const Tensor sample = d.mnist.test.images.slice(0, 0, 8).to(DType::kFloat32) / 255.0;

  // 1. Train the CNN.
  auto cnn = makeCnn();
  SGD sgd(*cnn, 0.01, 0.9);
  train(*cnn, sgd, d, 1, "train");
  std::printf("1. trained CNN:            test accuracy %.2f%%\n", accuracy(*cnn, d));

  // 2. Export it to ONNX, 3. load it back and run inference.
  const std::string cnnPath = exportWithTestData(*cnn, sample, out + "/cnn");
  auto imported = onnxio::prepareFile(cnnPath);
  {
    autograd::NoGradGuard noGrad;
    cnn->eval();
    std::printf("2. exported %s; imported outputs differ by at most %.3g\n", cnnPath.c_str(),
                maxAbsDiff((*cnn)(sample), (*imported)(sample)));
  }
  const double importedAcc = accuracy(*imported, d);
  std::printf("3. imported model:         test accuracy %.2f%%\n", importedAcc);

  // 4. Re-train the imported model (all its initializers are parameters).
  SGD retrain(*imported, 0.005, 0.9);
  train(*imported, retrain, d, 1, "re-train");
  const double retrainedAcc = accuracy(*imported, d);
  std::printf("4. re-trained import:      test accuracy %.2f%%\n", retrainedAcc);

  // 5. Transfer learning: cut before the final layer, append 500 -> 128 -> 32 -> 10, and train
  //    the new layers on top of the frozen imported ones.
  auto base = onnxio::prepareFile(cnnPath);
  base->freeze("");
  TransferModel transfer(base);
  SGD tsgd(transfer, 0.01, 0.9);
  train(transfer, tsgd, d, 1, "transfer");
  const double transferAcc = accuracy(transfer, d);
  std::printf("5. transfer-learned model: test accuracy %.2f%%\n", transferAcc);

  // 6. The transfer-learned model exports and re-imports with the same outputs.
  const std::string tPath = exportWithTestData(transfer, sample, out + "/transfer");
  auto again = onnxio::prepareFile(tPath);
  autograd::NoGradGuard noGrad;
  transfer.eval();
  std::printf("6. exported %s; re-imported outputs differ by at most %.3g\n", tPath.c_str(),
              maxAbsDiff(transfer(sample), (*again)(sample)));
  std::printf("summary: re-training changed accuracy by %+.2f points; transfer learning reached %.2f%% "
              "(chance: 10%%)\n", retrainedAcc - importedAcc, transferAcc);
  return 0;
} catch (const singa::Error& e) {
  std::fprintf(stderr, "onnx_mnist: error: %s\n", e.what());
  return 1;
}
