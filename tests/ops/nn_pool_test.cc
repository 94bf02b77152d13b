// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool: forward against direct loops over
// many geometries (1-D to 3-D, strides, dilations, asymmetric pads, ceil mode, count_include_pad,
// auto_pad), finite-difference gradients, traces and error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include <cmath>
#include <string>

#include "gradcheck.h"
#include "ops/nn_test_util.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::RefWindow;

struct PoolCase {
  const char* name;
  Shape x;
  std::vector<int64_t> kernel, strides, padsBegin, padsEnd, dilations;
  bool ceilMode, countIncludePad;
  std::vector<int64_t> expectedOut;  // stated by hand (ceil mode included)
};

const std::vector<PoolCase>& poolCases() {
  static const std::vector<PoolCase> cases = {
      {"mnist_2x2", {2, 3, 8, 8}, {2, 2}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, false, false, {4, 4}},
      {"odd_2x2", {2, 2, 7, 5}, {2, 2}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, false, false, {3, 2}},
      {"3x3_s2_pad", {1, 3, 9, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, false, {5, 4}},
      {"asym_pads", {2, 2, 6, 7}, {3, 2}, {1, 2}, {2, 0}, {0, 1}, {1, 1}, false, true, {6, 4}},
      {"ceil_mode", {1, 2, 6, 7}, {3, 3}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, true, false, {3, 3}},
      // H: ceil((6 + 1 - 3) / 2) + 1 = 3. W: ceil((5 + 2 - 2) / 3) + 1 = 3, but the 3rd window
      // would start at 5, inside the end padding, so the ONNX rule drops it: 2.
      {"ceil_pads_include", {1, 1, 6, 5}, {3, 2}, {2, 3}, {1, 1}, {0, 1}, {1, 1}, true, true, {3, 2}},
      // ceil((4 + 2 - 2) / 3) + 1 = 3 windows, the last starting at 6 >= 4: dropped.
      {"ceil_drop_last", {1, 1, 4, 4}, {2, 2}, {3, 3}, {0, 0}, {2, 2}, {1, 1}, true, false, {2, 2}},
      {"dilation", {2, 2, 9, 8}, {2, 3}, {1, 2}, {1, 0}, {0, 2}, {2, 2}, false, false, {8, 3}},
      {"pool1d", {2, 3, 11}, {3}, {2}, {1}, {2}, {1}, false, true, {6}},
      {"pool3d", {1, 2, 5, 4, 6}, {2, 2, 3}, {2, 1, 2}, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}, true, false, {3, 4, 4}},
  };
  return cases;
}

ops::PoolParams paramsOf(const PoolCase& c) {
  ops::PoolParams p;
  p.kernel = c.kernel;
  p.strides = c.strides;
  p.pads = c.padsBegin;
  p.pads.insert(p.pads.end(), c.padsEnd.begin(), c.padsEnd.end());
  p.dilations = c.dilations;
  p.ceilMode = c.ceilMode;
  p.countIncludePad = c.countIncludePad;
  return p;
}

RefWindow windowOf(const PoolCase& c) { return RefWindow{c.kernel, c.strides, c.padsBegin, c.padsEnd, c.dilations}; }

class PoolCases : public ::testing::TestWithParam<size_t> {};

TEST_P(PoolCases, MaxForwardMatchesDirectLoops) {
  const PoolCase& c = poolCases()[GetParam()];
  SCOPED_TRACE(c.name);
  Tensor x = test::randomTensor(c.x, 30);
  Tensor expected = test::refPool(x, windowOf(c), c.expectedOut, true, false);
  test::expectTensorNear(ops::maxPool(x, paramsOf(c)), expected, 0, 0);
  test::expectTensorNear(ops::maxPool(x.to(DType::kFloat32), paramsOf(c)), expected, 1e-6, 1e-6);
}

TEST_P(PoolCases, AverageForwardMatchesDirectLoops) {
  const PoolCase& c = poolCases()[GetParam()];
  SCOPED_TRACE(c.name);
  Tensor x = test::randomTensor(c.x, 31);
  Tensor expected = test::refPool(x, windowOf(c), c.expectedOut, false, c.countIncludePad);
  test::expectTensorNear(ops::avgPool(x, paramsOf(c)), expected, 1e-12, 1e-12);
  test::expectTensorNear(ops::avgPool(x.to(DType::kFloat32), paramsOf(c)), expected, 1e-6, 1e-5);
}

