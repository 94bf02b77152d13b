// singa_train's flags, bound to TrainOptions (see train_options.h), and the configuration JSON
// recorded in checkpoints.
#include "launch/train_options.h"

#include <nlohmann/json.hpp>

#include "launch/cli_checks.h"

namespace singa::launch {
namespace {

void addCheckpointFlags(CLI::App& app, CheckpointOptions& o) {
  auto* dir = app.add_option("--checkpoint-dir", o.dir,
                             "Write checkpoints (safetensors + meta.json) into this directory at each epoch end, "
                             "and on SIGTERM/SIGINT before exiting with code 3 (resumable)");
  app.add_option("--checkpoint-every", o.every, "Also write a checkpoint every N optimizer steps (0: epoch ends only)")
      ->check(kNonNegative)
      ->needs(dir)
      ->capture_default_str();
  app.add_option("--keep-checkpoints", o.keep, "Keep the newest K checkpoints")
      ->check(kPositive)
      ->needs(dir)
      ->capture_default_str();
  app.add_flag("--resume", o.resume,
               "Continue from the newest valid checkpoint in --checkpoint-dir (damaged ones are reported and "
               "skipped; starts afresh when there is none)")
      ->needs(dir);
  app.add_flag("--keep-best", o.keepBest,
               "Also keep CHECKPOINT_DIR/best, the checkpoint of the epoch with the best test accuracy")
      ->needs(dir);
}

void addFineTuneFlags(CLI::App& app, TrainerOptions& o) {
  app.add_option("--freeze", o.freeze,
                 "Keep the parameters matching this name pattern fixed (repeatable): a name, a prefix such as "
                 "'base' (the whole imported graph under --onnx) or a glob such as '*conv*'");
  app.add_option("--head-lr", o.headLr,
                 "Learning rate of the head (the parameters --head selects; the new head under --onnx), "
                 "scheduled like --lr")
      ->check(kPositive);
  app.add_option("--head", o.headPattern, "Name pattern of the parameters --head-lr applies to")->capture_default_str();
  app.add_option("--clip-grad-norm", o.clipGradNorm, "Clip the gradients to this global L2 norm (0: off)")
      ->check(kNonNegative);
  app.add_option("--label-smoothing", o.labelSmoothing,
                 "Cross-entropy against targets smoothed by EPS (PyTorch's label_smoothing), 0 <= EPS < 1")
      ->check(CLI::Range(0.0, 0.999999));
  app.add_option("--warmup-epochs", o.warmupEpochs,
                 "Ramp the learning rate linearly from 0.1 x --lr over this many epochs (fractions allowed), "
                 "then follow --lr-schedule")
      ->check(kNonNegative);
  app.add_option("--lr-warmup-steps", o.warmupSteps, "Warm-up length in optimizer steps (added to --warmup-epochs)")
      ->check(kNonNegative);
  app.add_option("--early-stopping", o.earlyStoppingPatience,
                 "Stop when the test accuracy has not improved for PATIENCE epochs (0: never)")
      ->check(kNonNegative);
}

void addDistributedFlags(CLI::App& app, TrainOptions& o) {
  TrainerOptions& t = o.trainer;
  app.add_option("--comm", o.commBackend, "Communicator on N ranks: auto, mpi, nccl (local for one process)")
      ->check(CLI::IsMember({"auto", "local", "mpi", "nccl"}));
  app.add_option("--bucket-mb", t.bucketMiB, "Gradient bucket size in MiB for the all-reduce (N ranks)")
      ->check(kPositive);
  app.add_option("--first-bucket-mb", t.firstBucketMiB,
                 "Size in MiB of the first gradient bucket (the last layers'), small so the all-reduce starts early "
                 "in backward (N ranks)")
      ->check(kPositive);
  app.add_option("--grad-compression", t.gradCompression, "Exchange gradients as none, fp16 or bf16 (N ranks)")
      ->check(CLI::IsMember({"none", "fp16", "bf16"}));
  app.add_option("--grad-accumulation", t.gradAccumulation,
                 "Micro-batches whose gradients are summed before each update (effective batch x k)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--comm-timeout", o.commTimeoutSeconds,
                 "Seconds a collective may wait for the other ranks before the job is aborted (<= 0: never)");
  app.add_flag("--no-overlap", o.noOverlap, "All-reduce gradients after backward instead of during it");
}

void addDataFlags(CLI::App& app, TrainOptions& o) {
  TransformOptions& t = o.transforms;
  app.add_option("--resize", t.resize, "Resize images so the shorter side is N pixels (antialiased bilinear)")
      ->check(kPositive);
  app.add_option("--crop", t.crop, "Crop N x N pixels from the center (or at random with --random-crop, training only)")
      ->check(kPositive);
  app.add_flag("--random-crop", t.randomCrop, "Crop at a random position while training (center crop to validate)")
      ->needs(app.get_option("--crop"));
  app.add_flag("--hflip", t.hflip, "Flip training images horizontally with probability 0.5");
  app.add_option("--channels", t.channels,
                 "Convert images to 1 (grayscale) or 3 (RGB) channels (default: an imported model's input; else "
                 "3 when the folder holds colour images)")
      ->check(CLI::IsMember({1, 3}));
  app.add_option("--normalize", o.normalize,
                 "Normalize each channel after scaling to [0, 1]: imagenet, or M1,M2,M3:S1,S2,S3 (means:stds)");
  app.add_option("--workers", o.trainer.workers,
                 "Threads decoding and transforming batches ahead of training (-1: the cores left after --threads "
                 "for image folders, none for data in memory)")
      ->check(CLI::Range(-1, 256))
      ->capture_default_str();
  app.add_option("--prefetch", o.trainer.prefetch, "Batches loaded ahead by the workers (0: twice the workers)")
      ->check(CLI::Range(0, 1024));
  app.add_flag("--skip-bad-samples", o.trainer.skipBadSamples,
               "Leave out images that cannot be read or decoded (and empty class folders), with a warning that "
               "counts them per epoch, instead of stopping with an error");
  app.add_flag("--benchmark-data", o.benchmarkData,
               "Time the input pipeline alone (decode and transforms, no model) for --benchmark-steps batches "
               "and print images/s");
  app.add_flag("--benchmark-include-data", o.trainer.benchmarkIncludeData,
               "In --benchmark mode, count the wait for each batch in the timed step");
}

}  // namespace

std::string trainConfigJson(const TrainOptions& o) {
  const TrainerOptions& t = o.trainer;
  nlohmann::json j{{"model", o.model},           {"data", o.data}, {"val_data", o.valData},
                   {"epochs", t.epochs},         {"batch_size", t.batchSize},
                   {"lr", t.lr},                 {"momentum", t.momentum},
                   {"nesterov", t.nesterov},     {"weight_decay", t.weightDecay},
                   {"optimizer", t.optimizer},   {"lr_schedule", t.lrSchedule},
                   {"seed", t.seed},             {"device", o.device},
                   {"limit_train", t.limitTrain}, {"init", o.init},
                   {"resize", o.transforms.resize}, {"crop", o.transforms.crop},
                   {"random_crop", o.transforms.randomCrop}, {"hflip", o.transforms.hflip},
                   {"normalize", o.normalize}};
  return j.dump();
}


void addTrainFlags(CLI::App& app, TrainOptions& o) {
  app.add_option("--model", o.model, "Built-in model to train: cnn (the ONNX tutorial CNN) or mlp")
      ->check(CLI::IsMember({"cnn", "mlp"}))
      ->capture_default_str();
  app.add_option("--data", o.data,
                 "Data set: fashion-mnist (from the dataset-fashion-mnist package), mnist:DIR or DIR "
                 "holding the four MNIST IDX files (plain or .gz), imagefolder:DIR or DIR of class folders "
                 "(DIR/<class>/*.jpg|png; DIR/train and DIR/val are the splits when present), cifar10:DIR or "
                 "cifar100:DIR (the binary version's files), npy:IMAGES.npy,LABELS.npy or "
                 "safetensors:FILE[:IMAGES_KEY,LABELS_KEY] (a training set only: add --val-data)")
      ->capture_default_str();
  app.add_option("--val-data", o.valData,
                 "Validation data set, any --data spec (its test split, or its only split for npy: and safetensors:): "
                 "replaces the test split of --data");
  addDataFlags(app, o);
  app.add_option("--epochs", o.trainer.epochs, "Training epochs")->check(kNonNegative)->capture_default_str();
  app.add_option("--batch-size", o.trainer.batchSize, "Batch size per rank")->check(kPositive)->capture_default_str();
  app.add_option("--lr", o.trainer.lr, "Learning rate")->check(kNonNegative)->capture_default_str();
  app.add_option("--momentum", o.trainer.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_flag("--nesterov", o.trainer.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--weight-decay", o.trainer.weightDecay, "L2 weight decay (decoupled for adamw)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--optimizer", o.trainer.optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--lr-schedule", o.trainer.lrSchedule,
                 "none, step (x0.1 every epoch) or cosine (to 0 over all epochs, per step); after any warm-up")
      ->check(CLI::IsMember({"none", "step", "cosine"}))
      ->capture_default_str();
  app.add_option("--seed", o.trainer.seed, "Random seed (initialisation, shuffling, dropout)")->capture_default_str();
  app.add_option("--init", o.init,
                 "Weight initialisation of built-in models and appended heads: he (N(0, 2/fan_in), zero "
                 "bias) or torch (PyTorch's default, U(+-1/sqrt(fan_in)))")
      ->check(CLI::IsMember({"he", "torch"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads for kernels and BLAS (0: default)")
      ->check(kThreadCount)
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--limit-train", o.trainer.limitTrain, "Use only the first N training images (0: all)")
      ->check(kNonNegative);
  app.add_option("--limit-test", o.trainer.limitValidation, "Evaluate on only the first N test images (0: all)")
      ->check(kNonNegative);
  app.add_option("--eval-batch-size", o.trainer.evalBatchSize, "Batch size for evaluation")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--metrics-json", o.trainer.metricsJson, "Write final metrics as JSON to this file");
  app.add_flag("--benchmark", o.benchmark,
               "Time training steps after a warm-up and print images/s and peak resident memory");
  app.add_option("--benchmark-steps", o.trainer.benchmarkSteps, "Timed steps in --benchmark mode")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--warmup-steps", o.trainer.benchmarkWarmupSteps, "Untimed warm-up steps in --benchmark mode")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--log-every", o.trainer.logEvery, "Steps between progress lines when not on a terminal")
      ->check(kPositive)
      ->capture_default_str();
  app.add_flag("--quiet,-q", o.trainer.quiet, "Print only the final summary");
  app.add_flag("--no-shuffle", o.noShuffle, "Train in the data file's order (no per-epoch shuffling)");
  addCheckpointFlags(app, o.trainer.checkpoint);
  addFineTuneFlags(app, o.trainer);
  addDistributedFlags(app, o);
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
