// Softmax family and losses: Softmax / LogSoftmax along one axis (ONNX opset >= 13 semantics),
// the fused softmax cross-entropy (numerically stable; saves the probabilities for its backward)
// and the mean squared error, which is composed from Sub, Mul and ReduceMean so that it traces
// as plain ONNX ops. Kernels: kernels/cpu/softmax.cc.
#include "singa/ops/op_util.h"
#include "singa/ops/ops.h"

namespace singa::ops {
namespace {

Tensor softmaxOp(OpId op, OpId grad, const Tensor& x, int64_t axis) {
  const char* onnxOp = opName(op);
  detail::requireDefined(onnxOp, x, "input x");
  detail::requireFloat(onnxOp, x);
  SINGA_CHECK(x.ndim() >= 1, ShapeError, onnxOp << ": input must have at least one dim, got a scalar");
  const int64_t a = normalizeAxis(axis, x.ndim(), onnxOp);
  const Attrs attrs{{"axis", a}};  // for the trace
  const KernelParams kp = AxisParams{a};
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  Tensor y = detail::runOp1(op, dt, {xc}, x.shape(), dt, Attrs(), &kp);
  // The rule keeps y through a detached handle: capturing y itself would make y -> node -> y a cycle.
  const Tensor saved = y.detach();
  return detail::finish1(onnxOp, attrs, {xc}, y, [saved, grad, kp](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{detail::runOp1(grad, saved.dtype(), {g[0].contiguous(), saved}, saved.shape(),
                                              saved.dtype(), Attrs(), &kp)};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmaxOp(OpId::kSoftmax, OpId::kSoftmaxGrad, x, axis); }

Tensor logSoftmax(const Tensor& x, int64_t axis) { return softmaxOp(OpId::kLogSoftmax, OpId::kLogSoftmaxGrad, x, axis); }

Tensor softmaxCrossEntropy(const Tensor& logits, const Tensor& labels) {
  const char* op = "SoftmaxCrossEntropy";
  detail::requireDefined(op, logits, "logits");
  detail::requireDefined(op, labels, "labels");
  detail::requireFloat(op, logits);
  SINGA_CHECK(labels.dtype() == DType::kInt32 || labels.dtype() == DType::kInt64, TypeError,
              op << ": labels must be int32 or int64 class indices, got " << dtypeName(labels.dtype()));
  SINGA_CHECK(logits.ndim() == 2, ShapeError, op << ": logits must be [N, C], got " << logits.shape());
  SINGA_CHECK(
      labels.ndim() == 1 && labels.dim(0) == logits.dim(0), ShapeError,
      op << ": labels " << labels.shape() << " must be [N] = [" << logits.dim(0) << "] for logits " << logits.shape());
  SINGA_CHECK(logits.dim(1) >= 1, ShapeError, op << ": logits " << logits.shape() << " have no classes");
  const Tensor xc = logits.contiguous(), lc = labels.contiguous();
  const DType dt = logits.dtype();
  const Attrs attrs{{"reduction", std::string("mean")}};  // for the trace: the kernel takes the mean
  std::vector<Tensor> outs =
      detail::runOp(OpId::kSoftmaxCrossEntropyLoss, dt, {xc, lc}, {{Shape{}, dt}, {logits.shape(), dt}});
  const Tensor probs = outs[1];
  return detail::finish1(
      "SoftmaxCrossEntropyLoss", attrs, {xc, lc}, outs[0], [probs, lc](const std::vector<Tensor>& g) {
        const DType t = probs.dtype();
        return std::vector<Tensor>{
            detail::runOp1(OpId::kSoftmaxCrossEntropyLossGrad, t, {probs, lc, g[0]}, probs.shape(), t), Tensor()};
      });
}

Tensor mseLoss(const Tensor& a, const Tensor& b) {
  detail::requireDefined("MSELoss", a, "prediction");
  detail::requireDefined("MSELoss", b, "target");
  detail::requireFloat("MSELoss", a);
  SINGA_CHECK(a.shape() == b.shape(), ShapeError,
              "MSELoss: prediction " << a.shape() << " and target " << b.shape() << " must have the same shape");
  SINGA_CHECK(
      a.dtype() == b.dtype(), TypeError,
      "MSELoss: prediction dtype " << dtypeName(a.dtype()) << " differs from target dtype " << dtypeName(b.dtype()));
  const Tensor d = sub(a, b);
  return reduceMean(mul(d, d));
}

}  // namespace singa::ops
