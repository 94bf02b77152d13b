// Op table rows for data movement (Copy, Fill, StridedCopy, Concat, Gather, Pad, Tile and their
// backward kernels), reductions and arg-extrema, MatMul / Gemm, and the fused optimizer steps.
// References are index loops; the optimizer steps follow PyTorch's update formulas.
#include <cmath>
#include <numeric>

#include "singa/optim/adam.h"
#include "singa/optim/sgd.h"
#include "tests/ops/op_table.h"

namespace singa::optable {
namespace {

/// Row-major coordinates of flat index `i` in `shape`.
std::vector<int64_t> coordsOf(const Shape& shape, int64_t i) {
  std::vector<int64_t> c(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    c[k] = i % shape[k];
    i /= shape[k];
  }
  return c;
}

int64_t flatOf(const Shape& shape, const std::vector<int64_t>& c) {
  int64_t i = 0;
  for (size_t k = 0; k < shape.size(); ++k) i = i * shape[k] + c[k];
  return i;
}

/// Flat input indices of each output element of a reduction over `axes` (empty: all), in
/// row-major order, and the output shape.
std::vector<std::vector<int64_t>> reduceGroups(const Shape& in, std::vector<int64_t> axes, bool keep, Shape& out) {
  if (axes.empty()) {
    axes.resize(in.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  Shape kept = in;
  for (int64_t a : axes) kept[static_cast<size_t>(a)] = 1;
  out.clear();
  for (size_t k = 0; k < in.size(); ++k) {
    const bool red = std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end();
    if (!red || keep) out.push_back(red ? 1 : in[k]);
  }
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(numelOf(kept)));
  for (int64_t i = 0; i < numelOf(in); ++i) {
    std::vector<int64_t> c = coordsOf(in, i);
    for (int64_t a : axes) c[static_cast<size_t>(a)] = 0;
    groups[static_cast<size_t>(flatOf(kept, c))].push_back(i);
  }
  return groups;
}

using GroupFn = std::function<double(const std::vector<double>&)>;

Tensor reduceRef(const Tensor& x, const std::vector<int64_t>& axes, bool keep, const GroupFn& f, DType outDType) {
  Shape out;
  const auto groups = reduceGroups(x.shape(), axes, keep, out);
  const std::vector<double> xv = values(x);
  std::vector<double> y;
  for (const auto& g : groups) {
    std::vector<double> vals;
    for (int64_t i : g) vals.push_back(xv[static_cast<size_t>(i)]);
    y.push_back(f(vals));
  }
  return make(y, out).to(outDType);
}

size_t firstExtremum(const std::vector<double>& v, bool isMax, bool last = false) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (isMax ? (v[i] > v[best] || (last && v[i] == v[best])) : (v[i] < v[best] || (last && v[i] == v[best]))) best = i;
  }
  return best;
}

GroupFn sumOf = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); };
GroupFn meanOf = [](const std::vector<double>& v) { return sumOf(v) / static_cast<double>(v.size()); };
GroupFn prodOf = [](const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 1.0, std::multiplies<double>());
};
GroupFn maxOf = [](const std::vector<double>& v) { return v[firstExtremum(v, true)]; };
GroupFn minOf = [](const std::vector<double>& v) { return v[firstExtremum(v, false)]; };

using ReduceFn = std::function<Tensor(const Tensor&, const std::vector<int64_t>&, bool)>;

struct ReduceShape {
  const char* what;
  Shape shape;
  std::vector<int64_t> axes;  // as given to the op (negative allowed)
  std::vector<int64_t> norm;  // normalised
  bool keep;
  bool nonContiguous;
};

const std::vector<ReduceShape>& reduceShapes() {
  static const std::vector<ReduceShape> s = {
      {"[3,4,5] axis 1", {3, 4, 5}, {1}, {1}, false, false},
      {"[3,4,5] axes (0,-1) keepdims", {3, 4, 5}, {0, -1}, {0, 2}, true, false},
      {"[3,4] all axes", {3, 4}, {}, {}, false, false},
      {"non-contiguous [4,3] axis 0", {4, 3}, {0}, {0}, false, true},
  };
  return s;
}

