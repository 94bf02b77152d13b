// The ONNX backend-test case runner (see backend_test.h).
#include "singa/onnx/backend_test.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/onnx/import.h"
#include "singa/onnx/model_io.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/onnx/value_file.h"

namespace fs = std::filesystem;

namespace singa::onnxio {

const char* caseStatusName(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPass: return "PASS";
    case CaseStatus::kFail: return "FAIL";
    case CaseStatus::kUnsupported: return "UNSUPPORTED";
  }
  return "?";
}

namespace {

// ONNX's "light" real-model cases: light_NAME.onnx next to light_NAME_output_0.pb, run on the
// deterministic input arange(n) / n that ONNX's runner generates for them.
bool isLightModel(const fs::path& p) {
  if (p.extension() != ".onnx") return false;
  fs::path out = p.parent_path() / (p.stem().string() + "_output_0.pb");
  return fs::exists(out);
}

}  // namespace

std::vector<std::string> expandCaseDirs(const std::string& dir) {
  SINGA_CHECK(fs::is_directory(dir), IoError, "test case directory '" << dir << "' does not exist");
  if (fs::exists(fs::path(dir) / "model.onnx")) return {dir};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().string());
    if (isLightModel(e.path())) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string compareTensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  std::ostringstream os;
  if (actual.dtype() != expected.dtype()) {
    os << "dtype " << dtypeName(actual.dtype()) << ", expected " << dtypeName(expected.dtype());
    return os.str();
  }
  if (actual.shape() != expected.shape()) {
    os << "shape " << actual.shape() << ", expected " << expected.shape();
    return os.str();
  }
  Tensor a = actual.device().isCpu() ? actual : actual.to(Device::cpu());
  a = a.isContiguous() ? a : a.clone();
  Tensor e = expected.isContiguous() ? expected : expected.clone();
  const int64_t n = a.numel();
  int64_t bad = 0;
  int64_t first = -1;
  double worst = 0.0;
  SINGA_DISPATCH_ALL(a.dtype(), T, {
    const T* pa = static_cast<const T*>(a.rawData());
    const T* pe = static_cast<const T*>(e.rawData());
    for (int64_t i = 0; i < n; ++i) {
      const double x = static_cast<double>(pa[i]);
      const double y = static_cast<double>(pe[i]);
      bool ok;
      if (std::isnan(x) || std::isnan(y)) {
        ok = std::isnan(x) && std::isnan(y);
      } else if (std::isinf(x) || std::isinf(y)) {
        ok = x == y;
      } else {
        ok = std::fabs(x - y) <= atol + rtol * std::fabs(y);
      }
      if (!ok) {
        if (first < 0) first = i;
        ++bad;
        if (std::isfinite(x - y)) worst = std::max(worst, std::fabs(x - y));
      }
    }
  });
  if (bad == 0) return "";
  os << bad << " of " << n << " values differ (first at flat index " << first << ": got " << a.at(first)
     << ", expected " << e.at(first) << "; max abs diff " << worst << ")";
  return os.str();
}

namespace {

std::string compareValues(const Value& actual, const Value& expected, double rtol, double atol) {
  if (actual.kind != expected.kind) return "got a " + actual.describe() + ", expected a " + expected.describe();
  if (actual.isTensor()) return compareTensors(actual.tensor, expected.tensor, rtol, atol);
  if (actual.isStrings()) {
    if (actual.stringShape != expected.stringShape) return "got a " + actual.describe() + ", expected a " + expected.describe();
    for (size_t i = 0; i < actual.strings.size(); ++i) {
      if (actual.strings[i] != expected.strings[i]) return "string " + std::to_string(i) + " differs";
    }
    return "";
  }
  if (actual.sequence.size() != expected.sequence.size()) {
    return "got a " + actual.describe() + ", expected a " + expected.describe();
  }
  for (size_t i = 0; i < actual.sequence.size(); ++i) {
    std::string d = compareTensors(actual.sequence[i], expected.sequence[i], rtol, atol);
    if (!d.empty()) return "sequence item " + std::to_string(i) + ": " + d;
  }
  return "";
}

std::vector<std::string> numberedFiles(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p.string());
  }
  return out;
}

