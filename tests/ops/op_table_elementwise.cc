// Op table rows for the broadcasting binary ops, comparisons, logic and Where, and the shared
// helpers of op_table.h. References are plain double loops over broadcast indices.
#include <cmath>

#include "tests/ops/op_table.h"

namespace singa::optable {

// ---- helpers -------------------------------------------------------------------------------------

Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  Tensor t(shape, DType::kFloat64);
  uniform_(t, lo, hi, g);
  return t;
}

Tensor nonContiguous(const Tensor& t) {
  Tensor base = t.transpose(0, 1).contiguous();  // [b, a], contiguous
  Tensor v = base.transpose(0, 1);               // [a, b] view with swapped strides
  SINGA_CHECK(!v.isContiguous(), ValueError, "nonContiguous: the view came out contiguous");
  return v;
}

Tensor wantGrad(Tensor t) {
  t.setRequiresGrad();
  return t;
}

std::vector<double> values(const Tensor& t) { return t.toVector<double>(); }

Tensor make(const std::vector<double>& v, const Shape& shape) { return Tensor::fromVector(v, shape); }

Shape broadcast(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t broadcastIndex(const Shape& out, const Shape& in, int64_t flat) {
  int64_t idx = 0, stride = 1;
  for (size_t k = out.size(); k-- > 0;) {
    const int64_t coord = flat % out[k];
    flat /= out[k];
    const size_t lead = out.size() - in.size();
    if (k >= lead) {
      const int64_t d = in[k - lead];
      if (d != 1) idx += coord * stride;
      stride *= d;
    }
  }
  return idx;
}

Tensor mapRef(const Tensors& in, const std::function<double(const std::vector<double>&)>& f, DType outDType) {
  Shape shape;
  for (const Tensor& t : in) shape = broadcast(shape, t.shape());
  std::vector<std::vector<double>> vals;
  for (const Tensor& t : in) vals.push_back(values(t));
  std::vector<double> out(static_cast<size_t>(numelOf(shape)));
  std::vector<double> args(in.size());
  for (int64_t i = 0; i < numelOf(shape); ++i) {
    for (size_t k = 0; k < in.size(); ++k) args[k] = vals[k][static_cast<size_t>(broadcastIndex(shape, in[k].shape(), i))];
    out[static_cast<size_t>(i)] = f(args);
  }
  return make(out, shape).to(outDType);
}

namespace {

using Fn2 = std::function<double(double, double)>;
using TensorFn2 = std::function<Tensor(const Tensor&, const Tensor&)>;
using Binary = Tensor (*)(const Tensor&, const Tensor&);  // picks the tensor-tensor overload

/// Same-shape, broadcast and non-contiguous cases of a binary op. `lo`/`hi` bound both operands;
/// `bLo`/`bHi` the second one.
std::vector<Case> binaryCases(const TensorFn2& op, const Fn2& ref, bool grad, double lo, double hi, double bLo,
                              double bHi, DType outDType = DType::kFloat64) {
  auto run = [op](const Tensors& in) { return op(in[0], in[1]); };
  auto reference = [ref, outDType](const Tensors& in) {
    return mapRef(in, [&](const std::vector<double>& v) { return ref(v[0], v[1]); }, outDType);
  };
  auto mk = [&](const char* what, Tensor a, Tensor b) {
    Case c;
    c.what = what;
    c.inputs = {grad ? wantGrad(a) : a, grad ? wantGrad(b) : b};
    c.run = run;
    c.reference = reference;
    c.gradCheck = grad;
    return c;
  };
  return {mk("same shape [3,4]", uniform({3, 4}, lo, hi, 1), uniform({3, 4}, bLo, bHi, 2)),
          mk("broadcast [3,1] x [2,1,4]", uniform({3, 1}, lo, hi, 3), uniform({2, 1, 4}, bLo, bHi, 4)),
          mk("non-contiguous [3,4] x [4]", nonContiguous(uniform({3, 4}, lo, hi, 5)), uniform({4}, bLo, bHi, 6))};
}

/// Integer-valued float inputs (so equal elements occur) for comparisons.
std::vector<Case> compareCases(const TensorFn2& op, const Fn2& ref) {
  std::vector<Case> cases = binaryCases(op, ref, false, 0, 1, 0, 1, DType::kBool);
  for (size_t i = 0; i < cases.size(); ++i) {
    for (Tensor& t : cases[i].inputs) {
      const bool nc = !t.isContiguous();
      Tensor v = ops::floor(ops::mul(t.contiguous(), 3.0));
      t = nc ? nonContiguous(v) : v;
    }
  }
  Case ints = cases[1];
  ints.what = "int64, broadcast";
  for (Tensor& t : ints.inputs) t = t.to(DType::kInt64);
  cases.push_back(ints);
  return cases;
}

Tensor boolsOf(const Shape& shape, uint64_t seed) { return ops::greater(uniform(shape, -1, 1, seed), Tensor::scalar(0.0, DType::kFloat64)); }

std::vector<Case> logicCases(const TensorFn2& op, const std::function<bool(bool, bool)>& ref) {
  Case c;
  c.what = "bool, broadcast [3,1] x [4]";
  c.inputs = {boolsOf({3, 1}, 1), boolsOf({4}, 2)};
  c.run = [op](const Tensors& in) { return op(in[0], in[1]); };
  c.reference = [ref](const Tensors& in) {
    return mapRef(in, [&](const std::vector<double>& v) { return ref(v[0] != 0, v[1] != 0) ? 1.0 : 0.0; }, DType::kBool);
  };
  Case same = c;
  same.what = "bool, same shape [2,5]";
  same.inputs = {boolsOf({2, 5}, 3), boolsOf({2, 5}, 4)};
  return {c, same};
}

double pyMod(double a, double b) {
  const double r = std::fmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

}  // namespace

std::vector<Row> elementwiseRows() {
  std::vector<Row> rows;
  auto add = [&](OpId op, std::function<std::vector<Case>()> cases, std::string note = "") {
    rows.push_back({op, std::move(cases), std::move(note)});
  };
  add(OpId::kAdd, [] { return binaryCases(Binary(ops::add), [](double a, double b) { return a + b; }, true, -1, 1, -1, 1); });
  add(OpId::kSub, [] { return binaryCases(Binary(ops::sub), [](double a, double b) { return a - b; }, true, -1, 1, -1, 1); });
  add(OpId::kMul, [] { return binaryCases(Binary(ops::mul), [](double a, double b) { return a * b; }, true, -1, 1, -1, 1); });
  add(OpId::kDiv, [] { return binaryCases(Binary(ops::div), [](double a, double b) { return a / b; }, true, -1, 1, 0.5, 2); });
  add(OpId::kPow, [] {
    return binaryCases(Binary(ops::pow), [](double a, double b) { return std::pow(a, b); }, true, 0.5, 2, -1.5, 1.5);
  });
  add(OpId::kMax, [] {
    return binaryCases(ops::maximum, [](double a, double b) { return std::max(a, b); }, true, -1, 1, -1, 1);
  });
  add(OpId::kMin, [] {
    return binaryCases(ops::minimum, [](double a, double b) { return std::min(a, b); }, true, -1, 1, -1, 1);
  });
  add(OpId::kMod, [] {
    std::vector<Case> cases = binaryCases([](const Tensor& a, const Tensor& b) { return ops::mod(a, b, true); },
                                          [](double a, double b) { return std::fmod(a, b); }, false, -5, 5, 0.7, 2);
    std::vector<Case> floored = binaryCases([](const Tensor& a, const Tensor& b) { return ops::mod(a, b); }, pyMod,
                                            false, -9, 9, -4, -1, DType::kInt64);
    for (Case& c : floored) {
      c.what = "int64 (sign of the divisor), " + c.what;
      for (Tensor& t : c.inputs) t = ops::floor(t.contiguous()).to(DType::kInt64);
      cases.push_back(c);
    }
    return cases;
  });
  add(OpId::kPRelu, [] {
    // The slope broadcasts to x (never the other way).
    std::vector<Case> cases = binaryCases(ops::prelu, [](double x, double s) { return x < 0 ? s * x : x; }, true, -1,
                                          1, 0.1, 0.5);
    cases[1].what = "slope [4] broadcast to x [3,4]";
    cases[1].inputs = {wantGrad(uniform({3, 4}, -1, 1, 12)), wantGrad(uniform({4}, 0.1, 0.5, 13))};
    cases[2].what = "non-contiguous x [3,4], slope [1]";
    cases[2].inputs = {wantGrad(nonContiguous(uniform({3, 4}, -1, 1, 14))), wantGrad(uniform({1}, 0.1, 0.5, 15))};
    return cases;
  });
  add(OpId::kEqual, [] { return compareCases(ops::equal, [](double a, double b) { return a == b ? 1.0 : 0.0; }); });
  add(OpId::kLess, [] { return compareCases(ops::less, [](double a, double b) { return a < b ? 1.0 : 0.0; }); });
  add(OpId::kLessOrEqual,
      [] { return compareCases(ops::lessOrEqual, [](double a, double b) { return a <= b ? 1.0 : 0.0; }); });
  add(OpId::kGreater, [] { return compareCases(ops::greater, [](double a, double b) { return a > b ? 1.0 : 0.0; }); });
  add(OpId::kGreaterOrEqual,
      [] { return compareCases(ops::greaterOrEqual, [](double a, double b) { return a >= b ? 1.0 : 0.0; }); });
  add(OpId::kAnd, [] { return logicCases(ops::logicalAnd, [](bool a, bool b) { return a && b; }); });
  add(OpId::kOr, [] { return logicCases(ops::logicalOr, [](bool a, bool b) { return a || b; }); });
  add(OpId::kXor, [] { return logicCases(ops::logicalXor, [](bool a, bool b) { return a != b; }); });
  add(OpId::kNot, [] {
    Case c;
    c.what = "bool [3,4]";
    c.inputs = {boolsOf({3, 4}, 5)};
    c.run = [](const Tensors& in) { return ops::logicalNot(in[0]); };
    c.reference = [](const Tensors& in) {
      return mapRef(in, [](const std::vector<double>& v) { return v[0] != 0 ? 0.0 : 1.0; }, DType::kBool);
    };
    return std::vector<Case>{c};
  });
  add(OpId::kWhere, [] {
    Case c;
    c.what = "broadcast cond [3,1], x [1,4], y [3,4]";
    c.inputs = {boolsOf({3, 1}, 6), wantGrad(uniform({1, 4}, -1, 1, 7)), wantGrad(uniform({3, 4}, -1, 1, 8))};
    c.run = [](const Tensors& in) { return ops::where(in[0], in[1], in[2]); };
    c.reference = [](const Tensors& in) {
      return mapRef(in, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; });
    };
    c.gradCheck = true;
    Case nc = c;
    nc.what = "non-contiguous x [3,4]";
    nc.inputs = {boolsOf({3, 4}, 9), wantGrad(nonContiguous(uniform({3, 4}, -1, 1, 10))), wantGrad(uniform({4}, -1, 1, 11))};
    return std::vector<Case>{c, nc};
  });
  return rows;
}

}  // namespace singa::optable