std::vector<Case> reduceCases(const ReduceFn& op, const GroupFn& f, double lo, double hi) {
  std::vector<Case> cases;
  uint64_t seed = 101;
  for (const ReduceShape& r : reduceShapes()) {
    Case c;
    c.what = r.what;
    Tensor x = uniform(r.shape, lo, hi, seed++);
    c.inputs = {wantGrad(r.nonContiguous ? nonContiguous(x) : x)};
    c.run = [op, r](const Tensors& in) { return op(in[0], r.axes, r.keep); };
    c.reference = [f, r](const Tensors& in) { return reduceRef(in[0], r.norm, r.keep, f, in[0].dtype()); };
    c.gradCheck = true;
    c.rtol = 1e-12;
    c.atol = 1e-12;
    cases.push_back(c);
  }
  return cases;
}

/// dx of ReduceMax/Min (dy to each group's first extremum) or ReduceProd (dy * product of the others).
std::vector<Case> reduceGradCases(const ReduceFn& op, int kind /* 0 max, 1 min, 2 prod */) {
  std::vector<Case> cases;
  uint64_t seed = 111;
  for (const ReduceShape& r : reduceShapes()) {
    Shape out;
    reduceGroups(r.shape, r.norm, r.keep, out);
    Case c;
    c.what = std::string("dx against the closed form, ") + r.what;
    c.inputs = {uniform(r.shape, kind == 2 ? 0.5 : -1, kind == 2 ? 1.5 : 1, seed), uniform(out, -1, 1, seed + 1)};
    seed += 2;
    c.run = [op, r](const Tensors& in) {
      Tensor x = in[0].detach().clone();
      x.setRequiresGrad();
      op(x, r.axes, r.keep).backward(in[1]);
      return x.grad();
    };
    c.reference = [r, kind](const Tensors& in) {
      Shape o;
      const auto groups = reduceGroups(in[0].shape(), r.norm, r.keep, o);
      const std::vector<double> xv = values(in[0]), dy = values(in[1]);
      std::vector<double> dx(xv.size(), 0.0);
      for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<double> vals;
        for (int64_t i : groups[g]) vals.push_back(xv[static_cast<size_t>(i)]);
        if (kind < 2) {
          dx[static_cast<size_t>(groups[g][firstExtremum(vals, kind == 0)])] = dy[g];
          continue;
        }
        for (size_t k = 0; k < vals.size(); ++k) {
          double others = 1;
          for (size_t j = 0; j < vals.size(); ++j) others *= j == k ? 1.0 : vals[j];
          dx[static_cast<size_t>(groups[g][k])] = dy[g] * others;
        }
      }
      return make(dx, in[0].shape());
    };
    c.rtol = 1e-12;
    c.atol = 1e-12;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> withGradCheck(std::vector<Case> cases, std::vector<Case> forward, const std::string& op) {
  Case g = forward[0];
  g.what = "gradient check of " + op + ", " + g.what;
  cases.push_back(g);
  return cases;
}

std::vector<Case> argCases(bool isMax) {
  std::vector<Case> cases;
  struct A {
    const char* what;
    int64_t axis;
    bool keep, last;
  };
  for (const A& a : {A{"[3,5] axis 1 keepdims", 1, true, false}, A{"[3,5] axis 0", 0, false, false},
                     A{"[3,5] axis -1, ties, select_last_index", -1, false, true}}) {
    Case c;
    c.what = a.what;
    c.inputs = {ops::floor(uniform({3, 5}, 0, 3, 121))};  // few distinct values: ties occur
    c.run = [a, isMax](const Tensors& in) {
      return isMax ? ops::argmax(in[0], a.axis, a.keep, a.last) : ops::argmin(in[0], a.axis, a.keep, a.last);
    };
    c.reference = [a, isMax](const Tensors& in) {
      const int64_t axis = a.axis < 0 ? a.axis + in[0].ndim() : a.axis;
      Shape out;
      const auto groups = reduceGroups(in[0].shape(), {axis}, a.keep, out);
      const std::vector<double> xv = values(in[0]);
      std::vector<double> y;
      for (const auto& g : groups) {
        std::vector<double> vals;
        for (int64_t i : g) vals.push_back(xv[static_cast<size_t>(i)]);
        y.push_back(static_cast<double>(firstExtremum(vals, isMax, a.last)));
      }
      return make(y, out).to(DType::kInt64);
    };
    cases.push_back(c);
  }
  return cases;
}

// ---- data movement -----------------------------------------------------------------------------

/// Source index along one axis of padded position `i` (-1: a constant cell).
int64_t padSource(int64_t i, int64_t n, int64_t before, const std::string& mode) {
  int64_t s = i - before;
  if (s >= 0 && s < n) return s;
  if (mode == "constant") return -1;
  if (mode == "edge") return s < 0 ? 0 : n - 1;
  while (s < 0 || s >= n) s = s < 0 ? -s : 2 * (n - 1) - s;  // reflect (edge not repeated)
  return s;
}

struct PadCase {
  const char* mode;
  std::vector<int64_t> pads;  // [b0, b1, e0, e1]
  double value;
};

/// Forward (gather through padSource) or backward (scatter-add of dy) reference of a 2-D pad.
Tensor padRef(const Tensor& x, const PadCase& p, const Tensor* dy) {
  const int64_t H = x.dim(0), W = x.dim(1), OH = H + p.pads[0] + p.pads[2], OW = W + p.pads[1] + p.pads[3];
  const std::vector<double> xv = values(x);
  const std::vector<double> dv = dy ? values(*dy) : std::vector<double>();
  std::vector<double> y(static_cast<size_t>(OH * OW)), dx(xv.size(), 0.0);
  for (int64_t i = 0; i < OH; ++i)
    for (int64_t j = 0; j < OW; ++j) {
      const int64_t si = padSource(i, H, p.pads[0], p.mode), sj = padSource(j, W, p.pads[1], p.mode);
      const bool inside = si >= 0 && sj >= 0;
      y[static_cast<size_t>(i * OW + j)] = inside ? xv[static_cast<size_t>(si * W + sj)] : p.value;
      if (dy && inside) dx[static_cast<size_t>(si * W + sj)] += dv[static_cast<size_t>(i * OW + j)];
    }
  return dy ? make(dx, x.shape()) : make(y, {OH, OW});
}

const std::vector<PadCase>& padCases() {
  static const std::vector<PadCase> c = {
      {"constant", {1, 2, 0, 1}, 0.5}, {"reflect", {2, 1, 1, 2}, 0.0}, {"edge", {1, 0, 2, 3}, 0.0}};
  return c;
}

std::vector<Case> padForward() {
  std::vector<Case> cases;
  for (const PadCase& p : padCases()) {
    Case c;
    c.what = std::string(p.mode) + " [3,4]";
    c.inputs = {wantGrad(uniform({3, 4}, -1, 1, 131))};
    c.run = [p](const Tensors& in) { return ops::pad(in[0], p.pads, p.mode, p.value); };
    c.reference = [p](const Tensors& in) { return padRef(in[0], p, nullptr); };
    c.gradCheck = true;
    cases.push_back(c);
  }
  cases[0].inputs[0] = wantGrad(nonContiguous(uniform({3, 4}, -1, 1, 132)));
  cases[0].what = "constant, non-contiguous [3,4]";
  return cases;
}

std::vector<Case> padBackward() {
  std::vector<Case> cases;
  for (const PadCase& p : padCases()) {
    Case c;
    c.what = std::string("dx = scatter-add of dy, ") + p.mode;
    const Shape out{3 + p.pads[0] + p.pads[2], 4 + p.pads[1] + p.pads[3]};
    c.inputs = {uniform({3, 4}, -1, 1, 133), uniform(out, -1, 1, 134)};
    c.run = [p](const Tensors& in) {
      Tensor x = in[0].detach().clone();
      x.setRequiresGrad();
      ops::pad(x, p.pads, p.mode, p.value).backward(in[1]);
      return x.grad();
    };
    c.reference = [p](const Tensors& in) { return padRef(in[0], p, &in[1]); };
    cases.push_back(c);
  }
  return withGradCheck(cases, padForward(), "Pad");
}

/// Gather along axis 1 of x [3,5] with int64 indices [2,3] (negative and repeated).
Tensors gatherInputs(bool grad) {
  Tensor x = uniform({3, 5}, -1, 1, 141);
  return {grad ? wantGrad(x) : x, Tensor::fromVector<int64_t>({0, -1, 2, 2, 4, 0}, {2, 3})};
}

Tensor gatherRef(const Tensors& in) {
  const std::vector<double> xv = values(in[0]), iv = values(in[1]);
  std::vector<double> y;
  for (int64_t r = 0; r < 3; ++r)
    for (double idx : iv) {
      const int64_t c = idx < 0 ? static_cast<int64_t>(idx) + 5 : static_cast<int64_t>(idx);
      y.push_back(xv[static_cast<size_t>(r * 5 + c)]);
    }
  return make(y, {3, 2, 3});
}

std::vector<Case> gatherForward() {
  Case c;
  c.what = "axis 1, negative and repeated indices";
  c.inputs = gatherInputs(true);
  c.run = [](const Tensors& in) { return ops::gather(in[0], in[1], 1); };
  c.reference = gatherRef;
  c.gradCheck = true;
  Case nc = c;
  nc.what = "non-contiguous x, " + c.what;
  nc.inputs[0] = wantGrad(nonContiguous(uniform({3, 5}, -1, 1, 142)));
  return {c, nc};
}

std::vector<Case> gatherBackward() {
  Case c;
  c.what = "dx = scatter-add of dy at the indices (repeated indices add)";
  c.inputs = gatherInputs(false);
  c.inputs.push_back(uniform({3, 2, 3}, -1, 1, 143));
  c.run = [](const Tensors& in) {
    Tensor x = in[0].detach().clone();
    x.setRequiresGrad();
    ops::gather(x, in[1], 1).backward(in[2]);
    return x.grad();
  };
  c.reference = [](const Tensors& in) {
    const std::vector<double> iv = values(in[1]), dy = values(in[2]);
    std::vector<double> dx(15, 0.0);
    for (size_t r = 0; r < 3; ++r)
      for (size_t k = 0; k < iv.size(); ++k) {
        const int64_t col = iv[k] < 0 ? static_cast<int64_t>(iv[k]) + 5 : static_cast<int64_t>(iv[k]);
        dx[r * 5 + static_cast<size_t>(col)] += dy[r * iv.size() + k];
      }
    return make(dx, {3, 5});
  };
  return withGradCheck({c}, gatherForward(), "Gather");
}

// ---- linear algebra ----------------------------------------------------------------------------

/// Batched matmul reference: a [..., n, k] x b [..., k, m] with NumPy promotion and broadcasting.
Tensor matmulRef(const Tensor& a0, const Tensor& b0) {
  Tensor a = a0.ndim() == 1 ? a0.reshape({1, a0.dim(0)}) : a0;
  Tensor b = b0.ndim() == 1 ? b0.reshape({b0.dim(0), 1}) : b0;
  const int64_t n = a.dim(-2), k = a.dim(-1), m = b.dim(-1);
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast(ab, bb);
  const std::vector<double> av = values(a), bv = values(b);
  std::vector<double> y;
  for (int64_t t = 0; t < numelOf(batch); ++t) {
    const int64_t ia = broadcastIndex(batch, ab, t), ib = broadcastIndex(batch, bb, t);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t q = 0; q < k; ++q) {
          s += av[static_cast<size_t>((ia * n + i) * k + q)] * bv[static_cast<size_t>((ib * k + q) * m + j)];
        }
        y.push_back(s);
      }
  }
  Shape out = batch;
  if (a0.ndim() > 1) out.push_back(n);
  if (b0.ndim() > 1) out.push_back(m);
  return make(y, out);
}

