// Classic machine-learning ONNX operators (domain ai.onnx.ml, registered as "ai.onnx.ml:OpType")
// on numeric tensors: ArrayFeatureExtractor, Binarizer, FeatureVectorizer, Imputer, LabelEncoder,
// LinearRegressor, LinearClassifier, Normalizer, OneHotEncoder, Scaler. Tree ensembles are in
// converters_ml_tree.cc, support vector machines in converters_ml_svm.cc. These are inference-only: the models are fitted elsewhere, and the
// values are computed on the host in double precision from attributes read once per node.
// String tensors (string keys, labels or inputs) and map / sequence-of-map outputs (ZipMap) are
// not supported: the engine has no string or map tensors, and such nodes get an error saying so.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "singa/core/shape.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/converters_ml.h"

namespace singa::onnxio {

void refuseStrings(const ConvertContext& ctx, std::initializer_list<const char*> attrs) {
  for (const char* a : attrs) {
    if (ctx.attrs.has(a)) {
      throw NotSupportedError("attribute '" + std::string(a) +
                              "' needs string tensors, which singa does not have; only numeric keys, labels and "
                              "values are supported (map strings to int64 ids before this node)");
    }
  }
}

MlRows mlRows(const ConvertContext& ctx, const Tensor& x) {
  ctx.check(x.ndim() == 1 || x.ndim() == 2, "input X must be 1-D [C] or 2-D [N, C], got rank " + std::to_string(x.ndim()));
  MlRows r;
  r.rows = x.ndim() == 2 ? x.shape()[0] : 1;
  r.cols = x.ndim() == 2 ? x.shape()[1] : x.shape()[0];
  r.values = doublesOf(x);
  return r;
}

void postTransform(const ConvertContext& ctx, const std::string& kind, double* row, int64_t n) {
  if (kind == "NONE" || n == 0) return;
  if (kind == "LOGISTIC") {
    for (int64_t i = 0; i < n; ++i) row[i] = 1.0 / (1.0 + std::exp(-row[i]));
  } else if (kind == "SOFTMAX" || kind == "SOFTMAX_ZERO") {
    const bool keepZeros = kind == "SOFTMAX_ZERO";
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      if (!keepZeros || row[i] != 0.0) mx = std::max(mx, row[i]);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      row[i] = keepZeros && row[i] == 0.0 ? 0.0 : std::exp(row[i] - mx);
      sum += row[i];
    }
    if (sum > 0.0) {
      for (int64_t i = 0; i < n; ++i) row[i] /= sum;
    }
  } else if (kind == "PROBIT") {
    // sqrt(2) * erfinv(2p - 1), the inverse normal CDF, by Newton steps on erf.
    for (int64_t i = 0; i < n; ++i) {
      const double y = 2.0 * row[i] - 1.0;
      if (!(y > -1.0 && y < 1.0)) {
        row[i] = y <= -1.0 ? -std::numeric_limits<double>::infinity()
                 : y >= 1.0 ? std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      double z = 0.0;
      for (int it = 0; it < 60; ++it) {
        const double step = (std::erf(z) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-z * z));
        z -= step;
        if (std::abs(step) < 1e-15) break;
      }
      row[i] = std::sqrt(2.0) * z;
    }
  } else {
    ctx.check(false, "post_transform must be NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO or PROBIT, got '" + kind + "'");
  }
}

namespace {

using Tensors = std::vector<Tensor>;

// The float output dtype of the ml operators whose schema says tensor(float).
constexpr DType kMlFloat = DType::kFloat32;

Tensors convertArrayFeatureExtractor(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const Tensor& y = requireInput(ctx, in, 1, "Y");
  ctx.check(x.ndim() >= 1, "input X must have rank >= 1");
  ctx.check(y.dtype() == DType::kInt64, "input Y (the indices) must be int64");
  const int64_t last = x.shape()[x.ndim() - 1];
  const std::vector<int64_t> idx = intsOf(y);
  for (int64_t i : idx) {
    ctx.check(i >= 0 && i < last, "index " + std::to_string(i) + " is out of range for the last axis of X (size " +
                                      std::to_string(last) + ")");
  }
  Shape outShape = x.shape();
  outShape.back() = static_cast<int64_t>(idx.size());
  if (x.ndim() == 1) outShape.insert(outShape.begin(), 1);  // a 1-D input gives one row
  const int64_t rows = last == 0 ? 0 : x.numel() / last;
  checkHostBuffer(ctx, checkedMul(rows, static_cast<int64_t>(idx.size()), "ArrayFeatureExtractor output"),
                  sizeof(double), "the ArrayFeatureExtractor output");
  const std::vector<double> v = doublesOf(x);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(rows) * idx.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i : idx) out.push_back(v[static_cast<size_t>(r * last + i)]);
  }
  return one(fromDoubles(out, outShape, x.dtype(), x.device()));
}

