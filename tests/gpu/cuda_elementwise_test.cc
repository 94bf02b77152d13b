// CUDA vs CPU: elementwise (unary + fused gradients, broadcasting binary ops, comparisons,
// logic, Where, integer rules), reductions, and the data-movement kernels (Copy/Cast, Fill,
// transpose views, Slice, Concat, Pad, Gather, Tile, Expand). Typed over (cuda:0) x (float32,
// float64) where the CPU registers both; integer and bool kernels get their own cases.
#include <cmath>

#include "gpu/gpu_test_util.h"

namespace singa {
namespace {

using gputest::checkOp;
using gputest::expectClose;
using gputest::gpu;
using gputest::OpFn;
using gputest::randomInts;
using gputest::randomTensor;

template <class P>
class CudaElementwise : public ::testing::Test {};
TYPED_TEST_SUITE(CudaElementwise, gputest::FloatTypes);

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  double lo, hi;  // input domain
};

std::vector<UnaryCase> unaryCases() {
  return {
      {"Abs", ops::abs, -2, 2},
      {"Neg", ops::neg, -2, 2},
      {"Sign", ops::sign, -2, 2},
      {"Exp", ops::exp, -2, 2},
      {"Log", ops::log, 0.1, 3},
      {"Sqrt", ops::sqrt, 0.1, 3},
      {"Reciprocal", ops::reciprocal, 0.5, 3},
      {"Sin", ops::sin, -3, 3},
      {"Cos", ops::cos, -3, 3},
      {"Tan", ops::tan, -1, 1},
      {"Asin", ops::asin, -0.9, 0.9},
      {"Acos", ops::acos, -0.9, 0.9},
      {"Atan", ops::atan, -3, 3},
      {"Sinh", ops::sinh, -2, 2},
      {"Cosh", ops::cosh, -2, 2},
      {"Tanh", ops::tanh, -2, 2},
      {"Asinh", ops::asinh, -2, 2},
      {"Acosh", ops::acosh, 1.2, 3},
      {"Atanh", ops::atanh, -0.9, 0.9},
      {"Erf", ops::erf, -2, 2},
      {"Floor", ops::floor, -3, 3},
      {"Ceil", ops::ceil, -3, 3},
      {"Round", ops::round, -3, 3},
      {"Sigmoid", ops::sigmoid, -4, 4},
      {"Relu", ops::relu, -2, 2},
      {"Softplus", ops::softplus, -3, 3},
      {"Softsign", ops::softsign, -3, 3},
      {"Elu", [](const Tensor& x) { return ops::elu(x, 0.7); }, -2, 2},
      {"Selu", [](const Tensor& x) { return ops::selu(x); }, -2, 2},
      {"LeakyRelu", [](const Tensor& x) { return ops::leakyRelu(x, 0.1); }, -2, 2},
      {"HardSigmoid", [](const Tensor& x) { return ops::hardSigmoid(x, 0.3, 0.4); }, -3, 3},
      {"HardSwish", ops::hardSwish, -4, 4},
      {"Celu", [](const Tensor& x) { return ops::celu(x, 1.3); }, -2, 2},
      {"ThresholdedRelu", [](const Tensor& x) { return ops::thresholdedRelu(x, 0.2); }, -2, 2},
      {"Clip", [](const Tensor& x) { return ops::clip(x, -0.5, 0.6); }, -2, 2},
  };
}

TYPED_TEST(CudaElementwise, UnaryForwardAndBackward) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  for (const UnaryCase& c : unaryCases()) {
    const Tensor x = randomTensor({7, 45}, dt, c.lo, c.hi, 3);
    checkOp(c.name, [&](const std::vector<Tensor>& in) { return c.fn(in[0]); }, {x});
    // A transposed (non-contiguous) input takes the strided path of the kernels.
    checkOp(std::string(c.name) + " strided",
            [&](const std::vector<Tensor>& in) { return c.fn(in[0].transpose(0, 1)); }, {x});
  }
}

