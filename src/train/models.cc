// The built-in models (see models.h).
#include "singa/train/models.h"

#include "singa/ops/ops.h"

namespace singa {

TutorialCnn::TutorialCnn(int64_t numClasses, ImageShape input) {
  // Each stage: a valid 5 x 5 convolution (-4) then a 2 x 2 pool (floor of half).
  const int64_t h = ((input.height - 4) / 2 - 4) / 2, w = ((input.width - 4) / 2 - 4) / 2;
  SINGA_CHECK(input.channels >= 1 && input.height >= 16 && input.width >= 16, ValueError,
              "the tutorial CNN needs images of at least 16 x 16 pixels, got " << input.channels << " x " << input.height
                                                                                 << " x " << input.width);
  conv1_ = registerModule("conv1", std::make_shared<Conv2d>(input.channels, 20, 5));
  pool1_ = registerModule("pool1", std::make_shared<MaxPool2d>(2));
  conv2_ = registerModule("conv2", std::make_shared<Conv2d>(20, 50, 5));
  pool2_ = registerModule("pool2", std::make_shared<MaxPool2d>(2));
  fc1_ = registerModule("fc1", std::make_shared<Linear>(50 * h * w, 500, /*bias=*/false));
  fc2_ = registerModule("fc2", std::make_shared<Linear>(500, numClasses, /*bias=*/false));
}

Tensor TutorialCnn::forward(const Tensor& x) {
  Tensor y = pool1_->forward(ops::relu(conv1_->forward(x)));
  y = pool2_->forward(ops::relu(conv2_->forward(y)));
  y = ops::flatten(y, 1);
  y = ops::relu(fc1_->forward(y));
  return fc2_->forward(y);
}

Mlp::Mlp(int64_t numClasses, ImageShape input) {
  SINGA_CHECK(input.channels >= 1 && input.height >= 1 && input.width >= 1, ValueError,
              "the MLP needs a non-empty input, got " << input.channels << " x " << input.height << " x " << input.width);
  fc1_ = registerModule("fc1", std::make_shared<Linear>(
                                   checkedMul(checkedMul(input.channels, input.height, "Mlp"), input.width, "Mlp"), 256));
  fc2_ = registerModule("fc2", std::make_shared<Linear>(256, numClasses));
}

Tensor Mlp::forward(const Tensor& x) {
  return fc2_->forward(ops::relu(fc1_->forward(ops::flatten(x, 1))));
}

std::vector<std::string> modelNames() { return {"cnn", "mlp"}; }

std::shared_ptr<Module> buildModel(const std::string& name, int64_t numClasses, ImageShape input) {
  if (name == "cnn") return std::make_shared<TutorialCnn>(numClasses, input);
  if (name == "mlp") return std::make_shared<Mlp>(numClasses, input);
  SINGA_THROW(ValueError, "unknown model '" << name << "' (known: cnn, mlp; or import one from ONNX)");
}

}  // namespace singa
