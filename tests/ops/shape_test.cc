// Shape and data-movement ops: forward values against hand-computed results and naive loops,
// views sharing storage, traced ONNX attributes, error messages, and a finite-difference
// gradient check for every differentiable op.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::expectGradientsMatch;

std::vector<double> values(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.at(i));
  return out;
}

// 0, 1, 2, ... as float64 in `shape`.
Tensor iota(const Shape& shape, DType dtype = DType::kFloat64) {
  std::vector<double> v(numelOf(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Tensor::fromVector<double>(v, shape).to(dtype);
}

Tensor randomTensor(const Shape& shape, uint64_t seed) {
  Tensor t(shape, DType::kFloat64);
  Generator g(seed);
  uniform_(t, -1.0, 1.0, g);
  return t;
}

template <class E>
void expectThrowMentions(const std::function<void()>& what, const std::vector<std::string>& parts) {
  try {
    what();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << " lacks " << p;
  }
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(Reshape, InfersAndCopiesDims) {
  Tensor x = iota({2, 3, 4});
  Tensor y = ops::reshape(x, {0, -1});
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_TRUE(y.sharesStorage(x));
  EXPECT_EQ(values(y), values(x));
  EXPECT_EQ(ops::reshape(x, {4, 0, 2}).shape(), (Shape{4, 3, 2}));
  Tensor empty = Tensor::zeros({0, 3});
  EXPECT_EQ(ops::reshape(empty, {3, 0}, true).shape(), (Shape{3, 0}));
  EXPECT_EQ(ops::reshape(x, {24}).shape(), (Shape{24}));
  EXPECT_EQ(ops::reshape(iota({1}), {}).ndim(), 0);
}

TEST(Reshape, NonContiguousCopies) {
  Tensor x = iota({2, 3});
  Tensor t = ops::transpose(x);  // [3, 2]: 0 3 1 4 2 5
  Tensor y = ops::reshape(t, {6});
  EXPECT_FALSE(y.sharesStorage(x));
  EXPECT_EQ(values(y), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(Reshape, Errors) {
  Tensor x = iota({2, 3});
  expectThrowMentions<ShapeError>([&] { ops::reshape(x, {4, 2}); }, {"Reshape", "[2, 3]", "[4, 2]"});
  expectThrowMentions<ShapeError>([&] { ops::reshape(x, {4, -1}); }, {"Reshape", "[2, 3]"});
  EXPECT_THROW(ops::reshape(x, {-1, -1}), ValueError);
  EXPECT_THROW(ops::reshape(x, {-2, 3}), ValueError);
}

TEST(Transpose, ValuesAndViews) {
  Tensor x = iota({2, 3, 4});
  Tensor y = ops::transpose(x, {2, 0, 1});
  ASSERT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_TRUE(y.sharesStorage(x));
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(y.at((k * 2 + i) * 3 + j), x.at((i * 3 + j) * 4 + k));
  EXPECT_EQ(ops::transpose(x).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(ops::transpose(x, {-1, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_THROW(ops::transpose(x, {0, 0, 1}), ValueError);
  EXPECT_THROW(ops::transpose(x, {0, 1}), ValueError);
}

TEST(SqueezeUnsqueezeFlatten, ShapesAndViews) {
  Tensor x = iota({1, 3, 1, 2});
  Tensor s = ops::squeeze(x);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_TRUE(s.sharesStorage(x));
  EXPECT_EQ(ops::squeeze(x, {-2}).shape(), (Shape{1, 3, 2}));
  expectThrowMentions<ShapeError>([&] { ops::squeeze(x, {1}); }, {"Squeeze", "[1, 3, 1, 2]"});
  Tensor u = ops::unsqueeze(s, {0, -1});
  EXPECT_EQ(u.shape(), (Shape{1, 3, 2, 1}));
  EXPECT_TRUE(u.sharesStorage(x));
  EXPECT_EQ(values(u), values(x));
  // Unsqueeze of a non-contiguous view stays a view with the right values.
  Tensor t = ops::transpose(iota({2, 3}));
  Tensor tu = ops::unsqueeze(t, {1});
  EXPECT_TRUE(tu.sharesStorage(t));
  EXPECT_EQ(values(tu), values(t));
  Tensor f = ops::flatten(iota({2, 3, 4}), 2);
  EXPECT_EQ(f.shape(), (Shape{6, 4}));
  EXPECT_EQ(ops::flatten(iota({2, 3, 4}), 0).shape(), (Shape{1, 24}));
  EXPECT_EQ(ops::flatten(iota({2, 3, 4}), -1).shape(), (Shape{6, 4}));
  EXPECT_EQ(ops::flatten(iota({2, 3, 4}), 3).shape(), (Shape{24, 1}));
  EXPECT_THROW(ops::flatten(iota({2, 3}), 3), ValueError);
}

TEST(Slice, NegativeStartsStepsAndClamping) {
  Tensor x = iota({10});
  EXPECT_EQ(values(ops::slice(x, {-3}, {100})), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(values(ops::slice(x, {8}, {2}, {0}, {-2})), (std::vector<double>{8, 6, 4}));
  EXPECT_EQ(values(ops::slice(x, {-1}, {kMin}, {0}, {-1})), (std::vector<double>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(values(ops::slice(x, {100}, {-100}, {0}, {-3})), (std::vector<double>{9, 6, 3, 0}));
  EXPECT_EQ(values(ops::slice(x, {-100}, {kMax}, {0}, {4})), (std::vector<double>{0, 4, 8}));
  EXPECT_EQ(ops::slice(x, {5}, {2}).numel(), 0);
  EXPECT_EQ(ops::slice(x, {2}, {5}, {0}, {-1}).numel(), 0);
  EXPECT_THROW(ops::slice(x, {0}, {5}, {0}, {0}), ValueError);
}

TEST(Slice, MultiAxisViews) {
  Tensor x = iota({4, 5});
  Tensor y = ops::slice(x, {1, -4}, {3, kMax}, {0, -1}, {1, 2});  // rows 1..2, cols 1, 3
  EXPECT_TRUE(y.sharesStorage(x));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(values(y), (std::vector<double>{6, 8, 11, 13}));
  Tensor r = ops::slice(x, {-1}, {kMin}, {1}, {-2});  // cols 4, 2, 0 (a copy)
  EXPECT_EQ(values(r), (std::vector<double>{4, 2, 0, 9, 7, 5, 14, 12, 10, 19, 17, 15}));
  // Tensor::slice forwards to ops::slice.
  EXPECT_EQ(values(x.slice(0, 3, 4)), (std::vector<double>{15, 16, 17, 18, 19}));
}

TEST(Concat, ValuesAndErrors) {
  Tensor a = iota({2, 2}), b = ops::add(iota({2, 3}), 10.0);
  Tensor c = ops::concat({a, b}, -1);
  EXPECT_EQ(c.shape(), (Shape{2, 5}));
  EXPECT_EQ(values(c), (std::vector<double>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
  Tensor rows = ops::concat({iota({1, 2}), ops::transpose(iota({2, 2}))}, 0);
  EXPECT_EQ(values(rows), (std::vector<double>{0, 1, 0, 2, 1, 3}));
  Tensor ints = ops::concat({iota({2}, DType::kInt64), iota({1}, DType::kInt64)}, 0);
  EXPECT_EQ(ints.dtype(), DType::kInt64);
  EXPECT_EQ(values(ints), (std::vector<double>{0, 1, 0}));
  expectThrowMentions<ShapeError>([&] { ops::concat({a, iota({2, 2, 1})}, 0); }, {"Concat", "rank", "[2, 2, 1]"});
  expectThrowMentions<ShapeError>([&] { ops::concat({a, iota({3, 3})}, 1); }, {"Concat", "[3, 3]", "[2, 2]"});
  EXPECT_THROW(ops::concat({a, iota({2, 2}, DType::kFloat32)}, 0), TypeError);
}

TEST(Split, SizesAndEqualPieces) {
  Tensor x = iota({2, 5});
  auto parts = ops::split(x, 1, {2, 3});
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(values(parts[0]), (std::vector<double>{0, 1, 5, 6}));
  EXPECT_EQ(values(parts[1]), (std::vector<double>{2, 3, 4, 7, 8, 9}));
  EXPECT_TRUE(parts[1].sharesStorage(x));
  auto rows = ops::split(x, 0, {}, 2);
  EXPECT_EQ(values(rows[1]), (std::vector<double>{5, 6, 7, 8, 9}));
  auto uneven = ops::split(iota({5}), 0, {}, 3);  // ceil: 2, 2, 1
  EXPECT_EQ(values(uneven[2]), (std::vector<double>{4}));
  EXPECT_THROW(ops::split(x, 1, {2, 2}), ShapeError);
}

TEST(Pad, Modes) {
  Tensor x = iota({2, 3});  // [[0 1 2] [3 4 5]]
  Tensor c = ops::pad(x, {0, 1, 1, 0}, "constant", -1);
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(values(c), (std::vector<double>{-1, 0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1}));
  // numpy.pad(x, ((1, 1), (2, 1)), 'reflect')
  Tensor r = ops::pad(x, {1, 2, 1, 1}, "reflect");
  EXPECT_EQ(values(r), (std::vector<double>{5, 4, 3, 4, 5, 4, 2, 1, 0, 1, 2, 1, 5, 4, 3, 4, 5, 4, 2, 1, 0, 1, 2, 1}));
  // numpy.pad(x, ((0, 1), (2, 0)), 'edge')
  Tensor e = ops::pad(x, {0, 2, 1, 0}, "edge");
  EXPECT_EQ(values(e), (std::vector<double>{0, 0, 0, 1, 2, 3, 3, 3, 4, 5, 3, 3, 3, 4, 5}));
  // Negative pads crop.
  Tensor crop = ops::pad(x, {0, -1, 0, 1}, "constant", 9);
  EXPECT_EQ(values(crop), (std::vector<double>{1, 2, 9, 4, 5, 9}));
  Tensor i32 = ops::pad(iota({2}, DType::kInt32), {1, 0}, "constant", 7);
  EXPECT_EQ(values(i32), (std::vector<double>{7, 0, 1}));
  EXPECT_THROW(ops::pad(x, {0, 3, 0, 0}, "reflect"), ShapeError);
  EXPECT_THROW(ops::pad(x, {0, 0}), ValueError);
  EXPECT_THROW(ops::pad(x, {0, 0, 0, 0}, "wrap"), ValueError);
}

TEST(Gather, NegativeIndicesAndAxes) {
  Tensor x = iota({3, 4});
  Tensor rows = ops::gather(x, Tensor::fromVector<int64_t>({-1, 0}, {2}), 0);
  EXPECT_EQ(values(rows), (std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3}));
  Tensor cols = ops::gather(x, Tensor::fromVector<int32_t>({3, -4, 1, 1}, {2, 2}), 1);
  EXPECT_EQ(cols.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(values(cols), (std::vector<double>{3, 0, 1, 1, 7, 4, 5, 5, 11, 8, 9, 9}));
  Tensor scalarIdx = ops::gather(x, Tensor::scalar(2, DType::kInt64), 0);
  EXPECT_EQ(scalarIdx.shape(), (Shape{4}));
  Tensor strings = ops::gather(iota({4}, DType::kInt64), Tensor::fromVector<int64_t>({3, 3}, {2}));
  EXPECT_EQ(values(strings), (std::vector<double>{3, 3}));
  expectThrowMentions<ValueError>([&] { ops::gather(x, Tensor::fromVector<int64_t>({4}, {1}), 0); },
                                  {"Gather", "index 4", "axis 0", "size 3"});
  EXPECT_THROW(ops::gather(x, Tensor::fromVector<float>({0}, {1})), TypeError);
}

TEST(Cast, ConvertsAndTracesOnnxCode) {
  Tensor x = Tensor::fromVector<float>({-1.5f, 0.f, 2.5f}, {3});
  autograd::Tracer tracer;
  Tensor i = ops::cast(x, DType::kInt64);
  EXPECT_EQ(i.dtype(), DType::kInt64);
  EXPECT_EQ(values(i), (std::vector<double>{-1, 0, 2}));
  EXPECT_EQ(values(ops::cast(x, DType::kBool)), (std::vector<double>{1, 0, 1}));
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].opType, "Cast");
  EXPECT_EQ(tracer.records()[0].attrs.getInt("to"), 7);
  EXPECT_EQ(tracer.records()[1].attrs.getInt("to"), 9);
}

// uint16/32/64: values above the signed range survive storage, arithmetic, comparisons,
// reductions, casts and the ONNX element-type codes (reference: plain C++ unsigned arithmetic).
TEST(Cast, WideUnsignedDtypes) {
  const uint64_t big = (uint64_t{1} << 63) + 5;  // not representable in int64
  Tensor a = Tensor::fromVector<uint64_t>({big, 7, 0}, {3});
  Tensor b = Tensor::fromVector<uint64_t>({3, 9, 1}, {3});
  EXPECT_EQ(a.dtype(), DType::kUInt64);
  EXPECT_EQ(ops::maximum(a, b).data<uint64_t>()[0], big);
  EXPECT_EQ(ops::minimum(a, b).data<uint64_t>()[0], uint64_t{3});
  EXPECT_EQ(ops::add(a, b).data<uint64_t>()[0], big + 3);
  EXPECT_EQ(ops::sub(b, a).data<uint64_t>()[2], uint64_t{1});  // 1 - 0
  EXPECT_EQ(ops::sub(a, b).data<uint64_t>()[2], ~uint64_t{0});  // 0 - 1 wraps
  EXPECT_EQ(values(ops::less(b, a)), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(ops::reduceMax(a).item(), static_cast<double>(big));
  EXPECT_EQ(ops::argmax(a, 0, false).data<int64_t>()[0], 0);
  Tensor u32 = Tensor::fromVector<uint32_t>({4000000000u, 2u}, {2});
  EXPECT_EQ(ops::reduceSum(u32).data<uint32_t>()[0], 4000000002u);
  EXPECT_EQ(values(ops::cast(u32, DType::kFloat64)), (std::vector<double>{4e9, 2}));
  EXPECT_EQ(ops::cast(Tensor::fromVector<float>({65535.f, 65536.f}, {2}), DType::kUInt16).data<uint16_t>()[1], 0);
  for (DType t : {DType::kUInt16, DType::kUInt32, DType::kUInt64}) {
    EXPECT_EQ(dtypeFromName(dtypeName(t)), t);
    EXPECT_TRUE(isInteger(t));
  }
  autograd::Tracer tracer;
  ops::cast(a, DType::kUInt32);
  ops::cast(a, DType::kUInt16);
  ASSERT_EQ(tracer.records().size(), 2u);
  EXPECT_EQ(tracer.records()[0].attrs.getInt("to"), 12);  // ONNX TensorProto.UINT32
  EXPECT_EQ(tracer.records()[1].attrs.getInt("to"), 4);   // UINT16
}

// Out-of-range and NaN float -> integer casts are defined (undefined behaviour for a plain C++
// cast; UBSan checks this in CI): truncate toward zero into int64, then wrap modulo 2^bits, as
// NumPy's x86 astype(int64).astype(uint8) does; NaN -> 0; beyond int64 saturates first.
TEST(Cast, OutOfRangeFloatToIntegerIsDefined) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::fromVector<float>({-2.5f, 255.9f, 256.5f, 300.f, nan, 1e30f, -1e30f}, {7});
  EXPECT_EQ(values(ops::cast(x, DType::kUInt8)), (std::vector<double>{254, 255, 0, 44, 0, 255, 0}));
  EXPECT_EQ(values(ops::cast(x, DType::kInt8)), (std::vector<double>{-2, -1, 0, 44, 0, -1, 0}));
  EXPECT_EQ(values(ops::cast(x, DType::kInt64)),
            (std::vector<double>{-2, 255, 256, 300, 0, 9223372036854775807.0, -9223372036854775808.0}));
  Tensor d = Tensor::fromVector<double>({3e9, -3e9, 200.7}, {3});
  EXPECT_EQ(values(ops::cast(d, DType::kInt32)), (std::vector<double>{3e9 - 4294967296.0, 4294967296.0 - 3e9, 200}));
  EXPECT_EQ(values(ops::cast(d, DType::kInt8)), (std::vector<double>{0, 0, -56}));
  // Half sources take the same path.
  EXPECT_EQ(values(ops::cast(ops::cast(x, DType::kFloat16), DType::kUInt8))[0], 254);
}

TEST(ExpandTile, Values) {
  Tensor x = iota({3, 1});
  Tensor e = ops::expand(x, {2, 1, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  for (int64_t i = 0; i < e.numel(); ++i) EXPECT_EQ(e.at(i), static_cast<double>((i / 4) % 3));
  EXPECT_EQ(ops::expand(x, {1}).shape(), (Shape{3, 1}));  // bidirectional
  expectThrowMentions<ShapeError>([&] { ops::expand(iota({3}), {2}); }, {"Expand", "[3]", "[2]"});
  Tensor t = ops::tile(iota({2, 2}), {2, 3});
  ASSERT_EQ(t.shape(), (Shape{4, 6}));
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(t.at(r * 6 + c), static_cast<double>((r % 2) * 2 + c % 2));
  EXPECT_EQ(ops::tile(iota({2}), {0}).numel(), 0);
  EXPECT_THROW(ops::tile(iota({2}), {1, 2}), ValueError);
}

TEST(ShapeOps, ShapeOfAndConstantOfShape) {
  Tensor s = ops::shapeOf(iota({2, 0, 5}));
  EXPECT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(values(s), (std::vector<double>{2, 0, 5}));
  Tensor c = ops::constantOfShape({2, 3}, 4.0, DType::kInt32);
  EXPECT_EQ(c.dtype(), DType::kInt32);
  EXPECT_EQ(values(c), (std::vector<double>(6, 4.0)));
}

TEST(ShapeOps, TracedAttributes) {
  Tensor x = iota({2, 3});
  autograd::Tracer tracer;
  ops::reshape(x, {3, -1});
  ops::transpose(x, {1, 0});
  ops::unsqueeze(x, {0});
  ops::slice(x, {0}, {1}, {1}, {1});
  ops::split(x, 1, {1, 2});
  ops::pad(x, {1, 0, 0, 1}, "edge");
  ops::tile(x, {1, 2});
  const auto& r = tracer.records();
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[0].opType, "Reshape");
  EXPECT_EQ(r[0].attrs.getInts("shape"), (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(r[1].attrs.getInts("perm"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(r[2].opType, "Unsqueeze");
  EXPECT_EQ(r[2].attrs.getInts("axes"), (std::vector<int64_t>{0}));
  EXPECT_EQ(r[3].opType, "Slice");
  EXPECT_EQ(r[3].attrs.getInts("axes"), (std::vector<int64_t>{1}));
  EXPECT_EQ(r[4].opType, "Split");
  EXPECT_EQ(r[4].outputs.size(), 2u);
  EXPECT_EQ(r[4].attrs.getInts("split"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r[5].attrs.getString("mode"), "edge");
  EXPECT_EQ(r[6].attrs.getInts("repeats"), (std::vector<int64_t>{1, 2}));
}

// ---- gradients -------------------------------------------------------------------------------

Tensor grad(uint64_t seed, const Shape& s) { return randomTensor(s, seed).setRequiresGrad(); }

TEST(ShapeGrad, Views) {
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::reshape(in[0], {4, -1}); }, {grad(1, {2, 3, 2})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::transpose(in[0], {1, 2, 0}); },
                       {grad(2, {2, 3, 2})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::flatten(ops::transpose(in[0]), 1); },
                       {grad(3, {2, 3, 2})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::squeeze(in[0], {1}); }, {grad(4, {3, 1, 2})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::unsqueeze(in[0], {1, 3}); }, {grad(5, {3, 2})});
}

TEST(ShapeGrad, Slice) {
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::slice(in[0], {1, -1}, {3, 0}, {0, 1}, {1, -2}); },
                       {grad(6, {4, 5})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::slice(in[0], {0}, {kMax}, {1}, {2}); },
                       {grad(7, {3, 5})});
}

TEST(ShapeGrad, ConcatSplit) {
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::concat({in[0], in[1], in[0]}, 1); },
                       {grad(8, {2, 2}), grad(9, {2, 3})});
  // Only the second piece is used: the first receives zeros.
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::split(in[0], 0, {1, 2})[1]; },
                       {grad(10, {3, 2})});
  expectGradientsMatch(
      [](const std::vector<Tensor>& in) {
        auto p = ops::split(in[0], 1, {}, 2);
        return ops::mul(p[0], p[1]);
      },
      {grad(11, {2, 4})});
}

TEST(ShapeGrad, PadModes) {
  for (const char* mode : {"constant", "reflect", "edge"}) {
    SCOPED_TRACE(mode);
    expectGradientsMatch([mode](const std::vector<Tensor>& in) { return ops::pad(in[0], {1, 2, 2, 1}, mode, 0.5); },
                         {grad(12, {3, 4})});
    expectGradientsMatch([mode](const std::vector<Tensor>& in) { return ops::pad(in[0], {-1, 2, 1, -2}, mode); },
                         {grad(13, {3, 4})});
  }
}

TEST(ShapeGrad, GatherCastExpandTile) {
  Tensor idx = Tensor::fromVector<int64_t>({2, -1, 0, 2}, {2, 2});  // repeated index: scatter-add
  expectGradientsMatch([idx](const std::vector<Tensor>& in) { return ops::gather(in[0], idx, 1); }, {grad(14, {2, 3})});
  expectGradientsMatch([idx](const std::vector<Tensor>& in) { return ops::gather(in[0], idx, 0); }, {grad(15, {3, 2})});
  expectGradientsMatch(
      [](const std::vector<Tensor>& in) { return ops::cast(ops::cast(in[0], DType::kFloat32), DType::kFloat64); },
      {grad(16, {3})}, 1e-2, 1e-3, 1e-3);
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::expand(in[0], {2, 3, 4}); }, {grad(17, {3, 1})});
  expectGradientsMatch([](const std::vector<Tensor>& in) { return ops::tile(in[0], {2, 1, 3}); }, {grad(18, {2, 2, 2})});
}

}  // namespace
}  // namespace singa