TYPED_TEST(CudaElementwise, BinaryBroadcastForwardAndBackward) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&, const Tensor&)>>> ops_ = {
      {"Add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }},
      {"Sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }},
      {"Mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }},
      {"Div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b); }},
      {"Pow", [](const Tensor& a, const Tensor& b) { return ops::pow(ops::abs(a), b); }},
      {"Max", [](const Tensor& a, const Tensor& b) { return ops::maximum(a, b); }},
      {"Min", [](const Tensor& a, const Tensor& b) { return ops::minimum(a, b); }},
      {"Mod", [](const Tensor& a, const Tensor& b) { return ops::mod(a, b, true); }},
  };
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 5}, {4, 5}}, {{4, 1, 5}, {3, 1}}, {{2, 3, 4}, {}}, {{}, {3, 2}}, {{6, 1, 4, 5}, {1, 3, 1, 5}}};
  for (const auto& [name, f] : ops_) {
    for (const auto& [sa, sb] : shapes) {
      const Tensor a = randomTensor(sa, dt, 0.5, 2.0, 5);
      const Tensor b = randomTensor(sb, dt, 0.5, 2.0, 6);
      const bool grad = std::string(name) != "Mod";
      checkOp(std::string(name) + " " + shapeStr(sa) + " with " + shapeStr(sb),
              [&, f = f](const std::vector<Tensor>& in) { return f(in[0], in[1]); }, {a, b}, grad);
    }
  }
  const Tensor x = randomTensor({3, 8}, dt, -1, 1, 8), slope = randomTensor({8}, dt, 0, 0.5, 9);
  checkOp("PRelu", [](const std::vector<Tensor>& in) { return ops::prelu(in[0], in[1]); }, {x, slope});
  checkOp("Add of transposed views",
          [](const std::vector<Tensor>& in) { return ops::add(in[0].transpose(0, 1), in[1]); },
          {randomTensor({5, 3}, dt), randomTensor({3, 5}, dt)});
}

TYPED_TEST(CudaElementwise, ComparisonsLogicAndWhere) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor a = ops::round(randomTensor({4, 6}, dt, -2, 2, 1)), b = ops::round(randomTensor({6}, dt, -2, 2, 2));
  const OpFn cmp[] = {
      [](const std::vector<Tensor>& in) { return ops::equal(in[0], in[1]); },
      [](const std::vector<Tensor>& in) { return ops::less(in[0], in[1]); },
      [](const std::vector<Tensor>& in) { return ops::lessOrEqual(in[0], in[1]); },
      [](const std::vector<Tensor>& in) { return ops::greater(in[0], in[1]); },
      [](const std::vector<Tensor>& in) { return ops::greaterOrEqual(in[0], in[1]); },
  };
  for (const OpFn& f : cmp) checkOp("comparison", f, {a, b}, false);
  const Tensor p = ops::greater(a, ops::mul(a, 0.0)), q = ops::less(b, ops::mul(b, 0.0));
  checkOp("And", [](const std::vector<Tensor>& in) { return ops::logicalAnd(in[0], in[1]); }, {p, q}, false);
  checkOp("Or", [](const std::vector<Tensor>& in) { return ops::logicalOr(in[0], in[1]); }, {p, q}, false);
  checkOp("Xor", [](const std::vector<Tensor>& in) { return ops::logicalXor(in[0], in[1]); }, {p, q}, false);
  checkOp("Not", [](const std::vector<Tensor>& in) { return ops::logicalNot(in[0].transpose(0, 1)); }, {p}, false);
  checkOp("Equal bool", [](const std::vector<Tensor>& in) { return ops::equal(in[0], in[1]); }, {p, q}, false);
  checkOp("Where", [](const std::vector<Tensor>& in) { return ops::where(in[0], in[1], in[2]); },
          {q, randomTensor({4, 6}, dt), randomTensor({4, 1}, dt)});
}

TEST(CudaIntegerKernels, ArithmeticComparisonsAndUnary) {
  SINGA_REQUIRE_GPU();
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    const Tensor a = randomInts({5, 7}, dt, -20, 20, 1), b = randomInts({7}, dt, -3, 3, 2);  // includes 0 and -1
    checkOp("Add int", [](const std::vector<Tensor>& in) { return ops::add(in[0], in[1]); }, {a, b}, false);
    checkOp("Sub int", [](const std::vector<Tensor>& in) { return ops::sub(in[0], in[1]); }, {a, b}, false);
    checkOp("Mul int", [](const std::vector<Tensor>& in) { return ops::mul(in[0], in[1]); }, {a, b}, false);
    checkOp("Div int (by zero gives 0)", [](const std::vector<Tensor>& in) { return ops::div(in[0], in[1]); },
            {a, b}, false);
    checkOp("Mod int", [](const std::vector<Tensor>& in) { return ops::mod(in[0], in[1]); }, {a, b}, false);
    checkOp("Fmod int", [](const std::vector<Tensor>& in) { return ops::mod(in[0], in[1], true); }, {a, b}, false);
    checkOp("Pow int", [](const std::vector<Tensor>& in) { return ops::pow(in[0], in[1]); }, {a, b}, false);
    checkOp("Max int", [](const std::vector<Tensor>& in) { return ops::maximum(in[0], in[1]); }, {a, b}, false);
    checkOp("Less int", [](const std::vector<Tensor>& in) { return ops::less(in[0], in[1]); }, {a, b}, false);
    checkOp("Equal int", [](const std::vector<Tensor>& in) { return ops::equal(in[0], in[1]); }, {a, b}, false);
    checkOp("Abs int", [](const std::vector<Tensor>& in) { return ops::abs(in[0]); }, {a}, false);
    checkOp("Neg int", [](const std::vector<Tensor>& in) { return ops::neg(in[0]); }, {a}, false);
    checkOp("Relu int", [](const std::vector<Tensor>& in) { return ops::relu(in[0]); }, {a}, false);
    checkOp("Clip int", [](const std::vector<Tensor>& in) { return ops::clip(in[0], -4.5, 7.2); }, {a}, false);
    checkOp("ReduceSum int", [](const std::vector<Tensor>& in) { return ops::reduceSum(in[0], {1}); }, {a}, false);
    checkOp("ArgMax int", [](const std::vector<Tensor>& in) { return ops::argmax(in[0], 1); }, {a}, false);
  }
}

