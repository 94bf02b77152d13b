// Support vector machines of the ai.onnx.ml domain: SVMRegressor and SVMClassifier, evaluated on
// the host from their support vectors. Kernels (kernel_params = [gamma, coef0, degree]):
// LINEAR <x, s>, POLY (gamma <x, s> + coef0)^degree, RBF exp(-gamma |x - s|^2), SIGMOID
// tanh(gamma <x, s> + coef0). The classifier is one-vs-one (libsvm's layout): for classes i < j
// the decision value is the sum of the kernels against the support vectors of both classes,
// weighted by the coefficients each holds for the other, plus rho of that pair; a positive value
// votes for i, and the label is the class with the most votes. With prob_a / prob_b the scores
// are class probabilities: each pair's decision value goes through Platt's sigmoid
// 1 / (1 + exp(A d + B)), and the pairwise probabilities are coupled into one distribution by the
// fixed-point iteration of Wu, Lin and Weng (2004, "method 2", as libsvm uses); the label stays
// the one the votes chose (as onnxruntime reports it), not necessarily the most probable class.
#include <algorithm>
#include <cmath>

#include "singa/core/shape.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/converters_ml.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

struct Kernel {
  std::string type = "LINEAR";
  double gamma = 0.0, coef0 = 0.0, degree = 0.0;

  double operator()(const double* x, const double* s, int64_t n) const {
    double v = 0.0;
    if (type == "RBF") {
      for (int64_t k = 0; k < n; ++k) v += (x[k] - s[k]) * (x[k] - s[k]);
      return std::exp(-gamma * v);
    }
    for (int64_t k = 0; k < n; ++k) v += x[k] * s[k];
    if (type == "POLY") return std::pow(gamma * v + coef0, degree);
    if (type == "SIGMOID") return std::tanh(gamma * v + coef0);
    return v;
  }
};

Kernel kernelOf(const ConvertContext& ctx) {
  Kernel k;
  k.type = ctx.attrs.getString("kernel_type", "LINEAR");
  ctx.check(k.type == "LINEAR" || k.type == "POLY" || k.type == "RBF" || k.type == "SIGMOID",
            "kernel_type must be LINEAR, POLY, RBF or SIGMOID, got '" + k.type + "'");
  const std::vector<double> p = ctx.attrs.has("kernel_params") ? ctx.attrs.getFloats("kernel_params") : std::vector<double>{};
  if (p.size() > 0) k.gamma = p[0];
  if (p.size() > 1) k.coef0 = p[1];
  if (p.size() > 2) k.degree = p[2];
  return k;
}

// Platt's sigmoid of a decision value, kept away from 0 and 1.
double plattProbability(double d, double a, double b) {
  const double z = d * a + b;
  const double p = z >= 0.0 ? std::exp(-z) / (1.0 + std::exp(-z)) : 1.0 / (1.0 + std::exp(z));
  return std::clamp(p, 1e-7, 1.0 - 1e-7);
}

// Couples pairwise probabilities r[i][j] (class i beats j) into class probabilities p by the
// fixed-point iteration minimising sum_{i != j} (r[j][i] p_i - r[i][j] p_j)^2 with sum p = 1.
void coupleProbabilities(const std::vector<std::vector<double>>& r, double* p) {
  const size_t k = r.size();
  std::vector<std::vector<double>> q(k, std::vector<double>(k, 0.0));
  std::vector<double> qp(k);
  for (size_t t = 0; t < k; ++t) {
    p[t] = 1.0 / static_cast<double>(k);
    for (size_t j = 0; j < k; ++j) {
      if (j == t) continue;
      q[t][t] += r[j][t] * r[j][t];
      q[t][j] = -r[j][t] * r[t][j];
    }
  }
  const size_t maxIter = std::max<size_t>(100, k);
  const double eps = 0.005 / static_cast<double>(k);
  for (size_t iter = 0; iter < maxIter; ++iter) {
    double pqp = 0.0;
    for (size_t t = 0; t < k; ++t) {
      qp[t] = 0.0;
      for (size_t j = 0; j < k; ++j) qp[t] += q[t][j] * p[j];
      pqp += p[t] * qp[t];
    }
    double worst = 0.0;
    for (size_t t = 0; t < k; ++t) worst = std::max(worst, std::abs(qp[t] - pqp));
    if (worst < eps) break;
    for (size_t t = 0; t < k; ++t) {
      const double diff = (pqp - qp[t]) / q[t][t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t][t] + 2.0 * qp[t])) / ((1.0 + diff) * (1.0 + diff));
      for (size_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t][j]) / (1.0 + diff);
        p[j] /= 1.0 + diff;
      }
    }
  }
}

