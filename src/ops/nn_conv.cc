// Convolution and pooling ops (ONNX Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool,
// GlobalMaxPool): attribute defaults and checks, auto_pad / ceil_mode resolution into explicit
// pads and output sizes, dispatch, and backward rules built from the gradient kernels of
// kernels/cpu/conv.cc and pool.cc. Traces always carry explicit pads (auto_pad resolved).
#include <algorithm>
#include <limits>
#include <memory>

#include "singa/ops/op_util.h"
#include "singa/ops/ops.h"

namespace singa::ops {
namespace {

using Ints = std::vector<int64_t>;

Ints orDefault(const char* op, const char* name, const Ints& v, size_t n, int64_t dflt, int64_t minValue) {
  if (v.empty()) return Ints(n, dflt);
  SINGA_CHECK(v.size() == n, ValueError,
              op << ": " << name << " has " << v.size() << " values " << shapeStr(v) << ", expected " << n
                 << (n % 2 == 0 && std::string(name) == "pads" ? " ([begin..., end...] per spatial dim)"
                                                               : " (one per spatial dim)"));
  for (int64_t x : v) {
    SINGA_CHECK(x >= minValue, ValueError, op << ": " << name << " " << shapeStr(v) << " must be >= " << minValue);
  }
  return v;
}

void checkSpatialInput(const char* op, const Tensor& x) {
  detail::requireDefined(op, x, "input x");
  SINGA_CHECK(x.ndim() >= 3 && x.ndim() <= 5, ShapeError,
              op << ": input x must be [N, C, D1, ...] with 1 to 3 spatial dims, got " << x.shape());
}

// A resolved sliding window: explicit pads and the output's spatial sizes.
struct Window {
  Ints kernel, strides, pads, dilations;
  Shape outSpatial;
};

// Output size of a window over one dim: floor (or ceil) of (in + pads - extent) / stride, + 1.
// In ceil mode the last window must start inside the input or its begin padding (ONNX rule).
// Every operand is non-negative and comes from the model: the sums are checked for overflow.
int64_t windowOutput(const char* op, int64_t in, int64_t pb, int64_t pe, int64_t extent, int64_t stride,
                     bool ceilMode) {
  const int64_t padded = checkedAdd(checkedAdd(in, pb, op), pe, op);
  const int64_t span = padded - extent;
  if (span < 0) return 0;
  int64_t out = (ceilMode ? checkedAdd(span, stride - 1, op) / stride : span / stride) + 1;
  if (ceilMode && (out - 1) * stride >= in + pb) --out;
  return out;
}

// The span of a dilated kernel, (k - 1) * dilation + 1 (k, dilation >= 1), overflow-checked.
int64_t windowExtent(const char* op, int64_t k, int64_t dilation) {
  return checkedAdd(checkedMul(k - 1, dilation, op), 1, op);
}

Window resolveWindow(const char* op, const Tensor& x, const Ints& kernel, const Ints& strides, const Ints& pads,
                     const Ints& dilations, const std::string& autoPad, bool ceilMode) {
  const size_t nd = static_cast<size_t>(x.ndim() - 2);
  Window w;
  w.kernel = kernel;
  SINGA_CHECK(kernel.size() == nd, ValueError,
              op << ": kernel_shape " << shapeStr(kernel) << " must have one value per spatial dim of x " << x.shape());
  for (int64_t k : kernel)
    SINGA_CHECK(k >= 1, ValueError, op << ": kernel_shape " << shapeStr(kernel) << " must be >= 1");
  w.strides = orDefault(op, "strides", strides, nd, 1, 1);
  w.dilations = orDefault(op, "dilations", dilations, nd, 1, 1);
  w.pads = orDefault(op, "pads", pads, 2 * nd, 0, 0);
  const bool same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER";
  SINGA_CHECK(same || autoPad == "NOTSET" || autoPad == "VALID" || autoPad.empty(), ValueError,
              op << ": auto_pad '" << autoPad << "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  for (size_t i = 0; i < nd; ++i) {
    const int64_t in = x.shape()[2 + i], s = w.strides[i];
    const int64_t extent = windowExtent(op, kernel[i], w.dilations[i]);
    if (same) {
      const int64_t out = checkedAdd(in, s - 1, op) / s;
      const int64_t total = std::max<int64_t>(0, checkedAdd(std::max<int64_t>(out - 1, 0) * s, extent, op) - in);
      const int64_t small = total / 2, large = total - small;
      w.pads[i] = autoPad == "SAME_UPPER" ? small : large;
      w.pads[nd + i] = autoPad == "SAME_UPPER" ? large : small;
    } else if (autoPad == "VALID") {
      w.pads[i] = w.pads[nd + i] = 0;
    }
    const bool ceil = ceilMode && !same;
    const int64_t out = windowOutput(op, in, w.pads[i], w.pads[nd + i], extent, s, ceil);
    SINGA_CHECK(out >= 1, ShapeError,
                op << ": the window (kernel " << shapeStr(kernel) << ", dilations " << shapeStr(w.dilations)
                   << ") does not fit the padded input x " << x.shape() << " with pads " << shapeStr(w.pads)
                   << " in spatial dim " << i << "; use a smaller kernel or more padding");
    w.outSpatial.push_back(out);
  }
  // Kernels count a plane's window taps as output positions x kernel size (and the column matrix
  // of a convolution as images x channels x that): the products must not wrap (fuzz_onnx_exec found
  // kernel_shape [2^62, 2] with pads that fit it).
  int64_t taps = checkedMul(std::max<int64_t>(x.shape()[0], 1), std::max<int64_t>(x.shape()[1], 1), op);
  for (int64_t k : kernel) taps = checkedMul(taps, k, op);
  for (int64_t o : w.outSpatial) taps = checkedMul(taps, o, op);
  return w;
}

Shape withSpatial(int64_t n, int64_t c, const Shape& spatial) {
  Shape s{n, c};
  s.insert(s.end(), spatial.begin(), spatial.end());
  return s;
}

void checkConvWeights(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, int64_t biasSize) {
  detail::requireDefined(op, w, "weight w");
  detail::requireFloat(op, x);
  SINGA_CHECK(w.dtype() == x.dtype(), TypeError,
              op << ": weight dtype " << dtypeName(w.dtype()) << " differs from input dtype " << dtypeName(x.dtype()));
  SINGA_CHECK(w.ndim() == x.ndim(), ShapeError,
              op << ": weight w " << w.shape() << " must have the rank of the input x " << x.shape());
  if (b.defined()) {
    SINGA_CHECK(b.dtype() == x.dtype(), TypeError,
                op << ": bias dtype " << dtypeName(b.dtype()) << " differs from input dtype " << dtypeName(x.dtype()));
    SINGA_CHECK(b.ndim() == 1 && b.dim(0) == biasSize, ShapeError,
                op << ": bias b " << b.shape() << " must be [" << biasSize << "] for weight w " << w.shape());
  }
}

/// The typed parameters of the Conv-family kernels (shared by the forward and its backward rule).
std::shared_ptr<const KernelParams> convKernelParams(const Ints& strides, const Ints& pads, const Ints& dilations,
                                                     int64_t group, bool cacheWeights = false) {
  ConvKernelParams kp{ConvParams{strides, pads, dilations, group, "NOTSET"}};
  kp.cacheWeights = cacheWeights;
  return std::make_shared<const KernelParams>(kp);
}

Attrs convAttrs(const Window& win, int64_t group) {
  return Attrs{{"kernel_shape", win.kernel},
               {"strides", win.strides},
               {"pads", win.pads},
               {"dilations", win.dilations},
               {"group", group}};
}

std::vector<Tensor> convInputs(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::vector<Tensor> in{x, w};
  if (b.defined()) in.push_back(b);
  return in;
}

Tensor poolOp(const char* onnxOp, bool isMax, const Tensor& x, const PoolParams& p) {
  checkSpatialInput(onnxOp, x);
  SINGA_CHECK(isFloating(x.dtype()) || (isMax && (x.dtype() == DType::kInt8 || x.dtype() == DType::kUInt8)), TypeError,
              onnxOp << ": unsupported dtype " << dtypeName(x.dtype()));
  const Window win = resolveWindow(onnxOp, x, p.kernel, p.strides, p.pads, p.dilations, p.autoPad, p.ceilMode);
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  const Shape outShape = withSpatial(x.dim(0), x.dim(1), win.outSpatial);
  Attrs attrs{{"kernel_shape", win.kernel}, {"strides", win.strides}, {"pads", win.pads}};
  if (p.ceilMode && p.autoPad != "SAME_UPPER" && p.autoPad != "SAME_LOWER") attrs.set("ceil_mode", int64_t{1});
  if (std::any_of(win.dilations.begin(), win.dilations.end(), [](int64_t d) { return d != 1; })) {
    attrs.set("dilations", win.dilations);
  }
  const auto kp = std::make_shared<const KernelParams>(
      PoolKernelParams{win.kernel, win.strides, win.pads, win.dilations, false, p.countIncludePad, "NOTSET"});
  if (isMax) {
    if (xc.device().isCpu() && !autograd::needsGrad({xc})) {
      // No backward will run: the CPU kernel skips the argmax (values only, vectorised).
      Tensor y = detail::runOp1(OpId::kMaxPool, dt, {xc}, outShape, dt, Attrs(), kp.get());
      return detail::finish1("MaxPool", attrs, {xc}, y, nullptr);
    }
    std::vector<Tensor> outs =
        detail::runOp(OpId::kMaxPool, dt, {xc}, {{outShape, dt}, {outShape, DType::kInt32}}, Attrs(), kp.get());
    const Tensor argmax = outs[1];
    return detail::finish1("MaxPool", attrs, {xc}, outs[0], [xc, argmax, kp](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::runOp1(OpId::kMaxPoolGrad, xc.dtype(), {g[0].contiguous(), argmax},
                                                xc.shape(), xc.dtype(), Attrs(), kp.get())};
    });
  }
  if (p.countIncludePad) attrs.set("count_include_pad", int64_t{1});
  Tensor y = detail::runOp1(OpId::kAveragePool, dt, {xc}, outShape, dt, Attrs(), kp.get());
  return detail::finish1("AveragePool", attrs, {xc}, y, [xc, kp](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{detail::runOp1(OpId::kAveragePoolGrad, xc.dtype(), {g[0].contiguous()}, xc.shape(),
                                              xc.dtype(), Attrs(), kp.get())};
  });
}

// GlobalAveragePool / GlobalMaxPool: a pooling window over all spatial dims.
Tensor globalPool(const char* onnxOp, bool isMax, const Tensor& x) {
  checkSpatialInput(onnxOp, x);
  SINGA_CHECK(isFloating(x.dtype()), TypeError,
              onnxOp << ": expected a floating-point tensor, got " << dtypeName(x.dtype()));
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  const Ints kernel(x.shape().begin() + 2, x.shape().end());
  const size_t nd = kernel.size();
  const auto kp = std::make_shared<const KernelParams>(
      PoolKernelParams{kernel, Ints(nd, 1), Ints(2 * nd, 0), Ints(nd, 1), false, false, "NOTSET"});
  const Shape outShape = withSpatial(x.dim(0), x.dim(1), Shape(kernel.size(), 1));
  if (isMax) {
    std::vector<Tensor> outs =
        detail::runOp(OpId::kMaxPool, dt, {xc}, {{outShape, dt}, {outShape, DType::kInt32}}, Attrs(), kp.get());
    const Tensor argmax = outs[1];
    return detail::finish1(onnxOp, Attrs(), {xc}, outs[0], [xc, argmax, kp](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::runOp1(OpId::kMaxPoolGrad, xc.dtype(), {g[0].contiguous(), argmax},
                                                xc.shape(), xc.dtype(), Attrs(), kp.get())};
    });
  }
  Tensor y = detail::runOp1(OpId::kAveragePool, dt, {xc}, outShape, dt, Attrs(), kp.get());
  return detail::finish1(onnxOp, Attrs(), {xc}, y, [xc, kp](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{detail::runOp1(OpId::kAveragePoolGrad, xc.dtype(), {g[0].contiguous()}, xc.shape(),
                                              xc.dtype(), Attrs(), kp.get())};
  });
}

}  // namespace

