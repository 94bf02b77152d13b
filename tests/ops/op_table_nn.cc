// Op table rows for the neural-network kernels: convolution and its three backward kernels,
// pooling and its backward kernels, batch normalization, dropout, softmax and the fused
// cross-entropy. Forward references are the direct loops of nn_test_util.h; backward kernels are
// checked through the public op's backward against closed-form gradients written here (2-D
// loops), and by the forward op's finite-difference check.
#include <cmath>
#include <limits>

#include "tests/ops/nn_test_util.h"
#include "tests/ops/op_table.h"

namespace singa::optable {
namespace {

using test::RefWindow;

/// A 2-D window with equal pads on both sides.
RefWindow window2d(int64_t k, int64_t s, int64_t p, int64_t d) { return {{k, k}, {s, s}, {p, p}, {p, p}, {d, d}}; }

ops::ConvParams convParams(const RefWindow& w, int64_t group) {
  ops::ConvParams p;
  p.strides = w.strides;
  p.pads = {w.padsBegin[0], w.padsBegin[1], w.padsEnd[0], w.padsEnd[1]};
  p.dilations = w.dilations;
  p.group = group;
  return p;
}

ops::PoolParams poolParams(const RefWindow& w, bool countIncludePad = false) {
  ops::PoolParams p;
  p.kernel = w.kernel;
  p.strides = w.strides;
  p.pads = {w.padsBegin[0], w.padsBegin[1], w.padsEnd[0], w.padsEnd[1]};
  p.dilations = w.dilations;
  p.countIncludePad = countIncludePad;
  return p;
}

/// Runs `forward` on a fresh leaf copy of inputs[i] for each i in `wrt`, back-propagates `dy`
/// and returns the gradient of input `which`.
Tensor gradOf(const std::function<Tensor(const Tensors&)>& forward, const Tensors& inputs, const Tensor& dy,
              const std::vector<size_t>& wrt, size_t which) {
  Tensors in;
  for (const Tensor& t : inputs) in.push_back(t.defined() ? t.detach().clone() : t);
  for (size_t i : wrt) in[i].setRequiresGrad();
  forward(in).backward(dy);
  return in[which].grad();
}

// ---- convolution -------------------------------------------------------------------------------

struct ConvCase {
  const char* what;
  Shape x, w;
  bool bias;
  RefWindow win;
  int64_t group;
};

const std::vector<ConvCase>& convCases() {
  static const std::vector<ConvCase> cases = {
      {"x[2,3,5,5] w[4,3,3,3] pad 1, bias", {2, 3, 5, 5}, {4, 3, 3, 3}, true, window2d(3, 1, 1, 1), 1},
      {"x[1,4,7,7] w[4,2,3,3] stride 2 dilation 2 group 2", {1, 4, 7, 7}, {4, 2, 3, 3}, false, window2d(3, 2, 1, 2), 2},
  };
  return cases;
}

/// x, w and (when the case has one) b.
Tensors convInputs(const ConvCase& k, bool grads) {
  Tensors in{uniform(k.x, -1, 1, 41), uniform(k.w, -1, 1, 42)};
  if (k.bias) in.push_back(uniform({k.w[0]}, -1, 1, 43));
  if (grads) {
    for (Tensor& t : in) t.setRequiresGrad();
  }
  return in;
}

Tensor biasOf(const Tensors& in) { return in.size() > 2 ? in[2] : Tensor(); }

OpFn convRun(const ConvCase& k) {
  return [k](const Tensors& in) { return ops::conv(in[0], in[1], biasOf(in), convParams(k.win, k.group)); };
}

Tensor convRef(const ConvCase& k, const Tensors& in) { return test::refConv(in[0], in[1], biasOf(in), k.win, k.group); }

/// dW[oc, ic, kh, kw] = sum over n, oh, ow of dy[n, oc, oh, ow] * x[n, g*Cig + ic, ih, iw].
Tensor refConvGradWeight(const ConvCase& k, const Tensor& x, const Tensor& dy) {
  const std::vector<double> xv = values(x), dv = values(dy);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Cout = k.w[0], Cig = k.w[1], KH = k.w[2],
                KW = k.w[3], OH = dy.dim(2), OW = dy.dim(3), Cog = Cout / k.group;
  std::vector<double> dw(static_cast<size_t>(numelOf(k.w)), 0.0);
  for (int64_t oc = 0; oc < Cout; ++oc)
    for (int64_t ic = 0; ic < Cig; ++ic)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          double acc = 0;
          const int64_t c = (oc / Cog) * Cig + ic;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t ih = oh * k.win.strides[0] - k.win.padsBegin[0] + kh * k.win.dilations[0];
                const int64_t iw = ow * k.win.strides[1] - k.win.padsBegin[1] + kw * k.win.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += dv[static_cast<size_t>(((n * Cout + oc) * OH + oh) * OW + ow)] *
                       xv[static_cast<size_t>(((n * C + c) * H + ih) * W + iw)];
              }
          dw[static_cast<size_t>(((oc * Cig + ic) * KH + kh) * KW + kw)] = acc;
        }
  return make(dw, k.w);
}

