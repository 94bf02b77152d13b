// Linear algebra and normalised-exponential ONNX operators: MatMul, Gemm, Softmax / LogSoftmax /
// Hardmax (with the pre-opset-13 "coerce to 2-D" semantics), CumSum, TopK and Einsum. Float
// paths map onto engine ops (differentiable; CumSum as a MatMul with a triangular matrix);
// index-producing ops are computed on the CPU.
#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

Tensors convertMatMul(const ConvertContext& ctx, const Tensors& in) {
  return one(ops::matmul(requireInput(ctx, in, 0, "A"), requireInput(ctx, in, 1, "B")));
}

Tensors convertGemm(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  return one(ops::gemm(a, b, optionalInput(in, 2), ctx.attrs.getFloat("alpha", 1.0),
                       ctx.attrs.getFloat("beta", 1.0), ctx.attrs.getInt("transA", 0) != 0,
                       ctx.attrs.getInt("transB", 0) != 0));
}

// Before opset 13, Softmax-like ops flatten the input to 2-D at `axis` (default 1) and normalise
// each row; from 13 they normalise along `axis` (default -1).
template <Tensor (*F)(const Tensor&, int64_t)>
Tensors softmaxLike(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  if (ctx.opset >= 13) return one(F(x, ctx.attrs.getInt("axis", -1)));
  if (x.ndim() == 0) return one(F(ops::reshape(x, {1, 1}), -1).reshape({}));
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", 1)}, x.ndim())[0];
  Tensor r = F(ops::flatten(x, axis), -1);
  return one(ops::reshape(r, x.shape()));
}

Tensor hardmaxLast(const Tensor& x, int64_t axis) {
  // One-hot of the first maximum along `axis`.
  const int a = normalizeAxis(axis, x.ndim(), "Hardmax");
  std::vector<int64_t> idx = intsOf(ops::argmax(x, a, true, false));
  const int64_t n = x.dim(a);
  const Shape& s = x.shape();
  int64_t inner = 1;
  for (int d = a + 1; d < x.ndim(); ++d) inner *= s[d];
  std::vector<double> out(static_cast<size_t>(x.numel()), 0.0);
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t outer = static_cast<int64_t>(i) / inner;
    const int64_t in = static_cast<int64_t>(i) % inner;
    out[static_cast<size_t>((outer * n + idx[i]) * inner + in)] = 1.0;
  }
  return fromDoubles(out, s, x.dtype(), x.device());
}

Tensors convertCumSum(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "x");
  ctx.check(x.ndim() >= 1, "x must have rank >= 1, got a 0-d tensor");
  const int64_t axis = normalizeAxes(ctx, {scalarInt(ctx, requireInput(ctx, in, 1, "axis"), "axis")}, x.ndim())[0];
  const bool exclusive = ctx.attrs.getInt("exclusive", 0) != 0;
  const bool reverse = ctx.attrs.getInt("reverse", 0) != 0;
  const Shape& s = x.shape();
  const int64_t n = s[axis];
  int64_t inner = 1, outer = 1;  // dims after / before the axis (inner may be 0: no division)
  for (int d = static_cast<int>(axis) + 1; d < x.ndim(); ++d) inner *= s[d];
  for (int d = 0; d < axis; ++d) outer *= s[d];
  auto run = [&](auto& v) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    std::vector<V> out(v.size(), V(0));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        V acc = 0;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t kk = reverse ? n - 1 - k : k;
          const size_t at = static_cast<size_t>((o * n + kk) * inner + i);
          if (exclusive) out[at] = acc;
          if constexpr (std::is_integral_v<V>) {  // integer sums wrap modulo 2^64, as NumPy
            acc = static_cast<V>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(v[at]));
          } else {
            acc += v[at];
          }
          if (!exclusive) out[at] = acc;
        }
      }
    }
    return out;
  };
  if (x.dtype() == DType::kFloat32 || x.dtype() == DType::kFloat64) {
    // Float: a MatMul with a 0/1 triangular matrix along the axis, so gradients flow.
    checkHostBuffer(ctx, checkedMul(n, n, "CumSum: the triangular matrix"), sizeof(double),
                    "the [" + std::to_string(n) + ", " + std::to_string(n) + "] triangular matrix");
    std::vector<double> tri(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const bool in = reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
        tri[static_cast<size_t>(i * n + j)] = in ? 1.0 : 0.0;
      }
    }
    const int a = static_cast<int>(axis), last = x.ndim() - 1;
    Tensor y = ops::matmul(moveAxis(x, a, last), fromDoubles(tri, {n, n}, x.dtype(), x.device()));
    return one(moveAxis(y, last, a));
  }
  if (isFloating(x.dtype())) {
    std::vector<double> v = doublesOf(x);
    return one(fromDoubles(run(v), s, x.dtype(), x.device()));
  }
  std::vector<int64_t> v = intsOf(x);
  return one(fromInts(run(v), s, x.dtype(), x.device()));
}

