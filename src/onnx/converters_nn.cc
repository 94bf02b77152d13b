// Neural-network ONNX operators: Conv, ConvTranspose, pooling, BatchNormalization (running
// statistics as buffers, batch statistics in training), Dropout, and the normalisations that are
// compositions of engine ops (LayerNormalization, InstanceNormalization, LRN,
// MeanVarianceNormalization), so every one of them trains.
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

void fillConvParams(const ConvertContext& ctx, ops::ConvParams& p) {
  p.strides = ctx.attrs.getInts("strides", {});
  p.pads = ctx.attrs.getInts("pads", {});
  p.dilations = ctx.attrs.getInts("dilations", {});
  p.group = ctx.attrs.getInt("group", 1);
  p.autoPad = ctx.attrs.getString("auto_pad", "NOTSET");
  if (p.autoPad.empty()) p.autoPad = "NOTSET";
}

void checkKernelShape(const ConvertContext& ctx, const Tensor& w) {
  if (!ctx.attrs.has("kernel_shape")) return;
  const auto& k = ctx.attrs.getInts("kernel_shape");
  ctx.check(static_cast<int>(k.size()) + 2 == w.ndim(),
            "kernel_shape has " + std::to_string(k.size()) + " dims but the weight is " +
                std::to_string(w.ndim()) + "-D");
  for (size_t i = 0; i < k.size(); ++i) {
    ctx.check(k[i] == w.dim(static_cast<int>(i) + 2), "kernel_shape " + shapeStr(k) +
                                                          " does not match the weight shape " + shapeStr(w.shape()));
  }
}

Tensors convertConv(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& w = requireInput(ctx, in, 1, "W");
  checkKernelShape(ctx, w);
  ops::ConvParams p;
  fillConvParams(ctx, p);
  if (ctx.fuseClip) return one(ops::convClip(x, w, optionalInput(in, 2), p, ctx.clipMin, ctx.clipMax));
  return one(ctx.fuseRelu ? ops::convRelu(x, w, optionalInput(in, 2), p) : ops::conv(x, w, optionalInput(in, 2), p));
}

Tensors convertConvTranspose(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& w = requireInput(ctx, in, 1, "W");
  checkKernelShape(ctx, w);
  ops::ConvTransposeParams p;
  fillConvParams(ctx, p);
  p.outputPadding = ctx.attrs.getInts("output_padding", {});
  p.outputShape = ctx.attrs.getInts("output_shape", {});
  // output_shape may list only the spatial dims or include N and C.
  if (x.ndim() >= 2 && p.outputShape.size() == static_cast<size_t>(x.ndim())) {  // [N, C, spatial...] given
    p.outputShape.erase(p.outputShape.begin(), p.outputShape.begin() + 2);
  }
  return one(ops::convTranspose(x, w, optionalInput(in, 2), p));
}

ops::PoolParams poolParams(const ConvertContext& ctx) {
  ops::PoolParams p;
  p.kernel = ctx.attrs.getInts("kernel_shape");
  p.strides = ctx.attrs.getInts("strides", {});
  p.pads = ctx.attrs.getInts("pads", {});
  p.dilations = ctx.attrs.getInts("dilations", {});
  p.ceilMode = ctx.attrs.getInt("ceil_mode", 0) != 0;
  p.countIncludePad = ctx.attrs.getInt("count_include_pad", 0) != 0;
  p.autoPad = ctx.attrs.getString("auto_pad", "NOTSET");
  if (p.autoPad.empty()) p.autoPad = "NOTSET";
  return p;
}

