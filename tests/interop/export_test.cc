// ONNX export unit tests: graphs built from hand-written trace records (so each test states the
// exact trace it exports) checked for ModelProto structure: node op types, initializer names,
// opset-dependent input/attribute forms, the dynamic batch dim, naming, and errors. A few tests
// trace real ops and modules end to end. Numerics are checked against onnxruntime by the interop
// tests (check_export.py).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "singa/nn/nn.h"
#include "singa/onnx/export.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/singa.h"

namespace singa::onnxio {
namespace {

using autograd::OpRecord;

// A hand-built trace: each call appends one record and returns its (uninitialised) output.
struct Trace {
  std::vector<OpRecord> records;
  Tensor op(const std::string& type, const std::vector<Tensor>& ins, const Shape& outShape,
            Attrs attrs = {}, DType dt = DType::kFloat32) {
    Tensor out = Tensor::zeros(outShape, dt);
    records.push_back(OpRecord{type, std::move(attrs), ins, {out}});
    return out;
  }
};

ExportOptions at(int opset) {
  ExportOptions o;
  o.opset = opset;
  return o;
}

std::vector<std::string> opTypes(const onnx::ModelProto& m) {
  std::vector<std::string> v;
  for (const auto& n : m.graph().node()) v.push_back(n.op_type());
  return v;
}

const onnx::TensorProto* findInit(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

const onnx::AttributeProto* findAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// Values of the int64 initializer feeding input `i` of `node`.
std::vector<int64_t> initInts(const onnx::ModelProto& m, const onnx::NodeProto& node, int i) {
  const onnx::TensorProto* t = findInit(m, node.input(i));
  EXPECT_NE(t, nullptr) << "no initializer " << node.input(i);
  return t ? fromTensorProto(*t).toVector<int64_t>() : std::vector<int64_t>{};
}

template <class E>
std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception";
  return "";
}

TEST(OnnxExport, LinearReluStructure) {
  Trace tr;
  Tensor x = Tensor::zeros({4, 3});
  Tensor w = Tensor::ones({2, 3});
  Tensor h = tr.op("Gemm", {x, w}, {4, 2}, Attrs{{"transB", int64_t{1}}});
  Tensor y = tr.op("Relu", {h}, {4, 2});
  tr.op("Sigmoid", {x}, {4, 3});  // not needed by the output: pruned
  auto m = exportGraph({x}, {y}, tr.records, {{"fc.weight", w}}, at(13));
  EXPECT_EQ(opTypes(m), (std::vector<std::string>{"Gemm", "Relu"}));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.ir_version(), 7);
  EXPECT_EQ(m.producer_name(), "singa");
  ASSERT_EQ(m.graph().initializer_size(), 1);
  EXPECT_EQ(m.graph().initializer(0).name(), "fc.weight");
  EXPECT_EQ(fromTensorProto(m.graph().initializer(0)).toVector<float>(), std::vector<float>(6, 1.f));
  const auto& gemm = m.graph().node(0);
  EXPECT_EQ(gemm.input(0), "input_0");
  EXPECT_EQ(gemm.input(1), "fc.weight");
  ASSERT_NE(findAttr(gemm, "transB"), nullptr);
  EXPECT_EQ(findAttr(gemm, "transB")->i(), 1);
  EXPECT_EQ(m.graph().node(1).output(0), "output_0");
  // Dynamic batch: the leading dim is symbolic on the input and the output that shares it.
  const auto& in = m.graph().input(0).type().tensor_type();
  EXPECT_EQ(in.elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(in.shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(in.shape().dim(1).dim_value(), 3);
  const auto& out = m.graph().output(0).type().tensor_type();
  EXPECT_EQ(out.shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(out.shape().dim(1).dim_value(), 2);
  // Node names are unique.
  EXPECT_NE(m.graph().node(0).name(), m.graph().node(1).name());
}

TEST(OnnxExport, StaticBatchNamesAndDeterminism) {
  Trace tr;
  Tensor x = Tensor::zeros({4, 3});
  Tensor y = tr.op("Tanh", {x}, {4, 3});
  ExportOptions o = at(17);
  o.dynamicBatch = false;
  o.inputNames = {"pixels"};
  o.outputNames = {"logits"};
  o.graphName = "g";
  auto m = exportGraph({x}, {y}, tr.records, {}, o);
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.graph().name(), "g");
  EXPECT_EQ(m.graph().input(0).name(), "pixels");
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 4);
  std::string a, b;
  m.SerializeToString(&a);
  exportGraph({x}, {y}, tr.records, {}, o).SerializeToString(&b);
  EXPECT_EQ(a, b);
}

TEST(OnnxExport, ConstantsStateByNameAndIdentity) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3});
  Tensor c = Tensor::scalar(2.0);
  Tensor bias = Tensor::full({3}, 0.5);
  bias.setName("layer.bias");  // matched by name: a different handle than the state entry
  Tensor t = tr.op("Mul", {x, c}, {2, 3});
  Tensor u = tr.op("Identity", {t}, {2, 3});  // contiguous(): elided
  Tensor y = tr.op("Add", {u, bias}, {2, 3});
  auto m = exportGraph({x}, {y, x}, tr.records, {{"layer.bias", Tensor::zeros({3})}}, at(11));
  EXPECT_EQ(opTypes(m), (std::vector<std::string>{"Mul", "Add", "Identity"}));
  EXPECT_NE(findInit(m, "const_0"), nullptr);
  EXPECT_EQ(fromTensorProto(*findInit(m, "const_0")).item(), 2.0);
  ASSERT_NE(findInit(m, "layer.bias"), nullptr);
  EXPECT_EQ(fromTensorProto(*findInit(m, "layer.bias")).at(0), 0.5);  // the traced leaf's value
  EXPECT_EQ(m.graph().node(1).input(0), m.graph().node(0).output(0));
  // An output that is an input goes through an Identity node.
  EXPECT_EQ(m.graph().node(2).input(0), "input_0");
  EXPECT_EQ(m.graph().node(2).output(0), "output_1");
}

