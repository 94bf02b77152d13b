// The spatial converters (converters_spatial.cc: LpPool, CenterCropPad, Col2Im, AffineGrid,
// TensorScatter, DeformConv) and the extended ones (Pad 'wrap', SpaceToDepth CRD, DFT-20 / IRFFT, Resize
// antialias): forward values against plain reference loops written here from the ONNX spec
// (cases the conformance data does not cover: LpPool ceil_mode, TensorScatter circular wrap,
// Col2Im strides with a remainder, wrap pads wider than the axis), gradients against finite
// differences in float64, and hostile attributes that must fail with a message naming the node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "onnx_model_builder.h"
#include "singa/onnx/import.h"
#include "singa/ops/ops.h"

namespace singa {
namespace {

using namespace singa::test;

struct In {
  std::string name;
  Tensor value;
  bool grad = true;
};

using Configure = std::function<void(onnx::NodeProto*)>;

// A one-node model reading graph inputs `ins` (floats as double; an undefined value is an absent
// optional input) and writing "y".
std::shared_ptr<onnxio::ImportedModel> nodeModel(const std::string& op, const std::vector<In>& ins, int opset,
                                                 const Configure& attrs) {
  onnx::ModelProto m = makeModel(opset);
  std::vector<std::string> names;
  for (const In& in : ins) {
    if (!in.value.defined()) {
      names.push_back("");
      continue;
    }
    const int type = in.value.dtype() == DType::kInt64 ? onnx::TensorProto::INT64 : onnx::TensorProto::DOUBLE;
    addInput(m, in.name, in.value.shape(), type);
    names.push_back(in.name);
  }
  auto* node = addNode(m, op, names, {"y"}, "n");
  if (attrs) attrs(node);
  addOutput(m, "y");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  return onnxio::prepare(m);
}

std::vector<In> asDouble(std::vector<In> ins) {
  for (In& in : ins) {
    if (in.value.defined() && isFloating(in.value.dtype())) in.value = in.value.to(DType::kFloat64);
  }
  return ins;
}

Tensor runNode(const std::string& op, std::vector<In> ins, int opset, const Configure& attrs = nullptr) {
  ins = asDouble(std::move(ins));
  std::vector<Tensor> xs;
  for (const In& in : ins) {
    if (in.value.defined()) xs.push_back(in.value);
  }
  return nodeModel(op, ins, opset, attrs)->run(xs)[0];
}

void checkGradients(const std::string& op, std::vector<In> ins, int opset, const Configure& attrs = nullptr) {
  ins = asDouble(std::move(ins));
  auto model = nodeModel(op, ins, opset, attrs);
  std::vector<Tensor> xs;
  for (const In& in : ins) {
    if (in.value.defined()) xs.push_back(in.grad ? in.value.clone().setRequiresGrad(true) : in.value);
  }
  expectGradientsMatch([&](const std::vector<Tensor>& v) { return model->run(v)[0]; }, xs, 1e-6, 1e-5, 1e-4);
}

// The ValueError message of running the node (a failure when it runs).
std::string errorOf(const std::string& op, std::vector<In> ins, int opset, const Configure& attrs) {
  try {
    runNode(op, std::move(ins), opset, attrs);
  } catch (const ValueError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw the wrong type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}

void expectNames(const std::string& msg, const std::string& op, const std::vector<std::string>& words) {
  EXPECT_NE(msg.find("'n'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(op), std::string::npos) << msg;
  for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

Tensor values(const Shape& shape, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.7 * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}
Tensor ints(const std::vector<int64_t>& v) { return Tensor::fromVector<int64_t>(v, {static_cast<int64_t>(v.size())}); }

void expectAllNear(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-9) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// ---- LpPool -----------------------------------------------------------------------------------

TEST(SpatialOps, LpPoolCeilModeMatchesReferenceLoops) {
  // 1-D, length 7, kernel 3, stride 2, pads 1/0, ceil_mode: windows start at -1, 1, 3, 5; the
  // last one (5..7) runs past the end and sums only the inputs it covers.
  const Tensor x = values({1, 2, 7});
  const std::vector<double> xv = x.toVector<double>();
  const int64_t len = 7, k = 3, s = 2, padBegin = 1, p = 3;
  const int64_t outLen = (len + padBegin - k + s - 1) / s + 1;  // ceil((7 + 1 - 3) / 2) + 1 = 4
  std::vector<double> want;
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t o = 0; o < outLen; ++o) {
      double sum = 0.0;
      for (int64_t i = o * s - padBegin; i < o * s - padBegin + k; ++i) {
        if (i >= 0 && i < len) sum += std::pow(std::fabs(xv[static_cast<size_t>(c * len + i)]), 3.0);
      }
      want.push_back(std::pow(sum, 1.0 / static_cast<double>(p)));
    }
  }
  const Tensor y = runNode("LpPool", {{"x", x}}, 22, [](onnx::NodeProto* n) {
    setInts(n, "kernel_shape", {3});
    setInts(n, "strides", {2});
    setInts(n, "pads", {1, 0});
    setInt(n, "ceil_mode", 1);
    setInt(n, "p", 3);
  });
  EXPECT_EQ(y.shape(), (Shape{1, 2, outLen}));
  expectAllNear(y.toVector<double>(), want);
}

TEST(SpatialOps, LpPoolGradientsMatchFiniteDifferences) {
  // Inputs kept away from 0 (|x|^p has a kink there); every window sees some input.
  checkGradients("LpPool", {{"x", values({1, 2, 4, 5}, 1.0, 1.5)}}, 22, [](onnx::NodeProto* n) {
    setInts(n, "kernel_shape", {2, 3});
    setInts(n, "strides", {1, 2});
    setInts(n, "pads", {1, 0, 0, 1});
    setInt(n, "p", 3);
  });
  checkGradients("LpPool", {{"x", values({1, 1, 5}, 1.0, -1.5)}}, 22, [](onnx::NodeProto* n) {
    setInts(n, "kernel_shape", {2});
    setInt(n, "p", 2);
  });
}

TEST(SpatialOps, LpPoolWindowOfZerosHasAZeroGradient) {
  // [0, 0, 0, 1]: the first two windows (kernel 2) hold only zeros, y = 0 there, and the
  // gradient is finite: 0 for the zeros, 1 for the one (d/dx (x^3)^(1/3) = 1 at x = 1).
  for (int64_t p : {2, 3}) {
    const std::vector<In> ins = {{"x", Tensor::fromVector<double>({0, 0, 0, 1}, {1, 1, 4})}};
    auto model = nodeModel("LpPool", ins, 22, [p](onnx::NodeProto* n) {
      setInts(n, "kernel_shape", {2});
      setInt(n, "p", p);
    });
    Tensor x = ins[0].value.clone().setRequiresGrad(true);
    const Tensor y = model->run({x})[0];
    expectAllNear(y.toVector<double>(), {0.0, 0.0, 1.0});
    ops::reduceSum(y).backward();
    expectAllNear(x.grad().toVector<double>(), {0.0, 0.0, 0.0, 1.0});
  }
}

TEST(SpatialOps, LpPoolRejectsHostileAttributes) {
  const Tensor x = values({1, 1, 4, 4});
  expectNames(errorOf("LpPool", {{"x", x}}, 22, [](onnx::NodeProto* n) { setInts(n, "kernel_shape", {2}); }), "LpPool",
              {"kernel_shape", "one per spatial dim"});
  expectNames(errorOf("LpPool", {{"x", x}}, 22,
                      [](onnx::NodeProto* n) {
                        setInts(n, "kernel_shape", {2, 2});
                        setInt(n, "p", 0);
                      }),
              "LpPool", {"p must lie in"});
  expectNames(errorOf("LpPool", {{"x", x}}, 22,
                      [](onnx::NodeProto* n) {
                        setInts(n, "kernel_shape", {9, 2});
                      }),
              "LpPool", {"larger than the padded input"});
  expectNames(errorOf("LpPool", {{"x", x}}, 22,
                      [](onnx::NodeProto* n) {
                        setInts(n, "kernel_shape", {2, 2});
                        setInts(n, "strides", {0, 1});
                      }),
              "LpPool", {"'strides' values must be >= 1"});
}

// ---- CenterCropPad ------------------------------------------------------------------------------

TEST(SpatialOps, CenterCropPadCropsAndPadsAroundTheCentre) {
  // [5, 2] -> [2, 5]: rows 1..2 (start rounded down), columns padded 1 before and 2 after.
  const Tensor x = values({5, 2});
  const std::vector<double> xv = x.toVector<double>();
  std::vector<double> want;
  for (int r = 1; r <= 2; ++r) {
    want.insert(want.end(), {0.0, xv[static_cast<size_t>(r * 2)], xv[static_cast<size_t>(r * 2 + 1)], 0.0, 0.0});
  }
  const Tensor y = runNode("CenterCropPad", {{"x", x}, {"shape", ints({2, 5}), false}}, 18);
  EXPECT_EQ(y.shape(), (Shape{2, 5}));
  expectAllNear(y.toVector<double>(), want);
  checkGradients("CenterCropPad", {{"x", x}, {"shape", ints({2, 5}), false}}, 18);
}

TEST(SpatialOps, CenterCropPadRejectsHostileShapes) {
  expectNames(errorOf("CenterCropPad", {{"x", values({4, 4})}, {"shape", ints({2, 2, 2}), false}}, 18, nullptr),
              "CenterCropPad", {"3 values for 2 axes"});
  expectNames(errorOf("CenterCropPad", {{"x", values({4, 4})}, {"shape", ints({2, -1}), false}}, 18, nullptr),
              "CenterCropPad", {"must be >= 0"});
}

// ---- Col2Im -------------------------------------------------------------------------------------

TEST(SpatialOps, Col2ImMatchesReferenceLoops) {
  // Image 5 x 6, block 2 x 2, stride 2, pads 0/0/0/1, dilation 1 x 2: blocks 2 x 2; the last image row
  // is reached by no block (a stride remainder) and stays 0.
  const int64_t h = 5, w = 6, kh = 2, kw = 2, sh = 2, sw = 2, dh = 1, dw = 2, pt = 0, pl = 0, pr = 1, ch = 2;
  const int64_t bh = (h + pt - ((kh - 1) * dh + 1)) / sh + 1, bw = (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
  const Tensor cols = values({1, ch * kh * kw, bh * bw});
  const std::vector<double> cv = cols.toVector<double>();
  std::vector<double> want(static_cast<size_t>(ch * h * w), 0.0);
  for (int64_t c = 0; c < ch; ++c) {
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = 0; j < kw; ++j) {
        for (int64_t by = 0; by < bh; ++by) {
          for (int64_t bx = 0; bx < bw; ++bx) {
            const int64_t y = by * sh - pt + i * dh, x = bx * sw - pl + j * dw;
            if (y < 0 || y >= h || x < 0 || x >= w) continue;
            want[static_cast<size_t>((c * h + y) * w + x)] +=
                cv[static_cast<size_t>(((c * kh + i) * kw + j) * bh * bw + by * bw + bx)];
          }
        }
      }
    }
  }
  const Configure attrs = [](onnx::NodeProto* n) {
    setInts(n, "strides", {2, 2});
    setInts(n, "pads", {0, 0, 0, 1});
    setInts(n, "dilations", {1, 2});
  };
  const std::vector<In> ins = {{"cols", cols}, {"image", ints({h, w}), false}, {"block", ints({kh, kw}), false}};
  const Tensor y = runNode("Col2Im", ins, 18, attrs);
  EXPECT_EQ(y.shape(), (Shape{1, ch, h, w}));
  expectAllNear(y.toVector<double>(), want);
  checkGradients("Col2Im", ins, 18, attrs);
}

TEST(SpatialOps, Col2ImRejectsABlockCountThatDoesNotMatch) {
  expectNames(
      errorOf("Col2Im", {{"cols", values({1, 4, 5})}, {"image", ints({3, 3}), false}, {"block", ints({2, 2}), false}},
              18, nullptr),
      "Col2Im", {"input has 5 blocks", "gives [2, 2]"});
  expectNames(
      errorOf("Col2Im", {{"cols", values({1, 3, 4})}, {"image", ints({3, 3}), false}, {"block", ints({2, 2}), false}},
              18, nullptr),
      "Col2Im", {"multiple of prod(block_shape) = 4"});
}

// ---- AffineGrid ---------------------------------------------------------------------------------

TEST(SpatialOps, AffineGridIsThetaTimesTheNormalisedBaseGrid) {
  const Tensor theta = values({1, 2, 3});
  const std::vector<double> t = theta.toVector<double>();
  for (int align : {0, 1}) {
    const int64_t h = 2, w = 3;
    std::vector<double> want;
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < w; ++j) {
        const double x = align ? -1.0 + 2.0 * j / (w - 1) : (2.0 * j + 1.0) / w - 1.0;
        const double y = align ? -1.0 + 2.0 * i / (h - 1) : (2.0 * i + 1.0) / h - 1.0;
        for (int r = 0; r < 2; ++r) want.push_back(t[r * 3] * x + t[r * 3 + 1] * y + t[r * 3 + 2]);
      }
    }
    const Configure attrs = [align](onnx::NodeProto* n) { setInt(n, "align_corners", align); };
    const std::vector<In> ins = {{"theta", theta}, {"size", ints({1, 3, h, w}), false}};
    const Tensor g = runNode("AffineGrid", ins, 20, attrs);
    EXPECT_EQ(g.shape(), (Shape{1, h, w, 2}));
    expectAllNear(g.toVector<double>(), want);
    checkGradients("AffineGrid", ins, 20, attrs);
  }
  checkGradients("AffineGrid", {{"theta", values({2, 3, 4})}, {"size", ints({2, 1, 2, 3, 2}), false}}, 20);
}

TEST(SpatialOps, AffineGridRejectsAThetaOfTheWrongShape) {
  expectNames(errorOf("AffineGrid", {{"theta", values({1, 3, 4})}, {"size", ints({1, 1, 4, 4}), false}}, 20, nullptr),
              "AffineGrid", {"theta must be [N, 2, 3]"});
}

// ---- TensorScatter --------------------------------------------------------------------------------

TEST(SpatialOps, TensorScatterCircularWrapsAroundTheCache) {
  // Cache [2, 4, 1] (axis 1), update of 3 steps written at 2 (wraps to slots 2, 3, 0) and at 5 (= 1).
  const Tensor cache = values({2, 4, 1});
  const Tensor update = values({2, 3, 1}, 1.0, 10.0);
  const std::vector<double> c = cache.toVector<double>(), u = update.toVector<double>();
  std::vector<double> want = c;
  const int64_t at[2] = {2, 5};
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t k = 0; k < 3; ++k)
      want[static_cast<size_t>(b * 4 + (at[b] + k) % 4)] = u[static_cast<size_t>(b * 3 + k)];
  }
  const std::vector<In> ins = {{"cache", cache}, {"update", update}, {"at", ints({2, 5}), false}};
  const Configure attrs = [](onnx::NodeProto* n) {
    setInt(n, "axis", 1);
    auto* a = n->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("circular");
  };
  expectAllNear(runNode("TensorScatter", ins, 24, attrs).toVector<double>(), want);
  checkGradients("TensorScatter", ins, 24, attrs);
}

