// The cross-backend op test table (in the manner of ggml's test-backend-ops): one row per kernel
// op of the op list (src/ops/op_list.h). A row builds small inputs (including a broadcast and a
// non-contiguous case where the op allows), runs the op through its public ops:: function and
//   (a) compares the CPU result with an independent reference computed here in double precision,
//   (b) when the build has CUDA and a GPU is visible, runs the same inputs on CUDA and compares
//       with the CPU result (forward and gradients), else records that part as skipped,
//   (c) for differentiable ops, checks the gradient against central finite differences.
// Backward and optimizer kernels have rows too: each is reached through the public op whose
// backward (or step) runs it, and is checked against a closed-form reference of that gradient or
// step, plus the finite-difference check of its forward op. op_table_test.cc runs the rows and
// fails, naming them, when a registered op has none.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "singa/ops/op_list.h"
#include "singa/singa.h"

namespace singa::optable {

using Tensors = std::vector<Tensor>;
using OpFn = std::function<Tensor(const Tensors&)>;

/// One set of inputs for a row. Inputs are float64 (or integer/bool where the op needs it); the
/// harness also runs float32 copies when the kernel has a float32 form. `requiresGrad` on an
/// input marks it for the gradient checks.
struct Case {
  std::string what;            // "broadcast [3,1] x [1,4]", "non-contiguous", ...
  Tensors inputs;              // on the CPU
  OpFn run;                    // the public op(s) under test
  OpFn reference;              // independent double-precision result for the same inputs
  bool gradCheck = false;      // finite-difference check of d(run)/d(inputs with requiresGrad)
  bool float32 = true;         // also run a float32 copy of the floating-point inputs
  double rtol = 1e-9, atol = 1e-10;  // float64 tolerance (float32 uses at least 2e-4 / 2e-5)
  double gradEps = 1e-6;       // finite-difference step
};

/// A row: the op, its cases, and how the op is reached when it has no public function of its
/// own ("covered by the gradient check of Conv", ...).
struct Row {
  OpId op;
  std::function<std::vector<Case>()> cases;
  std::string note;
};

/// Rows of one op family; op_table_test.cc collects them all.
std::vector<Row> elementwiseRows();
std::vector<Row> unaryRows();
std::vector<Row> nnRows();
std::vector<Row> otherRows();  // data movement, reductions, linear algebra, optimizers

// ---- helpers for writing rows ------------------------------------------------------------------

/// Uniform float64 values in [lo, hi) with a fixed seed.
Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed);
/// The same values as a non-contiguous view: the transpose of a contiguous [shape[1], shape[0]]
/// tensor, so the result has `shape` (2-D) but swapped strides.
Tensor nonContiguous(const Tensor& t);
/// Marks the tensor as a leaf that wants a gradient and returns it.
Tensor wantGrad(Tensor t);
/// Element values in row-major order, as double.
std::vector<double> values(const Tensor& t);
/// A float64 tensor from values and a shape.
Tensor make(const std::vector<double>& v, const Shape& shape);
/// Index of broadcast output element `flat` (of `out`) in an input of shape `in`.
int64_t broadcastIndex(const Shape& out, const Shape& in, int64_t flat);
/// NumPy broadcast of two shapes (the tests' own, not the library's).
Shape broadcast(const Shape& a, const Shape& b);

/// Elementwise reference: f applied to broadcast inputs; `outDType` of the result.
Tensor mapRef(const Tensors& in, const std::function<double(const std::vector<double>&)>& f,
              DType outDType = DType::kFloat64);

}  // namespace singa::optable
