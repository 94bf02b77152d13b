// Parameterised layers: argument checks, initialisation, and one op per forward.
#include "singa/nn/layers.h"

#include <atomic>
#include <cmath>
#include <sstream>

#include "singa/core/error.h"

namespace singa {
namespace {

std::atomic<WeightInit> gDefaultInit{WeightInit::kHeNormal};

void initWeightAndBias(Tensor& weight, Tensor* bias, Generator& gen) {
  if (gDefaultInit.load() == WeightInit::kHeNormal) {
    kaimingNormal_(weight, std::sqrt(2.0), gen);  // std sqrt(2 / fan_in)
    if (bias != nullptr && bias->defined()) bias->fill(0.0);
    return;
  }
  // PyTorch's default for Conv and Linear weights: kaiming_uniform_(a = sqrt(5)), whose gain
  // sqrt(2 / (1 + a^2)) = sqrt(1/3) gives the bound 1/sqrt(fan_in).
  kaimingUniform_(weight, std::sqrt(1.0 / 3.0), gen);
  if (bias != nullptr && bias->defined()) {
    int64_t fanIn, fanOut;
    fanInOut(weight.shape(), fanIn, fanOut);
    const double bound = fanIn > 0 ? 1.0 / std::sqrt(static_cast<double>(fanIn)) : 0.0;
    uniform_(*bias, -bound, bound, gen);
  }
}

void checkPositive(const char* layer, const char* what, int64_t v, int64_t minimum = 1) {
  SINGA_CHECK(v >= minimum, ValueError, layer << ": " << what << " must be >= " << minimum << ", got " << v);
}

ops::PoolParams poolParams(const char* layer, int64_t kernel, int64_t stride, int64_t padding, bool ceilMode) {
  checkPositive(layer, "kernel", kernel);
  checkPositive(layer, "stride", stride, 0);
  checkPositive(layer, "padding", padding, 0);
  SINGA_CHECK(2 * padding <= kernel, ValueError,
              layer << ": padding " << padding << " must be at most half the kernel " << kernel);
  ops::PoolParams p;
  const int64_t s = stride == 0 ? kernel : stride;
  p.kernel = {kernel, kernel};
  p.strides = {s, s};
  p.pads = {padding, padding, padding, padding};
  p.ceilMode = ceilMode;
  return p;
}

void checkImage(const char* layer, const Tensor& x, int64_t channels) {
  SINGA_CHECK(x.ndim() == 4, ShapeError,
              layer << ": expected a 4-D input [N, C, H, W], got shape " << x.shape());
  SINGA_CHECK(channels <= 0 || x.dim(1) == channels, ShapeError,
              layer << ": expected " << channels << " input channels, got shape " << x.shape());
}

}  // namespace

void setDefaultWeightInit(WeightInit init) { gDefaultInit.store(init); }
WeightInit defaultWeightInit() { return gDefaultInit.load(); }

// ---- Conv2d ------------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t inChannels, int64_t outChannels, int64_t kernel, int64_t stride, int64_t padding,
               int64_t dilation, int64_t groups, bool bias, Generator& gen)
    : in_(inChannels), out_(outChannels), kernel_(kernel) {
  checkPositive("Conv2d", "in_channels", inChannels);
  checkPositive("Conv2d", "out_channels", outChannels);
  checkPositive("Conv2d", "kernel", kernel);
  checkPositive("Conv2d", "stride", stride);
  checkPositive("Conv2d", "padding", padding, 0);
  checkPositive("Conv2d", "dilation", dilation);
  checkPositive("Conv2d", "groups", groups);
  SINGA_CHECK(inChannels % groups == 0 && outChannels % groups == 0, ValueError,
              "Conv2d: in_channels " << inChannels << " and out_channels " << outChannels
                                     << " must both be divisible by groups " << groups);
  params_.strides = {stride, stride};
  params_.pads = {padding, padding, padding, padding};
  params_.dilations = {dilation, dilation};
  params_.group = groups;
  weight_ = registerParameter("weight", Tensor({outChannels, inChannels / groups, kernel, kernel}));
  if (bias) bias_ = registerParameter("bias", Tensor({outChannels}));
  initWeightAndBias(weight_, &bias_, gen);
}

Tensor Conv2d::forward(const Tensor& x) {
  checkImage("Conv2d", x, in_);
  return ops::conv(x, weight_, bias_, params_);
}

