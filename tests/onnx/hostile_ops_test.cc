// Hostile operator attributes and inputs: every value an untrusted model can set that once
// crashed (SIGFPE, out-of-bounds reads and writes), hung, or exhausted memory in a converter or
// kernel. Each test builds a one-node model whose data lives in initializers, runs it, and checks
// the exception type and that the message names the op and the offending attribute or input.
// The crafted model files of tests/hostile/gen_ops.py cover the same ground through the CLI.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "singa/core/memory_limit.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/onnx/import.h"
#include "onnx_model_builder.h"

namespace singa {
namespace {

using namespace singa::test;

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

Tensor ints(const std::vector<int64_t>& v, Shape shape = {-1}) {
  if (shape.size() == 1 && shape[0] == -1) shape[0] = static_cast<int64_t>(v.size());
  return Tensor::fromVector<int64_t>(v, shape);
}
Tensor floats(const std::vector<float>& v, Shape shape = {-1}) {
  if (shape.size() == 1 && shape[0] == -1) shape[0] = static_cast<int64_t>(v.size());
  return Tensor::fromVector<float>(v, shape);
}
Tensor ones(const Shape& shape) { return Tensor::full(shape, 1.0); }

void setString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void setStrings(onnx::NodeProto* n, const std::string& name, const std::vector<std::string>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRINGS);
  for (const std::string& s : v) a->add_strings(s);
}

// A model of one node `op` (named "n") reading initializers `inits` (in order), with outputs
// y0..y{outputs-1}. `configure` sets the node's attributes.
struct OneNode {
  onnx::ModelProto model;
  onnx::NodeProto* node;
  OneNode(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& inits, int opset = 18,
          int outputs = 1) {
    model = makeModel(opset);
    std::vector<std::string> ins, outs;
    for (const auto& [name, t] : inits) {
      ins.push_back(name);
      if (!name.empty()) addInit(model, name, t);
    }
    for (int i = 0; i < outputs; ++i) outs.push_back("y" + std::to_string(i));
    node = addNode(model, op, ins, outs, "n");
    for (const std::string& o : outs) addOutput(model, o);
  }
  OneNode(const OneNode&) = delete;  // `node` points into `model`
  OneNode& operator=(const OneNode&) = delete;
  std::vector<Tensor> run() { return onnxio::prepare(model)->run({}); }
};

// Runs `m` and returns the message of the E it throws (a test failure when it does not).
template <class E>
std::string errorOf(OneNode& m) {
  try {
    m.run();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw the wrong type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}

// The message of the allocation-ceiling error `m` throws. A MemoryError; the executor
// (import.cc) rethrows errors of types it does not list as the base Error with the node
// prefixed, so the base type is accepted too when its message is the ceiling's.
std::string memoryErrorOf(OneNode& m) {
  try {
    m.run();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("would need"), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no exception";
  return "";
}

// The message names the node, the op and every one of `words`.
void expectNames(const std::string& msg, const std::string& op, const std::vector<std::string>& words) {
  EXPECT_NE(msg.find("node 'n' (" + op + ")"), std::string::npos) << msg;
  for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

// ---- indexing -------------------------------------------------------------------------------

TEST(HostileOps, ScatterElementsIndexDimsBeyondDataAreRejected) {
  // indices [3, 2] into data [2, 2] along axis 1: the third index row wrote past the data.
  OneNode m("ScatterElements", {{"x", ones({2, 2})}, {"i", ints({0, 0, 0, 0, 0, 0}, {3, 2})}, {"u", ones({3, 2})}});
  setInt(m.node, "axis", 1);
  expectNames(errorOf<ValueError>(m), "ScatterElements", {"indices [3, 2]", "data [2, 2]", "dim 0"});
}

TEST(HostileOps, ScatterReductionMustBeKnown) {
  OneNode m("ScatterElements", {{"x", ones({2})}, {"i", ints({0})}, {"u", ones({1})}});
  setString(m.node, "reduction", "xor");
  expectNames(errorOf<ValueError>(m), "ScatterElements", {"reduction", "'xor'"});
}

TEST(HostileOps, ScatterNDUpdatesMustMatchTheIndexTuples) {
  // Two index tuples but one update: the second tuple read past the updates.
  OneNode m("ScatterND", {{"x", ones({4})}, {"i", ints({1, 2}, {2, 1})}, {"u", ones({1})}});
  expectNames(errorOf<ValueError>(m), "ScatterND", {"updates [1] must be [2]"});
}

TEST(HostileOps, GatherNDBatchDimsMustBeInRange) {
  for (int64_t b : {int64_t{-1}, int64_t{5}}) {
    OneNode m("GatherND", {{"x", ones({2, 3})}, {"i", ints({0, 1}, {2, 1})}});
    setInt(m.node, "batch_dims", b);
    expectNames(errorOf<ValueError>(m), "GatherND", {"batch_dims " + std::to_string(b)});
  }
}

TEST(HostileOps, OneHotDepthMustBePositiveAndAllocatable) {
  OneNode neg("OneHot", {{"i", ints({0, 1})}, {"d", ints({-5})}, {"v", floats({0, 1})}});
  expectNames(errorOf<ValueError>(neg), "OneHot", {"depth"});
  OneNode huge("OneHot", {{"i", ints({0, 1, 2, 3})}, {"d", ints({1000000000000000})}, {"v", floats({0, 1})}});
  expectNames(memoryErrorOf(huge), "OneHot", {"one-hot output"});
}

TEST(HostileOps, ReverseSequenceLengthsMustFitTheTimeAxis) {
  OneNode m("ReverseSequence", {{"x", ones({2, 2})}, {"l", ints({5, 1})}});
  expectNames(errorOf<ValueError>(m), "ReverseSequence", {"sequence length 5"});
  OneNode axes("ReverseSequence", {{"x", ones({2, 2})}, {"l", ints({1, 1})}});
  setInt(axes.node, "batch_axis", 7);
  expectNames(errorOf<ValueError>(axes), "ReverseSequence", {"batch_axis"});
}

// ---- shapes ---------------------------------------------------------------------------------

TEST(HostileOps, DepthToSpaceAndSpaceToDepthNeedAPositiveBlocksize) {
  for (int64_t b : {int64_t{0}, int64_t{-2}}) {
    OneNode d2s("DepthToSpace", {{"x", ones({1, 4, 2, 2})}});
    setInt(d2s.node, "blocksize", b);
    expectNames(errorOf<ValueError>(d2s), "DepthToSpace", {"blocksize"});
    OneNode s2d("SpaceToDepth", {{"x", ones({1, 1, 4, 4})}});
    setInt(s2d.node, "blocksize", b);
    expectNames(errorOf<ValueError>(s2d), "SpaceToDepth", {"blocksize"});
  }
}

TEST(HostileOps, RangeDeltaZeroNanAndHugeCounts) {
  OneNode f("Range", {{"s", floats({0}, {})}, {"l", floats({10}, {})}, {"d", floats({0}, {})}});
  expectNames(errorOf<ValueError>(f), "Range", {"delta"});
  OneNode nan("Range", {{"s", floats({0}, {})}, {"l", floats({NAN}, {})}, {"d", floats({1}, {})}});
  expectNames(errorOf<ValueError>(nan), "Range", {"finite"});
  OneNode i("Range", {{"s", ints({0}, {})}, {"l", ints({10}, {})}, {"d", ints({0}, {})}});
  expectNames(errorOf<ValueError>(i), "Range", {"delta"});
  OneNode huge("Range", {{"s", ints({0}, {})}, {"l", ints({int64_t{1} << 50}, {})}, {"d", ints({1}, {})}});
  expectNames(memoryErrorOf(huge), "Range", {"range"});
  // limit - start does not fit int64; the count is still exact.
  OneNode wide("Range", {{"s", ints({-kI64Max}, {})}, {"l", ints({kI64Max}, {})}, {"d", ints({kI64Max / 2}, {})}});
  std::vector<Tensor> out = wide.run();
  ASSERT_EQ(out[0].numel(), 5);
  EXPECT_EQ(out[0].data<int64_t>()[4], kI64Max - 2);  // -(2^63 - 1) + 4 * (2^62 - 1)
}

TEST(HostileOps, SliceStepZeroIsRejectedAndHugeStepsTakeOneElement) {
  OneNode zero("Slice", {{"x", ones({4})}, {"s", ints({0})}, {"e", ints({4})}, {"a", ints({0})}, {"st", ints({0})}});
  expectNames(errorOf<ValueError>(zero), "Slice", {"step 0"});
  for (int64_t step : {kI64Max, std::numeric_limits<int64_t>::min()}) {
    const int64_t start = step > 0 ? 1 : 2;
    OneNode big("Slice", {{"x", floats({0, 1, 2, 3})}, {"s", ints({start})}, {"e", ints({step > 0 ? 4 : -5})},
                          {"a", ints({0})}, {"st", ints({step})}});
    std::vector<Tensor> out = big.run();
    ASSERT_EQ(out[0].numel(), 1);
    EXPECT_EQ(out[0].contiguous().data<float>()[0], static_cast<float>(start));
  }
}

TEST(HostileOps, SplitSizesThatOverflowAreRejected) {
  OneNode m("Split", {{"x", ones({2})}, {"s", ints({kI64Max, kI64Max, 4})}}, 18, 3);
  expectNames(errorOf<ShapeError>(m), "Split", {"Split", "overflows"});
  OneNode k("Split", {{"x", ones({4})}}, 18, 2);
  setInt(k.node, "num_outputs", int64_t{1} << 60);
  expectNames(errorOf<ValueError>(k), "Split", {"num_outputs"});
}

TEST(HostileOps, TilePadReshapeExpandArithmeticNeverWraps) {
  OneNode tile("Tile", {{"x", ones({2, 2})}, {"r", ints({int64_t{1} << 62, 4})}});
  expectNames(errorOf<ShapeError>(tile), "Tile", {"Tile", "repeats"});
  OneNode pad("Pad", {{"x", ones({2})}, {"p", ints({kI64Max, 1})}});
  expectNames(errorOf<ShapeError>(pad), "Pad", {"pads", "overflow"});
  OneNode reshape("Reshape", {{"x", ones({4})}, {"s", ints({-1, int64_t{1} << 62, int64_t{1} << 62})}});
  expectNames(errorOf<ShapeError>(reshape), "Reshape", {"Reshape"});
  OneNode expand("Expand", {{"x", ones({1, 1})}, {"s", ints({int64_t{1} << 40, int64_t{1} << 40})}});
  expectNames(errorOf<ShapeError>(expand), "Expand", {"more elements"});
}

TEST(HostileOps, ConstantOfShapeIntValuesAreBoundedBeforeTheHostBuffer) {
  OneNode m("ConstantOfShape", {{"s", ints({int64_t{1} << 20, int64_t{1} << 20})}});
  auto* a = m.node->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  onnxio::toTensorProto(ints({7}), "v", a->mutable_t());
  expectNames(memoryErrorOf(m), "ConstantOfShape", {"ConstantOfShape", "output"});
}

TEST(HostileOps, EyeLikeWithAHugeKIsAllZeros) {
  OneNode m("EyeLike", {{"x", ones({2, 3})}});
  setInt(m.node, "k", kI64Max);
  std::vector<Tensor> out = m.run();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[0].contiguous().data<float>()[i], 0.0f);
}

// ---- convolution and pooling ----------------------------------------------------------------

TEST(HostileOps, ConvGroupMustDivideTheChannels) {
  OneNode zero("Conv", {{"x", ones({1, 2, 4, 4})}, {"w", ones({2, 2, 1, 1})}});
  setInt(zero.node, "group", 0);
  expectNames(errorOf<ValueError>(zero), "Conv", {"group must be >= 1"});
  // 3 channels, group 2, w [2, 1, 1, 1]: 1 * 2 != 3.
  OneNode odd("Conv", {{"x", ones({1, 3, 4, 4})}, {"w", ones({2, 1, 1, 1})}});
  setInt(odd.node, "group", 2);
  expectNames(errorOf<ShapeError>(odd), "Conv", {"group must divide the channels"});
}

TEST(HostileOps, ConvStridesDilationsAndPadsAreChecked) {
  auto conv = [] { return OneNode("Conv", {{"x", ones({1, 2, 4, 4})}, {"w", ones({2, 2, 1, 1})}}); };
  OneNode stride = conv();
  setInts(stride.node, "strides", {0, 0});
  expectNames(errorOf<ValueError>(stride), "Conv", {"strides [0, 0] must be >= 1"});
  OneNode dil = conv();
  setInts(dil.node, "dilations", {-1, 1});
  expectNames(errorOf<ValueError>(dil), "Conv", {"dilations"});
  OneNode pads = conv();
  setInts(pads.node, "pads", {0, 0, kI64Max, 1});
  expectNames(errorOf<ShapeError>(pads), "Conv", {"overflows"});
  OneNode big = OneNode("Conv", {{"x", ones({1, 1, 4, 4})}, {"w", ones({1, 1, 1, 1})}});
  setInts(big.node, "dilations", {kI64Max, 1});
  setInts(big.node, "kernel_shape", {1, 1});
  EXPECT_EQ(big.run()[0].shape(), (Shape{1, 1, 4, 4}));  // a 1-tap kernel: dilation is harmless
}

TEST(HostileOps, ConvTransposeOutputShapeMustBePositive) {
  OneNode m("ConvTranspose", {{"x", ones({1, 2, 4, 4})}, {"w", ones({2, 2, 1, 1})}});
  setInts(m.node, "output_shape", {-5, -5});
  expectNames(errorOf<ValueError>(m), "ConvTranspose", {"output_shape"});
  OneNode s("ConvTranspose", {{"x", ones({1, 2, 4, 4})}, {"w", ones({2, 2, 1, 1})}});
  setInts(s.node, "strides", {kI64Max, 1});
  expectNames(errorOf<ShapeError>(s), "ConvTranspose", {"ConvTranspose: the output size"});
}

TEST(HostileOps, PoolKernelsAndPadsAreChecked) {
  OneNode zero("MaxPool", {{"x", ones({1, 1, 4, 4})}});
  setInts(zero.node, "kernel_shape", {0, 0});
  expectNames(errorOf<ValueError>(zero), "MaxPool", {"kernel_shape"});
  OneNode neg("AveragePool", {{"x", ones({1, 1, 4, 4})}});
  setInts(neg.node, "kernel_shape", {2, 2});
  setInts(neg.node, "pads", {-1, 0, 0, 0});
  expectNames(errorOf<ValueError>(neg), "AveragePool", {"pads"});
}

TEST(HostileOps, MaxPoolIndicesCostTheInputNotTheKernel) {
  // A 2^31-tap window over a [2, 2] image (padding makes it fit): the Indices output used to walk
  // every tap of every window.
  OneNode m("MaxPool", {{"x", floats({1, 5, 3, 2}, {1, 1, 2, 2})}}, 18, 2);
  setInts(m.node, "kernel_shape", {int64_t{1} << 31, 1});
  setInts(m.node, "pads", {(int64_t{1} << 31) - 1, 0, 0, 0});
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Tensor> out = m.run();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // x = [[1, 5], [3, 2]]: the first output row sees image row 0, the second rows 0 and 1.
  ASSERT_EQ(out[0].shape(), (Shape{1, 1, 2, 2}));
  const std::vector<float> values{1, 5, 3, 5};
  const std::vector<int64_t> indices{0, 1, 2, 1};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out[0].contiguous().data<float>()[i], values[i]) << i;
    EXPECT_EQ(out[1].contiguous().data<int64_t>()[i], indices[i]) << i;
  }
}

TEST(HostileOps, LrnSizeIsCheckedAndAHugeSizeCostsTheChannels) {
  OneNode zero("LRN", {{"x", ones({1, 2, 2, 2})}});
  setInt(zero.node, "size", 0);
  expectNames(errorOf<ValueError>(zero), "LRN", {"size >= 1"});
  OneNode huge("LRN", {{"x", ones({1, 2, 2, 2})}});
  setInt(huge.node, "size", int64_t{1} << 40);
  EXPECT_EQ(huge.run()[0].shape(), (Shape{1, 2, 2, 2}));
}

TEST(HostileOps, ConvScratchPastTheMemoryLimitIsAMemoryError) {
  // A 64x64 kernel over a 2-channel 512x512 image: the column matrix (2 * 4096 x 512^2 floats,
  // 8 GiB) is far larger than input, weights and output; with a 256 MiB ceiling it must be a
  // MemoryError, not a bad_alloc. The built-in kernels: oneDNN's direct kernel for this shape
  // needs no column matrix (its buffers are under the same ceiling, conv_dnnl_test).
  const bool dnnl = cpu::setDnnlConvEnabled(false);
  const size_t before = memoryLimit();
  setMemoryLimit(size_t{256} << 20);
  OneNode m("Conv", {{"x", ones({1, 2, 512, 512})}, {"w", ones({1, 2, 64, 64})}});
  setInts(m.node, "pads", {32, 32, 31, 31});
  const std::string msg = memoryErrorOf(m);
  setMemoryLimit(before);
  cpu::setDnnlConvEnabled(dnnl);
  expectNames(msg, "Conv", {"convolution scratch buffer"});
}

// ---- math -----------------------------------------------------------------------------------

TEST(HostileOps, TopKMustFitTheAxis) {
  for (int64_t k : {int64_t{100}, int64_t{-1}}) {
    OneNode m("TopK", {{"x", ones({4})}, {"k", ints({k})}}, 18, 2);
    expectNames(errorOf<ValueError>(m), "TopK", {"K=" + std::to_string(k)});
  }
}

TEST(HostileOps, IntegerDivisionByZeroIsAValueErrorNotSigfpe) {
  OneNode div("Div", {{"a", ints({1, 2})}, {"b", ints({0, 1})}});
  expectNames(errorOf<ValueError>(div), "Div", {"Div: integer division by zero"});
  OneNode mod("Mod", {{"a", ints({1, 2})}, {"b", ints({3, 0})}});
  expectNames(errorOf<ValueError>(mod), "Mod", {"Mod: integer division by zero"});
  OneNode fmod("Mod", {{"a", ints({1, 2})}, {"b", ints({0}, {})}});
  setInt(fmod.node, "fmod", 1);
  expectNames(errorOf<ValueError>(fmod), "Mod", {"integer division by zero"});
  OneNode floats_("Div", {{"a", floats({1, 2})}, {"b", floats({0, 1})}});
  EXPECT_TRUE(std::isinf(floats_.run()[0].contiguous().data<float>()[0]));  // IEEE, unchanged
}

TEST(HostileOps, EinsumEquationsAreValidated) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"i......->i", "more than one '...'"}, {"ij,jk->ii", "twice"}, {"ij,jk->iz", "in no operand"},
      {"i$,jk->ik", "character '$'"},        {"ij,jk->i->k", "character '-'"}, {"ijk...,jk", "rank"}};
  for (const auto& [eq, words] : bad) {
    const bool unary = eq == "i......->i";
    OneNode m("Einsum", unary ? std::vector<std::pair<std::string, Tensor>>{{"a", ones({2, 2, 2})}}
                              : std::vector<std::pair<std::string, Tensor>>{{"a", ones({2, 2})}, {"b", ones({2, 2})}});
    setString(m.node, "equation", eq);
    expectNames(errorOf<ValueError>(m), "Einsum", {words});
  }
  OneNode diag("Einsum", {{"a", ones({2, 3})}});
  setString(diag.node, "equation", "ii->i");
  expectNames(errorOf<ShapeError>(diag), "Einsum", {"different sizes"});
}