Tensors convertBinarizer(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const double threshold = ctx.attrs.getFloat("threshold", 0.0);
  std::vector<double> v = doublesOf(x);
  for (double& d : v) d = d > threshold ? 1.0 : std::isnan(d) ? d : 0.0;
  return one(fromDoubles(v, x.shape(), x.dtype(), x.device()));
}

// A per-column parameter list: one value for every column, or exactly one per column.
double perColumn(const std::vector<double>& p, int64_t col) {
  return p.size() == 1 ? p[0] : p[static_cast<size_t>(col)];
}

void checkPerColumn(const ConvertContext& ctx, const std::vector<double>& p, int64_t cols, const char* what) {
  ctx.check(p.size() == 1 || static_cast<int64_t>(p.size()) == cols,
            std::string(what) + " has " + std::to_string(p.size()) + " values; it needs 1 or one per column (" +
                std::to_string(cols) + ")");
}

Tensors convertScaler(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  MlRows r = mlRows(ctx, x);
  const std::vector<double> offset = ctx.attrs.has("offset") ? ctx.attrs.getFloats("offset") : std::vector<double>{0.0};
  const std::vector<double> scale = ctx.attrs.has("scale") ? ctx.attrs.getFloats("scale") : std::vector<double>{1.0};
  checkPerColumn(ctx, offset, r.cols, "offset");
  checkPerColumn(ctx, scale, r.cols, "scale");
  for (int64_t i = 0; i < r.rows; ++i) {
    for (int64_t j = 0; j < r.cols; ++j) {
      double& d = r.values[static_cast<size_t>(i * r.cols + j)];
      d = (d - perColumn(offset, j)) * perColumn(scale, j);
    }
  }
  return one(fromDoubles(r.values, x.shape(), kMlFloat, x.device()));
}

Tensors convertNormalizer(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  MlRows r = mlRows(ctx, x);
  const std::string norm = ctx.attrs.getString("norm", "MAX");
  ctx.check(norm == "MAX" || norm == "L1" || norm == "L2", "norm must be MAX, L1 or L2, got '" + norm + "'");
  for (int64_t i = 0; i < r.rows; ++i) {
    double* row = r.values.data() + i * r.cols;
    double d = norm == "MAX" ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t j = 0; j < r.cols; ++j) {
      d = norm == "MAX" ? std::max(d, row[j]) : norm == "L1" ? d + std::abs(row[j]) : d + row[j] * row[j];
    }
    if (norm == "L2") d = std::sqrt(d);
    if (d == 0.0) continue;  // an all-zero row stays zero
    for (int64_t j = 0; j < r.cols; ++j) row[j] /= d;
  }
  return one(fromDoubles(r.values, x.shape(), kMlFloat, x.device()));
}

Tensors convertImputer(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const bool ints = !isFloating(x.dtype());
  std::vector<double> imputed;
  double replaced;
  if (ints) {
    ctx.check(ctx.attrs.has("imputed_value_int64s"), "an integer input needs imputed_value_int64s");
    for (int64_t v : ctx.attrs.getInts("imputed_value_int64s")) imputed.push_back(static_cast<double>(v));
    replaced = static_cast<double>(ctx.attrs.getInt("replaced_value_int64", 0));
  } else {
    ctx.check(ctx.attrs.has("imputed_value_floats"), "a float input needs imputed_value_floats");
    imputed = ctx.attrs.getFloats("imputed_value_floats");
    replaced = static_cast<float>(ctx.attrs.getFloat("replaced_value_float", 0.0));
  }
  ctx.check(!imputed.empty(), "the imputed values are empty");
  MlRows r = mlRows(ctx, x);
  checkPerColumn(ctx, imputed, r.cols, "the imputed values");
  for (int64_t i = 0; i < r.rows; ++i) {
    for (int64_t j = 0; j < r.cols; ++j) {
      double& d = r.values[static_cast<size_t>(i * r.cols + j)];
      if (d == replaced || (std::isnan(replaced) && std::isnan(d))) d = perColumn(imputed, j);
    }
  }
  return one(fromDoubles(r.values, x.shape(), x.dtype(), x.device()));
}

