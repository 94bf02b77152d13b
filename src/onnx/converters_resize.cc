// Resize (opset 10, 11, 13, 18) and Upsample (7, 9). Resampling is separable: along each resized
// axis, every output position reads a few input positions (1 for nearest, 2 for linear, 4 for
// cubic) with weights, so the result is sum_k Gather(x, idx_k, axis) * w_k. Indices and weights
// are computed on the CPU following the ONNX reference (coordinate transformation, nearest
// rounding, edge clamping, exclude_outside, tf_crop_and_resize extrapolation); the data path is
// engine ops, so gradients reach the input.
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

struct ResizeMode {
  std::string mode = "nearest";             // nearest | linear | cubic
  std::string transform = "half_pixel";     // coordinate_transformation_mode
  std::string nearest = "round_prefer_floor";
  double cubicA = -0.75;
  bool excludeOutside = false;
  double extrapolation = 0.0;
  bool antialias = false;  // linear / cubic: stretch the filter by 1 / scale when downsampling
};

// The linear (triangle) or cubic (Keys, coefficient a) filter at distance d.
double filterAt(const ResizeMode& m, double d) {
  d = std::fabs(d);
  if (m.mode == "linear") return std::max(0.0, 1.0 - d);
  const double a = m.cubicA;
  if (d <= 1.0) return ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0;
  if (d < 2.0) return ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a;
  return 0.0;
}

// Taps of one output position: input indices (unclamped) and weights.
struct Taps {
  std::vector<int64_t> idx;
  std::vector<double> w;
  bool extrapolate = false;
};