namespace {

// Checks Conv's operands; returns the window and the output shape.
std::pair<Window, Shape> checkConv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
  checkSpatialInput("Conv", x);
  SINGA_CHECK(p.group >= 1, ValueError, "Conv: group must be >= 1, got " << p.group);
  checkConvWeights("Conv", x, w, b, w.defined() ? w.dim(0) : 0);
  const int64_t C = x.dim(1), Cout = w.dim(0);
  SINGA_CHECK(C % p.group == 0 && C / p.group == w.dim(1), ShapeError,
              "Conv: input x " << x.shape() << " has " << C << " channels but weight w " << w.shape() << " with group "
                               << p.group << " expects " << w.dim(1) << " * " << p.group
                               << " (w is [Cout, Cin / group, k...]; group must divide the channels)");
  SINGA_CHECK(
      Cout % p.group == 0, ShapeError,
      "Conv: weight w " << w.shape() << " has " << Cout << " output channels, not divisible by group " << p.group);
  const Ints kernel(w.shape().begin() + 2, w.shape().end());
  const Window win = resolveWindow("Conv", x, kernel, p.strides, p.pads, p.dilations, p.autoPad, false);
  return {win, withSpatial(x.dim(0), Cout, win.outSpatial)};
}

}  // namespace

namespace {

// conv(x, w, b) with the activation in `act` (fuseRelu, or fuseClip and its bounds) applied by the
// kernel as it stores the output; undefined when the ops must run apart: a gradient is wanted, the
// export tracer records, or the tensors are not on the CPU.
Tensor fusedConv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p, ConvKernelParams act) {
  const bool fused = x.defined() && x.device().type == DeviceType::kCpu && autograd::activeTracer() == nullptr &&
                     !autograd::needsGrad({x, w, b});
  if (!fused) return Tensor();
  const auto [win, outShape] = checkConv(x, w, b, p);
  act.window = ConvParams{win.strides, win.pads, win.dilations, p.group, "NOTSET"};
  act.cacheWeights = true;
  const KernelParams kp = act;
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
  return detail::runOp1(OpId::kConv, x.dtype(), convInputs(xc, wc, bc), outShape, x.dtype(), Attrs(), &kp);
}

}  // namespace

