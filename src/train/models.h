// Built-in models (singa_train --model NAME, the examples). "cnn" is the ONNX tutorial's MNIST CNN,
// defined once here for the command line, the examples and the tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "singa/nn/nn.h"

namespace singa {

/// The input a built-in model is built for: channels, height, width (MNIST's 1 x 28 x 28 by default).
struct ImageShape {
  int64_t channels = 1, height = 28, width = 28;
};

/// The tutorial CNN: conv C->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2, flatten,
/// linear 800->500 (no bias), ReLU, linear 500->10 (no bias) for input [N, 1, 28, 28]; other
/// inputs (CIFAR's 3 x 32 x 32) change conv1's input channels and fc1's input features.
/// ValueError for images under 16 x 16 (nothing left after the two conv + pool stages).
class TutorialCnn : public Module {
 public:
  explicit TutorialCnn(int64_t numClasses = 10, ImageShape input = {});
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "TutorialCnn"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<MaxPool2d> pool1_, pool2_;
  std::shared_ptr<Linear> fc1_, fc2_;
};

/// A two-layer perceptron C*H*W (784 for MNIST) -> 256 -> 10 (a quick baseline).
class Mlp : public Module {
 public:
  explicit Mlp(int64_t numClasses = 10, ImageShape input = {});
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Mlp"; }

 private:
  std::shared_ptr<Linear> fc1_, fc2_;
};

/// Names buildModel accepts.
std::vector<std::string> modelNames();
/// Throws ValueError listing the known names.
std::shared_ptr<Module> buildModel(const std::string& name, int64_t numClasses = 10, ImageShape input = {});

}  // namespace singa
