// Built-in models (singa_train --model NAME, the examples). "cnn" is the ONNX tutorial's MNIST CNN,
// defined once here for the command line, the examples and the tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "singa/nn/nn.h"

namespace singa {

/// The tutorial CNN: conv 1->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2, flatten,
/// linear 800->500 (no bias), ReLU, linear 500->10 (no bias). Input [N, 1, 28, 28].
class TutorialCnn : public Module {
 public:
  explicit TutorialCnn(int64_t numClasses = 10);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "TutorialCnn"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<MaxPool2d> pool1_, pool2_;
  std::shared_ptr<Linear> fc1_, fc2_;
};

/// A two-layer perceptron 784 -> 256 -> 10 (a quick baseline).
class Mlp : public Module {
 public:
  explicit Mlp(int64_t numClasses = 10);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Mlp"; }

 private:
  std::shared_ptr<Linear> fc1_, fc2_;
};

/// Names buildModel accepts.
std::vector<std::string> modelNames();
/// Throws ValueError listing the known names.
std::shared_ptr<Module> buildModel(const std::string& name, int64_t numClasses = 10);

}  // namespace singa
