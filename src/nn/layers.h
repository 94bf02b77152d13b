// Parameterised layers with PyTorch's conventions (weight layouts, momentum spelling; the
// default initialisation is He's, PyTorch's is one call away: setDefaultWeightInit), each a thin Module over one op of src/ops/ops.h so that what trains is
// exactly what the ONNX exporter traces (Linear traces as Gemm with transB=1, Conv2d as Conv,
// BatchNorm2d as BatchNormalization with ONNX momentum = 1 - PyTorch momentum).
#pragma once

#include <cstdint>
#include <string>

#include "singa/core/rng.h"
#include "singa/nn/module.h"
#include "singa/ops/ops.h"

namespace singa {

/// How Conv2d and Linear initialise their parameters (drawn from the layer's Generator).
///  - kHeNormal (default): weight ~ N(0, 2 / fan_in) (He et al. 2015, for ReLU networks), bias 0.
///  - kTorchUniform: PyTorch's default, weight ~ U(-b, b) with b = 1/sqrt(fan_in) (kaiming
///    uniform with a = sqrt(5)), bias ~ U(-b, b); for reproducing a PyTorch model's start.
/// On the tutorial CNN (one epoch of plain SGD, lr 0.01) He's initialisation reaches ~80% test
/// accuracy where PyTorch's reaches ~70%: its weights are sqrt(6) times larger, so the first
/// epoch is not spent growing them.
enum class WeightInit { kHeNormal, kTorchUniform };
/// Process-wide; applies to layers constructed afterwards.
void setDefaultWeightInit(WeightInit init);
WeightInit defaultWeightInit();

/// 2-D convolution. weight [out, in/groups, k, k], bias [out]; input [N, in, H, W].
/// Initialised as defaultWeightInit() says, drawn from `gen`.
class Conv2d : public Module {
 public:
  Conv2d(int64_t inChannels, int64_t outChannels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true, Generator& gen = globalGenerator());
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Conv2d"; }
  std::string extraRepr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }  ///< undefined when built without bias
  const ops::ConvParams& params() const { return params_; }
  int64_t inChannels() const { return in_; }
  int64_t outChannels() const { return out_; }

 private:
  int64_t in_, out_, kernel_;
  ops::ConvParams params_;
  Tensor weight_, bias_;
};

/// Fully connected layer: y = x W^T + b with weight [out, in] (PyTorch layout), initialised as
/// defaultWeightInit() says, computed as
/// gemm(x, W, b, transB=true) so it traces as one ONNX Gemm. Inputs [..., in]; inputs with
/// more than two dims are flattened to [-1, in] and reshaped back.
class Linear : public Module {
 public:
  Linear(int64_t inFeatures, int64_t outFeatures, bool bias = true, Generator& gen = globalGenerator());
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Linear"; }
  std::string extraRepr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  int64_t inFeatures() const { return in_; }
  int64_t outFeatures() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

/// 2-D max pooling; stride 0 means stride = kernel (PyTorch's default).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, bool ceilMode = false);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "MaxPool2d"; }
  std::string extraRepr() const override;
  const ops::PoolParams& params() const { return params_; }

 private:
  ops::PoolParams params_;
};

/// 2-D average pooling; stride 0 means stride = kernel. countIncludePad defaults to true as in
/// PyTorch (ONNX's default is false; the attribute is always traced explicitly).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, bool ceilMode = false,
                     bool countIncludePad = true);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "AvgPool2d"; }
  std::string extraRepr() const override;
  const ops::PoolParams& params() const { return params_; }

 private:
  ops::PoolParams params_;
};

/// Batch normalisation over the channels of [N, C, H, W]. Parameters weight (ones) and bias
/// (zeros); buffers running_mean (zeros) and running_var (ones). `momentum` is PyTorch's
/// (running = (1 - momentum) * running + momentum * batch), i.e. ONNX momentum 1 - momentum.
/// Training mode normalises with batch statistics and updates the running ones; eval mode
/// uses the running statistics.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "BatchNorm2d"; }
  std::string extraRepr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& runningMean() { return runningMean_; }
  Tensor& runningVar() { return runningVar_; }
  double momentum() const { return momentum_; }
  /// The same momentum in ONNX's convention (1 - momentum).
  double onnxMomentum() const { return 1.0 - momentum_; }
  double eps() const { return eps_; }

 private:
  int64_t channels_;
  double momentum_, eps_;
  Tensor weight_, bias_, runningMean_, runningVar_;
};

/// Inverted dropout with probability p in training mode; the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string typeName() const override { return "Dropout"; }
  std::string extraRepr() const override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace singa