std::string firstLines(const std::string& s, int lines) {
  std::string out;
  int n = 0;
  for (char c : s) {
    if (c == '\n' && ++n >= lines) {
      out += " ...";
      break;
    }
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

// The input ONNX's runner generates for light models: arange(n) / n as float32, with symbolic
// dims set to 1.
Tensor dummyInput(const ValueInfo& vi) {
  Shape shape;
  for (int64_t d : vi.dims) shape.push_back(d < 0 ? 1 : d);
  const int64_t n = numelOf(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(i) / static_cast<double>(n));
  return Tensor::fromVector(v, shape);
}

void runCase(const std::string& dir, const CaseOptions& options, CaseResult& r) {
  const bool light = isLightModel(dir);
  onnx::ModelProto model = loadModel(light ? dir : (fs::path(dir) / "model.onnx").string());
  std::set<std::string> ops;
  for (const auto& n : model.graph().node()) ops.insert(n.op_type());
  r.opTypes.assign(ops.begin(), ops.end());
  const std::vector<UnsupportedNode> unsupported = findUnsupported(model);
  r.unsupportedTypesOnly = !unsupported.empty() && std::all_of(unsupported.begin(), unsupported.end(), [](const auto& u) {
    return u.opType == "initializer" || u.opType == "graph input" || u.opType == "graph output";
  });
  auto m = prepare(model, options.device);
  m->eval();
  if (light) {
    std::vector<Tensor> inputs;
    for (const ValueInfo& vi : m->inputs()) inputs.push_back(dummyInput(vi));
    const fs::path p(dir);
    Tensor expected = readTensorFile((p.parent_path() / (p.stem().string() + "_output_0.pb")).string());
    std::vector<Tensor> outputs;
    {
      autograd::NoGradGuard noGrad;
      outputs = m->run(inputs);
    }
    std::string diff = compareTensors(outputs.at(0), expected, options.rtol, options.atol);
    r.status = diff.empty() ? CaseStatus::kPass : CaseStatus::kFail;
    r.reason = diff.empty() ? "" : "output 0: " + diff;
    return;
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  }
  std::sort(sets.begin(), sets.end());
  SINGA_CHECK(!sets.empty(), IoError, "no test_data_set_* directory in '" << dir << "'");
  for (const fs::path& set : sets) {
    std::vector<Value> inputs;
    std::vector<Value> expected;
    // Files are typed by the model's declaration (a SequenceProto for a sequence input, see
    // value_file.h), which also takes the UINT16 bits that ONNX releases before 1.14 wrote for
    // bfloat16 test data as the element type the model declares.
    try {
      const std::vector<std::string> inFiles = numberedFiles(set, "input_"), outFiles = numberedFiles(set, "output_");
      for (size_t i = 0; i < inFiles.size(); ++i) {
        inputs.push_back(readValueFile(inFiles[i], i < m->inputs().size() ? m->inputs()[i] : ValueInfo()));
      }
      for (size_t i = 0; i < outFiles.size(); ++i) {
        expected.push_back(readValueFile(outFiles[i], i < m->outputs().size() ? m->outputs()[i] : ValueInfo()));
      }
    } catch (const NotSupportedError&) {
      r.unsupportedTypesOnly = true;  // test data of an element type the engine lacks
      throw;
    }
    std::vector<Value> outputs;
    {
      autograd::NoGradGuard noGrad;
      outputs = m->runValues(inputs);
    }
    if (outputs.size() != expected.size()) {
      r.status = CaseStatus::kFail;
      r.reason = "produced " + std::to_string(outputs.size()) + " outputs, expected " + std::to_string(expected.size());
      return;
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string diff = compareValues(outputs[i], expected[i], options.rtol, options.atol);
      if (!diff.empty()) {
        r.status = CaseStatus::kFail;
        r.reason = set.filename().string() + " output " + std::to_string(i) + " ('" + m->outputs()[i].name +
                   "'): " + diff;
        return;
      }
    }
  }
  r.status = CaseStatus::kPass;
}

}  // namespace

CaseResult runBackendCase(const std::string& dir, const CaseOptions& options) {
  CaseResult r;
  r.dir = dir;
  r.name = isLightModel(dir) ? fs::path(dir).stem().string() : fs::path(dir).filename().string();
  if (r.name.empty()) r.name = fs::path(dir).parent_path().filename().string();
  const auto start = std::chrono::steady_clock::now();
  try {
    runCase(dir, options, r);
  } catch (const NotSupportedError& e) {
    r.status = CaseStatus::kUnsupported;
    r.reason = firstLines(e.what(), 4);
  } catch (const std::exception& e) {
    r.status = CaseStatus::kFail;
    r.reason = firstLines(e.what(), 4);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace singa::onnxio