/// db[oc] = sum of dy over n and the spatial dims.
Tensor refConvGradBias(const Tensor& dy) {
  const std::vector<double> dv = values(dy);
  const int64_t N = dy.dim(0), C = dy.dim(1), plane = dy.numel() / (N * C);
  std::vector<double> db(static_cast<size_t>(C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) db[static_cast<size_t>(c)] += dv[static_cast<size_t>((n * C + c) * plane + i)];
  return make(db, {C});
}

std::vector<Case> convForward() {
  std::vector<Case> cases;
  for (const ConvCase& k : convCases()) {
    Case c;
    c.what = k.what;
    c.inputs = convInputs(k, true);
    c.run = convRun(k);
    c.reference = [k](const Tensors& in) { return convRef(k, in); };
    c.gradCheck = true;
    c.rtol = 1e-10;
    cases.push_back(c);
  }
  Case relu = cases[0];
  relu.what = std::string("convRelu, ") + convCases()[0].what;
  relu.run = [k = convCases()[0]](const Tensors& in) {
    return ops::convRelu(in[0], in[1], biasOf(in), convParams(k.win, k.group));
  };
  relu.reference = [k = convCases()[0]](const Tensors& in) { return ops::relu(convRef(k, in)); };
  relu.gradCheck = false;
  for (Tensor& t : relu.inputs) t = t.detach();  // no gradient: the fused kernel runs
  cases.push_back(relu);
  return cases;
}

/// A backward-kernel case of Conv: dy through conv's backward, input `which` differentiated.
Case convBackwardCase(const ConvCase& k, std::vector<size_t> wrt, size_t which, std::string what,
                      std::function<Tensor(const ConvCase&, const Tensors&, const Tensor&)> ref) {
  Tensors in = convInputs(k, false);
  const Tensor y = convRef(k, in);
  Case c;
  c.what = std::move(what);
  c.inputs = in;
  c.inputs.push_back(uniform(y.shape(), -1, 1, 44));
  c.run = [k, wrt, which](const Tensors& all) {
    const Tensors in(all.begin(), all.end() - 1);
    return gradOf(convRun(k), in, all.back(), wrt, which);
  };
  c.reference = [k, ref](const Tensors& all) {
    const Tensors in(all.begin(), all.end() - 1);
    return ref(k, in, all.back());
  };
  c.rtol = 1e-10;
  c.atol = 1e-12;
  return c;
}

Case gradientCheckOf(const std::vector<Case>& forward, const std::string& op) {
  Case c = forward[0];
  c.what = "gradient check of " + op + ", " + c.what;
  return c;
}

// ---- pooling -----------------------------------------------------------------------------------

struct PoolCase {
  const char* what;
  Shape x;
  RefWindow win;
  bool countIncludePad;
};

const std::vector<PoolCase>& poolCases() {
  static const std::vector<PoolCase> cases = {
      {"x[2,3,6,6] 2x2 stride 2", {2, 3, 6, 6}, window2d(2, 2, 0, 1), false},
      {"x[1,2,7,7] 3x3 stride 2 pad 1 (overlapping)", {1, 2, 7, 7}, window2d(3, 2, 1, 1), false},
      {"x[1,2,5,5] 3x3 stride 1 pad 1, count_include_pad", {1, 2, 5, 5}, window2d(3, 1, 1, 1), true},
  };
  return cases;
}

std::vector<int64_t> poolOut(const PoolCase& k) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < 2; ++i) {
    out.push_back(test::refOutSize(k.x[2 + i], k.win.padsBegin[i], k.win.padsEnd[i], k.win.kernel[i], k.win.strides[i],
                                   k.win.dilations[i]));
  }
  return out;
}

