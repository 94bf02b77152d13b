// Sampling ONNX operators: GridSample (opset 16, 2-D and N-D; nearest / bilinear / bicubic;
// zeros / border / reflection padding) and RoiAlign (opset 10/16). GridSample is a weighted sum of
// gathered input values (indices and weights from the grid, computed on the CPU following ONNX's
// reference), so gradients reach X (not the grid). RoiAlign is computed on the CPU.
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (!(range > 0.0)) return lo;  // a one-pixel axis with align_corners: every point maps onto it
  if (x < lo) {
    const double dx = lo - x;
    const auto n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const auto n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubicCoeffs(double t, double* c) {
  const double a = -0.75;
  t = std::fabs(t);
  c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
  c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
  c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
  c[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

struct Tap1d {
  int64_t idx[4];
  double w[4];
};

Tensors convertGridSample(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& grid = requireInput(ctx, in, 1, "grid");
  const int sd = x.ndim() - 2;
  ctx.check(sd >= 1 && grid.ndim() == sd + 2 && grid.dim(0) == x.dim(0) && grid.dim(-1) == sd,
            "grid must be [N, out..., " + std::to_string(sd) + "] for X " + shapeStr(x.shape()));
  std::string mode = ctx.attrs.getString("mode", ctx.opset >= 20 ? "linear" : "bilinear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  ctx.check(mode == "nearest" || mode == "linear" || mode == "cubic", "unknown mode '" + mode + "'");
  const std::string padding = ctx.attrs.getString("padding_mode", "zeros");
  ctx.check(padding == "zeros" || padding == "border" || padding == "reflection",
            "padding_mode must be zeros, border or reflection, got '" + padding + "'");
  for (int d = 2; d < x.ndim(); ++d) {
    ctx.check(x.dim(d) > 0, "X " + shapeStr(x.shape()) + " has an empty spatial dim: nothing to sample");
  }
  const bool alignCorners = ctx.attrs.getInt("align_corners", 0) != 0;
  const int taps = mode == "nearest" ? 1 : (mode == "linear" ? 2 : 4);
  const int64_t n = x.dim(0), c = x.dim(1);
  Shape outSpatial(grid.shape().begin() + 1, grid.shape().end() - 1);
  const int64_t points = numelOf(outSpatial);
  Shape dims(x.shape().begin() + 2, x.shape().end());
  const std::vector<double> g = doublesOf(grid);
  for (double v : g) ctx.check(std::isfinite(v), "grid values must be finite, got " + std::to_string(v));
  checkHostBuffer(ctx, checkedMul(checkedMul(n, c, "GridSample output"), points, "GridSample output"),
                  sizeof(int64_t), "the output's gather indices");

  // Per (n, point, spatial dim): taps. The grid's last dim lists coordinates innermost-first.
  std::vector<Tap1d> t(static_cast<size_t>(n * points * sd));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t p = 0; p < points; ++p) {
      for (int d = 0; d < sd; ++d) {
        const double norm = g[static_cast<size_t>((b * points + p) * sd + (sd - 1 - d))];
        const double len = static_cast<double>(dims[d]);
        float xf = static_cast<float>(alignCorners ? (norm + 1) / 2.0 * (len - 1) : ((norm + 1) * len - 1) / 2.0);
        const double lo = alignCorners ? 0.0 : -0.5;
        const double hi = alignCorners ? len - 1 : len - 0.5;
        double xv = xf;
        if (mode == "nearest") xv = std::nearbyint(xv);
        if (xv < lo || xv > hi) {
          if (padding == "border") xv = std::clamp(xv, 0.0, len - 1);
          if (padding == "reflection") xv = reflect(xv, lo, hi);
        }
        // Far outside the image every tap reads padding: clamping there changes nothing, and keeps
        // the integer conversions below defined (a grid value of -5e29 overflowed int64).
        xv = std::clamp(xv, -(len + 4.0), len + 4.0);
        Tap1d& tap = t[static_cast<size_t>((b * points + p) * sd + d)];
        const auto fetch = [&](int64_t i, double w, int k) {
          if (padding == "zeros") {
            if (i < 0 || i >= dims[d]) {
              i = 0;
              w = 0.0;
            }
          } else if (padding == "border") {
            i = std::clamp<int64_t>(i, 0, dims[d] - 1);
          } else {
            i = static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi));
            i = std::clamp<int64_t>(i, 0, dims[d] - 1);
          }
          tap.idx[k] = i;
          tap.w[k] = w;
        };
        if (mode == "nearest") {
          fetch(static_cast<int64_t>(xv), 1.0, 0);
        } else {
          const double f = std::floor(xv);
          const auto i0 = static_cast<int64_t>(f);
          if (mode == "linear") {
            fetch(i0, 1.0 - (xv - f), 0);
            fetch(i0 + 1, xv - f, 1);
          } else {
            double cc[4];
            cubicCoeffs(xv - f, cc);
            for (int k = 0; k < 4; ++k) fetch(i0 - 1 + k, cc[k], k);
          }
        }
      }
    }
  }
  const std::vector<int64_t> xs = contiguousStrides(x.shape());
  Shape outShape{n, c};
  outShape.insert(outShape.end(), outSpatial.begin(), outSpatial.end());
  Shape wShape{n, 1};
  wShape.insert(wShape.end(), outSpatial.begin(), outSpatial.end());
  Tensor xf = ops::reshape(x, {x.numel()});
  Tensor out;
  int64_t combos = 1;
  for (int d = 0; d < sd; ++d) combos *= taps;
  for (int64_t combo = 0; combo < combos; ++combo) {
    std::vector<int> k(sd);
    int64_t rem = combo;
    for (int d = sd - 1; d >= 0; --d) {
      k[d] = static_cast<int>(rem % taps);
      rem /= taps;
    }
    std::vector<int64_t> idx(static_cast<size_t>(n * c * points));
    std::vector<double> w(static_cast<size_t>(n * points));
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t p = 0; p < points; ++p) {
        int64_t off = 0;
        double wt = 1.0;
        for (int d = 0; d < sd; ++d) {
          const Tap1d& tap = t[static_cast<size_t>((b * points + p) * sd + d)];
          off += tap.idx[k[d]] * xs[d + 2];
          wt *= tap.w[k[d]];
        }
        w[static_cast<size_t>(b * points + p)] = wt;
        for (int64_t ch = 0; ch < c; ++ch) idx[static_cast<size_t>((b * c + ch) * points + p)] = b * xs[0] + ch * xs[1] + off;
      }
    }
    Tensor v = ops::gather(xf, intsTensor(idx, outShape, x.device()), 0);
    v = ops::mul(v, fromDoubles(w, wShape, x.dtype(), x.device()));
    out = out.defined() ? ops::add(out, v) : v;
  }
  return one(out);
}

