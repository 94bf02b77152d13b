// singa_train's options and their command-line flags (CLI11).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "launch/checkpointing.h"

namespace singa::launch {

struct TrainOptions {
  std::string model = "cnn";
  std::string data = "fashion-mnist";
  int64_t epochs = 1;
  int64_t batchSize = 64;
  double lr = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  double weightDecay = 0.0;
  std::string optimizer = "sgd";
  std::string lrSchedule = "none";
  uint64_t seed = 0;
  std::string init = "he";  // weight initialisation of built-in models and new heads: he | torch
  int threads = 0;  // 0: the default (see README: fastest measured setting)
  std::string device = "cpu";
  int64_t limitTrain = 0;
  int64_t limitTest = 0;
  int64_t evalBatchSize = 500;
  std::string metricsJson;
  bool benchmark = false;
  int64_t benchmarkSteps = 100;
  int64_t warmupSteps = 10;
  int64_t logEvery = 100;
  bool quiet = false;
  bool noShuffle = false;    // --no-shuffle: the file's order every epoch
  CheckpointOptions checkpoint;  // --checkpoint-dir, --checkpoint-every, --keep-checkpoints, --resume
  // Imported models and export (ONNX).
  std::string onnx;          // --onnx MODEL: fine-tune this model instead of --model
  int lastLayers = 0;        // --last-layers -k: cut the final k layers of the imported graph
  int64_t numClasses = 0;    // --num-classes N: append a new Linear head with N outputs
  std::string exportPath;    // --export PATH: write the trained model as ONNX
  int opset = 17;            // --opset for --export
  int64_t inputSize = 0;     // --input-size N: feed N x N images to the imported model
};

/// Registers every flag on `app`, bound to `o`.
void addTrainFlags(CLI::App& app, TrainOptions& o);

}  // namespace singa::launch