Tensor transposed2d(const Tensor& t) { return t.transpose(0, 1).contiguous(); }

// ---- optimizers --------------------------------------------------------------------------------

struct SgdConfig {
  double lr, momentum, dampening, wd;
  bool nesterov;
};

/// Two SGD steps on param with gradients g1 then g2; returns the parameter.
Tensor sgdSteps(const Tensors& in, const SgdConfig& s) {
  Tensor p = in[0].detach().clone();
  p.setRequiresGrad();
  SGD opt({{"p", p}}, s.lr, s.momentum, s.dampening, s.nesterov, s.wd);
  for (size_t k = 1; k <= 2; ++k) {
    p.setGrad(in[k].detach().clone());
    opt.step();
  }
  return p;
}

Tensor sgdRef(const Tensors& in, const SgdConfig& s) {
  std::vector<double> p = values(in[0]), buf(p.size(), 0.0);
  for (size_t k = 1; k <= 2; ++k) {
    const std::vector<double> g = values(in[k]);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + s.wd * p[i];
      if (s.momentum != 0) {
        buf[i] = k == 1 ? d : s.momentum * buf[i] + (1 - s.dampening) * d;
        d = s.nesterov ? d + s.momentum * buf[i] : buf[i];
      }
      p[i] -= s.lr * d;
    }
  }
  return make(p, in[0].shape());
}