TEST_P(PoolCases, Gradients) {
  const PoolCase& c = poolCases()[GetParam()];
  SCOPED_TRACE(c.name);
  const ops::PoolParams p = paramsOf(c);
  // Distinct values a step apart keep the argmax stable under the finite-difference step.
  test::expectGradientsMatch([p](const std::vector<Tensor>& in) { return ops::maxPool(in[0], p); },
                             {test::randomTensor(c.x, 32).setRequiresGrad()});
  test::expectGradientsMatch([p](const std::vector<Tensor>& in) { return ops::avgPool(in[0], p); },
                             {test::randomTensor(c.x, 33).setRequiresGrad()});
}

TEST_P(PoolCases, MaxWithoutGradientMatchesTheArgmaxPath) {
  // An input that needs no gradient takes the values-only kernel (no argmax, separable 2-D
  // max); one that does takes the index-tracking kernel. Same values, NaN included.
  const PoolCase& c = poolCases()[GetParam()];
  SCOPED_TRACE(c.name);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    Tensor x = test::randomTensor(c.x, 35).to(dt);
    for (int64_t i = 5; i < x.numel(); i += 37) {  // scattered NaNs
      if (dt == DType::kFloat32) x.data<float>()[i] = std::nanf(""); else x.data<double>()[i] = std::nan("");
    }
    // A run of -inf at the start of each plane: windows that also cover padding must give -inf.
    const int64_t planeSize = x.numel() / std::max<int64_t>(c.x[0] * c.x[1], 1);
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (i % planeSize >= std::min<int64_t>(planeSize, 2 * c.x.back() + 2)) continue;
      if (dt == DType::kFloat32) {
        x.data<float>()[i] = -std::numeric_limits<float>::infinity();
      } else {
        x.data<double>()[i] = -std::numeric_limits<double>::infinity();
      }
    }
    Tensor values = ops::maxPool(x, paramsOf(c));
    Tensor tracked = ops::maxPool(x.detach().setRequiresGrad(), paramsOf(c));
    ASSERT_TRUE(tracked.gradFn() != nullptr);
    const std::vector<double> a = values.toVector<double>(), b = tracked.toVector<double>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(b[i])) {
        ASSERT_TRUE(std::isnan(a[i])) << dtypeName(dt) << " at " << i;
      } else {
        ASSERT_EQ(a[i], b[i]) << dtypeName(dt) << " at " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolCases, ::testing::Range<size_t>(0, 10));

TEST(Pool, Float32BackwardMatchesFloat64) {
  // float32 2x2 pooling has a vectorised path (four windows at a time, rows of odd width).
  for (const Shape& shape : {Shape{2, 3, 8, 8}, Shape{1, 2, 7, 11}, Shape{1, 1, 24, 24}}) {
    SCOPED_TRACE(shapeStr(shape));
    ops::PoolParams p;
    p.kernel = {2, 2};
    p.strides = {2, 2};
    Tensor x64 = test::randomTensor(shape, 41).setRequiresGrad();
    Tensor x32 = x64.detach().to(DType::kFloat32).setRequiresGrad();
    Tensor y64 = ops::maxPool(x64, p), y32 = ops::maxPool(x32, p);
    test::expectTensorNear(y32, y64, 1e-6, 1e-6);
    Tensor g = test::randomTensor(y64.shape(), 42);
    y64.backward(g);
    y32.backward(g.to(DType::kFloat32));
    test::expectTensorNear(x32.grad(), x64.grad(), 1e-6, 1e-6);
  }
}

TEST(Pool, AutoPadSame) {
  Tensor x = test::randomTensor({1, 2, 7, 6}, 34);
  ops::PoolParams p;
  p.kernel = {3, 2};
  p.strides = {2, 2};
  // out = ceil(in / s) = [4, 3]; total pads = (out - 1) * s + k - in = [2, 0].
  p.autoPad = "SAME_UPPER";
  Tensor up = ops::maxPool(x, p);
  EXPECT_EQ(up.shape(), (Shape{1, 2, 4, 3}));
  test::expectTensorNear(up, test::refPool(x, {{3, 2}, {2, 2}, {1, 0}, {1, 0}, {1, 1}}, {4, 3}, true, false), 0);
  p.kernel = {2, 3};
  p.autoPad = "SAME_LOWER";  // totals [1, 1]: the odd pad goes to the beginning
  Tensor lo = ops::avgPool(x, p);
  test::expectTensorNear(lo, test::refPool(x, {{2, 3}, {2, 2}, {1, 1}, {0, 0}, {1, 1}}, {4, 3}, false, false), 1e-12);
  p.autoPad = "VALID";
  EXPECT_EQ(ops::avgPool(x, p).shape(), (Shape{1, 2, 3, 2}));
}