TEST(HostileOps, CumSumTriangularMatrixIsBounded) {
  const size_t before = memoryLimit();
  setMemoryLimit(size_t{256} << 20);
  OneNode m("CumSum", {{"x", ones({1, 20000})}, {"a", ints({1}, {})}});  // a 3.2 GB matrix
  const std::string msg = memoryErrorOf(m);
  setMemoryLimit(before);
  expectNames(msg, "CumSum", {"triangular matrix"});
}

// ---- resampling -----------------------------------------------------------------------------

TEST(HostileOps, ResizeScalesMustBeFinitePositiveAndBounded) {
  for (float s : {NAN, INFINITY, -2.0f, 0.0f, 1e30f}) {
    OneNode m("Resize", {{"x", ones({1, 1, 2, 2})}, {"", Tensor()}, {"sc", floats({1, 1, s, 1})}});
    expectNames(errorOf<ValueError>(m), "Resize", {"scale"});
  }
  OneNode sizes("Resize", {{"x", ones({1, 1, 2, 2})}, {"", Tensor()}, {"", Tensor()}, {"sz", ints({1, 1, -3, 2})}});
  expectNames(errorOf<ValueError>(sizes), "Resize", {"sizes must be >= 0"});
  OneNode big("Resize", {{"x", ones({1, 1, 2, 2})}, {"", Tensor()}, {"", Tensor()},
                         {"sz", ints({1, 1, int64_t{1} << 40, 2})}});
  expectNames(memoryErrorOf(big), "Resize", {"taps"});
}