TYPED_TEST(CudaElementwise, Reductions) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor x = randomTensor({4, 5, 6}, dt, 0.5, 1.5, 4);
  const std::vector<std::vector<int64_t>> axesList = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}};
  for (const auto& axes : axesList) {
    for (bool keep : {false, true}) {
      const std::string tag = " axes " + shapeStr(axes) + (keep ? " keepdims" : "");
      checkOp("ReduceSum" + tag, [&](const std::vector<Tensor>& in) { return ops::reduceSum(in[0], axes, keep); }, {x});
      checkOp("ReduceMean" + tag, [&](const std::vector<Tensor>& in) { return ops::reduceMean(in[0], axes, keep); },
              {x});
      checkOp("ReduceMax" + tag, [&](const std::vector<Tensor>& in) { return ops::reduceMax(in[0], axes, keep); }, {x});
      checkOp("ReduceMin" + tag, [&](const std::vector<Tensor>& in) { return ops::reduceMin(in[0], axes, keep); }, {x});
      checkOp("ReduceProd" + tag, [&](const std::vector<Tensor>& in) { return ops::reduceProd(in[0], axes, keep); },
              {x});
    }
  }
  for (int64_t axis : {0, 1, 2}) {
    checkOp("ArgMax", [&](const std::vector<Tensor>& in) { return ops::argmax(in[0], axis); }, {x}, false);
    checkOp("ArgMin", [&](const std::vector<Tensor>& in) { return ops::argmin(in[0], axis, false, true); }, {x}, false);
  }
  // Few outputs, long groups: the block-per-output kernel; and a strided (transposed) input.
  const Tensor wide = randomTensor({3, 5000}, dt, -1, 1, 5);
  checkOp("ReduceSum wide", [](const std::vector<Tensor>& in) { return ops::reduceSum(in[0], {1}); }, {wide});
  checkOp("ReduceMax wide", [](const std::vector<Tensor>& in) { return ops::reduceMax(in[0], {1}); }, {wide});
  checkOp("ReduceMean transposed",
          [](const std::vector<Tensor>& in) { return ops::reduceMean(in[0].transpose(0, 1), {1}); }, {wide});
  checkOp("sumTo (bias gradient)", [](const std::vector<Tensor>& in) { return ops::sumTo(in[0], {1, 6}); }, {x});
}

