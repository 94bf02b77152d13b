// Normalisation and regularisation ops: BatchNormalization (training and inference, with its
// backward for x, scale and bias) and inverted Dropout (mask drawn from the global generator so a
// seeded run is reproducible). Kernels: kernels/cpu/batchnorm.cc.
#include <optional>

#include "singa/core/rng.h"
#include "singa/ops/op_util.h"
#include "singa/ops/ops.h"

namespace singa::ops {
namespace {

void checkChannelParam(const Tensor& x, const Tensor& t, const char* what) {
  detail::requireDefined("BatchNormalization", t, what);
  SINGA_CHECK(t.dtype() == x.dtype(), TypeError,
              "BatchNormalization: " << what << " dtype " << dtypeName(t.dtype()) << " differs from input dtype "
                                     << dtypeName(x.dtype()));
  SINGA_CHECK(t.ndim() == 1 && t.dim(0) == x.dim(1), ShapeError,
              "BatchNormalization: " << what << " " << t.shape() << " must be [C] = [" << x.dim(1) << "] for input x "
                                     << x.shape());
}

}  // namespace

namespace {

// The activation fused onto a BatchNormalization (CPU, nothing recording an export trace).
struct FusedActivation {
  bool relu = false;
  bool clip = false;
  std::optional<double> lo, hi;  // Clip's bounds
};

Tensor batchNormImpl(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                     const Tensor& runningVar, bool training, double momentum, double epsilon,
                     const FusedActivation& act) {
  detail::requireDefined("BatchNormalization", x, "input x");
  detail::requireFloat("BatchNormalization", x);
  SINGA_CHECK(x.ndim() >= 2, ShapeError, "BatchNormalization: input x must be [N, C, ...], got " << x.shape());
  checkChannelParam(x, scale, "scale");
  checkChannelParam(x, bias, "bias");
  checkChannelParam(x, runningMean, "running mean");
  checkChannelParam(x, runningVar, "running variance");
  SINGA_CHECK(epsilon >= 0, ValueError, "BatchNormalization: epsilon must be >= 0, got " << epsilon);
  const Attrs attrs{{"epsilon", epsilon}, {"momentum", momentum}};  // for the trace
  BatchNormParams bp{epsilon, momentum, training};
  bp.relu = act.relu;
  bp.clip = act.clip;
  bp.clipHasLo = act.lo.has_value();
  bp.clipHasHi = act.hi.has_value();
  bp.clipLo = act.lo.value_or(0.0);
  bp.clipHi = act.hi.value_or(0.0);
  const char* name = act.relu ? "BatchNormRelu" : act.clip ? "BatchNormClip" : "BatchNormalization";
  const KernelParams kp = bp;
  const Tensor xc = x.contiguous(), sc = scale.contiguous(), bc = bias.contiguous();
  const std::vector<Tensor> inputs{xc, sc, bc, runningMean, runningVar};
  const DType dt = x.dtype();
  const Shape cshape{x.dim(1)};
  // Backward of a fused ReLU reads the output (detached: a node must not own its own output);
  // of a fused Clip, the mask the training forward wrote.
  auto gradInputs = [](const Tensor& dy, const Tensor& xg, const Tensor& s, const Tensor& m, const Tensor& v,
                       const Tensor& extra) {
    std::vector<Tensor> in{dy.contiguous(), xg, s, m, v};
    if (extra.defined()) in.push_back(extra);
    return in;
  };
  if (!training) {
    const Tensor mc = runningMean.contiguous(), vc = runningVar.contiguous();
    Tensor y = detail::runOp1(OpId::kBatchNormInference, dt, {xc, sc, bc, mc, vc}, x.shape(), dt, Attrs(), &kp);
    const Tensor extra = act.relu ? y.detach() : Tensor();  // (a fused Clip here records nothing)
    return detail::finish1(name, attrs, inputs, y,
                           [xc, sc, mc, vc, kp, extra, gradInputs](const std::vector<Tensor>& g) {
                             const DType t = xc.dtype();
                             return detail::runOp(OpId::kBatchNormGrad, t, gradInputs(g[0], xc, sc, mc, vc, extra),
                                                  {{xc.shape(), t}, {sc.shape(), t}, {sc.shape(), t}}, Attrs(), &kp);
                           });
  }
  // Training: the kernel writes the running statistics in place, so they must be plain buffers.
  SINGA_CHECK(runningMean.isContiguous() && runningVar.isContiguous(), ValueError,
              "BatchNormalization: running mean and variance must be contiguous tensors (they are updated in place)");
  std::vector<detail::OutSpec> outShapes{{x.shape(), dt}, {cshape, dt}, {cshape, dt}};
  if (act.clip) outShapes.push_back({x.shape(), DType::kUInt8});
  std::vector<Tensor> outs =
      detail::runOp(OpId::kBatchNormTraining, dt, {xc, sc, bc, runningMean, runningVar}, outShapes, Attrs(), &kp);
  const Tensor mean = outs[1], invStd = outs[2];
  const Tensor extra = act.relu ? outs[0].detach() : act.clip ? outs[3] : Tensor();
  return detail::finish1(name, attrs, inputs, outs[0],
                         [xc, sc, mean, invStd, kp, extra, gradInputs](const std::vector<Tensor>& g) {
                           const DType t = xc.dtype();
                           return detail::runOp(OpId::kBatchNormGrad, t, gradInputs(g[0], xc, sc, mean, invStd, extra),
                                                {{xc.shape(), t}, {sc.shape(), t}, {sc.shape(), t}}, Attrs(), &kp);
                         });
}

// Fused only where the kernels can (the CPU) and nothing records the ops for export.
bool canFuse(const Tensor& x) {
  return x.defined() && x.device().type == DeviceType::kCpu && autograd::activeTracer() == nullptr;
}

}  // namespace

Tensor batchNorm(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                 const Tensor& runningVar, bool training, double momentum, double epsilon) {
  return batchNormImpl(x, scale, bias, runningMean, runningVar, training, momentum, epsilon, {});
}

Tensor batchNormRelu(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                     const Tensor& runningVar, bool training, double momentum, double epsilon) {
  if (!canFuse(x)) return relu(batchNorm(x, scale, bias, runningMean, runningVar, training, momentum, epsilon));
  FusedActivation act;
  act.relu = true;
  return batchNormImpl(x, scale, bias, runningMean, runningVar, training, momentum, epsilon, act);
}

Tensor batchNormClip(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& runningMean,
                     const Tensor& runningVar, bool training, double momentum, double epsilon,
                     std::optional<double> min, std::optional<double> max) {
  // With fixed statistics Clip's mask would need the unclipped values, which inference does not
  // keep: fused there only when no gradient is recorded.
  const bool gradWanted = autograd::needsGrad({x, scale, bias, runningMean, runningVar});  // what finish1 records
  if (!canFuse(x) || (!training && gradWanted)) {
    return clip(batchNorm(x, scale, bias, runningMean, runningVar, training, momentum, epsilon), min, max);
  }
  FusedActivation act;
  act.clip = true;
  act.lo = min;
  act.hi = max;
  return batchNormImpl(x, scale, bias, runningMean, runningVar, training, momentum, epsilon, act);
}

Tensor dropout(const Tensor& x, double ratio, bool training) {
  detail::requireDefined("Dropout", x, "input x");
  detail::requireFloat("Dropout", x);
  SINGA_CHECK(ratio >= 0 && ratio <= 1, ValueError, "Dropout: ratio must lie in [0, 1], got " << ratio);
  // Inference, or nothing to drop: the identity (no node, no trace entry).
  if (!training || ratio == 0) return x;
  Generator& gen = globalGenerator();
  const uint64_t seed = gen.seed(), counter = gen.counter();
  gen.setState(seed, counter + static_cast<uint64_t>(x.numel()));  // the kernel draws numel numbers
  const KernelParams kp = DropoutParams{ratio, seed, counter};
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  std::vector<Tensor> outs =
      detail::runOp(OpId::kDropout, dt, {xc}, {{x.shape(), dt}, {x.shape(), dt}}, Attrs(), &kp);
  const Tensor mask = outs[1];
  return detail::finish1("Dropout", Attrs{{"ratio", ratio}}, {xc}, outs[0],
                         [mask](const std::vector<Tensor>& g) { return std::vector<Tensor>{ops::mul(g[0], mask)}; });
}

}  // namespace singa::ops