TEST(HostileOps, RoiAlignBatchIndicesRoisAndSamplingAreChecked) {
  auto roi = [](const std::vector<float>& box, int64_t batch) {
    return OneNode("RoiAlign", {{"x", ones({1, 1, 4, 4})}, {"r", floats(box, {1, 4})}, {"b", ints({batch})}});
  };
  OneNode b = roi({0, 0, 2, 2}, 5);
  expectNames(errorOf<ValueError>(b), "RoiAlign", {"batch index 5"});
  OneNode nan = roi({NAN, 0, 2, 2}, 0);
  expectNames(errorOf<ValueError>(nan), "RoiAlign", {"roi coordinates must be finite"});
  OneNode ratio = roi({0, 0, 2, 2}, 0);
  setInt(ratio.node, "sampling_ratio", 1000000000);
  expectNames(errorOf<ValueError>(ratio), "RoiAlign", {"sampling_ratio"});
  OneNode huge = roi({0, 0, 1e30f, 1e30f}, 0);  // adaptive sampling of a gigantic roi
  expectNames(errorOf<ValueError>(huge), "RoiAlign", {"samples"});
  OneNode size = roi({0, 0, 2, 2}, 0);
  setInt(size.node, "output_height", 0);
  expectNames(errorOf<ValueError>(size), "RoiAlign", {"output_height"});
}

