// singa_onnx: the ONNX tool, with subcommands in the style of Caffe's `caffe` tool.
//   singa_onnx info  MODEL                                   opsets, I/O, parameters, op histogram
//   singa_onnx run   MODEL --input a.pb [--input b.pb] --output-dir DIR [--device cpu]
//                    (.pb: TensorProto, SequenceProto or OptionalProto, as the graph declares)
//   singa_onnx test  CASE_DIR... [--summary-json F] [--quiet] [--min-pass-rate R] ...
//   singa_onnx bench MODEL [--batch N] [--threads N] [--warmup W] [--iters I]
// Exit codes: 0 success, 1 error (message printed), 2 bad usage.
#include <onnx/onnx_pb.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/core/rng.h"
#include "launch/cli_checks.h"
#include "launch/cli_main.h"
#include "singa/onnx/backend_test.h"
#include "singa/onnx/import.h"
#include "singa/onnx/model_io.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/onnx/value_file.h"

namespace fs = std::filesystem;
using namespace singa;
using namespace singa::onnxio;
using singa::launch::runGuarded;

namespace {

// The operators of SINGA's ONNX tutorial: every backend case using only these must pass
// (--require-tutorial-ops).
const std::set<std::string> kTutorialOps = {
    "Conv", "Relu", "Constant", "MaxPool", "AveragePool", "Softmax", "Sigmoid", "Add", "MatMul",
    "BatchNormalization", "Concat", "Flatten", "Gemm", "Reshape", "Sum", "Cos", "Cosh", "Sin", "Sinh",
    "Tan", "Tanh", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Selu", "Elu", "Equal", "Less",
    "Sign", "Div", "Sub", "Sqrt", "Log", "Greater", "HardSigmoid", "Identity", "Softplus", "Softsign",
    "Mean", "Pow", "Clip", "PRelu", "Mul", "Transpose", "Max", "Min", "Shape", "And", "Or", "Xor",
    "Not", "Neg", "Reciprocal"};

std::string joinStrings(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// "float32[N, 3]", "sequence<int64[?]>", "optional<sequence<float32[2]>>", "map<int64, ...>".
// Protobuf parses at most 100 nested messages, which bounds the recursion.
std::string typeText(const onnx::TypeProto& t) {
  if (t.has_tensor_type()) {
    std::string type;
    try {
      type = dtypeName(dtypeFromOnnx(t.tensor_type().elem_type()));
    } catch (const Error&) {
      type = "unsupported(" + std::to_string(t.tensor_type().elem_type()) + ")";
    }
    if (!t.tensor_type().has_shape()) return type + "[?]";
    std::vector<std::string> dims;
    for (const auto& d : t.tensor_type().shape().dim()) {
      dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : (d.dim_param().empty() ? "?" : d.dim_param()));
    }
    return type + "[" + joinStrings(dims, ", ") + "]";
  }
  if (t.has_sequence_type()) return "sequence<" + typeText(t.sequence_type().elem_type()) + ">";
  if (t.has_optional_type()) return "optional<" + typeText(t.optional_type().elem_type()) + ">";
  if (t.has_map_type()) {
    onnx::TypeProto key;
    key.mutable_tensor_type()->set_elem_type(t.map_type().key_type());
    std::string k = typeText(key);
    return "map<" + k.substr(0, k.size() - 3) + ", " + typeText(t.map_type().value_type()) + "> (not supported)";
  }
  return "?";
}

// ---- info --------------------------------------------------------------------------------------

int cmdInfo(const std::string& path) {
  onnx::ModelProto model = loadModel(path);
  const auto& g = model.graph();
  const int opset = modelOpset(model);
  std::cout << "model:     " << path << "\n";
  std::cout << "ir:        " << model.ir_version() << "   producer: " << model.producer_name() << " "
            << model.producer_version() << "\n";
  std::cout << "opsets:   ";
  for (const auto& o : model.opset_import()) {
    std::cout << " " << (o.domain().empty() ? "ai.onnx" : o.domain()) << "=" << o.version();
  }
  std::cout << "  (supported ai.onnx opsets: 1.." << kMaxSupportedOpset << ")\n";

  std::set<std::string> inits;
  int64_t paramCount = 0;
  int64_t constCount = 0;
  for (const auto& t : g.initializer()) {
    inits.insert(t.name());
    // Element counts of a file's dims, saturating: info describes a corrupt model, never wraps.
    int64_t n = 1;
    for (int64_t d : t.dims()) {
      if (d < 0 || __builtin_mul_overflow(n, d, &n)) n = 0;
    }
    const bool isFloat = t.data_type() == onnx::TensorProto::FLOAT || t.data_type() == onnx::TensorProto::DOUBLE;
    int64_t& count = isFloat ? paramCount : constCount;
    if (__builtin_add_overflow(count, n, &count)) count = INT64_MAX;
  }
  auto printValue = [](const onnx::ValueInfoProto& v) {
    std::cout << "  " << v.name() << ": " << (v.has_type() ? typeText(v.type()) : std::string("?")) << "\n";
  };
  std::cout << "inputs:\n";
  for (const auto& v : g.input()) {
    if (!inits.count(v.name())) printValue(v);
  }
  std::cout << "outputs:\n";
  for (const auto& v : g.output()) printValue(v);
  std::cout << "initializers: " << g.initializer_size() << " (" << paramCount
            << " float parameters, trainable; " << constCount << " other constant elements)\n";

  std::map<std::string, int> hist;
  for (const auto& n : g.node()) hist[(n.domain().empty() || n.domain() == "ai.onnx" ? "" : n.domain() + ":") + n.op_type()]++;
  std::vector<std::pair<std::string, int>> sorted(hist.begin(), hist.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::cout << "nodes: " << g.node_size() << "\n";
  std::vector<std::string> noGrad;
  for (const auto& [op, count] : sorted) {
    const bool ok = op.find(':') == std::string::npos && isOpSupported(op, opset);
    std::string note = ok ? "" : "  UNSUPPORTED";
    if (ok && !isOpDifferentiable(op, opset)) {
      note = "  (no gradient)";
      noGrad.push_back(op);
    }
    std::printf("  %-28s %6d%s\n", op.c_str(), count, note.c_str());
  }
  const std::vector<UnsupportedNode> unsupported = findUnsupported(model);
  if (unsupported.empty()) {
    std::cout << "unsupported: none (the model can be imported)\n";
  } else {
    std::cout << "unsupported: " << unsupported.size() << "\n";
    for (const UnsupportedNode& u : unsupported) {
      std::cout << "  " << u.opType << " '" << u.nodeName << "'" << (u.domain.empty() ? "" : " [" + u.domain + "]")
                << ": " << u.reason << "\n";
    }
  }
  std::cout << "not trainable (gradients do not flow through): "
            << (noGrad.empty() ? std::string("none") : joinStrings(noGrad, ", ")) << "\n";
  return 0;
}

// ---- run ---------------------------------------------------------------------------------------

// Each input file is read as the kind its graph input declares (TensorProto, SequenceProto,
// OptionalProto); optional inputs left out at the end are the empty optional. Outputs are written
// as the kind their graph output declares.
int cmdRun(const std::string& path, const std::vector<std::string>& inputFiles, const std::string& outDir,
           const std::string& deviceText) {
  const Device device = Device::parse(deviceText);
  auto model = prepareFile(path, device);
  const std::vector<ValueInfo>& declared = model->inputs();
  std::vector<Value> inputs;
  for (size_t i = 0; i < inputFiles.size(); ++i) {
    inputs.push_back(readValueFile(inputFiles[i], i < declared.size() ? declared[i] : ValueInfo()));
  }
  while (inputs.size() < declared.size() && declared[inputs.size()].optional) inputs.push_back(Value::none());
  std::vector<Value> outputs;
  {
    autograd::NoGradGuard noGrad;
    outputs = model->runValues(inputs);
  }
  std::error_code ec;
  fs::create_directories(outDir, ec);
  SINGA_CHECK(!ec, IoError, "cannot create output directory '" << outDir << "': " << ec.message());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string file = (fs::path(outDir) / ("output_" + std::to_string(i) + ".pb")).string();
    const ValueInfo& vi = model->outputs()[i];
    writeValueFile(outputs[i], vi, file);
    std::cout << file << ": " << vi.name << " ";
    if (outputs[i].isTensor() && !vi.optional) {
      std::cout << dtypeName(outputs[i].tensor.dtype()) << outputs[i].tensor.shape() << "\n";
    } else {
      std::cout << outputs[i].describe() << " (" << valueFileKind(outputs[i], vi) << ")\n";
    }
  }
  return 0;
}

// ---- test --------------------------------------------------------------------------------------

struct TestArgs {
  std::vector<std::string> dirs;
  std::string summaryJson;
  bool quiet = false;
  double minPassRate = -1.0;
  bool requireTutorialOps = false;
  std::string requirePassList;
  double rtol = 1e-3;
  double atol = 1e-7;
  std::string device = "cpu";
};

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

int cmdTest(const TestArgs& args) {
  CaseOptions options;
  options.rtol = args.rtol;
  options.atol = args.atol;
  options.device = Device::parse(args.device);
  std::set<std::string> mustPass;
  if (!args.requirePassList.empty()) {
    std::ifstream in(args.requirePassList);
    SINGA_CHECK(in.good(), IoError, "cannot read --require-pass-list file '" << args.requirePassList << "'");
    for (std::string line; std::getline(in, line);) {
      line.erase(0, line.find_first_not_of(" \t"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (!line.empty() && line[0] != '#') mustPass.insert(line);
    }
  }
  std::vector<CaseResult> all;
  std::vector<std::string> problems;
  std::ostringstream summaries;
  for (const std::string& dir : args.dirs) {
    const std::vector<std::string> cases = expandCaseDirs(dir);
    SINGA_CHECK(!cases.empty(), IoError, "no test cases (directories with model.onnx) under '" << dir << "'");
    int pass = 0, fail = 0, unsup = 0;
    for (const std::string& c : cases) {
      CaseResult r = runBackendCase(c, options);
      if (r.status == CaseStatus::kPass) ++pass;
      if (r.status == CaseStatus::kFail) ++fail;
      if (r.status == CaseStatus::kUnsupported) ++unsup;
      if (!args.quiet || r.status == CaseStatus::kFail) {
        std::printf("%-11s %s%s%s\n", caseStatusName(r.status), r.name.c_str(), r.reason.empty() ? "" : ": ",
                    r.reason.c_str());
      }
      const bool tutorial = !r.opTypes.empty() && std::all_of(r.opTypes.begin(), r.opTypes.end(),
                                                              [](const std::string& op) { return kTutorialOps.count(op); });
      // A tutorial-op case may only be excused when its value types (not its ops) are missing.
      const bool excused = r.status == CaseStatus::kUnsupported && r.unsupportedTypesOnly;
      if (r.status != CaseStatus::kPass && ((args.requireTutorialOps && tutorial && !excused) || mustPass.count(r.name))) {
        problems.push_back("required case " + r.name + " did not pass (" + caseStatusName(r.status) + ")");
      } else if (r.status != CaseStatus::kPass && args.requireTutorialOps && tutorial && !args.quiet) {
        std::printf("note: tutorial-op case %s excused (value types the engine lacks)\n", r.name.c_str());
      }
      all.push_back(std::move(r));
    }
    const int total = static_cast<int>(cases.size());
    const double rate = total ? 100.0 * pass / total : 0.0;
    std::string label = fs::path(dir).filename().string();
    if (label.empty()) label = fs::path(dir).parent_path().filename().string();
    char line[512];
    std::snprintf(line, sizeof(line), "%s: %d passed, %d failed, %d unsupported of %d (%.1f%%)\n", label.c_str(),
                  pass, fail, unsup, total, rate);
    summaries << line;
    if (args.minPassRate >= 0.0 && rate + 1e-9 < args.minPassRate * 100.0) {
      std::snprintf(line, sizeof(line), "%s: pass rate %.1f%% is below the required %.1f%%", label.c_str(), rate,
                    args.minPassRate * 100.0);
      problems.push_back(line);
    }
  }
  std::cout << summaries.str();
  if (!args.summaryJson.empty()) {
    std::ofstream out(args.summaryJson);
    SINGA_CHECK(out.good(), IoError, "cannot write --summary-json file '" << args.summaryJson << "'");
    out << "{\n  \"cases\": [\n";
    for (size_t i = 0; i < all.size(); ++i) {
      const CaseResult& r = all[i];
      out << "    {\"name\": \"" << jsonEscape(r.name) << "\", \"status\": \"" << caseStatusName(r.status)
          << "\", \"seconds\": " << r.seconds << ", \"ops\": [";
      for (size_t k = 0; k < r.opTypes.size(); ++k) out << (k ? ", " : "") << "\"" << jsonEscape(r.opTypes[k]) << "\"";
      out << "], \"reason\": \"" << jsonEscape(r.reason) << "\"}" << (i + 1 < all.size() ? "," : "") << "\n";
    }
    int pass = 0;
    for (const CaseResult& r : all) pass += r.status == CaseStatus::kPass;
    out << "  ],\n  \"passed\": " << pass << ",\n  \"total\": " << all.size() << "\n}\n";
  }
  for (const std::string& p : problems) std::cout << "singa_onnx test: " << p << "\n";
  if (!problems.empty()) return 1;
  // Without thresholds, any failing case fails the command.
  if (args.minPassRate < 0.0 && !args.requireTutorialOps && mustPass.empty()) {
    for (const CaseResult& r : all) {
      if (r.status == CaseStatus::kFail) return 1;
    }
  }
  return 0;
}

// ---- bench -------------------------------------------------------------------------------------

int cmdBench(const std::string& path, int64_t batch, int threads, int warmup, int iters, const std::string& deviceText) {
  if (threads > 0) setNumThreads(threads);
  const Device device = Device::parse(deviceText);
  PrepareOptions options;
  options.dynamicBatch = batch > 0;
  auto model = prepareFile(path, device, options);
  Generator gen(0);
  std::vector<Tensor> inputs;
  for (const ValueInfo& vi : model->inputs()) {
    Shape shape;
    for (size_t d = 0; d < vi.dims.size(); ++d) {
      int64_t v = vi.dims[d];
      if (d == 0 && (batch > 0 || v < 0)) v = batch > 0 ? batch : 1;
      SINGA_CHECK(v >= 0, ValueError, "bench: input '" << vi.name << "' has a symbolic dim '" << vi.dimNames[d]
                                          << "' other than the batch (" << vi.str() << "); no shape to use");
      shape.push_back(v);
    }
    Tensor t;
    try {  // the shape comes from the model file (and --batch)
      t = Tensor(shape, vi.hasType ? vi.dtype : DType::kFloat32, Device::cpu());
    } catch (const Error& e) {
      SINGA_THROW(ShapeError, "bench: input '" << vi.name << "' of " << vi.str() << " as " << shape
                                               << " cannot be built: " << e.what());
    }
    if (isFloating(t.dtype())) {
      std::vector<float> v(static_cast<size_t>(t.numel()));
      for (float& x : v) x = static_cast<float>(gen.nextNormal());
      t = Tensor::fromVector(v, shape).to(t.dtype());
    } else {
      t.zero();
    }
    inputs.push_back(t.to(device));
    std::cout << "input " << vi.name << ": " << dtypeName(t.dtype()) << shape << "\n";
  }
  autograd::NoGradGuard noGrad;
  for (int i = 0; i < warmup; ++i) model->run(inputs);
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model->run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0.0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                           : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  const int64_t b = inputs.empty() || inputs[0].ndim() == 0 ? 1 : inputs[0].dim(0);
  std::printf("%s: threads %d, batch %lld, %d iterations (%d warm-up)\n", path.c_str(), numThreads(),
              static_cast<long long>(b), iters, warmup);
  if (device.isCpu()) std::printf("%s\n", cpu::cpuKernelsDescription().c_str());
  std::printf("latency ms: median %.3f  mean %.3f  min %.3f  max %.3f\n", median, mean, sorted.front(), sorted.back());
  std::printf("throughput: %.1f samples/s\n", 1000.0 * static_cast<double>(b) / median);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"singa_onnx: inspect, run, test and benchmark ONNX models with singa"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return singa::launch::versionText("singa_onnx"); });

  std::string model;
  auto* info = app.add_subcommand("info", "Print a model's opset, inputs/outputs, parameters and op histogram");
  info->add_option("MODEL", model, "ONNX model file")->required();

  std::vector<std::string> inputFiles;
  std::string outDir;
  std::string device = "cpu";
  auto* run = app.add_subcommand("run", "Run a model on .pb inputs; write output_<i>.pb files (TensorProto, "
                                        "SequenceProto or OptionalProto, as the graph declares)");
  run->add_option("MODEL", model, "ONNX model file")->required();
  run->add_option("--input,-i", inputFiles, "input file (.pb), once per graph input, in order: a TensorProto, or a "
                  "SequenceProto / OptionalProto where the graph declares a sequence / optional (trailing optional "
                  "inputs may be left out: the empty optional)");
  run->add_option("--output-dir,-o", outDir, "directory for output_0.pb, output_1.pb, ...")->required();
  run->add_option("--device", device, "cpu or cuda[:N]");

  TestArgs targs;
  auto* test = app.add_subcommand("test", "Run ONNX backend-test case directories and compare outputs");
  test->add_option("CASE_DIR", targs.dirs, "case directory (model.onnx + test_data_set_*), or a directory of them")
      ->required();
  test->add_option("--summary-json", targs.summaryJson, "write per-case results as JSON");
  test->add_flag("--quiet,-q", targs.quiet, "print only failures and the summary");
  test->add_option("--min-pass-rate", targs.minPassRate, "fail unless this fraction (0..1) of each directory passes")
      ->check(CLI::Range(0.0, 1.0));
  test->add_flag("--require-tutorial-ops", targs.requireTutorialOps,
                 "fail if a case using only the ONNX-tutorial operators does not pass (cases unsupported only "
                 "for value types the engine lacks, such as maps or string tensors, are excused)");
  test->add_option("--require-pass-list", targs.requirePassList, "file of case names (one a line) that must pass");
  test->add_option("--rtol", targs.rtol, "relative tolerance (default 1e-3)");
  test->add_option("--atol", targs.atol, "absolute tolerance (default 1e-7)");
  test->add_option("--device", targs.device, "cpu or cuda[:N]");

  int64_t batch = 0;
  int threads = 0, warmup = 3, iters = 20;
  auto* bench = app.add_subcommand("bench", "Measure inference latency");
  bench->add_option("MODEL", model, "ONNX model file")->required();
  using singa::launch::kNonNegative;
  using singa::launch::kPositive;
  bench->add_option("--batch", batch, "batch size substituted into the first input dim")->check(kPositive);
  bench->add_option("--threads", threads, "CPU threads (default: all cores)")->check(singa::launch::kThreadCount);
  bench->add_option("--warmup", warmup, "untimed runs first (default 3)")->check(kNonNegative);
  bench->add_option("--iters", iters, "timed runs (default 20)")->check(kPositive);
  bench->add_option("--device", device, "cpu or cuda[:N]");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const singa::Error& e) {  // --version: a bad SINGA_CONV (kernels/cpu/conv_dnnl.h)
    std::fprintf(stderr, "%s: error: %s\n", "singa_onnx", e.what());
    return 1;
  }
  return runGuarded(
      "singa_onnx",
      [&] {
        if (*info) return cmdInfo(model);
        if (*run) return cmdRun(model, inputFiles, outDir, device);
        if (*test) return cmdTest(targs);
        if (*bench) return cmdBench(model, batch, threads, warmup, iters, device);
        return 2;
      },
      [](const std::string&) {});
}
