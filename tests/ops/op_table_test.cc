// Runs the cross-backend op table (op_table.h): every row's cases on the CPU against their
// reference, on CUDA against the CPU when a GPU is visible, and through the finite-difference
// gradient check. Every kernel of the registry is wrapped, for this process only, with a call
// counter, so a row also fails when its cases never reach the kernel it stands for, and
// OpTable.EveryRegisteredOpHasARow fails naming every op registered on the CPU without a row.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "singa/ops/registry.h"
#include "tests/gradcheck.h"
#include "tests/ops/op_table.h"

namespace singa::optable {
namespace {

// ---- kernel call counters --------------------------------------------------------------------

struct Counters {
  std::array<std::array<int64_t, kOpCount>, 2> calls{};  // [device type][op]
};

Counters& counters() {
  static Counters c;
  return c;
}

/// Wraps every registered kernel with a counter (once per process).
void installCounters() {
  static const bool done = [] {
    KernelRegistry& r = KernelRegistry::global();
    for (DeviceType dev : {DeviceType::kCpu, DeviceType::kCuda}) {
      for (OpId op : r.ops(dev)) {
        for (DType t : r.dtypes(op, dev)) {
          KernelFn inner = r.find(op, dev, t);
          r.add(op, dev, t, [inner, op, dev](KernelContext& ctx) {
            ++counters().calls[static_cast<size_t>(dev)][static_cast<size_t>(op)];
            inner(ctx);
          });
        }
      }
    }
    return true;
  }();
  (void)done;
}

int64_t callsOf(OpId op, DeviceType dev) { return counters().calls[static_cast<size_t>(dev)][static_cast<size_t>(op)]; }

// ---- the rows ----------------------------------------------------------------------------------

const std::vector<Row>& allRows() {
  static const std::vector<Row> rows = [] {
    std::vector<Row> all;
    for (auto family : {elementwiseRows, unaryRows, nnRows, otherRows}) {
      for (Row& r : family()) all.push_back(std::move(r));
    }
    return all;
  }();
  return rows;
}

struct Summary {
  int cases = 0, cudaCompared = 0, cudaSkipped = 0, gradChecks = 0;
  std::string cudaSkipReason;
};
Summary& summary() {
  static Summary s;
  return s;
}

bool cudaUsable() { return deviceAvailable(DeviceType::kCuda); }

// ---- comparisons -------------------------------------------------------------------------------

void expectNear(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": no result";
  ASSERT_EQ(got.shape(), want.shape()) << what << ": shape";
  const std::vector<double> g = values(got), w = values(want);
  const bool exact = !isFloating(got.dtype());
  int reported = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    bool ok;
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      ok = std::isnan(w[i]) && std::isnan(g[i]);
    } else if (exact || std::isinf(w[i])) {
      ok = g[i] == w[i];
    } else {
      ok = std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]);
    }
    if (!ok && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " got " << g[i] << ", expected " << w[i];
  }
}

/// `t` converted to `dt` when floating point (a fresh leaf with the same requiresGrad).
Tensor asDType(const Tensor& t, DType dt) {
  if (!t.defined() || !isFloating(t.dtype()) || t.dtype() == dt) return t;
  return t.detach().to(dt);
}

/// Fresh leaves on `dev` with the requiresGrad flags of `in` (floating inputs only).
Tensors leavesOn(const Tensors& in, Device dev, bool grads) {
  Tensors out;
  for (const Tensor& t : in) {
    if (!t.defined()) {
      out.push_back(t);
      continue;
    }
    Tensor c = t.detach().to(dev).clone();
    if (grads && t.requiresGrad() && isFloating(t.dtype())) c.setRequiresGrad();
    out.push_back(c);
  }
  return out;
}

/// (b): the same inputs on CUDA against the CPU, forward and, for differentiable cases, gradients.
void compareOnCuda(const Case& c, const Tensors& in, double rtol, double atol, const std::string& what) {
  const Tensors cpuIn = leavesOn(in, Device::cpu(), c.gradCheck), gpuIn = leavesOn(in, Device::cuda(0), c.gradCheck);
  const Tensor yc = c.run(cpuIn), yg = c.run(gpuIn);
  EXPECT_TRUE(yg.device().isCuda()) << what << ": CUDA result is on " << yg.device().str();
  expectNear(yg.to(Device::cpu()), yc, rtol, atol, what + " CUDA vs CPU");
  ++summary().cudaCompared;
  if (!c.gradCheck || !isFloating(yc.dtype())) return;
  const Tensor w = uniform(yc.shape(), 0.5, 1.5, 99).to(yc.dtype());
  ops::reduceSum(ops::mul(yc, w)).backward();
  ops::reduceSum(ops::mul(yg, w.to(Device::cuda(0)))).backward();
  for (size_t i = 0; i < in.size(); ++i) {
    if (!cpuIn[i].defined() || !cpuIn[i].requiresGrad()) continue;
    ASSERT_TRUE(gpuIn[i].grad().defined()) << what << ": no CUDA gradient for input " << i;
    expectNear(gpuIn[i].grad().to(Device::cpu()), cpuIn[i].grad(), rtol * 5, atol * 10,
               what + " CUDA vs CPU gradient of input " + std::to_string(i));
  }
}