TEST(HostileOps, GridSampleGridMustBeFinite) {
  OneNode m("GridSample", {{"x", ones({1, 1, 2, 2})}, {"g", floats({NAN, 0}, {1, 1, 1, 2})}});
  expectNames(errorOf<ValueError>(m), "GridSample", {"grid values must be finite"});
  OneNode pad("GridSample", {{"x", ones({1, 1, 2, 2})}, {"g", floats({0, 0}, {1, 1, 1, 2})}});
  setString(pad.node, "padding_mode", "wrap");
  expectNames(errorOf<ValueError>(pad), "GridSample", {"padding_mode"});
}

TEST(HostileOps, MaxUnpoolAttributesMustMatchTheSpatialRank) {
  OneNode m("MaxUnpool", {{"x", ones({1, 1, 2, 2})}, {"i", ints({0, 0, 0, 0}, {1, 1, 2, 2})}});
  setInts(m.node, "kernel_shape", {2});
  setInts(m.node, "strides", {2, 2});
  expectNames(errorOf<ValueError>(m), "MaxUnpool", {"kernel_shape [2]"});
}

// ---- signal processing ----------------------------------------------------------------------

TEST(HostileOps, SignalLengthsStepsAndRatesAreChecked) {
  OneNode stft("STFT", {{"x", ones({1, 8, 1})}, {"s", ints({0}, {})}}, 17);
  expectNames(errorOf<ValueError>(stft), "STFT", {"frame_step"});
  OneNode dft("DFT", {{"x", ones({1, 4, 1})}, {"n", ints({0}, {})}}, 17);
  expectNames(errorOf<ValueError>(dft), "DFT", {"dft_length"});
  OneNode hann("HannWindow", {{"n", ints({-1}, {})}}, 17);
  expectNames(errorOf<ValueError>(hann), "HannWindow", {"size"});
  auto mel = [](int64_t rate, float hi) {
    return OneNode("MelWeightMatrix", {{"b", ints({4}, {})}, {"n", ints({16}, {})}, {"r", ints({rate}, {})},
                                       {"lo", floats({0}, {})}, {"hi", floats({hi}, {})}},
                   17);
  };
  OneNode rate = mel(0, 4000);
  expectNames(errorOf<ValueError>(rate), "MelWeightMatrix", {"sample_rate"});
  OneNode nyquist = mel(8000, 1e6f);  // band edges past the spectrogram: the writes went out of bounds
  expectNames(errorOf<ValueError>(nyquist), "MelWeightMatrix", {"upper_edge_hertz"});
}

