// The tutorial's MNIST CNN, written against the public C++ API: a model class (layers created in
// the constructor, wired in forward), and a training loop with SGD, then evaluation.
//
//   train_cnn [DATA_SPEC] [TRAIN_LIMIT] [TEST_LIMIT]
//   train_cnn fashion-mnist 6000 1000
#include <singa/singa.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace singa;

class CNN : public Module {
 public:
  explicit CNN(int64_t numClasses = 10) {
    conv1 = registerModule("conv1", std::make_shared<Conv2d>(1, 20, 5));
    conv2 = registerModule("conv2", std::make_shared<Conv2d>(20, 50, 5));
    pool1 = registerModule("pool1", std::make_shared<MaxPool2d>(2));
    pool2 = registerModule("pool2", std::make_shared<MaxPool2d>(2));
    linear1 = registerModule("linear1", std::make_shared<Linear>(800, 500, /*bias=*/false));
    linear2 = registerModule("linear2", std::make_shared<Linear>(500, numClasses, /*bias=*/false));
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = pool1->forward(ops::relu(conv1->forward(x)));
    y = pool2->forward(ops::relu(conv2->forward(y)));
    y = ops::flatten(y, 1);
    y = ops::relu(linear1->forward(y));
    return linear2->forward(y);
  }

 private:
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<MaxPool2d> pool1, pool2;
  std::shared_ptr<Linear> linear1, linear2;
};

int main(int argc, char** argv) try {
  const std::string spec = argc > 1 ? argv[1] : "fashion-mnist";
  const int64_t trainLimit = argc > 2 ? std::atoll(argv[2]) : 0;
  const int64_t testLimit = argc > 3 ? std::atoll(argv[3]) : 0;

  manualSeed(0);
  MnistData data = loadDataSpec(spec);
  CNN model;
  SGD sgd(model, /*lr=*/0.01, /*momentum=*/0.9);
  DataLoader train(data.train.images, data.train.labels, DataLoaderOptions{64, true, 0, 0, 1, true, trainLimit});

  for (int epoch = 0; epoch < 1; ++epoch) {
    train.setEpoch(epoch);
    Batch batch;
    while (train.next(batch)) {
      Tensor logits = model(batch.images);
      Tensor loss = crossEntropyLoss(logits, batch.labels);
      sgd.zeroGrad();
      loss.backward();
      sgd.step();
      if (batch.step % 20 == 0) std::printf("step %lld loss %.4f\n", static_cast<long long>(batch.step), loss.item());
    }
  }

  model.eval();
  autograd::NoGradGuard noGrad;
  DataLoader test(data.test.images, data.test.labels, DataLoaderOptions{500, false, 0, 0, 1, false, testLimit});
  test.setEpoch(0);
  int64_t correct = 0, seen = 0;
  Batch batch;
  while (test.next(batch)) {
    correct += countCorrect(model(batch.images), batch.labels);
    seen += batch.labels.numel();
  }
  std::printf("test accuracy %.2f%% on %lld images\n", 100.0 * static_cast<double>(correct) / static_cast<double>(seen),
              static_cast<long long>(seen));
  return 0;
} catch (const singa::Error& e) {
  std::fprintf(stderr, "train_cnn: error: %s\n", e.what());
  return 1;
}
