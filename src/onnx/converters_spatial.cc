// Spatial ONNX operators built from engine ops, so gradients flow through them like any other
// imported op: LpPool (a depthwise convolution of |x|^p with a window of ones, then the p-th
// root), CenterCropPad (Slice + Pad), Col2Im (a grouped ConvTranspose whose one-hot weight puts
// each column entry back at its window offset: the adjoint of im2col), AffineGrid (a MatMul of
// the normalised base grid with theta) and TensorScatter (a gather over [cache, update] that
// picks, for every cache slot, the old value or the written one) and DeformConv (four Gathers of
// bilinear corners at the offset positions, then a grouped MatMul with the weight).
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

/// Attribute `name` with one value per spatial dim (`count` values), each >= `minValue`;
/// `dflt` fills it when absent.
std::vector<int64_t> perDimAttr(const ConvertContext& ctx, const std::string& name, size_t count, int64_t dflt,
                                int64_t minValue) {
  std::vector<int64_t> v = ctx.attrs.getInts(name, std::vector<int64_t>(count, dflt));
  ctx.check(v.size() == count, "'" + name + "' has " + std::to_string(v.size()) + " values; it needs " +
                                   std::to_string(count) + " (one per spatial dim" +
                                   (name == "pads" ? ", begins then ends)" : ")"));
  for (int64_t x : v) {
    ctx.check(x >= minValue, "'" + name + "' values must be >= " + std::to_string(minValue) + ", got " + shapeStr(v));
  }
  return v;
}

/// The number of elements of `shape` (checked), for bounding host buffers.
int64_t countOf(const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) n = checkedMul(n, d, what);
  return n;
}

// ---- LpPool ----------------------------------------------------------------------------------