// ---- losses, recurrences, legacy broadcasting -----------------------------------------------

TEST(HostileOps, NllLossWeightAndEmptyBatch) {
  OneNode w("NegativeLogLikelihoodLoss", {{"x", ones({2, 3})}, {"t", ints({2, 2})}, {"w", floats({1})}});
  expectNames(errorOf<ValueError>(w), "NegativeLogLikelihoodLoss", {"weight must be [C]"});
  OneNode empty("NegativeLogLikelihoodLoss", {{"x", ones({0, 3, 2})}, {"t", ints({}, {0, 2})}});  // was SIGFPE
  setString(empty.node, "reduction", "sum");
  EXPECT_EQ(empty.run()[0].numel(), 1);
}

TEST(HostileOps, RecurrentActivationsDirectionAndLengthsAreChecked) {
  auto lstm = [] {
    return OneNode("LSTM", {{"x", ones({1, 1, 1})}, {"w", ones({1, 4, 1})}, {"r", ones({1, 4, 1})}});
  };
  OneNode acts = lstm();
  setInt(acts.node, "hidden_size", 1);
  setStrings(acts.node, "activations", {"Sigmoid"});
  expectNames(errorOf<ValueError>(acts), "LSTM", {"activations"});
  OneNode dir = lstm();
  setString(dir.node, "direction", "sideways");
  expectNames(errorOf<ValueError>(dir), "LSTM", {"direction"});
  OneNode lens("LSTM", {{"x", ones({1, 1, 1})}, {"w", ones({1, 4, 1})}, {"r", ones({1, 4, 1})}, {"", Tensor()},
                        {"l", Tensor::fromVector<int32_t>({1, 1, 1}, {3})}});
  expectNames(errorOf<ValueError>(lens), "LSTM", {"sequence_lens"});
}

