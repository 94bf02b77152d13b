// Fine-tuning an imported model (singa_train --onnx MODEL, examples/finetune_onnx.cc): the
// imported graph, optionally cut (--last-layers) with a new Linear head named "head"
// (--num-classes). Images that differ from the model's declared input are adapted in the data
// path (adaptImages: channels replicated, bilinear resize; Trainer::setInputTransform), so the
// model and its re-export keep the imported model's input. And export of any trained model.
#pragma once

#include <memory>
#include <string>

#include "singa/nn/nn.h"
#include "singa/onnx/import.h"

namespace singa {

/// Resizes [N, C, H, W] float images to [N, channels, height, width]: a single input channel is
/// replicated, otherwise the channel counts must match; H x W is resampled bilinearly
/// (half-pixel centres, as ONNX Resize's default). No autograd: this is input preprocessing.
Tensor adaptImages(const Tensor& images, int64_t channels, int64_t height, int64_t width);

class FineTuneModel : public Module {
 public:
  /// `lastLayers` <= 0 as in ImportedModel::run; numClasses > 0 appends Linear(features, numClasses)
  /// after flattening the kept output (its width is found by running one sample through).
  FineTuneModel(std::shared_ptr<onnxio::ImportedModel> base, int lastLayers, int64_t numClasses,
                const Shape& inputShape);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "FineTuneModel"; }
  std::string extraRepr() const override;

  /// [1, C, H, W]: one image as the model takes it.
  const Shape& inputShape() const { return inputShape_; }
  onnxio::ImportedModel& base() { return *base_; }

 private:
  std::shared_ptr<onnxio::ImportedModel> base_;
  std::shared_ptr<Linear> head_;
  int lastLayers_ = 0;
  Shape inputShape_;
};

/// Imports `path` for fine-tuning: the model must have one float input of rank 4 ([N, C, H, W];
/// a symbolic H or W takes the data's size). Errors name the file and the fix.
/// inputSize > 0 feeds inputSize x inputSize images instead of the declared H x W.
std::shared_ptr<FineTuneModel> loadForFineTuning(const std::string& path, int lastLayers, int64_t numClasses,
                                                 const Shape& dataImageShape, Device device, int64_t inputSize = 0);

/// Checks that `model` maps one image of `inputShape` to [1, classes] logits with more classes
/// than the largest label in `labels`, so training cannot fail on its first batch. Errors
/// name `source` (the model file) and the fix (cut and add a head). Returns the class count.
int64_t checkClassifier(Module& model, const Shape& inputShape, const Tensor& labels, const std::string& source);

/// Creates the parent folders of `path` and checks a file can be written there, so a bad
/// --export / --metrics-json path fails before training, not after. Errors name `flag`.
void prepareOutputFile(const std::string& path, const char* flag);

/// Exports `model` (traced on one image of shape sampleImageShape) to `path` at `opset`, with a
/// dynamic batch dimension, input "input" and output "logits".
void exportTrained(Module& model, const Shape& sampleImageShape, const std::string& path, int opset);

}  // namespace singa