Tensors convertTopK(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const int64_t k = ctx.opset < 10 ? ctx.attrs.getInt("k") : scalarInt(ctx, requireInput(ctx, in, 1, "K"), "K");
  ctx.check(x.ndim() >= 1, "X must have rank >= 1, got a 0-d tensor");
  const int axis = static_cast<int>(normalizeAxes(ctx, {ctx.attrs.getInt("axis", -1)}, x.ndim())[0]);
  const bool largest = ctx.attrs.getInt("largest", 1) != 0;
  const Shape& s = x.shape();
  const int64_t n = s[axis];
  ctx.check(k >= 0 && k <= n, "K=" + std::to_string(k) + " must lie in [0, " + std::to_string(n) +
                                  "] (the size of axis " + std::to_string(axis) + ")");
  // Products of the dims after and before the axis (not numel / (n * inner): inner may be 0).
  int64_t inner = 1, outer = 1;
  for (int d = axis + 1; d < x.ndim(); ++d) inner *= s[d];
  for (int d = 0; d < axis; ++d) outer *= s[d];
  const std::vector<double> v = doublesOf(x);
  Shape os = s;
  os[axis] = k;
  std::vector<int64_t> idx(static_cast<size_t>(outer * k * inner));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return v[static_cast<size_t>((o * n + j) * inner + i)]; };
      std::iota(order.begin(), order.end(), 0);
      // Ties keep the lower index first (ONNX's sorted output is stable).
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        return largest ? at(p) > at(q) : at(p) < at(q);
      });
      for (int64_t j = 0; j < k; ++j) idx[static_cast<size_t>((o * k + j) * inner + i)] = order[j];
    }
  }
  Tensor values = takeAlongAxis(x, idx, os, axis);
  return {values, intsTensor(idx, os, x.device())};
}

// Einsum. Ellipses become placeholder labels (right-aligned across operands); a label repeated
// inside one operand takes that operand's diagonal (one Gather over the flattened operand). Each
// operand is then permuted into a global label order with size-1 dims for labels it lacks, the
// operands are multiplied with broadcasting, and labels absent from the output are summed away.
Tensor einsumDiagonal(const Tensor& x, std::string& labels) {
  std::string unique;
  for (char c : labels) {
    if (unique.find(c) == std::string::npos) unique += c;
  }
  if (unique.size() == labels.size()) return x;
  Shape shape;
  for (char c : unique) shape.push_back(x.dim(static_cast<int>(labels.find(c))));
  for (size_t d = 0; d < labels.size(); ++d) {
    SINGA_CHECK(x.dim(static_cast<int>(d)) == shape[unique.find(labels[d])], ShapeError,
                "Einsum: label '" << labels[d] << "' is repeated over dims of different sizes in an operand of shape "
                                  << x.shape());
  }
  const std::vector<int64_t> strides = contiguousStrides(x.shape());
  std::vector<int64_t> flat(static_cast<size_t>(numelOf(shape)));
  std::vector<int64_t> pos(unique.size(), 0);
  for (size_t i = 0; i < flat.size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < labels.size(); ++d) off += pos[unique.find(labels[d])] * strides[d];
    flat[i] = off;
    for (int d = static_cast<int>(unique.size()) - 1; d >= 0; --d) {
      if (++pos[d] < shape[d]) break;
      pos[d] = 0;
    }
  }
  labels = unique;
  return ops::gather(ops::reshape(x, {x.numel()}), intsTensor(flat, shape, x.device()), 0);
}

// Subscripts are letters with at most one "..." per term; the output (after "->") lists each
// label once, and only labels the inputs use. Each ellipsis covers a non-negative number of dims.
void checkEinsumEquation(const ConvertContext& ctx, const std::string& eq, size_t arrow,
                         const std::vector<std::string>& terms, const Tensors& in) {
  auto letters = [&](const std::string& t, const std::string& where) {
    const size_t e = t.find("...");
    ctx.check(e == std::string::npos || t.find("...", e + 3) == std::string::npos,
              "equation '" + eq + "': " + where + " has more than one '...'");
    for (size_t j = 0; j < t.size(); ++j) {
      if (e != std::string::npos && j >= e && j < e + 3) continue;
      ctx.check(std::isalpha(static_cast<unsigned char>(t[j])) != 0,
                "equation '" + eq + "': " + where + " has the character '" + std::string(1, t[j]) +
                    "'; subscripts are letters and '...'");
    }
    return e != std::string::npos;
  };
  for (size_t i = 0; i < terms.size(); ++i) {
    const bool ell = letters(terms[i], "operand " + std::to_string(i));
    const int64_t labels = static_cast<int64_t>(terms[i].size()) - (ell ? 3 : 0);
    ctx.check(ell ? labels <= in[i].ndim() : labels == in[i].ndim(),
              "equation '" + eq + "': operand " + std::to_string(i) + " has rank " + std::to_string(in[i].ndim()) +
                  ", which does not match its subscripts '" + terms[i] + "'");
  }
  if (arrow == std::string::npos) return;
  const std::string out = eq.substr(arrow + 2);
  letters(out, "the output");
  for (size_t j = 0; j < out.size(); ++j) {
    if (out[j] == '.') continue;
    ctx.check(out.find(out[j], j + 1) == std::string::npos,
              "equation '" + eq + "': the output lists '" + std::string(1, out[j]) + "' twice");
    bool used = false;
    for (const std::string& t : terms) used = used || t.find(out[j]) != std::string::npos;
    ctx.check(used, "equation '" + eq + "': the output label '" + std::string(1, out[j]) + "' is in no operand");
  }
}