std::vector<double> floats(const ConvertContext& ctx, const char* name) {
  return ctx.attrs.has(name) ? ctx.attrs.getFloats(name) : std::vector<double>{};
}

Tensors convertSVMRegressor(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const MlRows r = mlRows(ctx, x);
  const Kernel kernel = kernelOf(ctx);
  const int64_t supports = ctx.attrs.getInt("n_supports", 0);
  const std::vector<double> coef = floats(ctx, "coefficients"), sv = floats(ctx, "support_vectors");
  const std::vector<double> rho = floats(ctx, "rho");
  ctx.check(rho.size() == 1, "rho must hold one value");
  ctx.check(supports >= 0, "n_supports must be >= 0");
  if (supports > 0) {
    ctx.check(static_cast<int64_t>(coef.size()) == supports, "coefficients needs one value per support vector");
    ctx.check(static_cast<int64_t>(sv.size()) == checkedMul(supports, r.cols, "SVMRegressor support vectors"),
              "support_vectors needs n_supports * features = " + std::to_string(supports) + " * " +
                  std::to_string(r.cols) + " values, got " + std::to_string(sv.size()));
  } else {
    ctx.check(static_cast<int64_t>(coef.size()) == r.cols, "a linear SVMRegressor (n_supports 0) needs one coefficient per feature");
  }
  const bool oneClass = ctx.attrs.getInt("one_class", 0) != 0;
  const std::string post = ctx.attrs.getString("post_transform", "NONE");
  std::vector<double> out(static_cast<size_t>(r.rows));
  for (int64_t i = 0; i < r.rows; ++i) {
    const double* xi = r.values.data() + i * r.cols;
    double s = rho[0];
    if (supports > 0) {
      for (int64_t k = 0; k < supports; ++k) s += coef[static_cast<size_t>(k)] * kernel(xi, sv.data() + k * r.cols, r.cols);
    } else {
      s += kernel(xi, coef.data(), r.cols);
    }
    if (oneClass) s = s > 0.0 ? 1.0 : -1.0;
    postTransform(ctx, post, &s, 1);
    out[static_cast<size_t>(i)] = s;
  }
  return one(fromDoubles(out, {r.rows, 1}, DType::kFloat32, x.device()));
}