Taps tapsFor(const ResizeMode& m, int64_t x, int64_t inSize, int64_t outSize, double scale, double roiStart,
             double roiEnd) {
  const double outWidth = scale * static_cast<double>(inSize);
  const double xd = static_cast<double>(x);
  const double in1 = static_cast<double>(inSize - 1);
  double ori = 0.0;
  Taps t;
  const std::string& tr = m.transform;
  if (tr == "align_corners") {
    ori = outWidth == 1.0 ? 0.0 : xd * in1 / (outWidth - 1.0);
  } else if (tr == "asymmetric") {
    ori = xd / scale;
  } else if (tr == "tf_crop_and_resize") {
    ori = outWidth == 1.0 ? (roiEnd - roiStart) * in1 / 2.0 : xd * (roiEnd - roiStart) * in1 / (outWidth - 1.0);
    ori += roiStart * in1;
    if (ori < 0.0 || ori > in1) t.extrapolate = true;
  } else if (tr == "pytorch_half_pixel") {
    ori = outWidth == 1.0 ? -0.5 : (xd + 0.5) / scale - 0.5;
  } else if (tr == "tf_half_pixel_for_nn") {
    ori = (xd + 0.5) / scale;
  } else if (tr == "half_pixel_symmetric") {  // opset 19
    const double adjustment = static_cast<double>(outSize) / outWidth;
    const double center = static_cast<double>(inSize) / 2.0;
    ori = center * (1.0 - adjustment) + (xd + 0.5) / scale - 0.5;
  } else {
    ori = (xd + 0.5) / scale - 0.5;
  }
  const double fl = std::floor(ori);
  const bool integral = ori == fl;
  // The reference prefers the left neighbour: ratio lies in (0, 1].
  const int64_t base = static_cast<int64_t>(fl) - (integral ? 1 : 0);
  const double ratio = integral ? 1.0 : ori - fl;
  if (m.antialias && m.mode != "nearest" && scale < 1.0) {
    // Antialiasing: the filter (support 1 for linear, 2 for cubic) stretched by 1 / scale, over
    // every input position within that reach, with the weights normalised to sum to 1.
    const double support = (m.mode == "linear" ? 1.0 : 2.0) / scale;
    const int64_t first = static_cast<int64_t>(std::floor(-support)) + 1;
    double sum = 0.0;
    for (int64_t i = first; i <= 1 - first; ++i) {
      t.idx.push_back(base + i);
      t.w.push_back(filterAt(m, (static_cast<double>(i) - ratio) * scale));
      sum += t.w.back();
    }
    if (sum != 0.0) {
      for (double& w : t.w) w /= sum;
    }
  } else if (m.mode == "nearest") {
    bool right = true;
    if (!integral) {
      if (m.nearest == "round_prefer_floor") right = ratio > 0.5;
      else if (m.nearest == "round_prefer_ceil") right = ratio >= 0.5;
      else if (m.nearest == "floor") right = false;
      else right = true;
    }
    t.idx = {right ? base + 1 : base};
    t.w = {1.0};
  } else if (m.mode == "linear") {
    t.idx = {base, base + 1};
    t.w = {1.0 - ratio, ratio};
  } else {
    const double a = m.cubicA;
    const double r = ratio;
    const double s = 1.0 - ratio;
    t.idx = {base - 1, base, base + 1, base + 2};
    t.w = {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
           ((a + 2) * s - (a + 3)) * s * s + 1, ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
  }
  if (m.excludeOutside) {
    double sum = 0.0;
    for (size_t k = 0; k < t.idx.size(); ++k) {
      if (t.idx[k] < 0 || t.idx[k] >= inSize) t.w[k] = 0.0;
      sum += t.w[k];
    }
    if (sum != 0.0) {
      for (double& w : t.w) w /= sum;
    }
  }
  for (int64_t& i : t.idx) i = std::clamp<int64_t>(i, 0, inSize - 1);  // edge padding
  return t;
}

// Resamples `x` along `axis` to `outSize`.
Tensor resizeAxis(const ConvertContext& ctx, const ResizeMode& m, const Tensor& x, int axis, int64_t outSize,
                  double scale, double roiStart, double roiEnd) {
  const int64_t inSize = x.dim(axis);
  std::vector<Taps> taps;
  bool identity = inSize == outSize;
  bool anyExtrapolation = false;
  if (m.antialias && m.mode != "nearest" && scale < 1.0) {
    const double reach = std::ceil((m.mode == "linear" ? 2.0 : 4.0) / scale) + 2.0;
    ctx.check(reach < 1.0e9, "scale " + std::to_string(scale) + " of dim " + std::to_string(axis) +
                                 " is too small for an antialiasing filter");
    checkHostBuffer(ctx, checkedMul(outSize, static_cast<int64_t>(reach), "Resize: the filter taps"),
                    sizeof(int64_t) + sizeof(double), "the antialiasing filter taps of dim " + std::to_string(axis));
  }
  for (int64_t o = 0; o < outSize; ++o) {
    taps.push_back(tapsFor(m, o, inSize, outSize, scale, roiStart, roiEnd));
    const Taps& t = taps.back();
    anyExtrapolation = anyExtrapolation || t.extrapolate;
    double own = 0.0;
    for (size_t k = 0; k < t.idx.size(); ++k) own += t.idx[k] == o ? t.w[k] : 0.0;
    identity = identity && !t.extrapolate && std::fabs(own - 1.0) < 1e-12;
  }
  if (identity) return x;
  const size_t kTaps = taps.empty() ? 0 : taps[0].idx.size();
  Shape wShape(static_cast<size_t>(x.ndim()), 1);
  wShape[axis] = outSize;
  Tensor out;
  if (kTaps > 4) {
    // An antialiased downsampling filter spans up to 4 / scale inputs: one MatMul with the
    // [in, out] weight matrix (clamped taps accumulate), not one Gather per tap.
    checkHostBuffer(ctx, checkedMul(inSize, outSize, "Resize: the weight matrix"), sizeof(double),
                    "the antialiasing weight matrix of dim " + std::to_string(axis));
    std::vector<double> w(static_cast<size_t>(inSize * outSize), 0.0);
    for (int64_t o = 0; o < outSize; ++o) {
      const Taps& t = taps[static_cast<size_t>(o)];
      for (size_t k = 0; k < kTaps; ++k) w[static_cast<size_t>(t.idx[k] * outSize + o)] += t.w[k];
    }
    const int last = x.ndim() - 1;
    out = moveAxis(ops::matmul(moveAxis(x, axis, last), fromDoubles(w, {inSize, outSize}, x.dtype(), x.device())),
                   last, axis);
  }
  for (size_t k = 0; k < kTaps && kTaps <= 4; ++k) {
    std::vector<int64_t> idx;
    std::vector<double> w;
    for (const Taps& t : taps) {
      idx.push_back(t.idx[k]);
      w.push_back(t.w[k]);
    }
    Tensor g = ops::gather(x, intsTensor(idx, {outSize}, x.device()), axis);
    if (m.mode != "nearest") g = ops::mul(g, fromDoubles(w, wShape, x.dtype(), x.device()));
    out = out.defined() ? ops::add(out, g) : g;
  }
  if (anyExtrapolation) {
    std::vector<double> mask;
    for (const Taps& t : taps) mask.push_back(t.extrapolate ? 1.0 : 0.0);
    out = ops::where(fromDoubles(mask, wShape, DType::kBool, x.device()), scalarOf(m.extrapolation, out), out);
  }
  return out;
}

// The output shape must be allocatable before any per-position work is done (the taps of one
// axis cost about a hundred bytes per output position), and an empty input axis has nothing
// to sample from.
void checkOutput(const ConvertContext& ctx, const Tensor& x, const std::vector<int64_t>& sizes) {
  for (int d = 0; d < x.ndim(); ++d) {
    ctx.check(x.dim(d) > 0 || sizes[d] == 0, "cannot resize the empty dim " + std::to_string(d) + " of " +
                                                 shapeStr(x.shape()) + " to " + std::to_string(sizes[d]));
    checkHostBuffer(ctx, sizes[d], 128, "the sampling taps of dim " + std::to_string(d));
  }
  checkHostBuffer(ctx, numelOf(sizes), dtypeSize(x.dtype()), "the output " + shapeStr(sizes));
}

Tensor resizeAll(const ConvertContext& ctx, const ResizeMode& m, const Tensor& x, std::vector<double> scales,
                 std::vector<int64_t> sizes, std::vector<double> roi) {
  const int r = x.ndim();
  const bool tfCrop = m.transform == "tf_crop_and_resize";
  if (roi.size() != 2 * static_cast<size_t>(r)) {
    roi.assign(2 * static_cast<size_t>(r), 0.0);
    for (int d = 0; d < r; ++d) roi[r + d] = 1.0;
  }
  for (double v : roi) ctx.check(std::isfinite(v), "roi values must be finite, got " + std::to_string(v));
  if (!sizes.empty()) {
    ctx.check(static_cast<int>(sizes.size()) == r, "sizes must have one entry per input dim");
    scales.resize(static_cast<size_t>(r));
    for (int d = 0; d < r; ++d) {
      ctx.check(sizes[d] >= 0, "sizes must be >= 0, got " + shapeStr(sizes));
      scales[d] = static_cast<double>(sizes[d]) / static_cast<double>(x.dim(d));
    }
  } else {
    ctx.check(static_cast<int>(scales.size()) == r, "scales must have one entry per input dim (got " +
                                                        std::to_string(scales.size()) + " for a " +
                                                        std::to_string(r) + "-D input)");
    for (int d = 0; d < r; ++d) {
      ctx.check(scales[d] > 0.0 && std::isfinite(scales[d]),
                "scales must be positive and finite, got " + std::to_string(scales[d]) + " for dim " + std::to_string(d));
      const double extent = tfCrop ? roi[r + d] - roi[d] : 1.0;
      const double size = std::floor(static_cast<double>(x.dim(d)) * extent * scales[d]);
      ctx.check(size >= 0.0 && size < 9.0e18, "scale " + std::to_string(scales[d]) + " gives output size " +
                                                   std::to_string(size) + " for dim " + std::to_string(d) + " of " +
                                                   std::to_string(x.dim(d)));
      sizes.push_back(static_cast<int64_t>(size));
    }
  }
  checkOutput(ctx, x, sizes);
  Tensor y = x;
  for (int d = 0; d < r; ++d) y = resizeAxis(ctx, m, y, d, sizes[d], scales[d], roi[d], roi[r + d]);
  return y;
}

ResizeMode modeOf(const ConvertContext& ctx) {
  ResizeMode m;
  m.mode = ctx.attrs.getString("mode", "nearest");
  ctx.check(m.mode == "nearest" || m.mode == "linear" || m.mode == "cubic" || m.mode == "bilinear",
            "mode must be nearest, linear or cubic, got '" + m.mode + "'");
  if (m.mode == "bilinear") m.mode = "linear";
  m.transform = ctx.attrs.getString("coordinate_transformation_mode", "half_pixel");
  ctx.check(m.transform == "half_pixel" || m.transform == "half_pixel_symmetric" || m.transform == "pytorch_half_pixel" ||
                m.transform == "align_corners" || m.transform == "asymmetric" ||
                m.transform == "tf_half_pixel_for_nn" || m.transform == "tf_crop_and_resize",
            "unknown coordinate_transformation_mode '" + m.transform + "'");
  m.nearest = ctx.attrs.getString("nearest_mode", "round_prefer_floor");
  ctx.check(m.nearest == "round_prefer_floor" || m.nearest == "round_prefer_ceil" || m.nearest == "floor" ||
                m.nearest == "ceil",
            "nearest_mode must be round_prefer_floor, round_prefer_ceil, floor or ceil, got '" + m.nearest + "'");
  m.cubicA = ctx.attrs.getFloat("cubic_coeff_a", -0.75);
  m.excludeOutside = ctx.attrs.getInt("exclude_outside", 0) != 0;
  m.extrapolation = ctx.attrs.getFloat("extrapolation_value", 0.0);
  m.antialias = ctx.attrs.getInt("antialias", 0) != 0;
  return m;
}

// Upsample-7/9 and Resize-10: asymmetric coordinates, nearest rounds down.
Tensors convertUpsample(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ResizeMode m = modeOf(ctx);
  m.transform = "asymmetric";
  m.nearest = "floor";
  std::vector<double> scales =
      ctx.opset < 9 && ctx.opType == "Upsample" ? ctx.attrs.getFloats("scales") : doublesOf(requireInput(ctx, in, 1, "scales"));
  return one(resizeAll(ctx, m, x, scales, {}, {}));
}

Tensors convertResize(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const ResizeMode m = modeOf(ctx);
  std::vector<double> roi = doublesOf(optionalInput(in, 1));
  std::vector<double> scales = doublesOf(optionalInput(in, 2));
  std::vector<int64_t> sizes = intsOf(optionalInput(in, 3));
  ctx.check(!scales.empty() || !sizes.empty(), "one of scales or sizes is required");
  if (ctx.attrs.has("axes")) {
    // Opset 18: roi/scales/sizes refer to the listed axes only.
    const std::vector<int64_t> axes = normalizeAxes(ctx, ctx.attrs.getInts("axes"), x.ndim());
    const int r = x.ndim();
    std::vector<double> fullScales(r, 1.0);
    std::vector<int64_t> fullSizes(x.shape().begin(), x.shape().end());
    std::vector<double> fullRoi(2 * static_cast<size_t>(r), 0.0);
    for (int d = 0; d < r; ++d) fullRoi[r + d] = 1.0;
    ctx.check((scales.empty() || scales.size() == axes.size()) && (sizes.empty() || sizes.size() == axes.size()),
              "scales / sizes must have one entry per listed axis (" + std::to_string(axes.size()) + ")");
    for (size_t i = 0; i < axes.size(); ++i) {
      if (!scales.empty()) fullScales[axes[i]] = scales[i];
      if (!sizes.empty()) fullSizes[axes[i]] = sizes[i];
      if (roi.size() == 2 * axes.size()) {
        fullRoi[axes[i]] = roi[i];
        fullRoi[r + axes[i]] = roi[axes.size() + i];
      }
    }
    scales = scales.empty() ? std::vector<double>() : fullScales;
    sizes = sizes.empty() ? std::vector<int64_t>() : fullSizes;
    roi = fullRoi;
  }
  const std::string policy = ctx.attrs.getString("keep_aspect_ratio_policy", "stretch");
  if (!sizes.empty() && policy != "stretch") {
    ctx.check(policy == "not_larger" || policy == "not_smaller", "unknown keep_aspect_ratio_policy '" + policy + "'");
    std::vector<int64_t> axes;
    if (ctx.attrs.has("axes")) {
      axes = normalizeAxes(ctx, ctx.attrs.getInts("axes"), x.ndim());
    } else {
      for (int d = 0; d < x.ndim(); ++d) axes.push_back(d);
    }
    ctx.check(static_cast<int>(sizes.size()) == x.ndim(), "sizes must have one entry per input dim");
    double s = policy == "not_larger" ? 1e300 : 0.0;
    for (int64_t a : axes) {
      ctx.check(sizes[a] >= 0 && x.dim(static_cast<int>(a)) > 0, "sizes must be >= 0 and the input dims non-empty");
      const double r = static_cast<double>(sizes[a]) / static_cast<double>(x.dim(static_cast<int>(a)));
      s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
    }
    for (int64_t a : axes) {
      const double size = std::round(s * static_cast<double>(x.dim(static_cast<int>(a))));
      ctx.check(size < 9.0e18, "sizes give an output dim of " + std::to_string(size));
      sizes[a] = static_cast<int64_t>(size);
    }
    checkOutput(ctx, x, sizes);
    scales.assign(static_cast<size_t>(x.ndim()), 1.0);
    for (int64_t a : axes) scales[a] = s;
    Tensor y = x;
    for (int d = 0; d < x.ndim(); ++d) y = resizeAxis(ctx, m, y, d, sizes[d], scales[d], roi.size() > 0 ? roi[d] : 0.0,
                                                      roi.size() > 0 ? roi[x.ndim() + d] : 1.0);
    return one(y);
  }
  return one(resizeAll(ctx, m, x, sizes.empty() ? scales : std::vector<double>(), sizes, roi));
}

}  // namespace

void registerResizeConverters(ConverterRegistry& r) {
  r.add("Upsample", 7, convertUpsample);
  r.add("Resize", 10, convertUpsample);
  r.add("Resize", 11, convertResize);
}

}  // namespace singa::onnxio