TEST(SpatialOps, TensorScatterLinearRejectsWritesPastTheCache) {
  expectNames(
      errorOf("TensorScatter",
              {{"cache", values({2, 4, 3})}, {"update", values({2, 2, 3})}, {"at", ints({0, 3}), false}}, 24, nullptr),
      "TensorScatter", {"write_indices + sequence length (3 + 2)", "circular"});
}

// ---- Pad wrap, SpaceToDepth CRD, DFT IRFFT, Resize antialias --------------------------------------

TEST(SpatialOps, PadWrapRepeatsTheAxisAndCrops) {
  // Length 3 padded by 4 before and -1 after: out[i] = x[(i - 4) mod 3] for i < 6.
  const Tensor x = values({1, 3});
  const std::vector<double> xv = x.toVector<double>();
  std::vector<double> want;
  for (int i = 0; i < 6; ++i) want.push_back(xv[static_cast<size_t>(((i - 4) % 3 + 3) % 3)]);
  const Configure attrs = [](onnx::NodeProto* n) {
    auto* a = n->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("wrap");
  };
  const std::vector<In> ins = {{"x", x}, {"pads", ints({0, 4, 0, -1}), false}};
  const Tensor y = runNode("Pad", ins, 19, attrs);
  EXPECT_EQ(y.shape(), (Shape{1, 6}));
  expectAllNear(y.toVector<double>(), want);
  checkGradients("Pad", ins, 19, attrs);
  expectNames(errorOf("Pad", {{"x", x}, {"pads", ints({0, 0, 0, -5}), false}}, 19, attrs), "Pad", {"crop more"});
}