OpFn poolRun(const PoolCase& k, bool isMax) {
  return [k, isMax](const Tensors& in) {
    return isMax ? ops::maxPool(in[0], poolParams(k.win)) : ops::avgPool(in[0], poolParams(k.win, k.countIncludePad));
  };
}

/// dx of a 2-D pool: each output's dy goes to its window's first maximum (max) or is shared by
/// the window's counted cells (average).
Tensor refPoolGrad(const PoolCase& k, bool isMax, const Tensor& x, const Tensor& dy) {
  const std::vector<double> xv = values(x), dv = values(dy);
  const int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  const int64_t K = k.win.kernel[0], S = k.win.strides[0], P = k.win.padsBegin[0];
  std::vector<double> dx(xv.size(), 0.0);
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const double g = dv[static_cast<size_t>((nc * OH + oh) * OW + ow)];
        int64_t best = -1, counted = 0;
        double bestV = -std::numeric_limits<double>::infinity();
        std::vector<int64_t> cells;
        for (int64_t kh = 0; kh < K; ++kh)
          for (int64_t kw = 0; kw < K; ++kw) {
            const int64_t ih = oh * S - P + kh, iw = ow * S - P + kw;
            if (ih >= -P && ih < H + P && iw >= -P && iw < W + P) ++counted;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const int64_t at = (nc * H + ih) * W + iw;
            cells.push_back(at);
            if (xv[static_cast<size_t>(at)] > bestV) {
              bestV = xv[static_cast<size_t>(at)];
              best = at;
            }
          }
        if (isMax) {
          dx[static_cast<size_t>(best)] += g;
        } else {
          const double n = static_cast<double>(k.countIncludePad ? counted : static_cast<int64_t>(cells.size()));
          for (int64_t at : cells) dx[static_cast<size_t>(at)] += g / n;
        }
      }
  return make(dx, x.shape());
}

std::vector<Case> poolForward(bool isMax) {
  std::vector<Case> cases;
  for (const PoolCase& k : poolCases()) {
    if (isMax && k.countIncludePad) continue;
    Case c;
    c.what = k.what;
    c.inputs = {wantGrad(uniform(k.x, -1, 1, 51))};
    c.run = poolRun(k, isMax);
    c.reference = [k, isMax](const Tensors& in) {
      return test::refPool(in[0], k.win, poolOut(k), isMax, k.countIncludePad);
    };
    c.gradCheck = true;
    cases.push_back(c);
  }
  Case inference = cases[0];
  inference.what = std::string("no gradient (values-only kernel), ") + inference.what;
  inference.inputs = {inference.inputs[0].detach()};
  inference.gradCheck = false;
  cases.push_back(inference);
  Case global;
  global.what = "global pool x[2,3,4,5]";
  global.inputs = {wantGrad(uniform({2, 3, 4, 5}, -1, 1, 52))};
  global.run = [isMax](const Tensors& in) { return isMax ? ops::globalMaxPool(in[0]) : ops::globalAvgPool(in[0]); };
  global.reference = [isMax](const Tensors& in) {
    return isMax ? ops::reduceMax(in[0].detach(), {2, 3}, true) : ops::reduceMean(in[0].detach(), {2, 3}, true);
  };
  global.gradCheck = true;
  cases.push_back(global);
  return cases;
}