Tensor convRelu(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
  ConvKernelParams act;
  act.fuseRelu = true;
  Tensor y = fusedConv(x, w, b, p, act);
  return y.defined() ? y : relu(conv(x, w, b, p));
}

Tensor convClip(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p, std::optional<double> min,
                std::optional<double> max) {
  const double inf = std::numeric_limits<double>::infinity();
  ConvKernelParams act;
  act.fuseClip = true;
  act.clipLo = min.value_or(-inf);
  act.clipHi = max.value_or(inf);
  Tensor y = fusedConv(x, w, b, p, act);
  return y.defined() ? y : clip(conv(x, w, b, p), min, max);
}

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
  const auto [win, outShape] = checkConv(x, w, b, p);
  const Attrs attrs = convAttrs(win, p.group);  // for the trace only
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
  const std::vector<Tensor> inputs = convInputs(xc, wc, bc);
  // No gradient recorded: the kernel may keep its reordered weights for the next call (the
  // export tracer, if any, records the same Conv either way).
  const auto kp = convKernelParams(win.strides, win.pads, win.dilations, p.group, !autograd::needsGrad(inputs));
  const DType dt = x.dtype();
  Tensor y = detail::runOp1(OpId::kConv, dt, inputs, outShape, dt, Attrs(), kp.get());
  return detail::finish1("Conv", attrs, inputs, y, [xc, wc, bc, kp](const std::vector<Tensor>& g) {
    const Tensor dy = g[0].contiguous();
    const DType t = dy.dtype();
    const KernelParams* params = kp.get();
    std::vector<Tensor> grads(bc.defined() ? 3 : 2);
    // dx:[N, C, in...] only when x needs it: the first layer's input data does not.
    if (detail::wantsGrad(xc)) {
      grads[0] = detail::runOp1(OpId::kConvGradInput, t, {dy, wc}, xc.shape(), t, Attrs(), params);
    }
    const bool wantsBias = bc.defined() && detail::wantsGrad(bc);
    if (detail::wantsGrad(wc) && wantsBias) {  // dw and db in one pass over dy
      std::vector<Tensor> dwdb =
          detail::runOp(OpId::kConvGradWeight, t, {xc, dy}, {{wc.shape(), t}, {bc.shape(), t}}, Attrs(), params);
      grads[1] = dwdb[0];
      grads[2] = dwdb[1];
    } else if (detail::wantsGrad(wc)) {
      grads[1] = detail::runOp1(OpId::kConvGradWeight, t, {xc, dy}, wc.shape(), t, Attrs(), params);
    } else if (wantsBias) {
      grads[2] = detail::runOp1(OpId::kConvGradBias, t, {dy}, bc.shape(), t, Attrs(), params);
    }
    return grads;
  });
}

