// singa_train's options and their command-line flags (CLI11). Everything about how to train is
// a TrainerOptions (src/train); the rest says what to train on: model, data, device, export.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "singa/data/transforms.h"
#include "singa/train/trainer_options.h"

namespace singa::launch {

struct TrainOptions {
  TrainerOptions trainer;    // --epochs, --lr, --checkpoint-dir, --freeze, ... (see addTrainFlags)
  std::string model = "cnn";
  std::string data = "fashion-mnist";
  std::string valData;  ///< a separate validation set (any data spec); "" = the test split of data
  TransformOptions transforms;  ///< --resize, --crop, --random-crop, --hflip (mean/std from --normalize)
  std::string normalize;        ///< --normalize imagenet | M1,M2,M3:S1,S2,S3
  bool benchmarkData = false;   ///< --benchmark-data: time the input pipeline alone
  std::string init = "he";   // weight initialisation of built-in models and new heads: he | torch
  int threads = 0;           // 0: the default (see README: fastest measured setting)
  std::string device = "cpu";
  bool benchmark = false;
  bool noShuffle = false;    // --no-shuffle: the file's order every epoch
  // Imported models and export (ONNX).
  std::string onnx;          // --onnx MODEL: fine-tune this model instead of --model
  int lastLayers = 0;        // --last-layers -k: cut the final k layers of the imported graph
  int64_t numClasses = 0;    // --num-classes N: append a new Linear head with N outputs
  std::string exportPath;    // --export PATH: write the trained model as ONNX
  int opset = 17;            // --opset for --export
  int64_t inputSize = 0;     // --input-size N: feed N x N images to the imported model
  // N ranks.
  std::string commBackend = "auto";
  double commTimeoutSeconds = 300.0;
  bool noOverlap = false;
};

/// Registers every flag on `app`, bound to `o`.
void addTrainFlags(CLI::App& app, TrainOptions& o);
/// The run's configuration as a JSON object (recorded in checkpoints).
std::string trainConfigJson(const TrainOptions& o);

}  // namespace singa::launch