Tensors convertLinearRegressor(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const MlRows r = mlRows(ctx, x);
  const int64_t targets = ctx.attrs.getInt("targets", 1);
  ctx.check(targets >= 1, "targets must be >= 1, got " + std::to_string(targets));
  const std::vector<double> coef = ctx.attrs.has("coefficients") ? ctx.attrs.getFloats("coefficients") : std::vector<double>{};
  std::vector<double> bias = ctx.attrs.has("intercepts") ? ctx.attrs.getFloats("intercepts") : std::vector<double>{};
  ctx.check(static_cast<int64_t>(coef.size()) == checkedMul(targets, r.cols, "LinearRegressor coefficients"),
            "coefficients has " + std::to_string(coef.size()) + " values; it needs targets * features = " +
                std::to_string(targets) + " * " + std::to_string(r.cols));
  ctx.check(bias.empty() || static_cast<int64_t>(bias.size()) == targets,
            "intercepts has " + std::to_string(bias.size()) + " values; it needs one per target (" + std::to_string(targets) + ")");
  if (bias.empty()) bias.assign(static_cast<size_t>(targets), 0.0);
  const std::string post = ctx.attrs.getString("post_transform", "NONE");
  checkHostBuffer(ctx, checkedMul(r.rows, targets, "LinearRegressor output"), sizeof(double), "the LinearRegressor output");
  std::vector<double> out(static_cast<size_t>(r.rows * targets));
  for (int64_t i = 0; i < r.rows; ++i) {
    for (int64_t t = 0; t < targets; ++t) {
      double s = bias[static_cast<size_t>(t)];
      for (int64_t j = 0; j < r.cols; ++j) s += coef[static_cast<size_t>(t * r.cols + j)] * r.values[static_cast<size_t>(i * r.cols + j)];
      out[static_cast<size_t>(i * targets + t)] = s;
    }
    postTransform(ctx, post, out.data() + i * targets, targets);
  }
  return one(fromDoubles(out, {r.rows, targets}, kMlFloat, x.device()));
}

// Scores and labels of LinearClassifier: scores [N, classes] (2 columns for a one-row binary
// model), the label of each row from the highest score (or the sign of the single score).
Tensors convertLinearClassifier(const ConvertContext& ctx, const Tensors& in) {
  refuseStrings(ctx, {"classlabels_strings"});
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const MlRows r = mlRows(ctx, x);
  const std::vector<double> coef = ctx.attrs.has("coefficients") ? ctx.attrs.getFloats("coefficients") : std::vector<double>{};
  ctx.check(r.cols > 0 && !coef.empty() && coef.size() % static_cast<size_t>(r.cols) == 0,
            "coefficients has " + std::to_string(coef.size()) + " values; it needs classes * features (features = " +
                std::to_string(r.cols) + ")");
  const auto classes = static_cast<int64_t>(coef.size()) / r.cols;
  std::vector<double> bias = ctx.attrs.has("intercepts") ? ctx.attrs.getFloats("intercepts") : std::vector<double>{};
  ctx.check(bias.empty() || static_cast<int64_t>(bias.size()) == classes,
            "intercepts has " + std::to_string(bias.size()) + " values; it needs one per class (" + std::to_string(classes) + ")");
  if (bias.empty()) bias.assign(static_cast<size_t>(classes), 0.0);
  const std::vector<int64_t> labels = ctx.attrs.getInts("classlabels_ints", {});
  ctx.check(!labels.empty(), "classlabels_ints is missing (string labels are not supported)");
  const bool binary = classes == 1 && labels.size() == 2;
  ctx.check(binary || static_cast<int64_t>(labels.size()) == classes,
            "classlabels_ints has " + std::to_string(labels.size()) + " labels for " + std::to_string(classes) +
                " rows of coefficients");
  const std::string post = ctx.attrs.getString("post_transform", "NONE");
  const int64_t width = binary ? 2 : classes;
  checkHostBuffer(ctx, checkedMul(r.rows, width, "LinearClassifier scores"), sizeof(double), "the LinearClassifier scores");
  std::vector<double> scores(static_cast<size_t>(r.rows * width));
  std::vector<int64_t> outLabels(static_cast<size_t>(r.rows));
  for (int64_t i = 0; i < r.rows; ++i) {
    double* row = scores.data() + i * width;
    for (int64_t c = 0; c < classes; ++c) {
      double s = bias[static_cast<size_t>(c)];
      for (int64_t j = 0; j < r.cols; ++j) s += coef[static_cast<size_t>(c * r.cols + j)] * r.values[static_cast<size_t>(i * r.cols + j)];
      row[c] = s;
    }
    if (binary) {
      // One score s for the second label: the scores are [1 - f(s), f(s)], f the post transform.
      outLabels[static_cast<size_t>(i)] = labels[row[0] > 0.0 ? 1 : 0];
      postTransform(ctx, post, row, 1);
      row[1] = row[0];
      row[0] = 1.0 - row[1];
    } else {
      const int64_t best = std::max_element(row, row + classes) - row;
      outLabels[static_cast<size_t>(i)] = labels[static_cast<size_t>(best)];
      postTransform(ctx, post, row, classes);
    }
  }
  return {fromInts(outLabels, {r.rows}, DType::kInt64, x.device()), fromDoubles(scores, {r.rows, width}, kMlFloat, x.device())};
}

