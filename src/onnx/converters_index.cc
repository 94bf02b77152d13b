// Indexing ONNX operators. Gathers (Gather, GatherElements, GatherND, Compress) and Trilu keep
// the data path on engine ops (one Gather over a flattened view with indices computed on the CPU,
// or a Where with a CPU-built mask), so gradients reach the data. Scatters, OneHot and NonZero
// are computed on the CPU: their results are index bookkeeping, not trained functions.
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// Wraps negative indices into [0, n); ValueError naming the node when out of range.
int64_t wrapIndex(const ConvertContext& ctx, int64_t i, int64_t n) {
  const int64_t w = i < 0 ? i + n : i;
  ctx.check(w >= 0 && w < n, "index " + std::to_string(i) + " is out of range for a dimension of size " +
                                 std::to_string(n));
  return w;
}

Tensors convertGather(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::gather(requireInput(ctx, in, 0, "data"), requireInput(ctx, in, 1, "indices"),
                         ctx.attrs.getInt("axis", 0)));
}

Tensors convertGatherElements(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const Tensor& idx = requireInput(ctx, in, 1, "indices");
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", 0)}, x.ndim())[0]);
  ctx.check(idx.ndim() == x.ndim(), "indices must have the data's rank");
  for (int d = 0; d < x.ndim(); ++d) {
    ctx.check(d == axis || idx.dim(d) <= x.dim(d), "indices " + shapeStr(idx.shape()) + " exceed data " +
                                                       shapeStr(x.shape()) + " in dim " + std::to_string(d) +
                                                       " (only the axis " + std::to_string(axis) + " may differ)");
  }
  std::vector<int64_t> v = intsOf(idx);
  for (int64_t& i : v) i = wrapIndex(ctx, i, x.dim(axis));
  return one(takeAlongAxis(x, v, idx.shape(), axis));
}

Tensors convertGatherND(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const Tensor& idx = requireInput(ctx, in, 1, "indices");
  const int64_t b = ctx.attrs.getInt("batch_dims", 0);
  ctx.check(idx.ndim() >= 1, "indices must be at least 1-D");
  ctx.check(b >= 0 && b < std::min<int64_t>(x.ndim(), idx.ndim()),
            "batch_dims " + std::to_string(b) + " must lie in [0, " +
                std::to_string(std::min<int64_t>(x.ndim(), idx.ndim()) - 1) + "] (below the ranks of data " +
                shapeStr(x.shape()) + " and indices " + shapeStr(idx.shape()) + ")");
  const int64_t k = idx.shape().back();
  ctx.check(b + k <= x.ndim(), "indices' last dim plus batch_dims exceeds the data rank");
  for (int64_t d = 0; d < b; ++d) {
    ctx.check(idx.shape()[d] == x.shape()[d], "the first batch_dims=" + std::to_string(b) + " dims of indices " +
                                                  shapeStr(idx.shape()) + " must equal those of data " +
                                                  shapeStr(x.shape()));
  }
  // data -> [rows, rest...] with rows = prod(data.shape[:b+k]); each index tuple picks a row.
  const Shape& ds = x.shape();
  Shape rowShape(ds.begin() + b + k, ds.end());
  Shape dataR{1};
  for (int64_t d = 0; d < b + k; ++d) dataR[0] *= ds[d];
  dataR.insert(dataR.end(), rowShape.begin(), rowShape.end());
  int64_t perBatch = 1;
  for (int64_t d = b; d < b + k; ++d) perBatch *= ds[d];
  const std::vector<int64_t> v = intsOf(idx);
  Shape outIdxShape(idx.shape().begin(), idx.shape().end() - 1);
  const int64_t tuples = numelOf(outIdxShape);
  int64_t batchTuples = 1;  // tuples per batch entry
  for (int64_t d = b; d < static_cast<int64_t>(outIdxShape.size()); ++d) batchTuples *= outIdxShape[d];
  std::vector<int64_t> rows(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t row = 0;
    for (int64_t j = 0; j < k; ++j) {
      row = row * ds[b + j] + wrapIndex(ctx, v[static_cast<size_t>(t * k + j)], ds[b + j]);
    }
    const int64_t batch = batchTuples == 0 ? 0 : t / batchTuples;
    rows[static_cast<size_t>(t)] = batch * perBatch + row;
  }
  Tensor flat = ops::reshape(x, dataR);
  return one(ops::gather(flat, intsTensor(rows, outIdxShape, x.device()), 0));
}

// The scatter `reduction` attribute: none, add, mul, max or min.
std::string reductionOf(const ConvertContext& ctx) {
  const std::string red = ctx.attrs.getString("reduction", "none");
  ctx.check(red == "none" || red == "add" || red == "mul" || red == "max" || red == "min",
            "reduction must be none, add, mul, max or min, got '" + red + "'");
  return red;
}

