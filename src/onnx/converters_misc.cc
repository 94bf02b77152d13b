// Less common ONNX operators computed mostly on the CPU: Det, Unique, NonMaxSuppression,
// MaxUnpool and ReverseSequence (the last and Unique's values keep the data path on an engine
// Gather, so gradients flow through them).
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

Tensors convertDet(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ctx.check(x.ndim() >= 2 && x.dim(-1) == x.dim(-2), "needs [..., M, M] input, got " + shapeStr(x.shape()));
  const int64_t m = x.dim(-1);
  const std::vector<double> v = doublesOf(x);
  const int64_t count = m == 0 ? 0 : static_cast<int64_t>(v.size()) / (m * m);
  std::vector<double> out(static_cast<size_t>(count));
  for (int64_t b = 0; b < count; ++b) {
    std::vector<double> a(v.begin() + b * m * m, v.begin() + (b + 1) * m * m);
    double det = 1.0;
    for (int64_t c = 0; c < m && det != 0.0; ++c) {
      int64_t piv = c;
      for (int64_t r = c + 1; r < m; ++r) {
        if (std::fabs(a[r * m + c]) > std::fabs(a[piv * m + c])) piv = r;
      }
      if (a[piv * m + c] == 0.0) {
        det = 0.0;
        break;
      }
      if (piv != c) {
        for (int64_t k = 0; k < m; ++k) std::swap(a[c * m + k], a[piv * m + k]);
        det = -det;
      }
      det *= a[c * m + c];
      for (int64_t r = c + 1; r < m; ++r) {
        const double f = a[r * m + c] / a[c * m + c];
        for (int64_t k = c; k < m; ++k) a[r * m + k] -= f * a[c * m + k];
      }
    }
    out[b] = det;
  }
  return one(fromDoubles(out, Shape(x.shape().begin(), x.shape().end() - 2), x.dtype(), x.device()));
}

Tensors convertUnique(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const bool hasAxis = ctx.attrs.has("axis");
  const bool sorted = ctx.attrs.getInt("sorted", 1) != 0;
  const int axis = hasAxis ? static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis")}, x.ndim())[0]) : 0;
  Tensor data = hasAxis ? x : ops::reshape(x, {x.numel()});
  // Rows: slices along `axis`, compared as vectors.
  Tensor rows = moveAxis(data, axis, 0);
  const int64_t n = rows.ndim() == 0 ? 1 : rows.dim(0);
  const int64_t width = n == 0 ? 0 : rows.numel() / n;
  const std::vector<double> v = doublesOf(rows);
  auto row = [&](int64_t i) { return std::vector<double>(v.begin() + i * width, v.begin() + (i + 1) * width); };
  std::vector<int64_t> firsts;  // first occurrence of each distinct row, in order of appearance
  std::vector<int64_t> inverseFirst(static_cast<size_t>(n));
  std::map<std::vector<double>, int64_t> seen;
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = seen.emplace(row(i), static_cast<int64_t>(firsts.size()));
    if (inserted) firsts.push_back(i);
    inverseFirst[i] = it->second;
  }
  std::vector<int64_t> order(firsts.size());
  std::iota(order.begin(), order.end(), 0);
  if (sorted) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row(firsts[a]) < row(firsts[b]); });
  }
  std::vector<int64_t> rank(order.size());
  for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = static_cast<int64_t>(k);
  std::vector<int64_t> indices, inverse(static_cast<size_t>(n)), counts(order.size(), 0);
  for (int64_t u : order) indices.push_back(firsts[u]);
  for (int64_t i = 0; i < n; ++i) {
    inverse[i] = rank[inverseFirst[i]];
    counts[inverse[i]]++;
  }
  const int64_t k = static_cast<int64_t>(indices.size());
  Tensor y = ops::gather(data, intsTensor(indices, {k}, x.device()), axis);
  return {y, intsTensor(indices, {k}, x.device()), intsTensor(inverse, {n}, x.device()),
          intsTensor(counts, {k}, x.device())};
}

