#include "launch/train_options.h"

#include "launch/cli_checks.h"

namespace singa::launch {

void addTrainFlags(CLI::App& app, TrainOptions& o) {
  app.add_option("--model", o.model, "Built-in model to train: cnn (the ONNX tutorial CNN) or mlp")
      ->check(CLI::IsMember({"cnn", "mlp"}))
      ->capture_default_str();
  app.add_option("--data", o.data,
                 "Data set: fashion-mnist (from the dataset-fashion-mnist package), mnist:DIR or DIR "
                 "holding the four MNIST IDX files (plain or .gz)")
      ->capture_default_str();
  app.add_option("--epochs", o.epochs, "Training epochs")->check(kNonNegative)->capture_default_str();
  app.add_option("--batch-size", o.batchSize, "Batch size per rank")->check(kPositive)->capture_default_str();
  app.add_option("--lr", o.lr, "Learning rate")->check(kNonNegative)->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_flag("--nesterov", o.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--weight-decay", o.weightDecay, "L2 weight decay (decoupled for adamw)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--lr-schedule", o.lrSchedule, "none, step (x0.1 every epoch) or cosine (over all epochs)")
      ->check(CLI::IsMember({"none", "step", "cosine"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (initialisation, shuffling, dropout)")->capture_default_str();
  app.add_option("--init", o.init,
                 "Weight initialisation of built-in models and appended heads: he (N(0, 2/fan_in), zero "
                 "bias) or torch (PyTorch's default, U(+-1/sqrt(fan_in)))")
      ->check(CLI::IsMember({"he", "torch"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads for kernels and BLAS (0: default)")
      ->check(kThreadCount)
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--limit-train", o.limitTrain, "Use only the first N training images (0: all)")
      ->check(kNonNegative);
  app.add_option("--limit-test", o.limitTest, "Evaluate on only the first N test images (0: all)")
      ->check(kNonNegative);
  app.add_option("--eval-batch-size", o.evalBatchSize, "Batch size for evaluation")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--metrics-json", o.metricsJson, "Write final metrics as JSON to this file");
  app.add_flag("--benchmark", o.benchmark,
               "Time training steps after a warm-up and print images/s and peak resident memory");
  app.add_option("--benchmark-steps", o.benchmarkSteps, "Timed steps in --benchmark mode")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--warmup-steps", o.warmupSteps, "Untimed warm-up steps in --benchmark mode")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--log-every", o.logEvery, "Steps between progress lines when not on a terminal")
      ->check(kPositive)
      ->capture_default_str();
  app.add_flag("--quiet,-q", o.quiet, "Print only the final summary");
  app.add_flag("--no-shuffle", o.noShuffle, "Train in the data file's order (no per-epoch shuffling)");
  addCheckpointFlags(app, o.checkpoint);
  app.add_option("--onnx", o.onnx,
                 "Fine-tune this ONNX model instead of --model (images are adapted to its declared input)")
      ->check(CLI::ExistingFile);
  app.add_option("--last-layers", o.lastLayers,
                 "With --onnx: leave out the final k layers of the imported graph (-k), e.g. -1")
      ->check(CLI::Range(-100000, 0));
  app.add_option("--num-classes", o.numClasses,
                 "With --onnx: append a new Linear head with this many outputs after the (cut) graph")
      ->check(kPositive);
  app.add_option("--export", o.exportPath, "Write the trained model to this ONNX file (rank 0)");
  app.add_option("--input-size", o.inputSize,
                 "With --onnx: feed N x N images instead of the model's declared size (fully convolutional models)")
      ->check(kPositive);
  app.add_option("--opset", o.opset, "ONNX opset of --export (11..17)")
      ->check(CLI::Range(11, 17))
      ->capture_default_str();
}

}  // namespace singa::launch