TEST(OnnxExport, ReshapeShapeIsInputWithSymbolicBatch) {
  Trace tr;
  Tensor x = Tensor::zeros({8, 2, 3});
  Tensor y = tr.op("Reshape", {x}, {8, 6}, Attrs{{"shape", std::vector<int64_t>{8, 6}}});
  Tensor z = tr.op("Reshape", {y}, {48}, Attrs{{"shape", std::vector<int64_t>{-1}}});
  for (int opset : {11, 13, 17}) {
    auto m = exportGraph({x}, {z}, tr.records, {}, at(opset));
    ASSERT_EQ(m.graph().node_size(), 2);
    const auto& r = m.graph().node(0);
    ASSERT_EQ(r.input_size(), 2);
    EXPECT_EQ(initInts(m, r, 1), (std::vector<int64_t>{0, 6}));  // 0 = copy the batch dim
    EXPECT_EQ(initInts(m, m.graph().node(1), 1), (std::vector<int64_t>{-1}));
    EXPECT_EQ(r.attribute_size(), 0);
  }
  ExportOptions fixed = at(13);
  fixed.dynamicBatch = false;
  auto m = exportGraph({x}, {z}, tr.records, {}, fixed);
  EXPECT_EQ(initInts(m, m.graph().node(0), 1), (std::vector<int64_t>{8, 6}));
}