bool suppressedByIou(const double* a, const double* b, bool centerBox, double threshold) {
  double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  if (!centerBox) {
    ax0 = std::min(a[1], a[3]); ax1 = std::max(a[1], a[3]); ay0 = std::min(a[0], a[2]); ay1 = std::max(a[0], a[2]);
    bx0 = std::min(b[1], b[3]); bx1 = std::max(b[1], b[3]); by0 = std::min(b[0], b[2]); by1 = std::max(b[0], b[2]);
  } else {
    ax0 = a[0] - a[2] / 2; ax1 = a[0] + a[2] / 2; ay0 = a[1] - a[3] / 2; ay1 = a[1] + a[3] / 2;
    bx0 = b[0] - b[2] / 2; bx1 = b[0] + b[2] / 2; by0 = b[1] - b[3] / 2; by1 = b[1] + b[3] / 2;
  }
  const double ix = std::min(ax1, bx1) - std::max(ax0, bx0);
  const double iy = std::min(ay1, by1) - std::max(ay0, by0);
  if (ix <= 0 || iy <= 0) return false;
  const double inter = ix * iy;
  const double areaA = (ax1 - ax0) * (ay1 - ay0);
  const double areaB = (bx1 - bx0) * (by1 - by0);
  const double uni = areaA + areaB - inter;
  if (areaA <= 0 || areaB <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}

Tensors convertNms(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& boxes = requireInput(ctx, in, 0, "boxes");
  const Tensor& scores = requireInput(ctx, in, 1, "scores");
  ctx.check(boxes.ndim() == 3 && boxes.dim(2) == 4 && scores.ndim() == 3 && scores.dim(0) == boxes.dim(0) &&
                scores.dim(2) == boxes.dim(1),
            "boxes must be [B, N, 4] and scores [B, C, N]");
  const int64_t maxOut = hasInput(in, 2) && in[2].numel() > 0 ? std::max<int64_t>(intsOf(in[2])[0], 0) : 0;
  const double iou = hasInput(in, 3) && in[3].numel() > 0 ? doublesOf(in[3])[0] : 0.0;
  const bool hasScoreThreshold = hasInput(in, 4) && in[4].numel() > 0;
  const double scoreThreshold = hasScoreThreshold ? doublesOf(in[4])[0] : 0.0;
  const bool centerBox = ctx.attrs.getInt("center_point_box", 0) != 0;
  const std::vector<double> bv = doublesOf(boxes);
  const std::vector<double> sv = doublesOf(scores);
  const int64_t nb = boxes.dim(0), nc = scores.dim(1), n = boxes.dim(1);
  std::vector<int64_t> selected;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t c = 0; c < nc; ++c) {
      const double* s = sv.data() + (b * nc + c) * n;
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < n; ++i) {
        if (!hasScoreThreshold || s[i] > scoreThreshold) cand.push_back(i);
      }
      // Highest score first; ties keep the lower box index first.
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t p, int64_t q) { return s[p] > s[q]; });
      std::vector<int64_t> kept;
      for (int64_t i : cand) {
        if (static_cast<int64_t>(kept.size()) >= maxOut) break;
        bool ok = true;
        for (int64_t j : kept) {
          if (suppressedByIou(bv.data() + (b * n + i) * 4, bv.data() + (b * n + j) * 4, centerBox, iou)) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        kept.push_back(i);
        selected.insert(selected.end(), {b, c, i});
      }
    }
  }
  return one(intsTensor(selected, {static_cast<int64_t>(selected.size() / 3), 3}, boxes.device()));
}