void runCase(const Row& row, const Case& c) {
  ++summary().cases;
  bool anyFloat = false;
  for (const Tensor& t : c.inputs) anyFloat = anyFloat || (t.defined() && isFloating(t.dtype()));
  std::vector<DType> dtypes{DType::kFloat64};
  if (anyFloat && c.float32) dtypes.push_back(DType::kFloat32);
  for (DType dt : dtypes) {
    const std::string what = std::string(opName(row.op)) + " [" + c.what + ", " + dtypeName(dt) + "]";
    SCOPED_TRACE(what);
    const double rtol = dt == DType::kFloat32 ? std::max(c.rtol, 2e-4) : c.rtol;
    const double atol = dt == DType::kFloat32 ? std::max(c.atol, 2e-5) : c.atol;
    Tensors in;
    for (const Tensor& t : c.inputs) in.push_back(asDType(t, dt));
    // (a) CPU against the reference, computed from the same (rounded) input values.
    Tensors refIn;
    for (const Tensor& t : in) refIn.push_back(asDType(t, DType::kFloat64));
    const Tensor want = c.reference(refIn);
    const Tensor got = c.run(in);
    expectNear(got, want, rtol, atol, what + " CPU vs reference");
    // (b) CUDA against the CPU.
    if (cudaUsable()) {
      compareOnCuda(c, in, rtol, atol, what);
    } else {
      ++summary().cudaSkipped;
    }
  }
  // (c) finite differences (in float64).
  if (c.gradCheck) {
    SCOPED_TRACE(std::string(opName(row.op)) + " [" + c.what + "] gradient check");
    test::expectGradientsMatch(c.run, c.inputs, c.gradEps, 1e-5, 1e-4);
    ++summary().gradChecks;
  }
}

class OpTableRow : public ::testing::TestWithParam<size_t> {};

TEST_P(OpTableRow, CpuReferenceCudaAndGradient) {
  installCounters();
  const Row& row = allRows()[GetParam()];
  if (!row.note.empty()) RecordProperty("note", row.note);
  const int64_t before = callsOf(row.op, DeviceType::kCpu);
  const std::vector<Case> cases = row.cases();
  ASSERT_FALSE(cases.empty()) << opName(row.op) << ": the row has no cases";
  for (const Case& c : cases) runCase(row, c);
  EXPECT_GT(callsOf(row.op, DeviceType::kCpu), before)
      << opName(row.op) << ": no case of this row reached the op's CPU kernel" << (row.note.empty() ? "" : " (")
      << row.note << (row.note.empty() ? "" : ")");
  if (!cudaUsable()) {
    summary().cudaSkipReason = "no CUDA GPU visible (or the build has no CUDA backend)";
    RecordProperty("cuda", "skipped: " + summary().cudaSkipReason);
  }
}

std::string rowName(const ::testing::TestParamInfo<size_t>& info) { return opName(allRows()[info.param].op); }

INSTANTIATE_TEST_SUITE_P(OpTable, OpTableRow, ::testing::Range<size_t>(0, allRows().size()), rowName);

TEST(OpTable, EveryRegisteredOpHasARow) {
  std::vector<bool> hasRow(kOpCount, false);
  for (const Row& r : allRows()) {
    EXPECT_FALSE(hasRow[static_cast<size_t>(r.op)]) << opName(r.op) << " has two rows";
    hasRow[static_cast<size_t>(r.op)] = true;
  }
  std::vector<std::string> missing;
  for (OpId op : KernelRegistry::global().ops(DeviceType::kCpu)) {
    if (!hasRow[static_cast<size_t>(op)]) missing.push_back(opName(op));
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " registered op(s) have no row in the op table: "
                               << ::testing::PrintToString(missing);
}

TEST(OpTable, EveryListedOpIsRegisteredOnTheCpu) {
  // The CPU backend is the oracle: an op in the list with no CPU kernel cannot have a checked row.
  std::vector<std::string> unregistered;
  for (size_t i = 0; i < kOpCount; ++i) {
    if (KernelRegistry::global().dtypes(static_cast<OpId>(i), DeviceType::kCpu).empty()) {
      unregistered.push_back(opName(static_cast<OpId>(i)));
    }
  }
  EXPECT_TRUE(unregistered.empty()) << ::testing::PrintToString(unregistered);
}

TEST(OpTable, NamesRoundTrip) {
  for (size_t i = 0; i < kOpCount; ++i) {
    const OpId op = static_cast<OpId>(i);
    ASSERT_EQ(opFromName(opName(op)), op) << opName(op);
  }
  EXPECT_FALSE(opFromName("NoSuchOp").has_value());
}

/// Prints what the table covered: rows, cases, CUDA comparisons or why they were skipped.
class SummaryPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    const Summary& s = summary();
    if (s.cases == 0) return;
    std::printf("op table: %zu rows, %d cases, %d gradient checks, CUDA: %d compared, %d skipped%s%s\n",
                allRows().size(), s.cases, s.gradChecks, s.cudaCompared, s.cudaSkipped,
                s.cudaSkipReason.empty() ? "" : " - ", s.cudaSkipReason.c_str());
  }
};
const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new SummaryPrinter);

}  // namespace
}  // namespace singa::optable