Tensors convertLpPool(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ctx.check(x.ndim() >= 3 && x.ndim() <= 5,
            "X must be [N, C, spatial...] with 1 to 3 spatial dims, got " + shapeStr(x.shape()));
  ctx.check(ctx.attrs.has("kernel_shape"), "attribute 'kernel_shape' is required");
  const size_t nd = static_cast<size_t>(x.ndim() - 2);
  const std::vector<int64_t> kernel = perDimAttr(ctx, "kernel_shape", nd, 1, 1);
  const std::vector<int64_t> strides = perDimAttr(ctx, "strides", nd, 1, 1);
  const std::vector<int64_t> dilations = perDimAttr(ctx, "dilations", nd, 1, 1);
  std::vector<int64_t> pads = perDimAttr(ctx, "pads", 2 * nd, 0, 0);
  std::string autoPad = ctx.attrs.getString("auto_pad", "NOTSET");
  if (autoPad.empty()) autoPad = "NOTSET";
  ctx.check(autoPad == "NOTSET" || autoPad == "VALID" || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER",
            "auto_pad '" + autoPad + "' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
  const bool ceilMode = ctx.attrs.getInt("ceil_mode", 0) != 0;
  const int64_t p = ctx.attrs.getInt("p", 2);
  ctx.check(p >= 1 && p <= 64, "p must lie in [1, 64], got " + std::to_string(p));
  const char* what = "LpPool: the window";
  // Resolve every padding rule to explicit pads; ceil mode becomes extra zero padding at the end
  // (zeros add nothing to the sum of |x|^p).
  for (size_t i = 0; i < nd; ++i) {
    const int64_t len = x.dim(static_cast<int>(2 + i));
    const int64_t extent = checkedAdd(checkedMul(kernel[i] - 1, dilations[i], what), 1, what);
    int64_t out = 0;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      out = (len + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, checkedAdd(checkedMul(out - 1, strides[i], what), extent, what) - len);
      pads[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[nd + i] = total - pads[i];
    } else {
      if (autoPad == "VALID") pads[i] = pads[nd + i] = 0;
      const int64_t span = checkedAdd(len, checkedAdd(pads[i], pads[nd + i], what), what) - extent;
      ctx.check(span >= 0, "the window (kernel_shape " + shapeStr(kernel) + ", dilations " + shapeStr(dilations) +
                               ") is larger than the padded input " + shapeStr(x.shape()) +
                               "; use a smaller kernel or more padding");
      out = ceilMode ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
      if (ceilMode && (out - 1) * strides[i] >= len + pads[i]) --out;  // last window would start in the end pad
    }
    const int64_t extra = (out - 1) * strides[i] + extent - (len + pads[i] + pads[nd + i]);
    if (extra > 0) pads[nd + i] += extra;
  }
  const int64_t channels = x.dim(1);
  std::vector<int64_t> wShape = {channels, 1};
  wShape.insert(wShape.end(), kernel.begin(), kernel.end());
  const int64_t wCount = countOf(wShape, "LpPool: the window of ones");
  checkHostBuffer(ctx, wCount, sizeof(double), "the window of ones");
  const Tensor ones = fromDoubles(std::vector<double>(static_cast<size_t>(wCount), 1.0), wShape, x.dtype(), x.device());
  ops::ConvParams cp;
  cp.strides = strides;
  cp.pads = pads;
  cp.dilations = dilations;
  cp.group = channels;
  const Tensor a = ops::abs(x);
  const Tensor powered = p == 1 ? a : (p == 2 ? ops::mul(a, a) : ops::pow(a, static_cast<double>(p)));
  const Tensor sum = ops::conv(powered, ones, Tensor(), cp);
  if (p == 1) return one(sum);
  // The p-th root has an infinite slope at 0: a window of zeros (after a ReLU, or all padding)
  // gives 0 with a zero gradient instead of NaN.
  const Tensor positive = ops::greater(sum, scalarOf(0.0, sum));
  const Tensor safe = ops::where(positive, sum, scalarOf(1.0, sum));
  const Tensor root = p == 2 ? ops::sqrt(safe) : ops::pow(safe, 1.0 / static_cast<double>(p));
  return one(ops::where(positive, root, scalarOf(0.0, root)));
}

// ---- CenterCropPad ---------------------------------------------------------------------------

Tensors convertCenterCropPad(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input_data");
  const std::vector<int64_t> shape = intsOf(requireInput(ctx, in, 1, "shape"));
  std::vector<int64_t> axes(static_cast<size_t>(x.ndim()));
  for (int i = 0; i < x.ndim(); ++i) axes[i] = i;
  if (ctx.attrs.has("axes")) axes = normalizeAxes(ctx, ctx.attrs.getInts("axes"), x.ndim());
  ctx.check(shape.size() == axes.size(), "shape has " + std::to_string(shape.size()) + " values for " +
                                             std::to_string(axes.size()) + " axes; give one per axis");
  std::vector<int64_t> outShape = x.shape();
  std::vector<int64_t> starts, ends, cropAxes, pads(2 * static_cast<size_t>(x.ndim()), 0);
  bool padded = false;
  for (size_t i = 0; i < axes.size(); ++i) {
    ctx.check(shape[i] >= 0, "shape values must be >= 0, got " + shapeStr(shape));
    const int64_t a = axes[i], len = x.dim(static_cast<int>(a));
    ctx.check(outShape[a] == len, "axis " + std::to_string(a) + " is listed twice in axes");
    outShape[a] = shape[i];
    if (len > shape[i]) {  // crop: the window starts rounded down
      const int64_t start = (len - shape[i]) / 2;
      starts.push_back(start);
      ends.push_back(start + shape[i]);
      cropAxes.push_back(a);
    } else if (len < shape[i]) {  // pad: an odd total puts the extra element at the end
      pads[a] = (shape[i] - len) / 2;
      pads[a + x.ndim()] = shape[i] - len - pads[a];
      padded = true;
    }
  }
  countOf(outShape, "CenterCropPad: the output");
  Tensor y = cropAxes.empty() ? x : ops::slice(x, starts, ends, cropAxes);
  if (padded) y = ops::pad(y, pads);
  return one(y);
}

// ---- Col2Im ----------------------------------------------------------------------------------

Tensors convertCol2Im(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const std::vector<int64_t> image = intsOf(requireInput(ctx, in, 1, "image_shape"));
  const std::vector<int64_t> block = intsOf(requireInput(ctx, in, 2, "block_shape"));
  ctx.check(x.ndim() == 3, "input must be [N, C * prod(block_shape), L], got " + shapeStr(x.shape()));
  ctx.check(image.size() >= 1 && image.size() <= 3 && block.size() == image.size(),
            "image_shape " + shapeStr(image) + " and block_shape " + shapeStr(block) +
                " must have the same length, 1 to 3 spatial dims");
  const size_t nd = image.size();
  for (size_t i = 0; i < nd; ++i) {
    ctx.check(image[i] >= 1 && block[i] >= 1,
              "image_shape " + shapeStr(image) + " and block_shape " + shapeStr(block) + " must be >= 1");
  }
  const std::vector<int64_t> strides = perDimAttr(ctx, "strides", nd, 1, 1);
  const std::vector<int64_t> dilations = perDimAttr(ctx, "dilations", nd, 1, 1);
  const std::vector<int64_t> pads = perDimAttr(ctx, "pads", 2 * nd, 0, 0);
  const char* what = "Col2Im: the block count";
  const int64_t blockSize = countOf(block, what);
  ctx.check(x.dim(1) % blockSize == 0, "input dim 1 (" + std::to_string(x.dim(1)) +
                                           ") must be a multiple of prod(block_shape) = " + std::to_string(blockSize));
  const int64_t channels = x.dim(1) / blockSize;
  std::vector<int64_t> blocks(nd), outPad(nd);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t extent = checkedAdd(checkedMul(block[i] - 1, dilations[i], what), 1, what);
    const int64_t span = checkedAdd(image[i], checkedAdd(pads[i], pads[nd + i], what), what) - extent;
    ctx.check(span >= 0, "the dilated block " + shapeStr(block) + " does not fit the padded image " + shapeStr(image));
    blocks[i] = span / strides[i] + 1;
    // The transposed convolution covers (blocks - 1) * stride + extent - pads; the rest of the
    // image (positions no block reaches) is output padding, left zero.
    outPad[i] = span % strides[i];
  }
  ctx.check(countOf(blocks, what) == x.dim(2), "input has " + std::to_string(x.dim(2)) + " blocks but image_shape " +
                                                   shapeStr(image) + " with block_shape " + shapeStr(block) +
                                                   " gives " + shapeStr(blocks) +
                                                   "; check strides, pads and dilations");
  // One-hot weight [C * K, 1, block...]: input channel c * K + k writes to window offset k.
  std::vector<int64_t> wShape = {x.dim(1), 1};
  wShape.insert(wShape.end(), block.begin(), block.end());
  const int64_t wCount = countOf(wShape, "Col2Im: the one-hot weight");
  checkHostBuffer(ctx, wCount, sizeof(double), "the one-hot weight");
  std::vector<double> w(static_cast<size_t>(wCount), 0.0);
  for (int64_t c = 0; c < x.dim(1); ++c) w[static_cast<size_t>(c * blockSize + c % blockSize)] = 1.0;
  std::vector<int64_t> colShape = {x.dim(0), x.dim(1)};
  colShape.insert(colShape.end(), blocks.begin(), blocks.end());
  ops::ConvTransposeParams p;
  p.strides = strides;
  p.dilations = dilations;
  p.pads = pads;
  p.group = channels;
  p.outputPadding = outPad;
  return one(ops::convTranspose(ops::reshape(x, colShape), fromDoubles(w, wShape, x.dtype(), x.device()), Tensor(), p));
}