TEST(OnnxExport, AxesAttributeOrInputByOpset) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 1, 3});
  Tensor s = tr.op("Squeeze", {x}, {2, 3}, Attrs{{"axes", std::vector<int64_t>{1}}});
  Tensor u = tr.op("Unsqueeze", {s}, {2, 3, 1}, Attrs{{"axes", std::vector<int64_t>{2}}});
  Tensor r = tr.op("ReduceSum", {u}, {2, 1, 1}, Attrs{{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}});
  Tensor y = tr.op("ReduceMean", {r}, {2, 1}, Attrs{{"axes", std::vector<int64_t>{2}}, {"keepdims", int64_t{0}}});
  Tensor all = tr.op("ReduceMax", {y}, {}, Attrs{{"axes", std::vector<int64_t>{}}, {"keepdims", int64_t{0}}});
  auto m11 = exportGraph({x}, {all}, tr.records, {}, at(11));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(m11.graph().node(i).input_size(), 1) << i;
    ASSERT_NE(findAttr(m11.graph().node(i), "axes"), nullptr) << i;
  }
  EXPECT_EQ(findAttr(m11.graph().node(0), "axes")->ints(0), 1);
  EXPECT_EQ(findAttr(m11.graph().node(4), "axes"), nullptr);  // empty axes = all: omitted
  auto m13 = exportGraph({x}, {all}, tr.records, {}, at(13));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(findAttr(m13.graph().node(i), "axes"), nullptr) << i;
    ASSERT_EQ(m13.graph().node(i).input_size(), 2) << i;
  }
  EXPECT_EQ(initInts(m13, m13.graph().node(1), 1), (std::vector<int64_t>{2}));
  EXPECT_EQ(findAttr(m13.graph().node(2), "keepdims")->i(), 1);
  // Other Reduce* keep attribute axes up to opset 17.
  auto m17 = exportGraph({x}, {all}, tr.records, {}, at(17));
  EXPECT_NE(findAttr(m17.graph().node(3), "axes"), nullptr);
  EXPECT_EQ(m17.graph().node(3).input_size(), 1);
}

TEST(OnnxExport, SliceClipPadExpandTileBecomeInputs) {
  Trace tr;
  Tensor x = Tensor::zeros({4, 6});
  Tensor s = tr.op("Slice", {x}, {4, 2},
                   Attrs{{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{5}},
                         {"axes", std::vector<int64_t>{1}}, {"steps", std::vector<int64_t>{2}}});
  Tensor c = tr.op("Clip", {s}, {4, 2}, Attrs{{"max", 6.0}});
  Tensor p = tr.op("Pad", {c}, {4, 4},
                   Attrs{{"pads", std::vector<int64_t>{0, 1, 0, 1}}, {"mode", std::string("constant")}, {"value", 1.5}});
  Tensor e = tr.op("Expand", {p}, {4, 4}, Attrs{{"shape", std::vector<int64_t>{4, 4}}});
  Tensor y = tr.op("Tile", {e}, {4, 8}, Attrs{{"repeats", std::vector<int64_t>{1, 2}}});
  auto m = exportGraph({x}, {y}, tr.records, {}, at(11));
  EXPECT_EQ(opTypes(m), (std::vector<std::string>{"Slice", "Clip", "Pad", "Expand", "Tile"}));
  const auto& sl = m.graph().node(0);
  ASSERT_EQ(sl.input_size(), 5);
  EXPECT_EQ(initInts(m, sl, 1), (std::vector<int64_t>{1}));
  EXPECT_EQ(initInts(m, sl, 2), (std::vector<int64_t>{5}));
  EXPECT_EQ(initInts(m, sl, 3), (std::vector<int64_t>{1}));
  EXPECT_EQ(initInts(m, sl, 4), (std::vector<int64_t>{2}));
  const auto& clip = m.graph().node(1);
  ASSERT_EQ(clip.input_size(), 3);
  EXPECT_EQ(clip.input(1), "");  // no lower bound
  EXPECT_EQ(fromTensorProto(*findInit(m, clip.input(2))).item(), 6.0);
  EXPECT_EQ(fromTensorProto(*findInit(m, clip.input(2))).dtype(), DType::kFloat32);
  const auto& pad = m.graph().node(2);
  ASSERT_EQ(pad.input_size(), 3);
  EXPECT_EQ(initInts(m, pad, 1), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(fromTensorProto(*findInit(m, pad.input(2))).item(), 1.5);
  EXPECT_EQ(findAttr(pad, "mode")->s(), "constant");
  EXPECT_EQ(initInts(m, m.graph().node(3), 1), (std::vector<int64_t>{1, 4}));  // batch kept symbolic
  EXPECT_EQ(initInts(m, m.graph().node(4), 1), (std::vector<int64_t>{1, 2}));
}

TEST(OnnxExport, SplitSizesByOpset) {
  Tensor x = Tensor::zeros({2, 5});
  Tensor a = Tensor::zeros({2, 2}), b = Tensor::zeros({2, 3});
  std::vector<OpRecord> recs{OpRecord{"Split", Attrs{{"axis", int64_t{1}}}, {x}, {a, b}}};
  auto m11 = exportGraph({x}, {a, b}, recs, {}, at(11));
  ASSERT_EQ(m11.graph().node_size(), 1);
  EXPECT_EQ(m11.graph().node(0).output_size(), 2);
  ASSERT_NE(findAttr(m11.graph().node(0), "split"), nullptr);
  EXPECT_EQ(findAttr(m11.graph().node(0), "split")->ints(1), 3);
  auto m13 = exportGraph({x}, {a, b}, recs, {}, at(13));
  EXPECT_EQ(findAttr(m13.graph().node(0), "split"), nullptr);
  EXPECT_EQ(initInts(m13, m13.graph().node(0), 1), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(m13.graph().node(0).output(1), "output_1");
}

TEST(OnnxExport, SoftmaxOnInnerAxisBeforeOpset13IsTransposed) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3, 4});
  Tensor y = tr.op("Softmax", {x}, {2, 3, 4}, Attrs{{"axis", int64_t{1}}});
  Tensor z = tr.op("LogSoftmax", {y}, {2, 3, 4}, Attrs{{"axis", int64_t{-1}}});
  auto m11 = exportGraph({x}, {z}, tr.records, {}, at(11));
  EXPECT_EQ(opTypes(m11), (std::vector<std::string>{"Transpose", "Softmax", "Transpose", "LogSoftmax"}));
  const auto* perm = findAttr(m11.graph().node(0), "perm");
  ASSERT_NE(perm, nullptr);
  EXPECT_EQ(std::vector<int64_t>(perm->ints().begin(), perm->ints().end()), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(findAttr(m11.graph().node(1), "axis")->i(), 2);
  EXPECT_EQ(findAttr(m11.graph().node(3), "axis")->i(), 2);  // explicit last axis
  auto m13 = exportGraph({x}, {z}, tr.records, {}, at(13));
  EXPECT_EQ(opTypes(m13), (std::vector<std::string>{"Softmax", "LogSoftmax"}));
  EXPECT_EQ(findAttr(m13.graph().node(0), "axis")->i(), 1);
}