std::vector<Case> poolBackward(bool isMax) {
  std::vector<Case> cases;
  for (const PoolCase& k : poolCases()) {
    if (isMax && k.countIncludePad) continue;
    const std::vector<int64_t> o = poolOut(k);
    Case c;
    c.what = std::string("dx against the window rule, ") + k.what;
    c.inputs = {uniform(k.x, -1, 1, 53), uniform({k.x[0], k.x[1], o[0], o[1]}, -1, 1, 54)};
    c.run = [k, isMax](const Tensors& in) { return gradOf(poolRun(k, isMax), {in[0]}, in[1], {0}, 0); };
    c.reference = [k, isMax](const Tensors& in) { return refPoolGrad(k, isMax, in[0], in[1]); };
    c.rtol = 1e-12;
    c.atol = 1e-12;
    cases.push_back(c);
  }
  cases.push_back(gradientCheckOf(poolForward(isMax), isMax ? "MaxPool" : "AveragePool"));
  return cases;
}

// ---- batch normalization -----------------------------------------------------------------------

constexpr double kBnEps = 1e-5, kBnMomentum = 0.9;

Tensors bnInputs(bool grads) {
  Tensors in{uniform({3, 2, 2, 3}, -1, 2, 61), uniform({2}, 0.5, 1.5, 62), uniform({2}, -0.5, 0.5, 63),
             uniform({2}, -0.2, 0.2, 64), uniform({2}, 0.5, 1.5, 65)};
  if (grads) {
    for (size_t i = 0; i < 3; ++i) in[i].setRequiresGrad();
  }
  return in;
}

/// Per-channel batch mean and biased variance of x [N, C, ...].
void bnStats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const std::vector<double> xv = values(x);
  const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / (N * C);
  mean.assign(static_cast<size_t>(C), 0.0);
  var.assign(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) s += xv[static_cast<size_t>((n * C + c) * plane + i)];
    const double m = s / static_cast<double>(N * plane);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) {
        const double d = xv[static_cast<size_t>((n * C + c) * plane + i)] - m;
        ss += d * d;
      }
    mean[static_cast<size_t>(c)] = m;
    var[static_cast<size_t>(c)] = ss / static_cast<double>(N * plane);
  }
}

Tensor bnApply(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var, const Tensor& scale,
               const Tensor& bias) {
  const std::vector<double> xv = values(x), sv = values(scale), bv = values(bias);
  const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / (N * C);
  std::vector<double> y(xv.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        const size_t at = static_cast<size_t>((n * C + c) * plane + i);
        const size_t ci = static_cast<size_t>(c);
        y[at] = (xv[at] - mean[ci]) / std::sqrt(var[ci] + kBnEps) * sv[ci] + bv[ci];
      }
  return make(y, x.shape());
}

/// Training-mode forward; returns y flattened, then the updated running mean and variance.
Tensor bnTrainingWithStats(const Tensors& in) {
  Tensor rm = in[3].detach().clone(), rv = in[4].detach().clone();
  const Tensor y = ops::batchNorm(in[0], in[1], in[2], rm, rv, true, kBnMomentum, kBnEps);
  return ops::concat({ops::reshape(y, {-1}), rm, rv}, 0);
}

Tensor bnTrainingRef(const Tensors& in) {
  std::vector<double> mean, var;
  bnStats(in[0], mean, var);
  const Tensor y = bnApply(in[0], mean, var, in[1], in[2]);
  const double count = static_cast<double>(in[0].numel() / in[0].dim(1));
  std::vector<double> out = values(y), rm = values(in[3]), rv = values(in[4]);
  for (size_t c = 0; c < mean.size(); ++c) out.push_back(kBnMomentum * rm[c] + (1 - kBnMomentum) * mean[c]);
  for (size_t c = 0; c < var.size(); ++c) {
    out.push_back(kBnMomentum * rv[c] + (1 - kBnMomentum) * var[c] * count / (count - 1));
  }
  return make(out, {static_cast<int64_t>(out.size())});
}