Tensors convertOneHotEncoder(const ConvertContext& ctx, const Tensors& in) {
  refuseStrings(ctx, {"cats_strings"});
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ctx.check(ctx.attrs.has("cats_int64s"), "cats_int64s is missing (string categories are not supported)");
  const std::vector<int64_t> cats = ctx.attrs.getInts("cats_int64s");
  const bool zeros = ctx.attrs.getInt("zeros", 1) != 0;
  std::map<int64_t, int64_t> position;
  for (size_t i = 0; i < cats.size(); ++i) position.emplace(cats[i], static_cast<int64_t>(i));
  const auto depth = static_cast<int64_t>(cats.size());
  checkHostBuffer(ctx, checkedMul(x.numel(), depth, "OneHotEncoder output"), sizeof(double), "the OneHotEncoder output");
  const std::vector<double> v = doublesOf(x);
  std::vector<double> out(static_cast<size_t>(x.numel() * depth), 0.0);
  for (size_t i = 0; i < v.size(); ++i) {
    const bool representable = std::abs(v[i]) < 9.2e18;  // NaN and values past int64 match no category
    auto it = representable ? position.find(static_cast<int64_t>(v[i])) : position.end();
    if (it == position.end()) {
      ctx.check(zeros, "value " + std::to_string(v[i]) + " is not among cats_int64s and zeros is 0");
      continue;
    }
    out[i * static_cast<size_t>(depth) + static_cast<size_t>(it->second)] = 1.0;
  }
  Shape outShape = x.shape();
  outShape.push_back(depth);
  return one(fromDoubles(out, outShape, kMlFloat, x.device()));
}

Tensors convertFeatureVectorizer(const ConvertContext& ctx, const Tensors& in) {
  const std::vector<int64_t> dims = ctx.attrs.getInts("inputdimensions", {});
  ctx.check(!in.empty() && dims.size() == in.size(), "inputdimensions has " + std::to_string(dims.size()) +
                                                         " entries; it needs one per input (" + std::to_string(in.size()) + ")");
  int64_t width = 0, rows = -1;
  for (size_t k = 0; k < in.size(); ++k) {
    const Tensor& t = requireInput(ctx, in, k, "X");
    ctx.check(dims[k] >= 0, "inputdimensions must be non-negative");
    width = checkedAdd(width, dims[k], "FeatureVectorizer width");
    const int64_t r = t.ndim() <= 1 ? 1 : t.numel() / std::max<int64_t>(t.shape()[t.ndim() - 1], 1);
    ctx.check(rows < 0 || r == rows, "the inputs have different numbers of rows");
    rows = r;
  }
  checkHostBuffer(ctx, checkedMul(rows, width, "FeatureVectorizer output"), sizeof(double), "the FeatureVectorizer output");
  std::vector<double> out(static_cast<size_t>(rows * width), 0.0);
  int64_t offset = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const std::vector<double> v = doublesOf(in[k]);
    const int64_t cols = in[k].ndim() == 0 ? 1 : in[k].shape()[in[k].ndim() - 1];
    const int64_t take = std::min(cols, dims[k]);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < take; ++j) out[static_cast<size_t>(i * width + offset + j)] = v[static_cast<size_t>(i * cols + j)];
    }
    offset += dims[k];
  }
  return one(fromDoubles(out, {rows, width}, kMlFloat, in[0].device()));
}