Tensors convertSVMClassifier(const ConvertContext& ctx, const Tensors& in) {
  refuseStrings(ctx, {"classlabels_strings"});
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const MlRows r = mlRows(ctx, x);
  const Kernel kernel = kernelOf(ctx);
  const std::vector<int64_t> labels = ctx.attrs.getInts("classlabels_ints", {});
  ctx.check(labels.size() >= 2, "classlabels_ints needs at least 2 labels (string labels are not supported)");
  const auto classes = static_cast<int64_t>(labels.size());
  const std::vector<int64_t> perClass = ctx.attrs.getInts("vectors_per_class", {});
  const std::vector<double> coef = floats(ctx, "coefficients"), sv = floats(ctx, "support_vectors");
  const std::vector<double> rho = floats(ctx, "rho");
  ctx.check(static_cast<int64_t>(perClass.size()) == classes, "vectors_per_class needs one count per class");
  std::vector<int64_t> start(static_cast<size_t>(classes) + 1, 0);
  for (int64_t c = 0; c < classes; ++c) {
    ctx.check(perClass[static_cast<size_t>(c)] >= 0, "vectors_per_class must be non-negative");
    start[static_cast<size_t>(c) + 1] = checkedAdd(start[static_cast<size_t>(c)], perClass[static_cast<size_t>(c)], "SVM vectors");
  }
  const int64_t total = start.back();
  const int64_t pairs = classes * (classes - 1) / 2;
  ctx.check(static_cast<int64_t>(sv.size()) == checkedMul(total, r.cols, "SVMClassifier support vectors"),
            "support_vectors needs (sum of vectors_per_class) * features values");
  ctx.check(static_cast<int64_t>(coef.size()) == checkedMul(classes - 1, total, "SVMClassifier coefficients"),
            "coefficients needs (classes - 1) * (sum of vectors_per_class) values");
  ctx.check(static_cast<int64_t>(rho.size()) == pairs, "rho needs one value per pair of classes (" + std::to_string(pairs) + ")");
  const std::vector<double> probA = floats(ctx, "prob_a"), probB = floats(ctx, "prob_b");
  const bool probabilities = !probA.empty();
  ctx.check(!probabilities || (static_cast<int64_t>(probA.size()) == pairs && probB.size() == probA.size()),
            "prob_a and prob_b need one value per pair of classes (" + std::to_string(pairs) + ")");
  const std::string post = ctx.attrs.getString("post_transform", "NONE");
  checkHostBuffer(ctx, checkedMul(r.rows, pairs + classes, "SVMClassifier scores"), sizeof(double), "the SVMClassifier scores");
  const int64_t width = probabilities || classes == 2 ? classes : pairs;
  // The pairwise probabilities and the coupling matrix: two classes x classes matrices.
  if (probabilities) checkHostBuffer(ctx, checkedMul(classes, classes, "SVMClassifier coupling"), 2 * sizeof(double), "the probability coupling matrices");
  std::vector<std::vector<double>> pairProb(static_cast<size_t>(probabilities ? classes : 0),
                                            std::vector<double>(static_cast<size_t>(classes)));
  std::vector<double> scores(static_cast<size_t>(r.rows * width));
  std::vector<int64_t> outLabels(static_cast<size_t>(r.rows));
  std::vector<double> k(static_cast<size_t>(total));
  std::vector<int64_t> votes(static_cast<size_t>(classes));
  for (int64_t n = 0; n < r.rows; ++n) {
    const double* xn = r.values.data() + n * r.cols;
    for (int64_t v = 0; v < total; ++v) k[static_cast<size_t>(v)] = kernel(xn, sv.data() + v * r.cols, r.cols);
    std::fill(votes.begin(), votes.end(), 0);
    std::vector<double> decisions;
    int64_t pair = 0;
    for (int64_t i = 0; i < classes; ++i) {
      for (int64_t j = i + 1; j < classes; ++j, ++pair) {
        double d = rho[static_cast<size_t>(pair)];
        // Class i's vectors carry their coefficient against j in row j - 1; class j's against i in row i.
        for (int64_t v = start[static_cast<size_t>(i)]; v < start[static_cast<size_t>(i) + 1]; ++v)
          d += coef[static_cast<size_t>((j - 1) * total + v)] * k[static_cast<size_t>(v)];
        for (int64_t v = start[static_cast<size_t>(j)]; v < start[static_cast<size_t>(j) + 1]; ++v)
          d += coef[static_cast<size_t>(i * total + v)] * k[static_cast<size_t>(v)];
        ++votes[static_cast<size_t>(d > 0.0 ? i : j)];
        decisions.push_back(d);
      }
    }
    outLabels[static_cast<size_t>(n)] = labels[static_cast<size_t>(std::max_element(votes.begin(), votes.end()) - votes.begin())];
    double* row = scores.data() + n * width;
    if (probabilities) {
      pair = 0;
      for (size_t i = 0; i < static_cast<size_t>(classes); ++i) {
        for (size_t j = i + 1; j < static_cast<size_t>(classes); ++j, ++pair) {
          pairProb[i][j] = plattProbability(decisions[static_cast<size_t>(pair)], probA[static_cast<size_t>(pair)],
                                            probB[static_cast<size_t>(pair)]);
          pairProb[j][i] = 1.0 - pairProb[i][j];
        }
      }
      coupleProbabilities(pairProb, row);
    } else if (classes == 2) {
      row[0] = -decisions[0];
      row[1] = decisions[0];
    } else {
      std::copy(decisions.begin(), decisions.end(), row);
    }
    postTransform(ctx, post, row, width);
  }
  return {fromInts(outLabels, {r.rows}, DType::kInt64, x.device()), fromDoubles(scores, {r.rows, width}, DType::kFloat32, x.device())};
}

}  // namespace

void registerMlSvmConverters(ConverterRegistry& r) {
  r.add("ai.onnx.ml:SVMRegressor", 1, convertSVMRegressor, false);
  r.add("ai.onnx.ml:SVMClassifier", 1, convertSVMClassifier, false);
}

}  // namespace singa::onnxio