Tensors convertRoiAlign(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& rois = requireInput(ctx, in, 1, "rois");
  const std::vector<int64_t> batch = intsOf(requireInput(ctx, in, 2, "batch_indices"));
  ctx.check(x.ndim() == 4 && rois.ndim() == 2 && rois.dim(1) == 4, "X must be [N, C, H, W] and rois [R, 4]");
  const std::string mode = ctx.attrs.getString("mode", "avg");
  ctx.check(mode == "avg" || mode == "max", "mode must be avg or max, got '" + mode + "'");
  const int64_t oh = ctx.attrs.getInt("output_height", 1), ow = ctx.attrs.getInt("output_width", 1);
  ctx.check(oh >= 1 && ow >= 1, "output_height and output_width must be >= 1, got " + std::to_string(oh) + " and " +
                                    std::to_string(ow));
  const int64_t ratio = ctx.attrs.getInt("sampling_ratio", 0);
  ctx.check(ratio >= 0, "sampling_ratio must be >= 0, got " + std::to_string(ratio));
  const double scale = ctx.attrs.getFloat("spatial_scale", 1.0);
  ctx.check(std::isfinite(scale), "spatial_scale must be finite, got " + std::to_string(scale));
  const std::string transform = ctx.attrs.getString("coordinate_transformation_mode", "half_pixel");
  ctx.check(transform == "half_pixel" || transform == "output_half_pixel",
            "coordinate_transformation_mode must be half_pixel or output_half_pixel, got '" + transform + "'");
  const bool halfPixel = ctx.opset >= 16 && transform == "half_pixel";
  const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const std::vector<double> xv = doublesOf(x);
  const std::vector<double> rv = doublesOf(rois);
  const int64_t nr = rois.dim(0);
  ctx.check(static_cast<int64_t>(batch.size()) == nr,
            "batch_indices has " + std::to_string(batch.size()) + " entries for " + std::to_string(nr) + " rois");
  for (int64_t b : batch) {
    ctx.check(b >= 0 && b < x.dim(0), "batch index " + std::to_string(b) + " is outside [0, " +
                                          std::to_string(x.dim(0) - 1) + "] (the batch of X)");
  }
  for (double v : rv) ctx.check(std::isfinite(v), "roi coordinates must be finite, got " + std::to_string(v));
  ctx.check((h > 0 && w > 0) || nr * c == 0, "X " + shapeStr(x.shape()) + " has an empty spatial dim");
  const char* what = "RoiAlign: the output";
  const int64_t bins = checkedMul(checkedMul(checkedMul(nr, c, what), oh, what), ow, what);
  checkHostBuffer(ctx, bins, sizeof(double), "the output");
  // The sampling grid of each bin: given, or adaptive (about one sample per input pixel the
  // bin covers). Its total is bounded so a huge ratio or a huge roi cannot run for hours.
  double samples = 0.0;
  for (int64_t r = 0; r < nr; ++r) {
    const double rw = std::max(std::fabs((rv[r * 4 + 2] - rv[r * 4]) * scale), 1.0);
    const double rh = std::max(std::fabs((rv[r * 4 + 3] - rv[r * 4 + 1]) * scale), 1.0);
    const double gh = ratio > 0 ? static_cast<double>(ratio) : std::ceil(rh / static_cast<double>(oh));
    const double gw = ratio > 0 ? static_cast<double>(ratio) : std::ceil(rw / static_cast<double>(ow));
    samples += gh * gw;
  }
  constexpr double kMaxSamples = 4e9;
  ctx.check(samples * static_cast<double>(c * oh * ow) <= kMaxSamples,
            "sampling_ratio " + std::to_string(ratio) + " and the rois ask for " +
                std::to_string(samples * static_cast<double>(c * oh * ow)) +
                " bilinear samples (at most 4e9); use a smaller sampling_ratio or rois inside the image");
  std::vector<double> out(static_cast<size_t>(bins));
  const double offset = halfPixel ? 0.5 : 0.0;
  for (int64_t r = 0; r < nr; ++r) {
    const double x1 = rv[r * 4] * scale - offset, y1 = rv[r * 4 + 1] * scale - offset;
    const double x2 = rv[r * 4 + 2] * scale - offset, y2 = rv[r * 4 + 3] * scale - offset;
    double rw = x2 - x1, rh = y2 - y1;
    if (!halfPixel) {
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    const double bh = rh / static_cast<double>(oh), bw = rw / static_cast<double>(ow);
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / static_cast<double>(oh)));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / static_cast<double>(ow)));
    const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
    const int64_t b = batch[static_cast<size_t>(r)];
    for (int64_t ch = 0; ch < c; ++ch) {
      const double* plane = xv.data() + (b * c + ch) * h * w;
      for (int64_t py = 0; py < oh; ++py) {
        for (int64_t px = 0; px < ow; ++px) {
          double acc = mode == "max" ? -INFINITY : 0.0;
          bool any = false;
          for (int64_t iy = 0; iy < gh; ++iy) {
            double yy = y1 + static_cast<double>(py) * bh + (static_cast<double>(iy) + 0.5) * bh / static_cast<double>(gh);
            for (int64_t ix = 0; ix < gw; ++ix) {
              double xx = x1 + static_cast<double>(px) * bw + (static_cast<double>(ix) + 0.5) * bw / static_cast<double>(gw);
              double val = 0.0;
              if (!(yy < -1.0 || yy > static_cast<double>(h) || xx < -1.0 || xx > static_cast<double>(w))) {
                double y = std::max(yy, 0.0), xq = std::max(xx, 0.0);
                auto y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(xq);
                int64_t y1i, x1i;
                if (y0 >= h - 1) {
                  y0 = y1i = h - 1;
                  y = static_cast<double>(y0);
                } else {
                  y1i = y0 + 1;
                }
                if (x0 >= w - 1) {
                  x0 = x1i = w - 1;
                  xq = static_cast<double>(x0);
                } else {
                  x1i = x0 + 1;
                }
                const double ly = y - static_cast<double>(y0), lx = xq - static_cast<double>(x0);
                const double hy = 1.0 - ly, hx = 1.0 - lx;
                const double v1 = plane[y0 * w + x0], v2 = plane[y0 * w + x1i];
                const double v3 = plane[y1i * w + x0], v4 = plane[y1i * w + x1i];
                if (mode == "max") {
                  val = std::max({hy * hx * v1, hy * lx * v2, ly * hx * v3, ly * lx * v4});
                } else {
                  val = hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4;
                }
              }
              if (mode == "max") {
                acc = any ? std::max(acc, val) : val;
              } else {
                acc += val;
              }
              any = true;
            }
          }
          out[static_cast<size_t>(((r * c + ch) * oh + py) * ow + px)] = mode == "max" ? (any ? acc : 0.0) : acc / count;
        }
      }
    }
  }
  return one(fromDoubles(out, {nr, c, oh, ow}, x.dtype(), x.device()));
}

}  // namespace

void registerSampleConverters(ConverterRegistry& r) {
  r.add("GridSample", 16, convertGridSample);
  r.add("RoiAlign", 10, convertRoiAlign, false);
}

}  // namespace singa::onnxio