TEST(SpatialOps, DftIrfftInvertsAOneSidedSpectrum) {
  // A real signal of length 6 -> forward one-sided DFT (4 bins) -> IRFFT gives it back.
  const Tensor x = values({1, 6, 1});
  const Tensor spectrum = runNode("DFT", {{"x", x}}, 17, [](onnx::NodeProto* n) {
    setInt(n, "axis", 1);
    setInt(n, "onesided", 1);
  });
  ASSERT_EQ(spectrum.shape(), (Shape{1, 4, 2}));
  const Configure inverse = [](onnx::NodeProto* n) {
    setInt(n, "inverse", 1);
    setInt(n, "onesided", 1);
  };
  const Tensor back =
      runNode("DFT", {{"s", spectrum}, {"len", ints({6}), false}, {"axis", ints({1}), false}}, 20, inverse);
  EXPECT_EQ(back.shape(), (Shape{1, 6, 1}));
  expectAllNear(back.toVector<double>(), x.toVector<double>(), 1e-9);
  checkGradients("DFT", {{"s", values({1, 4, 2})}, {"len", ints({6}), false}, {"axis", ints({1}), false}}, 20, inverse);
  expectNames(
      errorOf("DFT", {{"s", values({1, 1, 2})}, {"len", Tensor(), false}, {"axis", ints({1}), false}}, 20, inverse),
      "DFT", {"dft_length must be >= 1", "give dft_length"});
}