// ---- transformer operators (opsets 20-25) -----------------------------------------------------

TEST(HostileOps, AttentionHeadCountsMustDivideAndGroup) {
  OneNode split("Attention", {{"q", ones({1, 2, 6})}, {"k", ones({1, 2, 6})}, {"v", ones({1, 2, 6})}}, 23);
  setInt(split.node, "q_num_heads", 4);
  setInt(split.node, "kv_num_heads", 2);
  expectNames(errorOf<ValueError>(split), "Attention", {"hidden size 6", "head count 4", "q_num_heads"});
  OneNode missing("Attention", {{"q", ones({1, 2, 6})}, {"k", ones({1, 2, 6})}, {"v", ones({1, 2, 6})}}, 23);
  expectNames(errorOf<ValueError>(missing), "Attention", {"q_num_heads and kv_num_heads"});
  OneNode zero("Attention", {{"q", ones({1, 2, 6})}, {"k", ones({1, 2, 6})}, {"v", ones({1, 2, 6})}}, 23);
  setInt(zero.node, "q_num_heads", 0);  // was a division by zero
  setInt(zero.node, "kv_num_heads", 0);
  expectNames(errorOf<ValueError>(zero), "Attention", {"positive q_num_heads"});
  OneNode group("Attention", {{"q", ones({1, 3, 2, 4})}, {"k", ones({1, 2, 2, 4})}, {"v", ones({1, 2, 2, 4})}}, 23);
  expectNames(errorOf<ValueError>(group), "Attention", {"query head count 3", "key/value head count 2"});
  OneNode size("Attention", {{"q", ones({1, 1, 2, 4})}, {"k", ones({1, 1, 2, 3})}, {"v", ones({1, 1, 2, 4})}}, 23);
  expectNames(errorOf<ValueError>(size), "Attention", {"head sizes differ"});
}