OpFn bnRun(bool training) {
  return [training](const Tensors& in) {
    Tensor rm = in[3].detach().clone(), rv = in[4].detach().clone();
    return ops::batchNorm(in[0], in[1], in[2], rm, rv, training, kBnMomentum, kBnEps);
  };
}

/// dx of training-mode batch norm: scale * invstd / M * (M dy - sum dy - xhat sum(dy xhat)).
Tensor bnGradRef(const Tensors& in) {
  const Tensor& x = in[0];
  std::vector<double> mean, var;
  bnStats(x, mean, var);
  const std::vector<double> xv = values(x), sv = values(in[1]), dv = values(in[5]);
  const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / (N * C);
  const double M = static_cast<double>(N * plane);
  std::vector<double> dx(xv.size());
  for (int64_t c = 0; c < C; ++c) {
    const size_t ci = static_cast<size_t>(c);
    const double inv = 1.0 / std::sqrt(var[ci] + kBnEps);
    double sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) {
        const size_t at = static_cast<size_t>((n * C + c) * plane + i);
        sdy += dv[at];
        sdyx += dv[at] * (xv[at] - mean[ci]) * inv;
      }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < plane; ++i) {
        const size_t at = static_cast<size_t>((n * C + c) * plane + i);
        dx[at] = sv[ci] * inv / M * (M * dv[at] - sdy - (xv[at] - mean[ci]) * inv * sdyx);
      }
  }
  return make(dx, x.shape());
}

// ---- softmax -------------------------------------------------------------------------------------

/// Softmax (or log-softmax) of x along `axis` by direct loops.
Tensor refSoftmax(const Tensor& x, int64_t axis, bool log) {
  const std::vector<double> xv = values(x);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
  for (int64_t i = axis + 1; i < x.ndim(); ++i) inner *= x.dim(static_cast<int>(i));
  const int64_t n = x.dim(static_cast<int>(axis));
  std::vector<double> y(xv.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      double mx = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, xv[static_cast<size_t>((o * n + k) * inner + in)]);
      for (int64_t k = 0; k < n; ++k) s += std::exp(xv[static_cast<size_t>((o * n + k) * inner + in)] - mx);
      for (int64_t k = 0; k < n; ++k) {
        const size_t at = static_cast<size_t>((o * n + k) * inner + in);
        y[at] = log ? xv[at] - mx - std::log(s) : std::exp(xv[at] - mx) / s;
      }
    }
  return make(y, x.shape());
}

std::vector<Case> softmaxForward(bool log) {
  std::vector<Case> cases;
  for (int64_t axis : {int64_t{-1}, int64_t{1}}) {
    Case c;
    c.what = axis < 0 ? "[3,5] axis -1" : "[2,3,4] axis 1";
    c.inputs = {wantGrad(uniform(axis < 0 ? Shape{3, 5} : Shape{2, 3, 4}, -2, 2, 71))};
    c.run = [axis, log](const Tensors& in) { return log ? ops::logSoftmax(in[0], axis) : ops::softmax(in[0], axis); };
    c.reference = [axis, log](const Tensors& in) {
      return refSoftmax(in[0], axis < 0 ? in[0].ndim() - 1 : axis, log);
    };
    c.gradCheck = true;
    c.rtol = 1e-12;
    cases.push_back(c);
  }
  Case nc = cases[0];
  nc.what = "non-contiguous [3,5] axis -1";
  nc.inputs = {wantGrad(nonContiguous(uniform({3, 5}, -2, 2, 72)))};
  cases.push_back(nc);
  return cases;
}

