// The fine-tuning model, image adaptation, output checks and export (see finetune_model.h).
#include "singa/train/finetune_model.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/onnx/export.h"
#include "singa/onnx/model_io.h"
#include "singa/ops/ops.h"

namespace singa {

Tensor adaptImages(const Tensor& images, int64_t channels, int64_t height, int64_t width) {
  SINGA_CHECK(images.ndim() == 4, ShapeError, "adaptImages: expected [N, C, H, W] images, got " << shapeStr(images.shape()));
  Tensor src = images.to(Device::cpu()).to(DType::kFloat32).contiguous();
  const int64_t n = src.shape()[0], c = src.shape()[1], h = src.shape()[2], w = src.shape()[3];
  SINGA_CHECK(c == channels || c == 1, ShapeError,
              "the model takes " << channels << "-channel images but the data has " << c
                                 << " channels (only 1-channel images are replicated)");
  if (c == channels && h == height && w == width) return images;
  Tensor out = Tensor::empty({n, channels, height, width});
  const float* ps = src.data<float>();
  float* po = out.data<float>();
  const double sy = static_cast<double>(h) / static_cast<double>(height);
  const double sx = static_cast<double>(w) / static_cast<double>(width);
  for (int64_t img = 0; img < n; ++img) {
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* plane = ps + (img * c + (c == 1 ? 0 : ch)) * h * w;
      float* dst = po + (img * channels + ch) * height * width;
      for (int64_t oy = 0; oy < height; ++oy) {
        // Half-pixel centres, clamped at the borders (ONNX Resize linear, half_pixel).
        const double fy = std::clamp((static_cast<double>(oy) + 0.5) * sy - 0.5, 0.0, static_cast<double>(h - 1));
        const int64_t y0 = static_cast<int64_t>(fy), y1 = std::min(y0 + 1, h - 1);
        const float wy = static_cast<float>(fy - static_cast<double>(y0));
        for (int64_t ox = 0; ox < width; ++ox) {
          const double fx = std::clamp((static_cast<double>(ox) + 0.5) * sx - 0.5, 0.0, static_cast<double>(w - 1));
          const int64_t x0 = static_cast<int64_t>(fx), x1 = std::min(x0 + 1, w - 1);
          const float wx = static_cast<float>(fx - static_cast<double>(x0));
          const float top = plane[y0 * w + x0] * (1 - wx) + plane[y0 * w + x1] * wx;
          const float bottom = plane[y1 * w + x0] * (1 - wx) + plane[y1 * w + x1] * wx;
          dst[oy * width + ox] = top * (1 - wy) + bottom * wy;
        }
      }
    }
  }
  return out.to(images.device());
}

FineTuneModel::FineTuneModel(std::shared_ptr<onnxio::ImportedModel> base, int lastLayers, int64_t numClasses,
                             const Shape& inputShape)
    : lastLayers_(lastLayers), inputShape_(inputShape) {
  SINGA_CHECK(lastLayers <= 0, ValueError,
              "--last-layers must be 0 or negative (-k leaves out the final k layers), got " << lastLayers);
  SINGA_CHECK(-lastLayers < base->numLayers(), ValueError,
              "--last-layers " << lastLayers << " would cut every layer: the model has " << base->numLayers()
                               << " layers");
  base_ = registerModule("base", std::move(base));
  if (numClasses > 0) {
    // The head's width: run one sample through the kept layers.
    Tensor features;
    {
      autograd::NoGradGuard noGrad;
      const bool wasTraining = base_->isTraining();
      base_->eval();
      features = base_->run({Tensor::zeros(inputShape_, DType::kFloat32, base_->device())}, lastLayers_)[0];
      if (wasTraining) base_->train();
    }
    SINGA_CHECK(features.ndim() >= 1 && features.numel() > 0, ShapeError,
                "the cut model's output " << shapeStr(features.shape()) << " cannot feed a Linear head");
    const int64_t width = features.numel() / std::max<int64_t>(features.shape()[0], 1);
    head_ = registerModule("head", std::make_shared<Linear>(width, numClasses));
    head_->to(base_->device());
  }
}

Tensor FineTuneModel::forward(const Tensor& x) {
  Tensor y = base_->run({x}, lastLayers_)[0];
  if (head_) y = head_->forward(ops::flatten(y, 1));
  return y;
}

std::string FineTuneModel::extraRepr() const {
  std::ostringstream s;
  s << "input " << shapeStr(inputShape_) << ", last_layers " << lastLayers_ << (head_ ? ", new head" : "");
  return s.str();
}

