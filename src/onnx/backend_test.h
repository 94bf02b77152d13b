// Runs ONNX backend-test cases (a directory with model.onnx and test_data_set_*/input_*.pb,
// output_*.pb) and compares the results the way ONNX's own backend runner does: same dtype, same
// shape, |actual - expected| <= atol + rtol * |expected| (NaN matches NaN). Used by
// `singa_onnx test` and the conformance tests.
#pragma once

#include <string>
#include <vector>

#include "singa/core/device.h"
#include "singa/core/tensor.h"

namespace singa::onnxio {

enum class CaseStatus { kPass, kFail, kUnsupported };
const char* caseStatusName(CaseStatus s);  // "PASS", "FAIL", "UNSUPPORTED"

struct CaseOptions {
  double rtol = 1e-3;
  double atol = 1e-7;
  Device device = Device::cpu();
};

struct CaseResult {
  std::string name;  // the case directory's base name
  std::string dir;
  CaseStatus status = CaseStatus::kFail;
  std::string reason;                // why it failed / is unsupported (empty on PASS)
  std::vector<std::string> opTypes;  // distinct op types of the model (sorted)
  /// UNSUPPORTED only because of value types the engine lacks (uint16/32/64, strings,
  /// sequences), not because of an operator.
  bool unsupportedTypesOnly = false;
  double seconds = 0.0;
};

/// Runs one case directory. Never throws for problems of the case itself: they become FAIL
/// (wrong results, errors while running) or UNSUPPORTED (NotSupportedError: ops, dtypes, opset).
CaseResult runBackendCase(const std::string& dir, const CaseOptions& options = CaseOptions());

/// `dir` itself when it holds a model.onnx, else its sub-directories that do (sorted by name).
/// ONNX's "light" models (light_NAME.onnx with light_NAME_output_0.pb beside it) count as cases
/// too; they run on ONNX's generated input arange(n) / n.
/// Throws IoError when `dir` does not exist.
std::vector<std::string> expandCaseDirs(const std::string& dir);

/// Empty when `actual` matches `expected` (dtype, shape, values within tolerance); otherwise a
/// short description of the first mismatch.
std::string compareTensors(const Tensor& actual, const Tensor& expected, double rtol, double atol);

}  // namespace singa::onnxio