// The Indices output of MaxPool: for each output element, the flat index (over the whole input,
// row-major, or column-major over the spatial dims when storage_order = 1) of the first maximum
// of its window. Computed on the CPU; it is not differentiable.
Tensor maxPoolIndices(const Tensor& x, const Shape& outShape, const ops::PoolParams& p, bool columnMajor) {
  const int sd = x.ndim() - 2;
  const Shape& xs = x.shape();
  std::vector<int64_t> stride(sd, 1), dil(sd, 1), padBegin(sd, 0);
  for (int d = 0; d < sd; ++d) {
    if (d < static_cast<int>(p.strides.size())) stride[d] = p.strides[d];
    if (d < static_cast<int>(p.dilations.size())) dil[d] = p.dilations[d];
    if (p.autoPad == "SAME_UPPER" || p.autoPad == "SAME_LOWER") {
      const int64_t total = std::max<int64_t>(
          (outShape[d + 2] - 1) * stride[d] + (p.kernel[d] - 1) * dil[d] + 1 - xs[d + 2], 0);
      padBegin[d] = p.autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    } else if (p.autoPad != "VALID" && d < static_cast<int>(p.pads.size())) {
      padBegin[d] = p.pads[d];
    }
  }
  int64_t plane = 1;
  for (int d = 0; d < sd; ++d) plane *= xs[d + 2];
  // Strides of the spatial dims in the index convention asked for.
  std::vector<int64_t> istr(sd, 1);
  if (columnMajor) {
    for (int d = 1; d < sd; ++d) istr[d] = istr[d - 1] * xs[d + 1];
  } else {
    for (int d = sd - 2; d >= 0; --d) istr[d] = istr[d + 1] * xs[d + 3];
  }
  const std::vector<int64_t> xstr = contiguousStrides(Shape(xs.begin() + 2, xs.end()));
  const std::vector<double> v = doublesOf(x);
  const int64_t outPlane = numelOf(Shape(outShape.begin() + 2, outShape.end()));
  std::vector<int64_t> out(static_cast<size_t>(numelOf(outShape)));
  // Per output position, only the taps that land inside the input are visited (per dim, the
  // range [lo, hi) of kernel offsets), so a huge kernel over huge padding costs no more than
  // the input it covers.
  std::vector<int64_t> o(sd), lo(sd), hi(sd), k(sd);
  for (int64_t nc = 0; nc < xs[0] * xs[1]; ++nc) {
    for (int64_t op = 0; op < outPlane; ++op) {
      int64_t rem = op;
      bool empty = false;
      for (int d = sd - 1; d >= 0; --d) {
        o[d] = rem % outShape[d + 2];
        rem /= outShape[d + 2];
        const int64_t base = o[d] * stride[d] - padBegin[d];
        lo[d] = base >= 0 ? 0 : (-base + dil[d] - 1) / dil[d];
        hi[d] = std::min<int64_t>(p.kernel[d], xs[d + 2] - base <= 0 ? 0 : (xs[d + 2] - 1 - base) / dil[d] + 1);
        empty = empty || lo[d] >= hi[d];
        k[d] = lo[d];
      }
      double best = -INFINITY;
      int64_t bestIdx = -1;
      while (!empty) {
        int64_t off = 0;
        int64_t idx = 0;
        for (int d = 0; d < sd; ++d) {
          const int64_t pos = o[d] * stride[d] - padBegin[d] + k[d] * dil[d];
          off += pos * xstr[d];
          idx += pos * istr[d];
        }
        const double val = v[static_cast<size_t>(nc * plane + off)];
        if (bestIdx < 0 || val > best) {
          best = val;
          bestIdx = idx;
        }
        int d = sd - 1;  // next tap, row-major over the kernel
        for (; d >= 0; --d) {
          if (++k[d] < hi[d]) break;
          k[d] = lo[d];
        }
        empty = d < 0;
      }
      out[static_cast<size_t>(nc * outPlane + op)] = nc * plane + std::max<int64_t>(bestIdx, 0);
    }
  }
  return intsTensor(out, outShape, x.device());
}

Tensors convertMaxPool(const ConvertContext& ctx, const Tensors& in) {
  ctx.check(ctx.attrs.has("kernel_shape"), "attribute kernel_shape is required");
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const ops::PoolParams p = poolParams(ctx);
  Tensor y = ops::maxPool(x, p);
  if (ctx.numOutputs < 2) return one(y);
  return {y, maxPoolIndices(x, y.shape(), p, ctx.attrs.getInt("storage_order", 0) != 0)};
}

Tensors convertAveragePool(const ConvertContext& ctx, const Tensors& in) {
  ctx.check(ctx.attrs.has("kernel_shape"), "attribute kernel_shape is required");
  return one(ops::avgPool(requireInput(ctx, in, 0, "X"), poolParams(ctx)));
}

Tensors convertGlobalAveragePool(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::globalAvgPool(requireInput(ctx, in, 0, "X")));
}