std::vector<Case> softmaxBackward(bool log) {
  Case c;
  c.what = log ? "dx = dy - softmax * sum(dy), [3,5]" : "dx = y * (dy - sum(dy * y)), [3,5]";
  c.inputs = {uniform({3, 5}, -2, 2, 73), uniform({3, 5}, -1, 1, 74)};
  c.run = [log](const Tensors& in) {
    return gradOf([log](const Tensors& x) { return log ? ops::logSoftmax(x[0]) : ops::softmax(x[0]); }, {in[0]}, in[1],
                  {0}, 0);
  };
  c.reference = [log](const Tensors& in) {
    const std::vector<double> p = values(refSoftmax(in[0], 1, false)), dy = values(in[1]);
    std::vector<double> dx(p.size());
    for (size_t r = 0; r < 3; ++r) {
      double s = 0;
      for (size_t k = 0; k < 5; ++k) s += log ? dy[r * 5 + k] : dy[r * 5 + k] * p[r * 5 + k];
      for (size_t k = 0; k < 5; ++k) {
        const size_t at = r * 5 + k;
        dx[at] = log ? dy[at] - p[at] * s : p[at] * (dy[at] - s);
      }
    }
    return make(dx, {3, 5});
  };
  c.rtol = 1e-12;
  c.atol = 1e-12;
  return {c, gradientCheckOf(softmaxForward(log), log ? "LogSoftmax" : "Softmax")};
}

Tensors sceInputs() {
  return {wantGrad(uniform({4, 5}, -2, 2, 81)), ops::floor(uniform({4}, 0, 5, 82)).to(DType::kInt64)};
}

Tensor sceRef(const Tensors& in) {
  const std::vector<double> lp = values(refSoftmax(in[0], 1, true)), lab = values(in[1]);
  double loss = 0;
  for (size_t n = 0; n < 4; ++n) loss -= lp[n * 5 + static_cast<size_t>(lab[n])];
  return make({loss / 4}, {});
}

}  // namespace