// ---- AffineGrid ------------------------------------------------------------------------------

Tensors convertAffineGrid(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& theta = requireInput(ctx, in, 0, "theta");
  const std::vector<int64_t> size = intsOf(requireInput(ctx, in, 1, "size"));
  ctx.check(size.size() == 4 || size.size() == 5,
            "size must be [N, C, H, W] or [N, C, D, H, W], got " + shapeStr(size));
  const int64_t nd = static_cast<int64_t>(size.size()) - 2;
  ctx.check(theta.ndim() == 3 && theta.dim(0) == size[0] && theta.dim(1) == nd && theta.dim(2) == nd + 1,
            "theta must be [N, " + std::to_string(nd) + ", " + std::to_string(nd + 1) + "] for size " + shapeStr(size) +
                ", got " + shapeStr(theta.shape()));
  const bool alignCorners = ctx.attrs.getInt("align_corners", 0) != 0;
  const std::vector<int64_t> spatial(size.begin() + 2, size.end());  // [D,] H, W
  for (int64_t d : spatial) ctx.check(d >= 1, "spatial sizes must be >= 1, got " + shapeStr(size));
  const int64_t points = countOf(spatial, "AffineGrid: the grid");
  checkHostBuffer(ctx, checkedMul(points, nd + 1, "AffineGrid: the grid"), sizeof(double), "the base grid");
  auto coord = [&](int64_t i, int64_t len) {
    // align_corners with a dim of one position: -1, as the ONNX reference (PyTorch puts it at 0,
    // onnxruntime at 1).
    if (alignCorners) return len == 1 ? -1.0 : -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(len - 1);
    return (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(len) - 1.0;
  };
  // Base grid [points, nd + 1], each row (x, y[, z], 1) with x along the last spatial dim.
  std::vector<double> base(static_cast<size_t>(points * (nd + 1)));
  for (int64_t pt = 0; pt < points; ++pt) {
    int64_t rest = pt;
    for (int64_t d = nd - 1; d >= 0; --d) {  // d: spatial dim, the last one fastest
      const int64_t len = spatial[static_cast<size_t>(d)];
      base[static_cast<size_t>(pt * (nd + 1) + (nd - 1 - d))] = coord(rest % len, len);
      rest /= len;
    }
    base[static_cast<size_t>(pt * (nd + 1) + nd)] = 1.0;
  }
  const Tensor grid = ops::matmul(fromDoubles(base, {points, nd + 1}, theta.dtype(), theta.device()),
                                  ops::transpose(theta, {0, 2, 1}));  // [N, points, nd]
  std::vector<int64_t> outShape = {size[0]};
  outShape.insert(outShape.end(), spatial.begin(), spatial.end());
  outShape.push_back(nd);
  return one(ops::reshape(grid, outShape));
}

// ---- TensorScatter ---------------------------------------------------------------------------

Tensors convertTensorScatter(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& cache = requireInput(ctx, in, 0, "past_cache");
  const Tensor& update = requireInput(ctx, in, 1, "update");
  ctx.check(cache.ndim() >= 2 && update.ndim() == cache.ndim(), "past_cache " + shapeStr(cache.shape()) +
                                                                    " and update " + shapeStr(update.shape()) +
                                                                    " must have the same rank, at least 2");
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", -2)}, cache.ndim())[0]);
  ctx.check(axis != 0, "axis must not be 0 (the batch dim)");
  for (int d = 0; d < cache.ndim(); ++d) {
    ctx.check(d == axis || cache.dim(d) == update.dim(d), "update " + shapeStr(update.shape()) +
                                                              " must match past_cache " + shapeStr(cache.shape()) +
                                                              " except along axis " + std::to_string(axis));
  }
  ctx.check(cache.dtype() == update.dtype(), "past_cache and update must have the same dtype");
  const std::string mode = ctx.attrs.getString("mode", "linear");
  ctx.check(mode == "linear" || mode == "circular", "mode must be 'linear' or 'circular', got '" + mode + "'");
  const int64_t batch = cache.dim(0), maxLen = cache.dim(axis), seqLen = update.dim(axis);
  ctx.check(seqLen <= maxLen, "update's sequence length " + std::to_string(seqLen) +
                                  " exceeds past_cache's max_sequence_length " + std::to_string(maxLen));
  std::vector<int64_t> writeAt(static_cast<size_t>(batch), 0);
  if (hasInput(in, 2)) {
    writeAt = intsOf(in[2]);
    ctx.check(static_cast<int64_t>(writeAt.size()) == batch,
              "write_indices has " + std::to_string(writeAt.size()) + " values for batch " + std::to_string(batch));
  }
  for (int64_t& w : writeAt) {
    ctx.check(w >= 0, "write_indices must be >= 0, got " + std::to_string(w));
    if (mode == "circular" && maxLen > 0) w %= maxLen;
    ctx.check(mode == "circular" || w <= maxLen - seqLen, "linear mode needs write_indices + sequence length (" +
                                                              std::to_string(w) + " + " + std::to_string(seqLen) +
                                                              ") <= max_sequence_length " + std::to_string(maxLen) +
                                                              "; use mode 'circular' to wrap around");
  }
  const int64_t total = cache.numel();
  checkHostBuffer(ctx, total, sizeof(int64_t), "the scatter indices");
  int64_t inner = 1;
  for (int d = axis + 1; d < cache.ndim(); ++d) inner *= cache.dim(d);
  const int64_t perBatch = batch > 0 ? total / batch : 0;
  // Index into concat([cache, update], axis): j keeps the cache slot, maxLen + k takes update[k].
  std::vector<int64_t> idx(static_cast<size_t>(total));
  for (int64_t pos = 0; pos < total; ++pos) {
    const int64_t j = (pos / inner) % maxLen;
    const int64_t w = writeAt[static_cast<size_t>(pos / perBatch)];
    const int64_t k = mode == "circular" ? (j - w + maxLen) % maxLen : j - w;
    idx[static_cast<size_t>(pos)] = k >= 0 && k < seqLen ? maxLen + k : j;
  }
  if (total == 0) return one(cache);
  return one(takeAlongAxis(ops::concat({cache, update}, axis), idx, cache.shape(), axis));
}

// ---- DeformConv ------------------------------------------------------------------------------

// One corner of the bilinear sample: x at (h0 + dh, w0 + dw) (flat `base` + h * W + w into the
// flattened x), weighted by `weight` and by whether the corner lies inside the image.
Tensor deformCorner(const Tensor& flatX, const Tensor& h0, const Tensor& w0, const Tensor& weight, const Tensor& base,
                    int64_t dh, int64_t dw, int64_t height, int64_t width) {
  const Tensor h = ops::add(h0, static_cast<double>(dh));
  const Tensor w = ops::add(w0, static_cast<double>(dw));
  const Tensor zero = scalarOf(0.0, h);
  const Tensor inside = ops::logicalAnd(
      ops::logicalAnd(ops::greaterOrEqual(h, zero), ops::less(h, scalarOf(static_cast<double>(height), h))),
      ops::logicalAnd(ops::greaterOrEqual(w, zero), ops::less(w, scalarOf(static_cast<double>(width), w))));
  const Tensor hc = ops::clip(h, 0.0, static_cast<double>(height - 1));
  const Tensor wc = ops::clip(w, 0.0, static_cast<double>(width - 1));
  // [N, G, 1, K, oH, oW] + [N, G, Cg, 1, 1, 1] -> the flat index of every sampled value.
  const Tensor at = ops::add(ops::unsqueeze(ops::add(ops::mul(hc, static_cast<double>(width)), wc), {2}), base);
  const Tensor value = ops::gather(flatX, ops::cast(at, DType::kInt64), 0);
  const Tensor keep = ops::unsqueeze(ops::mul(weight, ops::cast(inside, weight.dtype())), {2});
  return ops::mul(value, keep);
}

Tensors convertDeformConv(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& w = requireInput(ctx, in, 1, "W");
  const Tensor& offset = requireInput(ctx, in, 2, "offset");
  ctx.check(x.ndim() == 4 && w.ndim() == 4,
            "only 2-D deformable convolution is supported: X must be [N, C, H, W] "
            "and W [oC, C / group, kH, kW], got X " +
                shapeStr(x.shape()) + ", W " + shapeStr(w.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), height = x.dim(2), width = x.dim(3);
  const int64_t outC = w.dim(0), kh = w.dim(2), kw = w.dim(3), k = kh * kw;
  const int64_t group = ctx.attrs.getInt("group", 1), offGroup = ctx.attrs.getInt("offset_group", 1);
  ctx.check(
      group >= 1 && offGroup >= 1 && c % group == 0 && outC % group == 0 && c % offGroup == 0 && w.dim(1) * group == c,
      "group " + std::to_string(group) + " and offset_group " + std::to_string(offGroup) +
          " must divide the channels of X " + shapeStr(x.shape()) + " and W " + shapeStr(w.shape()) +
          " (W must be [oC, C / group, kH, kW])");
  if (ctx.attrs.has("kernel_shape")) {
    ctx.check(
        ctx.attrs.getInts("kernel_shape") == std::vector<int64_t>{kh, kw},
        "kernel_shape " + shapeStr(ctx.attrs.getInts("kernel_shape")) + " does not match W " + shapeStr(w.shape()));
  }
  const std::vector<int64_t> strides = perDimAttr(ctx, "strides", 2, 1, 1);
  const std::vector<int64_t> dilations = perDimAttr(ctx, "dilations", 2, 1, 1);
  const std::vector<int64_t> pads = perDimAttr(ctx, "pads", 4, 0, 0);
  ctx.check(kh >= 1 && kw >= 1 && height >= 1 && width >= 1, "X and W need non-empty spatial dims");
  const char* what = "DeformConv: the output size";
  const int64_t spanH = checkedAdd(height, checkedAdd(pads[0], pads[2], what), what) -
                        checkedAdd(checkedMul(kh - 1, dilations[0], what), 1, what);
  const int64_t spanW = checkedAdd(width, checkedAdd(pads[1], pads[3], what), what) -
                        checkedAdd(checkedMul(kw - 1, dilations[1], what), 1, what);
  ctx.check(spanH >= 0 && spanW >= 0, "the dilated kernel is larger than the padded input " + shapeStr(x.shape()));
  const int64_t outH = spanH / strides[0] + 1, outW = spanW / strides[1] + 1;
  ctx.check(offset.shape() == Shape{n, offGroup * k * 2, outH, outW},
            "offset must be [N, offset_group * kH * kW * 2, oH, oW] = " + shapeStr({n, offGroup * k * 2, outH, outW}) +
                ", got " + shapeStr(offset.shape()));
  const Tensor mask = optionalInput(in, 4);
  ctx.check(!mask.defined() || mask.shape() == Shape{n, offGroup * k, outH, outW},
            "mask must be [N, offset_group * kH * kW, oH, oW] = " + shapeStr({n, offGroup * k, outH, outW}));
  const Tensor bias = optionalInput(in, 3);
  ctx.check(!bias.defined() || bias.shape() == Shape{outC}, "B must be [oC] = [" + std::to_string(outC) + "]");
  // Every gathered value is one element of the [N, C, K, oH, oW] columns; bound them first.
  const int64_t columns = countOf({n, c, k, outH, outW}, "DeformConv: the sampled columns");
  checkHostBuffer(ctx, columns, 4 * sizeof(double), "the sampled columns");
  ctx.check(checkedMul(n, countOf({c, height, width}, what), what) < (int64_t{1} << 52),
            "X " + shapeStr(x.shape()) + " has too many elements to index exactly");
  const DType dt = x.dtype();
  // Sampling positions [N, G, K, oH, oW]: the kernel tap's place plus the learned offset.
  const Tensor off = ops::reshape(offset, {n, offGroup, k, 2, outH, outW});
  std::vector<double> baseH(static_cast<size_t>(k * outH)), baseW(static_cast<size_t>(k * outW));
  for (int64_t t = 0; t < k; ++t) {
    for (int64_t o = 0; o < outH; ++o)
      baseH[t * outH + o] = static_cast<double>(o * strides[0] - pads[0] + (t / kw) * dilations[0]);
    for (int64_t o = 0; o < outW; ++o)
      baseW[t * outW + o] = static_cast<double>(o * strides[1] - pads[1] + (t % kw) * dilations[1]);
  }
  const Tensor ph = ops::add(ops::squeeze(ops::slice(off, {0}, {1}, {3}), {3}),
                             fromDoubles(baseH, {1, 1, k, outH, 1}, dt, x.device()));
  const Tensor pw = ops::add(ops::squeeze(ops::slice(off, {1}, {2}, {3}), {3}),
                             fromDoubles(baseW, {1, 1, k, 1, outW}, dt, x.device()));
  // Integer corners in float64 (exact indices); fractions in x's dtype (gradients reach offset).
  const Tensor h0 = ops::floor(ops::cast(ph.detach(), DType::kFloat64));
  const Tensor w0 = ops::floor(ops::cast(pw.detach(), DType::kFloat64));
  const Tensor fh = ops::sub(ph, ops::cast(h0, dt)), fw = ops::sub(pw, ops::cast(w0, dt));
  const Tensor gh = ops::sub(scalarOf(1.0, fh), fh), gw = ops::sub(scalarOf(1.0, fw), fw);
  const int64_t perGroup = c / offGroup;
  std::vector<double> base(static_cast<size_t>(n * c));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) base[b * c + ch] = static_cast<double>((b * c + ch) * height * width);
  }
  const Tensor baseT = fromDoubles(base, {n, offGroup, perGroup, 1, 1, 1}, DType::kFloat64, x.device());
  const Tensor flatX = ops::reshape(x, {-1});
  Tensor sampled = deformCorner(flatX, h0, w0, ops::mul(gh, gw), baseT, 0, 0, height, width);
  sampled = ops::add(sampled, deformCorner(flatX, h0, w0, ops::mul(gh, fw), baseT, 0, 1, height, width));
  sampled = ops::add(sampled, deformCorner(flatX, h0, w0, ops::mul(fh, gw), baseT, 1, 0, height, width));
  sampled = ops::add(sampled, deformCorner(flatX, h0, w0, ops::mul(fh, fw), baseT, 1, 1, height, width));
  if (mask.defined())
    sampled = ops::mul(sampled, ops::unsqueeze(ops::reshape(mask, {n, offGroup, k, outH, outW}), {2}));
  // [N, G, Cg, K, oH, oW] is [N, C, K, L]: the im2col columns; one batched MatMul per conv group.
  const Tensor cols = ops::reshape(sampled, {n, group, (c / group) * k, outH * outW});
  const Tensor weights = ops::reshape(w, {1, group, outC / group, (c / group) * k});
  Tensor y = ops::reshape(ops::matmul(weights, cols), {n, outC, outH, outW});
  if (bias.defined()) y = ops::add(y, ops::reshape(bias, {1, outC, 1, 1}));
  return one(y);
}

}  // namespace

void registerSpatialConverters(ConverterRegistry& r) {
  r.add("LpPool", 2, convertLpPool);
  r.add("CenterCropPad", 18, convertCenterCropPad);
  r.add("Col2Im", 18, convertCol2Im);
  r.add("AffineGrid", 20, convertAffineGrid);
  r.add("TensorScatter", 24, convertTensorScatter);
  r.add("DeformConv", 19, convertDeformConv);
}

}  // namespace singa::onnxio