// ScatterElements / Scatter: out = data; out[idx with axis replaced] (op)= updates.
template <class V>
void applyReduction(V& dst, V src, const std::string& red) {
  if (red == "add") {
    dst += src;
  } else if (red == "mul") {
    dst *= src;
  } else if (red == "max") {
    dst = std::max(dst, src);
  } else if (red == "min") {
    dst = std::min(dst, src);
  } else {
    dst = src;
  }
}

template <class V>
std::vector<V> scatterElements(const ConvertContext& ctx, std::vector<V> data, const Shape& ds,
                               const std::vector<int64_t>& idx, const Shape& is, const std::vector<V>& upd,
                               int axis, const std::string& red) {
  const std::vector<int64_t> strides = contiguousStrides(ds);
  std::vector<int64_t> pos(is.size(), 0);
  for (size_t i = 0; i < idx.size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < is.size(); ++d) {
      off += (static_cast<int>(d) == axis ? wrapIndex(ctx, idx[i], ds[d]) : pos[d]) * strides[d];
    }
    applyReduction(data[static_cast<size_t>(off)], upd[i], red);
    for (int d = static_cast<int>(is.size()) - 1; d >= 0; --d) {
      if (++pos[d] < is[d]) break;
      pos[d] = 0;
    }
  }
  return data;
}

Tensors convertScatterElements(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const Tensor& idx = requireInput(ctx, in, 1, "indices");
  const Tensor& upd = requireInput(ctx, in, 2, "updates");
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", 0)}, x.ndim())[0]);
  const std::string red = reductionOf(ctx);
  ctx.check(idx.ndim() == x.ndim() && idx.shape() == upd.shape(),
            "indices and updates must have the same shape and the data's rank");
  for (int d = 0; d < x.ndim(); ++d) {
    // Along the axis the index values pick the position (checked per index); elsewhere the
    // position is the index's own coordinate, so those dims must fit the data.
    ctx.check(d == axis || idx.dim(d) <= x.dim(d), "indices " + shapeStr(idx.shape()) + " exceed data " +
                                                       shapeStr(x.shape()) + " in dim " + std::to_string(d) +
                                                       " (only the axis " + std::to_string(axis) + " may differ)");
  }
  const std::vector<int64_t> iv = intsOf(idx);
  if (isFloating(x.dtype())) {
    return one(fromDoubles(scatterElements(ctx, doublesOf(x), x.shape(), iv, idx.shape(), doublesOf(upd), axis, red),
                           x.shape(), x.dtype(), x.device()));
  }
  return one(fromInts(scatterElements(ctx, intsOf(x), x.shape(), iv, idx.shape(), intsOf(upd), axis, red),
                      x.shape(), x.dtype(), x.device()));
}

template <class V>
std::vector<V> scatterND(const ConvertContext& ctx, std::vector<V> data, const Shape& ds,
                         const std::vector<int64_t>& idx, const Shape& is, const std::vector<V>& upd,
                         const std::string& red) {
  const int64_t k = is.back();
  int64_t slice = 1;
  for (size_t d = static_cast<size_t>(k); d < ds.size(); ++d) slice *= ds[d];
  const int64_t tuples = k == 0 ? 0 : static_cast<int64_t>(idx.size()) / k;
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t row = 0;
    for (int64_t j = 0; j < k; ++j) row = row * ds[j] + wrapIndex(ctx, idx[static_cast<size_t>(t * k + j)], ds[j]);
    for (int64_t e = 0; e < slice; ++e) {
      applyReduction(data[static_cast<size_t>(row * slice + e)], upd[static_cast<size_t>(t * slice + e)], red);
    }
  }
  return data;
}

Tensors convertScatterND(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "data");
  const Tensor& idx = requireInput(ctx, in, 1, "indices");
  const Tensor& upd = requireInput(ctx, in, 2, "updates");
  const std::string red = reductionOf(ctx);
  ctx.check(idx.ndim() >= 1 && idx.shape().back() <= x.ndim(), "indices' last dim exceeds the data rank");
  // updates = indices.shape[:-1] + data.shape[k:]: one data slice per index tuple.
  Shape want(idx.shape().begin(), idx.shape().end() - 1);
  want.insert(want.end(), x.shape().begin() + idx.shape().back(), x.shape().end());
  ctx.check(upd.shape() == want, "updates " + shapeStr(upd.shape()) + " must be " + shapeStr(want) +
                                     " (indices.shape[:-1] + data.shape[k:]) for data " + shapeStr(x.shape()) +
                                     " and indices " + shapeStr(idx.shape()));
  const std::vector<int64_t> iv = intsOf(idx);
  if (isFloating(x.dtype())) {
    return one(fromDoubles(scatterND(ctx, doublesOf(x), x.shape(), iv, idx.shape(), doublesOf(upd), red),
                           x.shape(), x.dtype(), x.device()));
  }
  return one(fromInts(scatterND(ctx, intsOf(x), x.shape(), iv, idx.shape(), intsOf(upd), red), x.shape(),
                      x.dtype(), x.device()));
}