Tensors convertEinsum(const ConvertContext& ctx, const Tensors& in) {
  std::string eq = ctx.attrs.getString("equation");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const auto arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  size_t start = 0;
  for (size_t i = 0; i <= lhs.size(); ++i) {
    if (i == lhs.size() || lhs[i] == ',') {
      terms.push_back(lhs.substr(start, i - start));
      start = i + 1;
    }
  }
  ctx.check(terms.size() == in.size(), "the equation names " + std::to_string(terms.size()) +
                                           " operands but the node has " + std::to_string(in.size()));
  for (size_t i = 0; i < in.size(); ++i) requireInput(ctx, in, i, "operand");
  checkEinsumEquation(ctx, eq, arrow, terms, in);
  // Ellipsis dims get labels '\x01', '\x02', ... (right-aligned: the last ones are shared).
  int ellRank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto e = terms[i].find("...");
    if (e != std::string::npos) ellRank = std::max(ellRank, in[i].ndim() - static_cast<int>(terms[i].size() - 3));
  }
  std::string ellLabels;
  for (int k = 0; k < ellRank; ++k) ellLabels += static_cast<char>(1 + k);
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto e = terms[i].find("...");
    if (e == std::string::npos) continue;
    const int n = in[i].ndim() - static_cast<int>(terms[i].size() - 3);
    terms[i].replace(e, 3, ellLabels.substr(ellLabels.size() - static_cast<size_t>(n)));
  }
  std::map<char, int> count;
  std::string letters;
  for (const std::string& t : terms) {
    std::string seen;
    for (char c : t) {
      if (seen.find(c) != std::string::npos) continue;
      seen += c;
      if (count[c]++ == 0) letters += c;
    }
  }
  std::string out;
  if (arrow != std::string::npos) {
    out = eq.substr(arrow + 2);
    const auto e = out.find("...");
    if (e != std::string::npos) out.replace(e, 3, ellLabels);
  } else {
    out = ellLabels;
    std::string sorted;
    for (char c : letters) {
      if (c > 3 && count[c] == 1) sorted += c;
    }
    std::sort(sorted.begin(), sorted.end());
    out += sorted;
  }
  std::string global = out;
  for (char c : letters) {
    if (out.find(c) == std::string::npos) global += c;
  }
  Tensor prod;
  for (size_t i = 0; i < terms.size(); ++i) {
    std::string t = terms[i];
    ctx.check(static_cast<int>(t.size()) == in[i].ndim(),
              "operand " + std::to_string(i) + " has rank " + std::to_string(in[i].ndim()) +
                  ", which does not match its subscripts");
    Tensor x = einsumDiagonal(in[i], t);
    std::vector<int64_t> perm;
    for (char c : global) {
      auto p = t.find(c);
      if (p != std::string::npos) perm.push_back(static_cast<int64_t>(p));
    }
    x = ops::transpose(x, perm);
    Shape shape;
    size_t j = 0;
    for (char c : global) shape.push_back(t.find(c) != std::string::npos ? x.dim(static_cast<int>(j++)) : 1);
    x = ops::reshape(x, shape);
    prod = prod.defined() ? ops::mul(prod, x) : x;
  }
  std::vector<int64_t> sumAxes;
  for (size_t d = out.size(); d < global.size(); ++d) sumAxes.push_back(static_cast<int64_t>(d));
  if (!sumAxes.empty()) prod = ops::reduceSum(prod, sumAxes, false);
  return one(prod);
}

}  // namespace

void registerMathConverters(ConverterRegistry& r) {
  r.add("MatMul", 1, convertMatMul);
  r.add("Gemm", 1, convertGemm);
  r.add("Softmax", 1, softmaxLike<ops::softmax>);
  r.add("LogSoftmax", 1, softmaxLike<ops::logSoftmax>);
  r.add("Hardmax", 1, softmaxLike<hardmaxLast>);
  r.add("CumSum", 11, convertCumSum);
  r.add("TopK", 1, convertTopK);
  r.add("Einsum", 12, convertEinsum);
}

}  // namespace singa::onnxio