TEST(HostileOps, AttentionMaskCacheAndLengthsAreChecked) {
  auto attention = [](std::vector<std::pair<std::string, Tensor>> extra, int opset = 23) {
    std::vector<std::pair<std::string, Tensor>> ins{{"q", ones({1, 1, 2, 4})}, {"k", ones({1, 1, 3, 4})},
                                                    {"v", ones({1, 1, 3, 4})}};
    for (auto& e : extra) ins.push_back(std::move(e));
    return OneNode("Attention", ins, opset);
  };
  OneNode broadcast = attention({{"m", ones({3, 3})}});
  expectNames(errorOf<ValueError>(broadcast), "Attention", {"attn_mask [3, 3]", "does not broadcast"});
  OneNode longer = attention({{"m", ones({2, 5})}});
  expectNames(errorOf<ValueError>(longer), "Attention", {"last dim 5", "total key length 3"});
  OneNode ints5 = attention({{"m", ints({0, 1, 1}, {1, 3})}});
  expectNames(errorOf<ValueError>(ints5), "Attention", {"attn_mask must be bool or float32"});
  OneNode lonePast = attention({{"", Tensor()}, {"pk", ones({1, 1, 2, 4})}});
  expectNames(errorOf<ValueError>(lonePast), "Attention", {"past_key and past_value must be given together"});
  OneNode past = attention({{"", Tensor()}, {"pk", ones({1, 1, 2, 5})}, {"pv", ones({1, 1, 2, 4})}});
  expectNames(errorOf<ValueError>(past), "Attention", {"past_key [1, 1, 2, 5]"});
  OneNode lens = attention({{"", Tensor()}, {"", Tensor()}, {"", Tensor()}, {"n", ints({4})}}, 24);
  expectNames(errorOf<ValueError>(lens), "Attention", {"nonpad_kv_seqlen value 4", "[0, 3]"});
  OneNode mode = attention({});
  setInt(mode.node, "qk_matmul_output_mode", 7);
  expectNames(errorOf<ValueError>(mode), "Attention", {"qk_matmul_output_mode"});
  OneNode cap = attention({});
  setFloat(cap.node, "softcap", std::nanf(""));
  expectNames(errorOf<ValueError>(cap), "Attention", {"softcap"});
  OneNode precision = attention({});
  setInt(precision.node, "softmax_precision", 7);
  expectNames(errorOf<ValueError>(precision), "Attention", {"softmax_precision = 7"});
}