std::string Conv2d::extraRepr() const {
  std::ostringstream os;
  os << in_ << ", " << out_ << ", kernel=" << kernel_ << ", stride=" << params_.strides[0]
     << ", padding=" << params_.pads[0];
  if (params_.dilations[0] != 1) os << ", dilation=" << params_.dilations[0];
  if (params_.group != 1) os << ", groups=" << params_.group;
  if (!bias_.defined()) os << ", bias=false";
  return os.str();
}

// ---- Linear ------------------------------------------------------------------------------------

Linear::Linear(int64_t inFeatures, int64_t outFeatures, bool bias, Generator& gen)
    : in_(inFeatures), out_(outFeatures) {
  checkPositive("Linear", "in_features", inFeatures);
  checkPositive("Linear", "out_features", outFeatures);
  weight_ = registerParameter("weight", Tensor({outFeatures, inFeatures}));
  if (bias) bias_ = registerParameter("bias", Tensor({outFeatures}));
  initWeightAndBias(weight_, &bias_, gen);
}

Tensor Linear::forward(const Tensor& x) {
  SINGA_CHECK(x.ndim() >= 2 && x.dim(-1) == in_, ShapeError,
              "Linear: expected an input [N, " << in_ << "] (or [..., " << in_ << "]), got shape " << x.shape());
  if (x.ndim() == 2) return ops::gemm(x, weight_, bias_, 1.0, 1.0, false, true);
  Shape outShape = x.shape();
  outShape.back() = out_;
  Tensor y = ops::gemm(ops::reshape(x, {-1, in_}), weight_, bias_, 1.0, 1.0, false, true);
  return ops::reshape(y, outShape);
}

std::string Linear::extraRepr() const {
  std::ostringstream os;
  os << "in_features=" << in_ << ", out_features=" << out_ << (bias_.defined() ? "" : ", bias=false");
  return os.str();
}

// ---- pooling -----------------------------------------------------------------------------------

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding, bool ceilMode)
    : params_(poolParams("MaxPool2d", kernel, stride, padding, ceilMode)) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  checkImage("MaxPool2d", x, 0);
  return ops::maxPool(x, params_);
}

std::string MaxPool2d::extraRepr() const {
  std::ostringstream os;
  os << "kernel=" << params_.kernel[0] << ", stride=" << params_.strides[0] << ", padding=" << params_.pads[0]
     << (params_.ceilMode ? ", ceil_mode=true" : "");
  return os.str();
}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding, bool ceilMode, bool countIncludePad)
    : params_(poolParams("AvgPool2d", kernel, stride, padding, ceilMode)) {
  params_.countIncludePad = countIncludePad;
}

Tensor AvgPool2d::forward(const Tensor& x) {
  checkImage("AvgPool2d", x, 0);
  return ops::avgPool(x, params_);
}

std::string AvgPool2d::extraRepr() const {
  std::ostringstream os;
  os << "kernel=" << params_.kernel[0] << ", stride=" << params_.strides[0] << ", padding=" << params_.pads[0]
     << (params_.ceilMode ? ", ceil_mode=true" : "")
     << (params_.countIncludePad ? "" : ", count_include_pad=false");
  return os.str();
}

// ---- BatchNorm2d -------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum, double eps)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  checkPositive("BatchNorm2d", "channels", channels);
  SINGA_CHECK(momentum >= 0.0 && momentum <= 1.0, ValueError,
              "BatchNorm2d: momentum must be in [0, 1] (PyTorch convention), got " << momentum);
  SINGA_CHECK(eps > 0.0, ValueError, "BatchNorm2d: eps must be positive, got " << eps);
  weight_ = registerParameter("weight", Tensor::ones({channels}));
  bias_ = registerParameter("bias", Tensor::zeros({channels}));
  runningMean_ = registerBuffer("running_mean", Tensor::zeros({channels}));
  runningVar_ = registerBuffer("running_var", Tensor::ones({channels}));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  checkImage("BatchNorm2d", x, channels_);
  return ops::batchNorm(x, weight_, bias_, runningMean_, runningVar_, training_, onnxMomentum(), eps_);
}

std::string BatchNorm2d::extraRepr() const {
  std::ostringstream os;
  os << channels_ << ", eps=" << eps_ << ", momentum=" << momentum_;
  return os.str();
}

// ---- Dropout -----------------------------------------------------------------------------------

Dropout::Dropout(double p) : p_(p) {
  SINGA_CHECK(p >= 0.0 && p < 1.0, ValueError, "Dropout: probability must be in [0, 1), got " << p);
}

Tensor Dropout::forward(const Tensor& x) { return ops::dropout(x, p_, training_); }

std::string Dropout::extraRepr() const {
  std::ostringstream os;
  os << "p=" << p_;
  return os.str();
}

}  // namespace singa