TEST(SpatialOps, SpaceToDepthCrdOrdersChannelsThenBlocks) {
  // [1, 2, 2, 2], blocksize 2: CRD output channel c * 4 + bh * 2 + bw holds x[c, bh, bw].
  const Tensor x = values({1, 2, 2, 2});
  const Configure attrs = [](onnx::NodeProto* n) {
    setInt(n, "blocksize", 2);
    auto* a = n->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("CRD");
  };
  const Tensor y = runNode("SpaceToDepth", {{"x", x}}, 13, attrs);
  EXPECT_EQ(y.shape(), (Shape{1, 8, 1, 1}));
  expectAllNear(y.toVector<double>(), x.toVector<double>());  // here CRD is the identity order
}

TEST(SpatialOps, ResizeAntialiasAveragesTheStretchedWindow) {
  // Linear antialias, 8 -> 2 (scale 1/4): output o averages inputs with the triangle
  // max(0, 1 - |i - centre| / 4), centre = (o + 0.5) * 4 - 0.5, weights normalised.
  const Tensor x = values({1, 8});
  const std::vector<double> xv = x.toVector<double>();
  std::vector<double> want;
  for (int o = 0; o < 2; ++o) {
    const double centre = (o + 0.5) * 4.0 - 0.5;
    double num = 0.0, den = 0.0;
    for (int i = -8; i < 16; ++i) {  // positions past the edges read the edge value (ONNX edge padding)
      const double w = std::max(0.0, 1.0 - std::fabs(i - centre) / 4.0);
      num += w * xv[static_cast<size_t>(std::clamp(i, 0, 7))];
      den += w;
    }
    want.push_back(num / den);
  }
  const Configure attrs = [](onnx::NodeProto* n) {
    setInt(n, "antialias", 1);
    auto* a = n->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("linear");
  };
  const std::vector<In> ins = {
      {"x", x}, {"roi", Tensor(), false}, {"scales", Tensor::fromVector<double>({1.0, 0.25}, {2}), false}};
  const Tensor y = runNode("Resize", ins, 19, attrs);
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  expectAllNear(y.toVector<double>(), want);
  checkGradients("Resize", ins, 19, attrs);
}