Tensors convertGlobalMaxPool(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::globalMaxPool(requireInput(ctx, in, 0, "X")));
}

// [C] -> [C, 1, ..., 1] so it broadcasts over an [N, C, d...] input.
Tensor perChannel(const Tensor& v, int ndim) {
  Shape s{v.numel()};
  for (int i = 2; i < ndim; ++i) s.push_back(1);
  return ops::reshape(v, s);
}

std::vector<int64_t> allButChannel(int ndim) {
  std::vector<int64_t> axes{0};
  for (int i = 2; i < ndim; ++i) axes.push_back(i);
  return axes;
}

Tensors convertBatchNorm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& scale = requireInput(ctx, in, 1, "scale");
  const Tensor& bias = requireInput(ctx, in, 2, "B");
  const Tensor& mean = requireInput(ctx, in, 3, "input_mean");
  const Tensor& var = requireInput(ctx, in, 4, "input_var");
  const double eps = ctx.attrs.getFloat("epsilon", 1e-5);
  const double momentum = ctx.attrs.getFloat("momentum", 0.9);
  ctx.check(ctx.opset >= 9 || ctx.attrs.getInt("spatial", 1) == 1, "spatial=0 is not supported");
  if (ctx.opset >= 14 && ctx.attrs.getInt("training_mode", 0) != 0) {
    // Training mode requested by the graph itself: batch statistics (biased variance), and the
    // updated running statistics as extra outputs, as ONNX's reference defines them.
    const std::vector<int64_t> axes = allButChannel(x.ndim());
    Tensor bm = ops::reduceMean(x, axes, true);
    Tensor d = ops::sub(x, bm);
    Tensor bv = ops::reduceMean(ops::mul(d, d), axes, true);
    Tensor y = ops::div(d, ops::sqrt(ops::add(bv, scalarOf(eps, bv))));
    y = ops::add(ops::mul(y, perChannel(scale, x.ndim())), perChannel(bias, x.ndim()));
    Tensor m1 = ops::reshape(bm, {bm.numel()});
    Tensor v1 = ops::reshape(bv, {bv.numel()});
    Tensor runMean = ops::add(ops::mul(mean, momentum), ops::mul(m1, 1.0 - momentum));
    Tensor runVar = ops::add(ops::mul(var, momentum), ops::mul(v1, 1.0 - momentum));
    if (ctx.fuseRelu) y = ops::relu(y);  // the executor skips the Relu or Clip node that follows
    if (ctx.fuseClip) y = ops::clip(y, ctx.clipMin, ctx.clipMax);
    return {y, runMean, runVar};
  }
  // A Relu or Clip reading only this output is fused (the executor then skips it).
  Tensor y = ctx.fuseRelu ? ops::batchNormRelu(x, scale, bias, mean, var, ctx.training, momentum, eps)
             : ctx.fuseClip
                 ? ops::batchNormClip(x, scale, bias, mean, var, ctx.training, momentum, eps, ctx.clipMin, ctx.clipMax)
                 : ops::batchNorm(x, scale, bias, mean, var, ctx.training, momentum, eps);
  Tensors out{y};
  if (ctx.numOutputs > 1) out.push_back(mean);
  if (ctx.numOutputs > 2) out.push_back(var);
  return out;
}

Tensors convertDropout(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  double ratio = 0.5;
  bool training = ctx.training;
  if (ctx.opset < 12) {
    ratio = ctx.attrs.getFloat("ratio", 0.5);
    if (ctx.opset < 7 && ctx.attrs.getInt("is_test", 0) != 0) training = false;
  } else {
    if (hasInput(in, 1)) ratio = scalarDouble(ctx, in[1], "ratio");
    if (hasInput(in, 2)) training = scalarInt(ctx, in[2], "training_mode") != 0;
  }
  Tensor y = training && ratio > 0.0 ? ops::dropout(x, ratio, true) : ops::identity(x);
  Tensors out{y};
  if (ctx.numOutputs > 1) {
    Tensor mask = training && ratio > 0.0
                      ? ops::logicalNot(ops::equal(y, scalarOf(0.0, y)))
                      : Tensor::ones(x.shape(), DType::kBool, x.device());
    out.push_back(ctx.opset < 10 ? castTo(mask, x.dtype()) : mask);
  }
  return out;
}