Tensor convTranspose(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTransposeParams& p) {
  checkSpatialInput("ConvTranspose", x);
  SINGA_CHECK(p.group >= 1, ValueError, "ConvTranspose: group must be >= 1, got " << p.group);
  const int64_t Cout = w.defined() && w.ndim() >= 2 ? checkedMul(w.dim(1), p.group, "ConvTranspose: output channels")
                                                    : 0;
  checkConvWeights("ConvTranspose", x, w, b, Cout);
  const int64_t Cin = x.dim(1);
  SINGA_CHECK(Cin == w.dim(0) && Cin % p.group == 0, ShapeError,
              "ConvTranspose: input x " << x.shape() << " has " << Cin << " channels but weight w " << w.shape()
                                        << " expects " << w.dim(0) << " (w is [Cin, Cout / group, k...]), group "
                                        << p.group);
  const size_t nd = static_cast<size_t>(x.ndim() - 2);
  const Ints kernel(w.shape().begin() + 2, w.shape().end());
  const Ints strides = orDefault("ConvTranspose", "strides", p.strides, nd, 1, 1);
  const Ints dilations = orDefault("ConvTranspose", "dilations", p.dilations, nd, 1, 1);
  const Ints outPad = orDefault("ConvTranspose", "output_padding", p.outputPadding, nd, 0, 0);
  Ints pads = orDefault("ConvTranspose", "pads", p.pads, 2 * nd, 0, 0);
  const std::string& ap = p.autoPad;
  SINGA_CHECK(ap == "NOTSET" || ap == "VALID" || ap == "SAME_UPPER" || ap == "SAME_LOWER" || ap.empty(), ValueError,
              "ConvTranspose: auto_pad '" << ap << "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  Ints outputShape = p.outputShape;
  if (outputShape.size() == nd + 2) outputShape.erase(outputShape.begin(), outputShape.begin() + 2);
  SINGA_CHECK(outputShape.empty() || outputShape.size() == nd, ValueError,
              "ConvTranspose: output_shape " << shapeStr(p.outputShape) << " must have one value per spatial dim of x "
                                             << x.shape());
  const bool same = ap == "SAME_UPPER" || ap == "SAME_LOWER";
  Shape outSpatial(nd);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t in = x.shape()[2 + i];
    SINGA_CHECK(kernel[i] >= 1 && in >= 1, ShapeError,
                "ConvTranspose: input x " << x.shape() << " and weight w " << w.shape() << " need non-empty spatial dims");
    SINGA_CHECK(outputShape.empty() || outputShape[i] >= 1, ValueError,
                "ConvTranspose: output_shape " << shapeStr(p.outputShape) << " must be >= 1");
    const char* what = "ConvTranspose: the output size";
    const int64_t full = checkedAdd(checkedAdd(checkedMul(strides[i], in - 1, what), outPad[i], what),
                                    windowExtent(what, kernel[i], dilations[i]), what);
    if (!outputShape.empty() || same) {
      // Pads follow from the requested size; odd totals put the extra pad at the end for
      // SAME_UPPER and at the beginning otherwise (ONNX). A negative total acts as extra
      // output padding at the end.
      const int64_t out = outputShape.empty() ? checkedMul(in, strides[i], what) : outputShape[i];
      const int64_t total = full - out;
      const int64_t half = total >= 0 ? total / 2 : 0;
      pads[i] = total < 0 ? 0 : (ap == "SAME_UPPER" ? half : total - half);
      pads[nd + i] = total - pads[i];
    } else if (ap == "VALID") {
      pads[i] = pads[nd + i] = 0;
    }
    outSpatial[i] = full - pads[i] - pads[nd + i];
    SINGA_CHECK(outSpatial[i] >= 1, ShapeError,
                "ConvTranspose: output size " << outSpatial[i] << " in spatial dim " << i << " for x " << x.shape()
                                              << ", w " << w.shape() << ", pads " << shapeStr(pads)
                                              << " is empty; reduce the pads");
  }
  Attrs attrs{{"kernel_shape", kernel}, {"strides", strides}, {"dilations", dilations}, {"group", p.group}};
  if (std::any_of(pads.begin(), pads.end(), [](int64_t v) { return v < 0; })) {
    attrs.set("output_shape", Ints(outSpatial.begin(), outSpatial.end()));  // not expressible as pads
  } else {
    attrs.set("pads", pads);
  }
  if (std::any_of(outPad.begin(), outPad.end(), [](int64_t v) { return v != 0; })) attrs.set("output_padding", outPad);
  const auto kp = convKernelParams(strides, pads, dilations, p.group);
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
  const std::vector<Tensor> inputs = convInputs(xc, wc, bc);
  const DType dt = x.dtype();
  Tensor y = detail::runOp1(OpId::kConvTranspose, dt, inputs, withSpatial(x.dim(0), Cout, outSpatial), dt, Attrs(),
                            kp.get());
  return detail::finish1("ConvTranspose", attrs, inputs, y, [xc, wc, bc, kp](const std::vector<Tensor>& g) {
    const Tensor dy = g[0].contiguous();  // [N, Cout, out...]: the "image" side of the conv
    const DType t = dy.dtype();
    const KernelParams* params = kp.get();
    std::vector<Tensor> grads(bc.defined() ? 3 : 2);
    if (detail::wantsGrad(xc)) grads[0] = detail::runOp1(OpId::kConv, t, {dy, wc}, xc.shape(), t, Attrs(), params);
    if (detail::wantsGrad(wc)) {
      grads[1] = detail::runOp1(OpId::kConvGradWeight, t, {dy, xc}, wc.shape(), t, Attrs(), params);
    }
    if (bc.defined() && detail::wantsGrad(bc)) {
      grads[2] = detail::runOp1(OpId::kConvGradBias, t, {dy}, bc.shape(), t, Attrs(), params);
    }
    return grads;
  });
}

Tensor maxPool(const Tensor& x, const PoolParams& p) { return poolOp("MaxPool", true, x, p); }

Tensor avgPool(const Tensor& x, const PoolParams& p) { return poolOp("AveragePool", false, x, p); }

Tensor globalAvgPool(const Tensor& x) { return globalPool("GlobalAveragePool", false, x); }

Tensor globalMaxPool(const Tensor& x) { return globalPool("GlobalMaxPool", true, x); }

}  // namespace singa::ops
