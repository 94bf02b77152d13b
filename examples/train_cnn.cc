// The tutorial's MNIST CNN trained with the library's Trainer: the model (TutorialCnn, the one
// definition the command line and the other examples use too), the options as plain data, a
// hook that prints the loss, and the final evaluation.
//
//   train_cnn [DATA_SPEC] [TRAIN_LIMIT] [TEST_LIMIT]
//   train_cnn fashion-mnist 6000 1000
#include <singa/singa.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace singa;

int main(int argc, char** argv) try {
  const std::string spec = argc > 1 ? argv[1] : "fashion-mnist";
  manualSeed(0);
  MnistData data = loadDataSpec(spec);

  TrainerOptions options;
  options.epochs = 1;
  options.batchSize = 64;
  options.optimizer = "sgd";
  options.lr = 0.01;
  options.momentum = 0.9;
  options.limitTrain = argc > 2 ? std::atoll(argv[2]) : 0;
  options.limitValidation = argc > 3 ? std::atoll(argv[3]) : 0;
  options.quiet = true;  // the hook below reports progress instead of the progress line

  auto model = std::make_shared<TutorialCnn>();
  Trainer trainer(model, options);
  trainer.onStep([](const StepInfo& s) {
    if (s.step % 20 == 0) std::printf("step %lld loss %.4f\n", static_cast<long long>(s.step), s.loss);
  });
  trainer.fit(data.train);

  const EvalResult test = trainer.evaluate(data.test);
  std::printf("test accuracy %.2f%% on %lld images\n", 100.0 * test.accuracy, static_cast<long long>(test.samples));
  return 0;
} catch (const singa::Error& e) {
  std::fprintf(stderr, "train_cnn: error: %s\n", e.what());
  return 1;
}
