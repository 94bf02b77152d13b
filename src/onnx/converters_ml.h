// Helpers shared by the ai.onnx.ml converter files (internal header): converters_ml.cc,
// converters_ml_tree.cc and the ImageDecoder converter (converters_image.cc).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "singa/onnx/converter.h"

namespace singa::onnxio {

/// A 1-D [C] or 2-D [N, C] input read on the host as rows of doubles (a 1-D input is one row).
struct MlRows {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // rows * cols, row-major
};
/// ValueError naming the node for other ranks.
MlRows mlRows(const ConvertContext& ctx, const Tensor& x);

/// NotSupportedError naming the node when any of `attrs` (string-typed attributes) is present.
void refuseStrings(const ConvertContext& ctx, std::initializer_list<const char*> attrs);

/// Applies an ai.onnx.ml post_transform (NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT) to one
/// row of `n` scores in place; ValueError naming the node for another name.
void postTransform(const ConvertContext& ctx, const std::string& kind, double* row, int64_t n);

void registerMlTreeConverters(ConverterRegistry& r);      // TreeEnsemble, TreeEnsembleRegressor/Classifier
void registerMlSvmConverters(ConverterRegistry& r);       // SVMRegressor, SVMClassifier
void registerImageDecoderConverter(ConverterRegistry& r);  // ImageDecoder (ai.onnx, opset 20)

}  // namespace singa::onnxio