TEST(OnnxExport, OpsetSpecificRewritesAndAttributes) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3});
  Tensor h = tr.op("HardSwish", {x}, {2, 3});
  Tensor ge = tr.op("GreaterOrEqual", {h, x}, {2, 3}, {}, DType::kBool);
  Tensor ci = tr.op("Cast", {ge}, {2, 3}, Attrs{{"to", std::string("float32")}});
  Tensor am = tr.op("ArgMax", {ci}, {2, 1}, Attrs{{"axis", int64_t{1}}, {"keepdims", int64_t{1}},
                                                   {"select_last_index", int64_t{0}}}, DType::kInt64);
  auto m11 = exportGraph({x}, {am}, tr.records, {}, at(11));
  EXPECT_EQ(opTypes(m11), (std::vector<std::string>{"HardSigmoid", "Mul", "Less", "Not", "Cast", "ArgMax"}));
  EXPECT_NEAR(findAttr(m11.graph().node(0), "alpha")->f(), 1.0 / 6.0, 1e-7);
  EXPECT_EQ(findAttr(m11.graph().node(4), "to")->i(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(findAttr(m11.graph().node(5), "select_last_index"), nullptr);  // default dropped at 11
  auto m17 = exportGraph({x}, {am}, tr.records, {}, at(17));
  EXPECT_EQ(opTypes(m17), (std::vector<std::string>{"HardSwish", "GreaterOrEqual", "Cast", "ArgMax"}));
  EXPECT_NE(findAttr(m17.graph().node(3), "select_last_index"), nullptr);
  EXPECT_EQ(m17.graph().output(0).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
}

TEST(OnnxExport, SiluIsWrittenAsSigmoidAndMul) {
  // ops::silu (an imported Sigmoid + Mul run as one op) has no ONNX op type of its own.
  for (int opset : {11, 13, 17}) {
    Trace tr;
    Tensor x = Tensor::zeros({2, 3});
    Tensor y = tr.op("Silu", {x}, {2, 3});
    auto m = exportGraph({x}, {y}, tr.records, {}, at(opset));
    EXPECT_EQ(opTypes(m), (std::vector<std::string>{"Sigmoid", "Mul"})) << "opset " << opset;
    ASSERT_EQ(m.graph().node(1).input_size(), 2);
    EXPECT_EQ(m.graph().node(1).input(0), m.graph().node(0).input(0));
    EXPECT_EQ(m.graph().node(1).input(1), m.graph().node(0).output(0));
  }
}

TEST(OnnxExport, BatchNormAndDropoutByOpset) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor scale = Tensor::ones({3}), bias = Tensor::zeros({3}), mean = Tensor::zeros({3}), var = Tensor::ones({3});
  Tensor y = tr.op("BatchNormalization", {x, scale, bias, mean, var}, {2, 3, 4, 4},
                   Attrs{{"epsilon", 1e-5}, {"momentum", 0.9}, {"training_mode", int64_t{0}}});
  Tensor z = tr.op("Dropout", {y}, {2, 3, 4, 4}, Attrs{{"ratio", 0.25}});
  std::map<std::string, Tensor> state{{"bn.weight", scale}, {"bn.bias", bias},
                                      {"bn.running_mean", mean}, {"bn.running_var", var}};
  auto m11 = exportGraph({x}, {z}, tr.records, state, at(11));
  EXPECT_EQ(opTypes(m11), (std::vector<std::string>{"BatchNormalization", "Dropout"}));
  const auto& bn = m11.graph().node(0);
  EXPECT_EQ(bn.input(3), "bn.running_mean");
  EXPECT_EQ(findAttr(bn, "training_mode"), nullptr);  // BatchNormalization-9 has none
  EXPECT_NEAR(findAttr(bn, "momentum")->f(), 0.9, 1e-7);
  EXPECT_NEAR(findAttr(m11.graph().node(1), "ratio")->f(), 0.25, 1e-7);  // Dropout-10: attribute
  auto m17 = exportGraph({x}, {z}, tr.records, state, at(17));
  EXPECT_NE(findAttr(m17.graph().node(0), "training_mode"), nullptr);
  const auto& drop = m17.graph().node(1);
  EXPECT_EQ(findAttr(drop, "ratio"), nullptr);  // Dropout-12+: input (training_mode absent = inference)
  ASSERT_EQ(drop.input_size(), 2);
  EXPECT_EQ(fromTensorProto(*findInit(m17, drop.input(1))).item(), 0.25);
}

TEST(OnnxExport, Errors) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3});
  Tensor y = tr.op("Relu", {x}, {2, 3});
  for (int bad : {10, 18, 0}) {
    std::string msg = messageOf<ValueError>([&] { exportGraph({x}, {y}, tr.records, {}, at(bad)); });
    EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    EXPECT_NE(msg.find("11..17"), std::string::npos) << msg;
  }
  ExportOptions names = at(13);
  names.inputNames = {"a", "b"};
  EXPECT_THROW(exportGraph({x}, {y}, tr.records, {}, names), ValueError);
  names.inputNames = {"a"};
  names.outputNames = {"a"};
  EXPECT_THROW(exportGraph({x}, {y}, tr.records, {}, names), ValueError);
  EXPECT_THROW(exportGraph({x}, {Tensor()}, tr.records, {}, at(13)), ValueError);

  Trace bad;
  Tensor z = bad.op("FancyFusedThing", {x}, {2, 3});
  std::string msg = messageOf<NotSupportedError>([&] { exportGraph({x}, {z}, bad.records, {}, at(13)); });
  EXPECT_NE(msg.find("FancyFusedThing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an ONNX operator"), std::string::npos) << msg;

  Trace newer;
  Tensor c = newer.op("Celu", {x}, {2, 3});
  msg = messageOf<NotSupportedError>([&] { exportGraph({x}, {c}, newer.records, {}, at(11)); });
  EXPECT_NE(msg.find("Celu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("opset >= 12"), std::string::npos) << msg;
  EXPECT_NO_THROW(exportGraph({x}, {c}, newer.records, {}, at(12)));

  Trace last;
  Tensor am = last.op("ArgMax", {x}, {2}, Attrs{{"axis", int64_t{1}}, {"keepdims", int64_t{0}},
                                                {"select_last_index", int64_t{1}}}, DType::kInt64);
  msg = messageOf<NotSupportedError>([&] { exportGraph({x}, {am}, last.records, {}, at(11)); });
  EXPECT_NE(msg.find("select_last_index"), std::string::npos) << msg;

  // A view of the input that the trace did not see would freeze the sample into the model.
  Trace untraced;
  Tensor view = makeView(x, {3, 2}, {2, 1}, 0);
  Tensor out = untraced.op("Relu", {view}, {3, 2});
  msg = messageOf<Error>([&] { exportGraph({x}, {out}, untraced.records, {}, at(13)); });
  EXPECT_NE(msg.find("untraced"), std::string::npos) << msg;
}

TEST(OnnxExport, SaveModelAtomicallyAndIoError) {
  Trace tr;
  Tensor x = Tensor::zeros({2, 3});
  Tensor y = tr.op("Relu", {x}, {2, 3});
  auto m = exportGraph({x}, {y}, tr.records, {}, at(13));
  std::string path = ::testing::TempDir() + "/export_test_" + std::to_string(::getpid()) + ".onnx";
  saveModel(m, path);
  std::ifstream f(path, std::ios::binary);
  onnx::ModelProto back;
  ASSERT_TRUE(back.ParseFromIstream(&f));
  EXPECT_EQ(back.graph().node(0).op_type(), "Relu");
  std::remove(path.c_str());
  std::string bad = "/nonexistent_dir_for_singa/model.onnx";
  std::string msg = messageOf<IoError>([&] { saveModel(m, bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
}

TEST(OnnxExport, TracesRealOpsThroughExportFunction) {
  Tensor x = Tensor::fromVector<float>({-1, 2, -3, 4, 5, -6}, {2, 3});
  Tensor w = Tensor::fromVector<float>({1, 0, 0, 1, 1, 1}, {2, 3});
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor h = ops::gemm(in[0], w, Tensor(), 1.0, 1.0, false, true);
    return std::vector<Tensor>{ops::relu(h) * 2.0};
  };
  auto m = exportFunction(fn, {x}, {{"w", w}}, at(13));
  auto types = opTypes(m);
  EXPECT_EQ(types.front(), "Gemm");
  EXPECT_NE(std::find(types.begin(), types.end(), "Relu"), types.end());
  EXPECT_NE(findInit(m, "w"), nullptr);
  EXPECT_EQ(m.graph().output(0).name(), "output_0");
  // Tracing stopped with the export: later ops are not recorded anywhere.
  EXPECT_EQ(autograd::activeTracer(), nullptr);
}

TEST(OnnxExport, ExportModuleUsesStateNamesAndRestoresMode) {
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(4, 3), std::make_shared<ReLU>(),
                                          std::make_shared<Linear>(3, 2, false));
  net->train(true);
  Tensor x = Tensor::ones({5, 4});
  auto m = exportModule(*net, {x}, at(17));
  EXPECT_TRUE(net->isTraining());
  EXPECT_NE(findInit(m, "0.weight"), nullptr);
  EXPECT_NE(findInit(m, "0.bias"), nullptr);
  EXPECT_NE(findInit(m, "2.weight"), nullptr);
  auto types = opTypes(m);
  EXPECT_EQ(std::count(types.begin(), types.end(), "Gemm"), 2);
  EXPECT_THROW(exportModule(*net, {x, x}, at(17)), ValueError);
}

}  // namespace
}  // namespace singa::onnxio