struct AdamConfig {
  double lr, b1, b2, eps, wd;
  bool decoupled;
};

Tensor adamSteps(const Tensors& in, const AdamConfig& a) {
  Tensor p = in[0].detach().clone();
  p.setRequiresGrad();
  std::unique_ptr<Optimizer> opt;
  if (a.decoupled) {
    opt = std::make_unique<AdamW>(Optimizer::NamedParams{{"p", p}}, a.lr, a.b1, a.b2, a.eps, a.wd);
  } else {
    opt = std::make_unique<Adam>(Optimizer::NamedParams{{"p", p}}, a.lr, a.b1, a.b2, a.eps, a.wd);
  }
  for (size_t k = 1; k <= 2; ++k) {
    p.setGrad(in[k].detach().clone());
    opt->step();
  }
  return p;
}

Tensor adamRef(const Tensors& in, const AdamConfig& a) {
  std::vector<double> p = values(in[0]), m(p.size(), 0.0), v(p.size(), 0.0);
  for (size_t k = 1; k <= 2; ++k) {
    const std::vector<double> g = values(in[k]);
    const double bc1 = 1 - std::pow(a.b1, static_cast<double>(k)), bc2 = 1 - std::pow(a.b2, static_cast<double>(k));
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i];
      if (a.decoupled) {
        p[i] *= 1 - a.lr * a.wd;
      } else {
        d += a.wd * p[i];
      }
      m[i] = a.b1 * m[i] + (1 - a.b1) * d;
      v[i] = a.b2 * v[i] + (1 - a.b2) * d * d;
      p[i] -= a.lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + a.eps);
    }
  }
  return make(p, in[0].shape());
}