TEST(Pool, MaxPoolIntegerAndNaN) {
  Tensor xi = Tensor::fromVector<uint8_t>({1, 9, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4});
  ops::PoolParams p;
  p.kernel = {2, 2};
  p.strides = {2, 2};
  Tensor yi = ops::maxPool(xi, p);
  EXPECT_EQ(yi.dtype(), DType::kUInt8);
  EXPECT_EQ(yi.toVector<uint8_t>(), (std::vector<uint8_t>{9, 8}));
  Tensor xf = Tensor::fromVector<float>({1, std::nanf(""), 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4});
  Tensor yf = ops::maxPool(xf, p);
  EXPECT_TRUE(std::isnan(yf.at(0)));
  EXPECT_EQ(yf.at(1), 8);
}

TEST(Pool, GlobalPools) {
  Tensor x = test::randomTensor({2, 3, 4, 5}, 35);
  Tensor avg = ops::globalAvgPool(x);
  Tensor mx = ops::globalMaxPool(x);
  EXPECT_EQ(avg.shape(), (Shape{2, 3, 1, 1}));
  const std::vector<double> v = test::valuesOf(x);
  for (int pl = 0; pl < 6; ++pl) {
    double s = 0, m = -1e300;
    for (int i = 0; i < 20; ++i) {
      s += v[static_cast<size_t>(pl * 20 + i)];
      m = std::max(m, v[static_cast<size_t>(pl * 20 + i)]);
    }
    EXPECT_NEAR(avg.at(pl), s / 20, 1e-12);
    EXPECT_EQ(mx.at(pl), m);
  }
  EXPECT_EQ(ops::globalAvgPool(test::randomTensor({2, 3, 7}, 36)).shape(), (Shape{2, 3, 1}));
  test::expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::globalAvgPool(in[0]); },
                             {test::randomTensor({2, 2, 3, 4}, 37).setRequiresGrad()});
  test::expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::globalMaxPool(in[0]); },
                             {test::randomTensor({2, 2, 2, 3, 2}, 38).setRequiresGrad()});
}

TEST(Pool, Traces) {
  Tensor x = test::randomTensor({1, 1, 6, 6}, 39);
  ops::PoolParams p;
  p.kernel = {3, 3};
  p.strides = {2, 2};
  p.ceilMode = true;
  p.countIncludePad = true;
  p.pads = {1, 1, 0, 0};
  autograd::Tracer tracer;
  ops::maxPool(x, p);
  ops::avgPool(x, p);
  ops::globalAvgPool(x);
  ops::globalMaxPool(x);
  ASSERT_EQ(tracer.records().size(), 4u);
  const auto& r = tracer.records();
  EXPECT_EQ(r[0].opType, "MaxPool");
  EXPECT_EQ(r[0].attrs.getInts("kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(r[0].attrs.getInts("pads"), (std::vector<int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(r[0].attrs.getInt("ceil_mode"), 1);
  EXPECT_FALSE(r[0].attrs.has("count_include_pad"));
  EXPECT_EQ(r[1].opType, "AveragePool");
  EXPECT_EQ(r[1].attrs.getInt("count_include_pad"), 1);
  EXPECT_EQ(r[2].opType, "GlobalAveragePool");
  EXPECT_EQ(r[3].opType, "GlobalMaxPool");
}

TEST(Pool, Errors) {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  ops::PoolParams p;
  p.kernel = {5, 5};
  try {
    ops::maxPool(x, p);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MaxPool"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1, 2, 4, 4]"), std::string::npos) << msg;
  }
  p.kernel = {2};
  EXPECT_THROW(ops::avgPool(x, p), ValueError);
  p.kernel = {2, 2};
  p.strides = {0, 1};
  EXPECT_THROW(ops::avgPool(x, p), ValueError);
  EXPECT_THROW(ops::globalAvgPool(Tensor::zeros({2, 3})), ShapeError);
  ops::PoolParams two;
  two.kernel = {2, 2};
  EXPECT_THROW(ops::avgPool(Tensor::zeros({1, 1, 4, 4}, DType::kInt32), two), TypeError);
}

}  // namespace
}  // namespace singa