TEST(HostileOps, AttentionCausalMaskOfHugeSequencesHitsTheCeiling) {
  // 1-element heads, 200000 positions: the [q, kv] causal bias alone would be 320 GB.
  OneNode m("Attention", {{"q", ones({1, 1, 200000, 1})}, {"k", ones({1, 1, 200000, 1})},
                          {"v", ones({1, 1, 200000, 1})}}, 23);
  setInt(m.node, "is_causal", 1);
  expectNames(memoryErrorOf(m), "Attention", {"attention mask"});
  // Empty heads of 2^40 positions: the mask's element count overflowed int64.
  OneNode wrap("Attention", {{"q", ones({1, 1, int64_t{1} << 40, 0})}, {"k", ones({1, 1, int64_t{1} << 40, 0})},
                             {"v", ones({1, 1, int64_t{1} << 40, 0})}}, 23);
  setInt(wrap.node, "is_causal", 1);
  expectNames(errorOf<ShapeError>(wrap), "Attention", {"Attention mask", "overflow"});
}

TEST(HostileOps, RotaryEmbeddingDimsAndPositionsAreChecked) {
  auto rope = [](Tensor pos, Shape cache = {4, 2}) {
    return OneNode("RotaryEmbedding", {{"x", ones({1, 1, 2, 4})}, {"c", ones(cache)}, {"s", ones(cache)}, {"p", pos}}, 23);
  };
  OneNode odd = rope(ints({0, 1}, {1, 2}));
  setInt(odd.node, "rotary_embedding_dim", 3);
  expectNames(errorOf<ValueError>(odd), "RotaryEmbedding", {"rotary_embedding_dim 3", "even"});
  OneNode wide = rope(ints({0, 1}, {1, 2}));
  setInt(wide.node, "rotary_embedding_dim", 6);
  expectNames(errorOf<ValueError>(wide), "RotaryEmbedding", {"rotary_embedding_dim 6", "head_size = 4"});
  OneNode beyond = rope(ints({0, 9}, {1, 2}));
  expectNames(errorOf<ValueError>(beyond), "RotaryEmbedding", {"position id 9", "[0, 4)"});
  OneNode negative = rope(ints({-1, 0}, {1, 2}));
  expectNames(errorOf<ValueError>(negative), "RotaryEmbedding", {"position id -1"});
  OneNode posShape = rope(ints({0, 1, 2}, {1, 3}));
  expectNames(errorOf<ValueError>(posShape), "RotaryEmbedding", {"position_ids must be int64 [batch, seq] = [1, 2]"});
  OneNode cache = rope(ints({0, 1}, {1, 2}), {4, 3});
  expectNames(errorOf<ValueError>(cache), "RotaryEmbedding", {"cos_cache must be [max_position, rotary_dim / 2]"});
  OneNode heads("RotaryEmbedding", {{"x", ones({1, 2, 6})}, {"c", ones({1, 2, 3})}, {"s", ones({1, 2, 3})}}, 23);
  setInt(heads.node, "num_heads", 4);
  expectNames(errorOf<ValueError>(heads), "RotaryEmbedding", {"hidden size 6", "num_heads 4"});
  OneNode noHeads("RotaryEmbedding", {{"x", ones({1, 2, 6})}, {"c", ones({1, 2, 3})}, {"s", ones({1, 2, 3})}}, 23);
  expectNames(errorOf<ValueError>(noHeads), "RotaryEmbedding", {"num_heads"});
}

TEST(HostileOps, RmsNormalizationAndGeluAttributesAreChecked) {
  OneNode axis("RMSNormalization", {{"x", ones({2, 3})}, {"s", ones({3})}}, 23);
  setInt(axis.node, "axis", 5);
  expectNames(errorOf<ValueError>(axis), "RMSNormalization", {"axis"});
  OneNode scale("RMSNormalization", {{"x", ones({2, 3})}, {"s", ones({4})}}, 23);
  expectNames(errorOf<ValueError>(scale), "RMSNormalization", {"scale [4]", "does not broadcast"});
  OneNode stash("RMSNormalization", {{"x", ones({2, 3})}, {"s", ones({3})}}, 23);
  setInt(stash.node, "stash_type", 7);
  expectNames(errorOf<ValueError>(stash), "RMSNormalization", {"stash_type = 7"});
  OneNode gelu("Gelu", {{"x", ones({2})}}, 20);
  setString(gelu.node, "approximate", "fast");
  expectNames(errorOf<ValueError>(gelu), "Gelu", {"approximate", "\"fast\""});
}

TEST(HostileOps, LegacyBroadcastAxisOutOfRangeIsRejected) {
  OneNode m("Add", {{"a", ones({2, 2})}, {"b", ones({2})}}, 6);
  setInt(m.node, "broadcast", 1);
  setInt(m.node, "axis", -1000000000000);  // the reshape loop appended a trillion dims
  expectNames(errorOf<ValueError>(m), "Add", {"axis"});
}

}  // namespace
}  // namespace singa