Tensors convertLayerNorm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& scale = requireInput(ctx, in, 1, "Scale");
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", -1)}, x.ndim())[0];
  const double eps = ctx.attrs.getFloat("epsilon", 1e-5);
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < x.ndim(); ++d) axes.push_back(d);
  Tensor m = ops::reduceMean(x, axes, true);
  Tensor d = ops::sub(x, m);
  Tensor v = ops::reduceMean(ops::mul(d, d), axes, true);
  Tensor inv = ops::reciprocal(ops::sqrt(ops::add(v, scalarOf(eps, v))));
  Tensor y = ops::mul(ops::mul(d, inv), scale);
  if (hasInput(in, 2)) y = ops::add(y, in[2]);
  return {y, m, inv};
}

Tensors convertInstanceNorm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const Tensor& scale = requireInput(ctx, in, 1, "scale");
  const Tensor& bias = requireInput(ctx, in, 2, "B");
  const double eps = ctx.attrs.getFloat("epsilon", 1e-5);
  std::vector<int64_t> axes;
  for (int64_t d = 2; d < x.ndim(); ++d) axes.push_back(d);
  Tensor m = ops::reduceMean(x, axes, true);
  Tensor d = ops::sub(x, m);
  Tensor v = ops::reduceMean(ops::mul(d, d), axes, true);
  Tensor y = ops::div(d, ops::sqrt(ops::add(v, scalarOf(eps, v))));
  return one(ops::add(ops::mul(y, perChannel(scale, x.ndim())), perChannel(bias, x.ndim())));
}

Tensors convertMeanVarianceNorm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const std::vector<int64_t> axes = ctx.attrs.getInts("axes", {0, 2, 3});
  Tensor m = ops::reduceMean(x, axes, true);
  Tensor d = ops::sub(x, m);
  Tensor v = ops::reduceMean(ops::mul(d, d), axes, true);
  return one(ops::div(d, ops::add(ops::sqrt(v), scalarOf(1e-9, v))));
}

Tensors convertLRN(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const int64_t size = ctx.attrs.getInt("size");
  const double alpha = ctx.attrs.getFloat("alpha", 1e-4);
  const double beta = ctx.attrs.getFloat("beta", 0.75);
  const double bias = ctx.attrs.getFloat("bias", 1.0);
  ctx.check(x.ndim() >= 3 && size >= 1, "needs an [N, C, ...] input and size >= 1");
  const int64_t c = x.dim(1);
  // Channel i sums squares over channels [i - half, i + size - 1 - half]. Offsets of c or more
  // reach no channel, so the window is clipped to [-c, c]: a huge `size` costs no more.
  const int64_t half = (size - 1) / 2;
  const int64_t before = std::min(half, c), after = std::min(size - 1 - half, c);
  std::vector<int64_t> pads(2 * static_cast<size_t>(x.ndim()), 0);
  pads[1] = before;
  pads[x.ndim() + 1] = after;
  Tensor sq = ops::pad(ops::mul(x, x), pads);
  Tensor acc;
  for (int64_t k = 0; k <= before + after; ++k) {
    Tensor s = ops::slice(sq, {k}, {k + c}, {1}, {1});
    acc = acc.defined() ? ops::add(acc, s) : s;
  }
  Tensor denom = ops::pow(ops::add(ops::mul(acc, alpha / static_cast<double>(size)), bias), beta);
  return one(ops::div(x, denom));
}

}  // namespace

void registerNnConverters(ConverterRegistry& r) {
  r.add("Conv", 1, convertConv);
  r.add("ConvTranspose", 1, convertConvTranspose);
  r.add("MaxPool", 1, convertMaxPool);
  r.add("AveragePool", 1, convertAveragePool);
  r.add("GlobalAveragePool", 1, convertGlobalAveragePool);
  r.add("GlobalMaxPool", 1, convertGlobalMaxPool);
  r.add("BatchNormalization", 1, convertBatchNorm);
  r.add("Dropout", 1, convertDropout);
  r.add("LayerNormalization", 17, convertLayerNorm);
  r.add("InstanceNormalization", 1, convertInstanceNorm);
  r.add("MeanVarianceNormalization", 9, convertMeanVarianceNorm);
  r.add("LRN", 1, convertLRN);
}

}  // namespace singa::onnxio