TYPED_TEST(CudaElementwise, DataMovement) {
  SINGA_REQUIRE_GPU();
  const DType dt = TypeParam::dtype;
  const Tensor x = randomTensor({3, 4, 5}, dt, -1, 1, 12);
  checkOp("Transpose", [](const std::vector<Tensor>& in) { return ops::transpose(in[0], {2, 0, 1}).contiguous(); },
          {x});
  checkOp("Slice with step",
          [](const std::vector<Tensor>& in) { return ops::slice(in[0], {1, 0}, {4, 5}, {1, 2}, {2, 2}).contiguous(); },
          {x});
  checkOp("Concat", [](const std::vector<Tensor>& in) { return ops::concat({in[0], in[1], in[0]}, 1); },
          {x, randomTensor({3, 2, 5}, dt, -1, 1, 13)});
  for (const char* mode : {"constant", "reflect", "edge"}) {
    checkOp(std::string("Pad ") + mode,
            [&](const std::vector<Tensor>& in) { return ops::pad(in[0], {0, 1, 2, 0, 2, 1}, mode, 0.5); }, {x});
  }
  checkOp("Pad crop", [](const std::vector<Tensor>& in) { return ops::pad(in[0], {0, -1, 1, 0, 0, -2}); }, {x});
  const Tensor idx = Tensor::fromVector<int64_t>({2, 0, -1, 2, 1}, {5});
  checkOp("Gather axis 1", [&](const std::vector<Tensor>& in) { return ops::gather(in[0], in[1], 1); }, {x, idx});
  checkOp("Gather int32 indices axis 0",
          [&](const std::vector<Tensor>& in) { return ops::gather(in[0], in[1].to(DType::kInt32), 0); }, {x, idx});
  checkOp("Tile", [](const std::vector<Tensor>& in) { return ops::tile(in[0], {2, 1, 3}); }, {x});
  checkOp("Expand", [](const std::vector<Tensor>& in) { return ops::expand(in[0], {2, 3, 4, 5}).contiguous(); }, {x});
  for (DType to : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool}) {
    checkOp(std::string("Cast to ") + dtypeName(to),
            [&](const std::vector<Tensor>& in) { return ops::cast(ops::mul(in[0], 3.0), to); }, {x},
            isFloating(to));
  }
  // float16/bfloat16 (the gradient compression wire types): to and from every dtype, bit for bit
  // the CPU's conversion (exact: expectClose compares 16-bit types through float64).
  for (DType half : {DType::kFloat16, DType::kBFloat16}) {
    for (DType other : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool}) {
      const Tensor src = ops::mul(x, 1000.0).to(other);
      expectClose(src.to(half), src.to(gpu()).to(half), 0, 0,
                  std::string("Cast ") + dtypeName(other) + " to " + dtypeName(half));
      const Tensor h = ops::mul(x, 1000.0).to(half);
      expectClose(h.to(other), h.to(gpu()).to(other), 0, 0,
                  std::string("Cast ") + dtypeName(half) + " to " + dtypeName(other));
    }
  }
}

TEST(CudaCopy, FillCastsAndLargeTransfers) {
  SINGA_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kInt16,
                   DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool}) {
    expectClose(Tensor::full({3, 5}, 2.75, dt), Tensor::full({3, 5}, 2.75, dt, gpu()), 0, 0,
                std::string("Fill ") + dtypeName(dt));
    expectClose(Tensor::zeros({7}, dt), Tensor::zeros({7}, dt, gpu()), 0, 0, std::string("zeros ") + dtypeName(dt));
  }
  // Bigger than the pinned staging buffer (8 MiB): chunked host <-> device copies.
  const Tensor big = randomTensor({3 << 20}, DType::kFloat32, -1, 1, 21);
  expectClose(big, big.to(gpu()), 0, 0, "12 MiB round trip");
  expectClose(big.to(DType::kInt32), big.to(gpu()).to(DType::kInt32), 0, 0, "cast on the GPU");
  const Tensor onGpu = big.to(gpu());
  expectClose(big, onGpu.clone(), 0, 0, "device-to-device clone");
}

TEST(CudaErrors, BadIndicesAndLabelsAreReportedLikeOnTheCpu) {
  SINGA_REQUIRE_GPU();
  // Checked on the device and reported, with the CPU's message, when the host next waits for
  // the device: here the read of the result.
  const Tensor x = Tensor::zeros({2, 3}, DType::kFloat32, gpu());
  const Tensor bad = Tensor::fromVector<int64_t>({0, 3}, {2}).to(gpu());
  try {
    const Tensor y = ops::gather(x, bad, 1);
    y.to(Device::cpu());
    ADD_FAILURE() << "no error for an out-of-range index";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("index 3 is out of range for axis 1 of size 3"), std::string::npos)
        << e.what();
  }
  const Tensor labels = Tensor::fromVector<int64_t>({1, 5}, {2}).to(gpu());
  try {
    const Tensor loss = ops::softmaxCrossEntropy(x, labels);
    loss.item();
    ADD_FAILURE() << "no error for an out-of-range label";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("label 5 (sample 1) is out of range for 3 classes"), std::string::npos)
        << e.what();
  }
  // int32 labels, and an error reported at an explicit synchronisation.
  try {
    ops::softmaxCrossEntropy(x, Tensor::fromVector<int32_t>({-2, 0}, {2}).to(gpu()));
    if (gpu().isCuda()) deviceBackend(DeviceType::kCuda).synchronize(gpu().index);
    ADD_FAILURE() << "no error for a negative label";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("label -2 (sample 0)"), std::string::npos) << e.what();
  }
  // Reported once: the device is usable afterwards and the next read is clean.
  expectClose(Tensor::ones({2}), Tensor::ones({2}, DType::kFloat32, gpu()), 0, 0, "after errors");
}

}  // namespace
}  // namespace singa