std::vector<Row> nnRows() {
  std::vector<Row> rows;
  auto add = [&](OpId op, std::function<std::vector<Case>()> cases, std::string note = "") {
    rows.push_back({op, std::move(cases), std::move(note)});
  };
  add(OpId::kConv, convForward);
  add(
      OpId::kConvGradInput,
      [] {
        std::vector<Case> cases;
        for (const ConvCase& k : convCases()) {
          cases.push_back(convBackwardCase(k, {0}, 0, std::string("dx = transposed conv of dy, ") + k.what,
                                           [](const ConvCase& kc, const Tensors& in, const Tensor& dy) {
                                             std::vector<int64_t> outPad;
                                             for (size_t i = 0; i < 2; ++i) {
                                               const int64_t full = kc.win.strides[i] * (dy.dim(2 + static_cast<int>(i)) - 1) +
                                                                    (kc.win.kernel[i] - 1) * kc.win.dilations[i] + 1 -
                                                                    kc.win.padsBegin[i] - kc.win.padsEnd[i];
                                               outPad.push_back(in[0].dim(2 + static_cast<int>(i)) - full);
                                             }
                                             return test::refConvTranspose(dy, in[1], Tensor(), kc.win, outPad, kc.group);
                                           }));
        }
        cases.push_back(gradientCheckOf(convForward(), "Conv"));
        return cases;
      },
      "reached through the backward of Conv; covered by its gradient check");
  add(
      OpId::kConvGradWeight,
      [] {
        std::vector<Case> cases;
        for (const ConvCase& k : convCases()) {
          cases.push_back(convBackwardCase(k, {1}, 1, std::string("dW against direct sums, ") + k.what,
                                           [](const ConvCase& kc, const Tensors& in, const Tensor& dy) {
                                             return refConvGradWeight(kc, in[0], dy);
                                           }));
        }
        cases.push_back(gradientCheckOf(convForward(), "Conv"));
        return cases;
      },
      "reached through the backward of Conv (and ConvTranspose); covered by their gradient checks");
  add(
      OpId::kConvGradBias,
      [] {
        return std::vector<Case>{convBackwardCase(convCases()[0], {2}, 2, "db alone (w needs no gradient)",
                                                  [](const ConvCase&, const Tensors&, const Tensor& dy) {
                                                    return refConvGradBias(dy);
                                                  })};
      },
      "reached through the backward of Conv when only the bias wants a gradient");
  add(OpId::kConvTranspose, [] {
    Case c;
    c.what = "x[1,3,4,4] w[3,2,3,3] stride 2 pad 1 output_padding 1, bias";
    c.inputs = {wantGrad(uniform({1, 3, 4, 4}, -1, 1, 45)), wantGrad(uniform({3, 2, 3, 3}, -1, 1, 46)),
                wantGrad(uniform({2}, -1, 1, 47))};
    c.run = [](const Tensors& in) {
      ops::ConvTransposeParams p;
      p.strides = {2, 2};
      p.pads = {1, 1, 1, 1};
      p.outputPadding = {1, 1};
      return ops::convTranspose(in[0], in[1], in[2], p);
    };
    c.reference = [](const Tensors& in) {
      return test::refConvTranspose(in[0], in[1], in[2], window2d(3, 2, 1, 1), {1, 1}, 1);
    };
    c.gradCheck = true;
    c.rtol = 1e-10;
    return std::vector<Case>{c};
  });
  add(OpId::kMaxPool, [] { return poolForward(true); });
  add(OpId::kMaxPoolGrad, [] { return poolBackward(true); },
      "reached through the backward of MaxPool; covered by its gradient check");
  add(OpId::kAveragePool, [] { return poolForward(false); });
  add(OpId::kAveragePoolGrad, [] { return poolBackward(false); },
      "reached through the backward of AveragePool; covered by its gradient check");
  add(OpId::kBatchNormTraining, [] {
    Case stats;
    stats.what = "y and the updated running statistics, x[3,2,2,3]";
    stats.inputs = bnInputs(false);
    stats.run = bnTrainingWithStats;
    stats.reference = bnTrainingRef;
    stats.rtol = 1e-10;
    Case grad;
    grad.what = "gradient check (training)";
    grad.inputs = bnInputs(true);
    grad.run = bnRun(true);
    grad.reference = [](const Tensors& in) {
      std::vector<double> mean, var;
      bnStats(in[0], mean, var);
      return bnApply(in[0], mean, var, in[1], in[2]);
    };
    grad.gradCheck = true;
    grad.rtol = 1e-10;
    return std::vector<Case>{stats, grad};
  });
  add(OpId::kBatchNormInference, [] {
    Case c;
    c.what = "running statistics, x[3,2,2,3]";
    c.inputs = bnInputs(true);
    c.run = bnRun(false);
    c.reference = [](const Tensors& in) {
      return bnApply(in[0], values(in[3]), values(in[4]), in[1], in[2]);
    };
    c.gradCheck = true;
    c.rtol = 1e-10;
    return std::vector<Case>{c};
  });
  add(
      OpId::kBatchNormGrad,
      [] {
        Case c;
        c.what = "dx of training-mode batch norm against the closed form";
        c.inputs = bnInputs(false);
        c.inputs.push_back(uniform({3, 2, 2, 3}, -1, 1, 66));
        c.run = [](const Tensors& in) {
          return gradOf(bnRun(true), Tensors(in.begin(), in.begin() + 5), in[5], {0, 1, 2}, 0);
        };
        c.reference = bnGradRef;
        c.rtol = 1e-8;
        c.atol = 1e-10;
        Case check;
        check.what = "gradient check of BatchNormalization (training)";
        check.inputs = bnInputs(true);
        check.run = bnRun(true);
        check.reference = [](const Tensors& in) {
          std::vector<double> mean, var;
          bnStats(in[0], mean, var);
          return bnApply(in[0], mean, var, in[1], in[2]);
        };
        check.gradCheck = true;
        check.rtol = 1e-10;
        return std::vector<Case>{c, check};
      },
      "reached through the backward of BatchNormalization (training and inference)");
  add(OpId::kDropout, [] {
    Case eval;
    eval.what = "inference: identity";
    eval.inputs = {uniform({4, 6}, 0.5, 1.5, 91)};
    eval.run = [](const Tensors& in) { return ops::dropout(in[0], 0.5, false); };
    eval.reference = [](const Tensors& in) { return in[0]; };
    Case train;
    train.what = "training, ratio 0.5: every element is 0 or x / 0.5 (zeros replaced by 2x), some of each";
    train.inputs = {uniform({16, 16}, 0.5, 1.5, 92)};
    train.run = [](const Tensors& in) {
      const Tensor y = ops::dropout(in[0], 0.5, true);
      const Tensor dropped = ops::equal(y, Tensor::scalar(0.0, y.dtype(), y.device()));
      const double fraction = ops::reduceMean(ops::cast(dropped, y.dtype())).to(Device::cpu()).item();
      // Both outcomes occur (256 draws at p = 0.5): a kernel that keeps or drops everything fails.
      if (fraction < 0.2 || fraction > 0.8) return ops::mul(y, 0.0);
      return ops::where(dropped, ops::mul(in[0], 2.0), y);
    };
    train.reference = [](const Tensors& in) { return ops::mul(in[0], 2.0); };
    return std::vector<Case>{eval, train};
  });
  add(OpId::kSoftmax, [] { return softmaxForward(false); });
  add(OpId::kLogSoftmax, [] { return softmaxForward(true); });
  add(OpId::kSoftmaxGrad, [] { return softmaxBackward(false); },
      "reached through the backward of Softmax; covered by its gradient check");
  add(OpId::kLogSoftmaxGrad, [] { return softmaxBackward(true); },
      "reached through the backward of LogSoftmax; covered by its gradient check");
  add(OpId::kSoftmaxCrossEntropyLoss, [] {
    Case c;
    c.what = "logits [4,5], int64 labels";
    c.inputs = sceInputs();
    c.run = [](const Tensors& in) { return ops::softmaxCrossEntropy(in[0], in[1]); };
    c.reference = sceRef;
    c.gradCheck = true;
    c.rtol = 1e-12;
    return std::vector<Case>{c};
  });
  add(
      OpId::kSoftmaxCrossEntropyLossGrad,
      [] {
        Case c;
        c.what = "dlogits = (softmax - onehot) / N * dloss";
        c.inputs = sceInputs();
        c.inputs[0] = c.inputs[0].detach();
        c.inputs.push_back(make({1.7}, {}));
        c.run = [](const Tensors& in) {
          return gradOf([](const Tensors& x) { return ops::softmaxCrossEntropy(x[0], x[1]); }, {in[0], in[1]}, in[2],
                        {0}, 0);
        };
        c.reference = [](const Tensors& in) {
          std::vector<double> p = values(refSoftmax(in[0], 1, false));
          const std::vector<double> lab = values(in[1]);
          const double dl = in[2].item();
          for (size_t n = 0; n < 4; ++n) p[n * 5 + static_cast<size_t>(lab[n])] -= 1;
          for (double& v : p) v *= dl / 4;
          return make(p, {4, 5});
        };
        c.rtol = 1e-12;
        c.atol = 1e-12;
        Case check;
        check.what = "gradient check of SoftmaxCrossEntropyLoss";
        check.inputs = sceInputs();
        check.run = [](const Tensors& in) { return ops::softmaxCrossEntropy(in[0], in[1]); };
        check.reference = sceRef;
        check.gradCheck = true;
        check.rtol = 1e-12;
        return std::vector<Case>{c, check};
      },
      "reached through the backward of SoftmaxCrossEntropyLoss; covered by its gradient check");
  return rows;
}

}  // namespace singa::optable