// ---- DeformConv ----------------------------------------------------------------------------------

TEST(SpatialOps, DeformConvGradientsMatchFiniteDifferences) {
  // Offsets in (0.2, 0.8): every sample lies strictly between pixels (the bilinear weights have a
  // kink at whole pixels); a padded border puts some corners outside the image.
  const Configure attrs = [](onnx::NodeProto* n) {
    setInts(n, "pads", {1, 0, 0, 1});
    setInt(n, "offset_group", 2);
    setInt(n, "group", 2);
  };
  checkGradients("DeformConv",
                 {{"x", values({1, 4, 3, 3})},
                  {"w", values({2, 2, 2, 2}, 0.5)},
                  {"offset", values({1, 16, 3, 3}, 0.3, 0.5)},
                  {"b", values({2})},
                  {"mask", values({1, 8, 3, 3}, 0.5, 1.0)}},
                 22, attrs);
}

TEST(SpatialOps, DeformConvRejectsAnOffsetOfTheWrongShape) {
  expectNames(errorOf("DeformConv",
                      {{"x", values({1, 1, 3, 3})}, {"w", values({1, 1, 2, 2})}, {"offset", values({1, 4, 2, 2})}}, 22,
                      nullptr),
              "DeformConv", {"offset must be [N, offset_group * kH * kW * 2, oH, oW] = [1, 8, 2, 2]"});
  expectNames(errorOf("DeformConv",
                      {{"x", values({1, 3, 3, 3})}, {"w", values({1, 3, 2, 2})}, {"offset", values({1, 8, 2, 2})}}, 22,
                      [](onnx::NodeProto* n) { setInt(n, "offset_group", 2); }),
              "DeformConv", {"offset_group 2 must divide"});
}

}  // namespace
}  // namespace singa