Tensors convertMaxUnpool(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& idx = requireInput(ctx, in, 1, "I");
  ctx.check(x.ndim() >= 3, "X must be [N, C, D1, ...], got " + shapeStr(x.shape()));
  ctx.check(ctx.attrs.has("kernel_shape"), "attribute kernel_shape is required");
  const std::vector<int64_t> k = ctx.attrs.getInts("kernel_shape");
  const int sd = x.ndim() - 2;
  const std::vector<int64_t> strides = ctx.attrs.getInts("strides", std::vector<int64_t>(sd, 1));
  const std::vector<int64_t> pads = ctx.attrs.getInts("pads", std::vector<int64_t>(2 * sd, 0));
  ctx.check(static_cast<int>(k.size()) == sd && static_cast<int>(strides.size()) == sd &&
                static_cast<int>(pads.size()) == 2 * sd,
            "kernel_shape " + shapeStr(k) + ", strides " + shapeStr(strides) + " and pads " + shapeStr(pads) +
                " must have one value (pads two) per spatial dim of X " + shapeStr(x.shape()));
  // Indices address the inferred (un-padded) output; an explicit output_shape pads it at the end.
  Shape inferred{x.dim(0), x.dim(1)};
  for (int d = 0; d < sd; ++d) {
    ctx.check(k[d] >= 1 && strides[d] >= 1 && pads[d] >= 0 && pads[sd + d] >= 0,
              "kernel_shape and strides must be >= 1 and pads >= 0, got kernel_shape " + shapeStr(k) + ", strides " +
                  shapeStr(strides) + ", pads " + shapeStr(pads));
    const char* what = "MaxUnpool: the output size";
    const int64_t full = checkedAdd(checkedMul(std::max<int64_t>(x.dim(d + 2) - 1, 0), strides[d], what), k[d], what);
    const int64_t size = full - checkedAdd(pads[d], pads[sd + d], what);
    ctx.check(size >= 1, "pads " + shapeStr(pads) + " leave no output in spatial dim " + std::to_string(d));
    inferred.push_back(size);
  }
  checkHostBuffer(ctx, numelOf(inferred), sizeof(double), "the unpooled output " + shapeStr(inferred));
  std::vector<double> out(static_cast<size_t>(numelOf(inferred)), 0.0);
  const std::vector<double> v = doublesOf(x);
  const std::vector<int64_t> iv = intsOf(idx);
  ctx.check(iv.size() == v.size(), "indices must have the shape of X");
  for (size_t i = 0; i < v.size(); ++i) {
    ctx.check(iv[i] >= 0 && iv[i] < static_cast<int64_t>(out.size()), "index out of range of the output");
    out[static_cast<size_t>(iv[i])] = v[i];
  }
  Tensor y = fromDoubles(out, inferred, x.dtype(), x.device());
  if (!hasInput(in, 2)) return one(y);
  const Shape outShape = intsOf(in[2]);
  ctx.check(outShape.size() == inferred.size(), "output_shape must have the input's rank");
  std::vector<int64_t> padding(2 * outShape.size(), 0);
  for (size_t d = 0; d < outShape.size(); ++d) {
    ctx.check(outShape[d] >= inferred[d], "output_shape is smaller than the unpooled shape");
    padding[outShape.size() + d] = outShape[d] - inferred[d];
  }
  return one(ops::pad(y, padding));
}

Tensors convertReverseSequence(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const std::vector<int64_t> lens = intsOf(requireInput(ctx, in, 1, "sequence_lens"));
  const int64_t batchAxis = ctx.attrs.getInt("batch_axis", 1);
  const int64_t timeAxis = ctx.attrs.getInt("time_axis", 0);
  ctx.check(x.ndim() >= 2, "input must be at least 2-D, got " + shapeStr(x.shape()));
  ctx.check((batchAxis == 0 && timeAxis == 1) || (batchAxis == 1 && timeAxis == 0),
            "batch_axis and time_axis must be 0 and 1 in some order, got " + std::to_string(batchAxis) + " and " +
                std::to_string(timeAxis));
  ctx.check(static_cast<int64_t>(lens.size()) == x.dim(static_cast<int>(batchAxis)),
            "sequence_lens has " + std::to_string(lens.size()) + " entries for a batch of " +
                std::to_string(x.dim(static_cast<int>(batchAxis))));
  for (int64_t len : lens) {
    ctx.check(len >= 0 && len <= x.dim(static_cast<int>(timeAxis)),
              "sequence length " + std::to_string(len) + " is outside [0, " +
                  std::to_string(x.dim(static_cast<int>(timeAxis))) + "] (the time axis)");
  }
  const Shape& s = x.shape();
  const std::vector<int64_t> strides = contiguousStrides(s);
  std::vector<int64_t> flat(static_cast<size_t>(x.numel()));
  std::vector<int64_t> pos(s.size(), 0);
  for (size_t i = 0; i < flat.size(); ++i) {
    const int64_t len = lens[static_cast<size_t>(pos[batchAxis])];
    int64_t off = 0;
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t p = pos[d];
      if (static_cast<int64_t>(d) == timeAxis && p < len) p = len - 1 - p;
      off += p * strides[d];
    }
    flat[i] = off;
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      if (++pos[d] < s[d]) break;
      pos[d] = 0;
    }
  }
  return one(ops::gather(ops::reshape(x, {x.numel()}), intsTensor(flat, s, x.device()), 0));
}

}  // namespace

void registerMiscConverters(ConverterRegistry& r) {
  r.add("Det", 11, convertDet, false);
  r.add("Unique", 11, convertUnique);
  r.add("NonMaxSuppression", 10, convertNms);
  r.add("MaxUnpool", 9, convertMaxUnpool, false);
  r.add("ReverseSequence", 10, convertReverseSequence);
}

}  // namespace singa::onnxio