// LabelEncoder (opset 2+) on numeric keys and values: attribute lists or (opset 4) tensors.
Tensors convertLabelEncoder(const ConvertContext& ctx, const Tensors& in) {
  refuseStrings(ctx, {"keys_strings", "values_strings", "default_string"});
  const Tensor& x = requireInput(ctx, in, 0, "X");
  std::vector<double> keys, values;
  DType valueType = DType::kInt64;
  double dflt = -1.0;
  if (ctx.attrs.has("keys_tensor")) {
    keys = doublesOf(ctx.attrs.getTensor("keys_tensor"));
  } else if (ctx.attrs.has("keys_int64s")) {
    for (int64_t k : ctx.attrs.getInts("keys_int64s")) keys.push_back(static_cast<double>(k));
  } else if (ctx.attrs.has("keys_floats")) {
    keys = ctx.attrs.getFloats("keys_floats");
  }
  if (ctx.attrs.has("values_tensor")) {
    const Tensor& vt = ctx.attrs.getTensor("values_tensor");
    values = doublesOf(vt);
    valueType = vt.dtype();
  } else if (ctx.attrs.has("values_int64s")) {
    for (int64_t k : ctx.attrs.getInts("values_int64s")) values.push_back(static_cast<double>(k));
  } else if (ctx.attrs.has("values_floats")) {
    values = ctx.attrs.getFloats("values_floats");
    valueType = DType::kFloat32;
    dflt = -0.0;
  }
  if (ctx.attrs.has("default_tensor")) {
    const Tensor& d = ctx.attrs.getTensor("default_tensor");
    ctx.check(d.numel() == 1, "default_tensor must hold one value");
    dflt = doublesOf(d)[0];
  } else if (valueType == DType::kFloat32) {
    dflt = ctx.attrs.getFloat("default_float", -0.0);
  } else {
    dflt = static_cast<double>(ctx.attrs.getInt("default_int64", -1));
  }
  ctx.check(!keys.empty() && keys.size() == values.size(),
            "needs as many keys as values (numeric keys_* and values_* attributes), got " + std::to_string(keys.size()) +
                " keys and " + std::to_string(values.size()) + " values");
  std::map<double, double> table;
  double nanValue = dflt;
  bool nanKey = false;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::isnan(keys[i])) {
      if (!nanKey) nanValue = values[i];
      nanKey = true;
    } else {
      table.emplace(keys[i], values[i]);
    }
  }
  std::vector<double> v = doublesOf(x);
  for (double& d : v) {
    if (std::isnan(d)) {
      d = nanValue;
      continue;
    }
    auto it = table.find(d);
    d = it == table.end() ? dflt : it->second;
  }
  return one(fromDoubles(v, x.shape(), valueType, x.device()));
}

}  // namespace

void registerMlConverters(ConverterRegistry& r) {
  const std::string ml = "ai.onnx.ml:";
  r.add(ml + "ArrayFeatureExtractor", 1, convertArrayFeatureExtractor, false);
  r.add(ml + "Binarizer", 1, convertBinarizer, false);
  r.add(ml + "FeatureVectorizer", 1, convertFeatureVectorizer, false);
  r.add(ml + "Imputer", 1, convertImputer, false);
  r.add(ml + "LabelEncoder", 2, convertLabelEncoder, false);
  r.add(ml + "LinearClassifier", 1, convertLinearClassifier, false);
  r.add(ml + "LinearRegressor", 1, convertLinearRegressor, false);
  r.add(ml + "Normalizer", 1, convertNormalizer, false);
  r.add(ml + "OneHotEncoder", 1, convertOneHotEncoder, false);
  r.add(ml + "Scaler", 1, convertScaler, false);
  registerMlTreeConverters(r);
  registerMlSvmConverters(r);
  registerImageDecoderConverter(r);
}

}  // namespace singa::onnxio