Tensors optimInputs() { return {uniform({3, 4}, -1, 1, 151), uniform({3, 4}, -1, 1, 152), uniform({3, 4}, -1, 1, 153)}; }

}  // namespace

std::vector<Row> otherRows() {
  std::vector<Row> rows;
  auto add = [&](OpId op, std::function<std::vector<Case>()> cases, std::string note = "") {
    rows.push_back({op, std::move(cases), std::move(note)});
  };
  add(OpId::kCopy, [] {
    Case contiguous;
    contiguous.what = "contiguous() of a non-contiguous [3,4]";
    contiguous.inputs = {nonContiguous(uniform({3, 4}, -1, 1, 161))};
    contiguous.run = [](const Tensors& in) { return in[0].contiguous(); };
    contiguous.reference = [](const Tensors& in) { return make(values(in[0]), in[0].shape()); };
    Case cast;
    cast.what = "cast float -> int32 (integer values)";
    cast.inputs = {ops::floor(uniform({2, 5}, -50, 50, 162))};
    cast.run = [](const Tensors& in) { return ops::cast(in[0], DType::kInt32); };
    cast.reference = [](const Tensors& in) { return make(values(in[0]), in[0].shape()).to(DType::kInt32); };
    Case grad;
    grad.what = "contiguous() of a transposed view is differentiable";
    grad.inputs = {wantGrad(uniform({2, 3}, -1, 1, 163))};
    grad.run = [](const Tensors& in) { return ops::transpose(in[0]).contiguous(); };
    grad.reference = [](const Tensors& in) {
      const std::vector<double> x = values(in[0]);
      return make({x[0], x[3], x[1], x[4], x[2], x[5]}, {3, 2});
    };
    grad.gradCheck = true;
    return std::vector<Case>{contiguous, cast, grad};
  });
  add(OpId::kFill, [] {
    Case c;
    c.what = "fill(2.5) [3,4]; int32 fill(-7)";
    c.inputs = {uniform({3, 4}, -1, 1, 171)};
    c.run = [](const Tensors& in) {
      Tensor t(in[0].shape(), in[0].dtype(), in[0].device());
      t.fill(2.5);
      Tensor i(in[0].shape(), DType::kInt32, in[0].device());
      i.fill(-7);
      return ops::concat({t, ops::cast(i, t.dtype())}, 0);
    };
    c.reference = [](const Tensors& in) {
      std::vector<double> v(12, 2.5);
      v.resize(24, -7.0);
      return make(v, {6, 4}).to(in[0].dtype());
    };
    return std::vector<Case>{c};
  });
  add(
      OpId::kStridedCopy,
      [] {
        Case c;
        c.what = "dx of slice rows 1:4:2, cols 0:6:3 of [4,6] against the window";
        c.inputs = {uniform({4, 6}, -1, 1, 181), uniform({2, 2}, -1, 1, 182)};
        c.run = [](const Tensors& in) {
          Tensor x = in[0].detach().clone();
          x.setRequiresGrad();
          ops::slice(x, {1, 0}, {4, 6}, {0, 1}, {2, 3}).backward(in[1]);
          return x.grad();
        };
        c.reference = [](const Tensors& in) {
          const std::vector<double> dy = values(in[1]);
          std::vector<double> dx(24, 0.0);
          for (size_t i = 0; i < 2; ++i)
            for (size_t j = 0; j < 2; ++j) dx[(1 + 2 * i) * 6 + 3 * j] = dy[i * 2 + j];
          return make(dx, {4, 6});
        };
        Case check;
        check.what = "gradient check of Slice";
        check.inputs = {wantGrad(uniform({4, 6}, -1, 1, 183))};
        check.run = [](const Tensors& in) { return ops::slice(in[0], {1, 0}, {4, 6}, {0, 1}, {2, 3}); };
        check.reference = [](const Tensors& in) {
          const std::vector<double> x = values(in[0]);
          return make({x[6], x[9], x[18], x[21]}, {2, 2});
        };
        check.gradCheck = true;
        return std::vector<Case>{c, check};
      },
      "reached through the backward of Slice");
  add(OpId::kConcat, [] {
    Case c;
    c.what = "axis 1: [2,3], non-contiguous [2,2], [2,1]";
    c.inputs = {wantGrad(uniform({2, 3}, -1, 1, 191)), wantGrad(nonContiguous(uniform({2, 2}, -1, 1, 192))),
                wantGrad(uniform({2, 1}, -1, 1, 193))};
    c.run = [](const Tensors& in) { return ops::concat(in, 1); };
    c.reference = [](const Tensors& in) {
      std::vector<double> y;
      for (int64_t r = 0; r < 2; ++r)
        for (const Tensor& t : in) {
          const std::vector<double> v = values(t);
          for (int64_t k = 0; k < t.dim(1); ++k) y.push_back(v[static_cast<size_t>(r * t.dim(1) + k)]);
        }
      return make(y, {2, 6});
    };
    c.gradCheck = true;
    return std::vector<Case>{c};
  });
  add(OpId::kGather, gatherForward);
  add(OpId::kGatherGrad, gatherBackward, "reached through the backward of Gather; covered by its gradient check");
  add(OpId::kPad, padForward);
  add(OpId::kPadGrad, padBackward, "reached through the backward of Pad; covered by its gradient check");
  add(OpId::kTile, [] {
    Case c;
    c.what = "[2,3] repeats (2,3)";
    c.inputs = {wantGrad(uniform({2, 3}, -1, 1, 201))};
    c.run = [](const Tensors& in) { return ops::tile(in[0], {2, 3}); };
    c.reference = [](const Tensors& in) {
      const std::vector<double> x = values(in[0]);
      std::vector<double> y;
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 9; ++j) y.push_back(x[static_cast<size_t>((i % 2) * 3 + j % 3)]);
      return make(y, {4, 9});
    };
    c.gradCheck = true;
    Case nc = c;
    nc.what = "non-contiguous [2,3] repeats (2,3)";
    nc.inputs = {wantGrad(nonContiguous(uniform({2, 3}, -1, 1, 202)))};
    return std::vector<Case>{c, nc};
  });
  add(OpId::kReduceSum, [] { return reduceCases(ops::reduceSum, sumOf, -1, 1); });
  add(OpId::kReduceMean, [] { return reduceCases(ops::reduceMean, meanOf, -1, 1); });
  add(OpId::kReduceProd, [] { return reduceCases(ops::reduceProd, prodOf, 0.5, 1.5); });
  add(OpId::kReduceMax, [] { return reduceCases(ops::reduceMax, maxOf, -1, 1); });
  add(OpId::kReduceMin, [] { return reduceCases(ops::reduceMin, minOf, -1, 1); });
  add(OpId::kArgMax, [] { return argCases(true); });
  add(OpId::kArgMin, [] { return argCases(false); });
  add(OpId::kReduceMaxGrad,
      [] { return withGradCheck(reduceGradCases(ops::reduceMax, 0), reduceCases(ops::reduceMax, maxOf, -1, 1), "ReduceMax"); },
      "reached through the backward of ReduceMax; covered by its gradient check");
  add(OpId::kReduceMinGrad,
      [] { return withGradCheck(reduceGradCases(ops::reduceMin, 1), reduceCases(ops::reduceMin, minOf, -1, 1), "ReduceMin"); },
      "reached through the backward of ReduceMin; covered by its gradient check");
  add(OpId::kReduceProdGrad,
      [] {
        return withGradCheck(reduceGradCases(ops::reduceProd, 2), reduceCases(ops::reduceProd, prodOf, 0.5, 1.5),
                             "ReduceProd");
      },
      "reached through the backward of ReduceProd; covered by its gradient check");
  add(OpId::kMatMul, [] {
    std::vector<Case> cases;
    struct M {
      const char* what;
      Shape a, b;
      bool transposeA;
    };
    uint64_t seed = 211;
    for (const M& m : {M{"[3,4] x [4,5]", {3, 4}, {4, 5}, false}, M{"broadcast [2,1,3,4] x [3,4,2]", {2, 1, 3, 4}, {3, 4, 2}, false},
                       M{"vector [4] x [4,5]", {4}, {4, 5}, false}, M{"non-contiguous a [3,4] x [4,2]", {3, 4}, {4, 2}, true}}) {
      Case c;
      c.what = m.what;
      Tensor a = uniform(m.a, -1, 1, seed++);
      c.inputs = {wantGrad(m.transposeA ? nonContiguous(a) : a), wantGrad(uniform(m.b, -1, 1, seed++))};
      c.run = [](const Tensors& in) { return ops::matmul(in[0], in[1]); };
      c.reference = [](const Tensors& in) { return matmulRef(in[0], in[1]); };
      c.gradCheck = true;
      c.rtol = 1e-12;
      c.atol = 1e-12;
      cases.push_back(c);
    }
    return cases;
  });
  add(OpId::kGemm, [] {
    Case c;
    c.what = "transA, transB, C [5] broadcast, alpha 0.5, beta 2";
    c.inputs = {wantGrad(uniform({4, 3}, -1, 1, 221)), wantGrad(uniform({5, 4}, -1, 1, 222)),
                wantGrad(uniform({5}, -1, 1, 223))};
    c.run = [](const Tensors& in) { return ops::gemm(in[0], in[1], in[2], 0.5, 2.0, true, true); };
    c.reference = [](const Tensors& in) {
      const Tensor ab = matmulRef(transposed2d(in[0]), transposed2d(in[1]));
      const std::vector<double> cv = values(in[2]);
      std::vector<double> y = values(ab);
      for (size_t i = 0; i < y.size(); ++i) y[i] = 0.5 * y[i] + 2.0 * cv[i % 5];
      return make(y, {3, 5});
    };
    c.gradCheck = true;
    c.rtol = 1e-12;
    c.atol = 1e-12;
    Case plain;
    plain.what = "no C, [2,3] x [3,4]";
    plain.inputs = {wantGrad(uniform({2, 3}, -1, 1, 224)), wantGrad(uniform({3, 4}, -1, 1, 225))};
    plain.run = [](const Tensors& in) { return ops::gemm(in[0], in[1]); };
    plain.reference = [](const Tensors& in) { return matmulRef(in[0], in[1]); };
    plain.gradCheck = true;
    plain.rtol = 1e-12;
    plain.atol = 1e-12;
    return std::vector<Case>{c, plain};
  });
  add(
      OpId::kSGDUpdate,
      [] {
        std::vector<Case> cases;
        for (const SgdConfig& s : {SgdConfig{0.1, 0.0, 0.0, 0.0, false}, SgdConfig{0.1, 0.9, 0.1, 0.01, false},
                                   SgdConfig{0.05, 0.9, 0.0, 0.02, true}}) {
          Case c;
          c.what = "two steps, lr " + std::to_string(s.lr) + " momentum " + std::to_string(s.momentum) +
                   (s.nesterov ? " nesterov" : "") + " weight decay " + std::to_string(s.wd);
          c.inputs = optimInputs();
          c.run = [s](const Tensors& in) { return sgdSteps(in, s); };
          c.reference = [s](const Tensors& in) { return sgdRef(in, s); };
          c.rtol = 1e-12;
          c.atol = 1e-12;
          cases.push_back(c);
        }
        return cases;
      },
      "reached through SGD::step (src/optim); checked against PyTorch's SGD formulas");
  add(
      OpId::kAdamUpdate,
      [] {
        std::vector<Case> cases;
        for (const AdamConfig& a : {AdamConfig{0.01, 0.9, 0.999, 1e-8, 0.01, false},
                                    AdamConfig{0.01, 0.8, 0.99, 1e-6, 0.1, true}}) {
          Case c;
          c.what = std::string(a.decoupled ? "AdamW" : "Adam") + ", two steps";
          c.inputs = optimInputs();
          c.run = [a](const Tensors& in) { return adamSteps(in, a); };
          c.reference = [a](const Tensors& in) { return adamRef(in, a); };
          c.rtol = 1e-10;
          c.atol = 1e-12;
          cases.push_back(c);
        }
        return cases;
      },
      "reached through Adam::step / AdamW::step (src/optim); checked against PyTorch's Adam formulas");
  return rows;
}

}  // namespace singa::optable