Tensors convertTrilu(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(x.ndim() >= 2, "needs at least a 2-D input");
  const int64_t k = hasInput(in, 1) ? scalarInt(ctx, in[1], "k") : 0;
  const bool upper = ctx.attrs.getInt("upper", 1) != 0;
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  std::vector<double> mask(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) mask[static_cast<size_t>(i * cols + j)] = upper ? (j - i >= k) : (j - i <= k);
  }
  Tensor m = fromDoubles(mask, {rows, cols}, DType::kBool, x.device());
  return one(ops::where(m, x, scalarOf(0.0, x)));
}

Tensors convertOneHot(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& idx = requireInput(ctx, in, 0, "indices");
  const double depthValue = scalarDouble(ctx, requireInput(ctx, in, 1, "depth"), "depth");
  ctx.check(depthValue >= 1.0 && depthValue < 9.2e18, "depth must be a positive number, got " +
                                                          std::to_string(depthValue));
  const int64_t depth = static_cast<int64_t>(depthValue);
  const Tensor& values = requireInput(ctx, in, 2, "values");
  ctx.check(values.numel() == 2, "values must hold [off_value, on_value]");
  const std::vector<double> vals = doublesOf(values);
  const int outRank = idx.ndim() + 1;
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", -1)}, outRank)[0]);
  Shape os(idx.shape());
  os.insert(os.begin() + axis, depth);
  int64_t inner = 1;
  for (int d = axis; d < idx.ndim(); ++d) inner *= idx.shape()[d];
  const std::vector<double> iv = doublesOf(idx);
  checkHostBuffer(ctx, numelOf(os), sizeof(double), "the one-hot output " + shapeStr(os));
  std::vector<double> out(static_cast<size_t>(numelOf(os)), vals[0]);
  for (size_t i = 0; i < iv.size(); ++i) {
    if (!(std::fabs(iv[i]) <= static_cast<double>(depth))) continue;  // out of range, NaN: all off_value
    int64_t c = static_cast<int64_t>(iv[i]);
    if (c < 0) c += depth;
    if (c < 0 || c >= depth) continue;
    const int64_t outer = static_cast<int64_t>(i) / inner;
    const int64_t rest = static_cast<int64_t>(i) % inner;
    out[static_cast<size_t>((outer * depth + c) * inner + rest)] = vals[1];
  }
  return one(fromDoubles(out, os, values.dtype(), values.device()));
}

Tensors convertCompress(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  const std::vector<int64_t> cond = intsOf(requireInput(ctx, in, 1, "condition"));
  const bool hasAxis = ctx.attrs.has("axis");
  Tensor data = hasAxis ? x : ops::reshape(x, {x.numel()});
  const int axis = hasAxis ? static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis")}, x.ndim())[0]) : 0;
  std::vector<int64_t> keep;
  for (size_t i = 0; i < cond.size() && static_cast<int64_t>(i) < data.dim(axis); ++i) {
    if (cond[i] != 0) keep.push_back(static_cast<int64_t>(i));
  }
  return one(ops::gather(data, intsTensor(keep, {-1}, x.device()), axis));
}

Tensors convertNonZero(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const std::vector<double> v = doublesOf(x);
  const Shape& s = x.shape();
  const int nd = x.ndim();
  std::vector<std::vector<int64_t>> coords(static_cast<size_t>(nd));
  std::vector<int64_t> pos(static_cast<size_t>(nd), 0);
  int64_t nnz = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0.0) {
      ++nnz;
      for (int d = 0; d < nd; ++d) coords[d].push_back(pos[d]);
    }
    for (int d = nd - 1; d >= 0; --d) {
      if (++pos[d] < s[d]) break;
      pos[d] = 0;
    }
  }
  std::vector<int64_t> flat;
  for (const auto& c : coords) flat.insert(flat.end(), c.begin(), c.end());
  return one(intsTensor(flat, {static_cast<int64_t>(nd), nnz}, x.device()));
}

}  // namespace

void registerIndexConverters(ConverterRegistry& r) {
  r.add("Gather", 1, convertGather);
  r.add("GatherElements", 11, convertGatherElements);
  r.add("GatherND", 11, convertGatherND);
  r.add("Scatter", 9, convertScatterElements, false);
  r.add("ScatterElements", 11, convertScatterElements, false);
  r.add("ScatterND", 11, convertScatterND, false);
  r.add("Trilu", 14, convertTrilu);
  r.add("OneHot", 9, convertOneHot);
  r.add("Compress", 9, convertCompress);
  r.add("NonZero", 9, convertNonZero);
}

}  // namespace singa::onnxio