std::shared_ptr<FineTuneModel> loadForFineTuning(const std::string& path, int lastLayers, int64_t numClasses,
                                                 const Shape& dataImageShape, Device device, int64_t inputSize) {
  onnxio::PrepareOptions po;
  po.dynamicBatch = true;
  po.dynamicSpatial = inputSize > 0;
  auto model = onnxio::prepareFile(path, device, po);
  SINGA_CHECK(model->inputs().size() == 1, ValueError,
              "--onnx " << path << ": the model has " << model->inputs().size()
                        << " inputs; singa_train fine-tunes models with one image input [N, C, H, W]");
  const onnxio::ValueInfo& in = model->inputs()[0];
  SINGA_CHECK(!in.hasType || in.dtype == DType::kFloat32, TypeError,
              "--onnx " << path << ": input " << in.str() << " is not float32 images");
  SINGA_CHECK(!in.hasShape || in.dims.size() == 4, ShapeError,
              "--onnx " << path << ": input " << in.str() << " is not [N, C, H, W] images");
  Shape shape = {1, dataImageShape[1], dataImageShape[2], dataImageShape[3]};
  if (in.hasShape) {
    for (size_t d = 1; d < 4; ++d) {
      if (in.dims[d] > 0) shape[d] = in.dims[d];
    }
  }
  if (inputSize > 0) shape[2] = shape[3] = inputSize;
  try {  // the declared size comes from the file: one image must fit in memory before any is resized
    checkAllocation(checkedBytes(numelOf(shape), sizeof(float), "one image"), 0);
  } catch (const Error& e) {
    SINGA_THROW(ShapeError, "--onnx " << path << ": input '" << in.name << "' declares images of " << in.str()
                                      << ", too large to train on: " << e.what());
  }
  return std::make_shared<FineTuneModel>(model, lastLayers, numClasses, shape);
}

int64_t checkClassifier(Module& model, const Shape& inputShape, const Tensor& labels, const std::string& source) {
  int64_t classes = 0;
  {
    autograd::NoGradGuard noGrad;
    const bool wasTraining = model.isTraining();
    model.eval();
    Device dev = Device::cpu();
    const auto params = model.namedParameters();
    if (!params.empty()) dev = params.front().second.device();
    Tensor out = model.forward(Tensor::zeros(inputShape, DType::kFloat32, dev));
    if (wasTraining) model.train();
    SINGA_CHECK(out.ndim() == 2, ShapeError,
                "--onnx " << source << ": the model outputs " << shapeStr(out.shape())
                          << " per image, not [1, classes]; cut it and add a head, e.g. --last-layers -1 "
                             "--num-classes 10");
    classes = out.shape()[1];
  }
  const Tensor y = labels.to(Device::cpu()).to(DType::kInt64).contiguous();
  int64_t maxLabel = 0;
  for (int64_t v : y.toVector<int64_t>()) maxLabel = std::max<int64_t>(maxLabel, v);
  SINGA_CHECK(classes > maxLabel, ShapeError,
              "--onnx " << source << ": the model has " << classes << " outputs but the data has " << maxLabel + 1
                        << " classes; add --num-classes " << maxLabel + 1
                        << " (with --last-layers -1 to replace its final layer)");
  return classes;
}

void prepareOutputFile(const std::string& path, const char* flag) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  SINGA_CHECK(!ec, IoError, flag << " " << path << ": cannot create the folder '" << parent.string() << "': " << ec.message());
  SINGA_CHECK(!fs::is_directory(path), IoError, flag << " " << path << " is a folder; give a file name");
  const std::string probe = path + ".probe";
  {
    std::ofstream f(probe);
    SINGA_CHECK(f.good(), IoError, flag << " " << path << ": cannot write in '" << (parent.empty() ? "." : parent.string())
                                        << "' (check the path and its permissions)");
  }
  fs::remove(probe, ec);
}

void exportTrained(Module& model, const Shape& sampleImageShape, const std::string& path, int opset) {
  onnxio::ExportOptions eo;
  eo.opset = opset;
  eo.inputNames = {"input"};
  eo.outputNames = {"logits"};
  eo.dynamicBatch = true;
  eo.graphName = model.typeName();
  Device dev = Device::cpu();
  const auto params = model.namedParameters();
  if (!params.empty()) dev = params.front().second.device();
  Tensor sample = Tensor::zeros({2, sampleImageShape[1], sampleImageShape[2], sampleImageShape[3]},
                                DType::kFloat32, dev);
  onnxio::saveModel(onnxio::exportModule(model, {sample}, eo), path);
}

}  // namespace singa
