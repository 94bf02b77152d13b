// Control flow (If, Loop, Scan, SequenceMap): gradients through the branch taken and through every
// iteration against finite differences (float64); a Loop model and an If model whose parameters
// (outer-scope initializers and an initializer inside a branch) fine-tune, with their gradients
// checked by finite differences; and hostile models: nesting depth, subgraph input/output counts,
// trip counts, unbounded loops, export. Outputs against onnxruntime: gen_control_flow_cases.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "gradcheck.h"
#include "onnx_model_builder.h"
#include "singa/onnx/export.h"
#include "singa/onnx/import.h"
#include "singa/optim/sgd.h"

namespace singa {
namespace {

using namespace singa::test;
constexpr int kDouble = onnx::TensorProto::DOUBLE;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int kBool = onnx::TensorProto::BOOL;

void addTypedOutput(onnx::ModelProto& m, const std::string& name, int elemType) {
  auto* v = m.mutable_graph()->add_output();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(elemType);
}

void setGraph(onnx::NodeProto* n, const std::string& name, const onnx::ModelProto& body) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = body.graph();
}

Tensor values(const Shape& shape, double scale = 1.0, double shift = 0.0) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.7 * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}

Tensor boolScalar(bool b) { return Tensor::scalar(b ? 1.0 : 0.0, DType::kBool); }
Tensor int64Scalar(int64_t v) { return Tensor::fromVector<int64_t>({v}, {}); }

// If(c): then Tanh(x @ w), else Sigmoid(x) @ (w * w): x [2, 3] and w [3, 3] are outer-scope values.
onnx::ModelProto ifModel() {
  onnx::ModelProto thenG = makeModel(13), elseG = makeModel(13);
  addNode(thenG, "MatMul", {"x", "w"}, {"xw"});
  addNode(thenG, "Tanh", {"xw"}, {"t"});
  addTypedOutput(thenG, "t", kDouble);
  addNode(elseG, "Sigmoid", {"x"}, {"sx"});
  addNode(elseG, "Mul", {"w", "w"}, {"ww"});
  addNode(elseG, "MatMul", {"sx", "ww"}, {"e"});
  addTypedOutput(elseG, "e", kDouble);
  onnx::ModelProto m = makeModel(13);
  addInput(m, "c", {}, kBool);
  addInput(m, "x", {2, 3}, kDouble);
  addInput(m, "w", {3, 3}, kDouble);
  auto* n = addNode(m, "If", {"c"}, {"y"}, "if");
  setGraph(n, "then_branch", thenG);
  setGraph(n, "else_branch", elseG);
  addTypedOutput(m, "y", kDouble);
  return m;
}

TEST(OnnxControlFlowGrad, IfThroughTheBranchTaken) {
  auto model = onnxio::prepare(ifModel());
  for (bool c : {true, false}) {
    expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; },
                         {boolScalar(c), values({2, 3}).setRequiresGrad(true), values({3, 3}, 0.5).setRequiresGrad(true)});
  }
}

// Loop(M, "", h0): h = Tanh(h @ w + x * i) per iteration, scan output h; w and x outer-scope.
onnx::ModelProto loopModel(bool paramsAsInitializers) {
  onnx::ModelProto body = makeModel(13);
  addInput(body, "i", {}, kInt64);
  addInput(body, "cond", {}, kBool);
  addInput(body, "h", {2, 3}, kDouble);
  addNode(body, "Cast", {"i"}, {"fi"})->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("to");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(kDouble);
    return a;
  }());
  addNode(body, "Mul", {"x", "fi"}, {"xi"});
  addNode(body, "MatMul", {"h", "w"}, {"hw"});
  addNode(body, "Add", {"hw", "xi"}, {"s"});
  addNode(body, "Add", {"s", "b"}, {"sb"});  // b: an initializer of the body itself
  addNode(body, "Tanh", {"sb"}, {"h2"});
  addNode(body, "Identity", {"cond"}, {"cond2"});
  addInit(body, "b", values({3}, 0.1));
  addTypedOutput(body, "cond2", kBool);
  addTypedOutput(body, "h2", kDouble);
  addTypedOutput(body, "h2", kDouble);  // carried and scanned
  onnx::ModelProto m = makeModel(13);
  addInput(m, "M", {}, kInt64);
  addInput(m, "x", {2, 3}, kDouble);
  if (paramsAsInitializers) {
    addInit(m, "w", values({3, 3}, 0.4));
    addInit(m, "h0", values({2, 3}, 0.3));
  } else {
    addInput(m, "w", {3, 3}, kDouble);
    addInput(m, "h0", {2, 3}, kDouble);
  }
  auto* n = addNode(m, "Loop", {"M", "", "h0"}, {"h_final", "hs"}, "loop");
  setGraph(n, "body", body);
  addTypedOutput(m, "hs", kDouble);
  return m;
}

TEST(OnnxControlFlowGrad, LoopThroughEveryIteration) {
  auto model = onnxio::prepare(loopModel(false));
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; },
                       {int64Scalar(3), values({2, 3}, 0.7).setRequiresGrad(true),
                        values({3, 3}, 0.4).setRequiresGrad(true), values({2, 3}, 0.3).setRequiresGrad(true)});
  EXPECT_EQ(model->run({int64Scalar(3), values({2, 3}), values({3, 3}), values({2, 3})})[0].shape(), (Shape{3, 2, 3}));
  // No iterations: the scan output is empty, shaped from the body's declaration when it has one.
  EXPECT_EQ(model->run({int64Scalar(0), values({2, 3}), values({3, 3}), values({2, 3})})[0].numel(), 0);
}

// Scan (opset 16): h = Tanh(h * u + a_t) with `a` scanned along axis 1 in reverse and u outer-scope.
TEST(OnnxControlFlowGrad, ScanWithAxesAndDirections) {
  onnx::ModelProto body = makeModel(16);
  addInput(body, "h", {2}, kDouble);
  addInput(body, "a", {2}, kDouble);
  addNode(body, "Mul", {"h", "u"}, {"hu"});
  addNode(body, "Add", {"hu", "a"}, {"s"});
  addNode(body, "Tanh", {"s"}, {"h2"});
  addTypedOutput(body, "h2", kDouble);
  addTypedOutput(body, "s", kDouble);
  onnx::ModelProto m = makeModel(16);
  addInput(m, "h0", {2}, kDouble);
  addInput(m, "A", {2, 4}, kDouble);
  addInput(m, "u", {2}, kDouble);
  auto* n = addNode(m, "Scan", {"h0", "A"}, {"h_final", "ss"}, "scan");
  setGraph(n, "body", body);
  setInt(n, "num_scan_inputs", 1);
  setInts(n, "scan_input_axes", {1});
  setInts(n, "scan_input_directions", {1});
  setInts(n, "scan_output_axes", {-1});
  addTypedOutput(m, "ss", kDouble);
  auto model = onnxio::prepare(m);
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; },
                       {values({2}, 0.5).setRequiresGrad(true), values({2, 4}).setRequiresGrad(true),
                        values({2}, 0.8).setRequiresGrad(true)});
  EXPECT_EQ(model->run({values({2}), values({2, 4}), values({2})})[0].shape(), (Shape{2, 4}));
}

// Loop body holding an If (on the iteration's parity) whose branches read w from two levels up,
// and SequenceMap over the Loop's results: gradients cross both nesting levels.
TEST(OnnxControlFlowGrad, NestedIfInsideLoopThenSequenceMap) {
  onnx::ModelProto thenG = makeModel(17), elseG = makeModel(17), body = makeModel(17), mapBody = makeModel(17);
  addNode(thenG, "Mul", {"h", "w"}, {"a"});
  addTypedOutput(thenG, "a", kDouble);
  addNode(elseG, "Sin", {"h"}, {"sh"});
  addNode(elseG, "Add", {"sh", "w"}, {"b"});
  addTypedOutput(elseG, "b", kDouble);
  addInput(body, "i", {}, kInt64);
  addInput(body, "cond", {}, kBool);
  addInput(body, "h", {3}, kDouble);
  addNode(body, "Mod", {"i", "two"}, {"par"});
  addNode(body, "Equal", {"par", "zero"}, {"even"});
  auto* n = addNode(body, "If", {"even"}, {"h2"}, "parity");
  setGraph(n, "then_branch", thenG);
  setGraph(n, "else_branch", elseG);
  addNode(body, "Identity", {"cond"}, {"cond2"});
  addTypedOutput(body, "cond2", kBool);
  addTypedOutput(body, "h2", kDouble);
  addTypedOutput(body, "h2", kDouble);
  addInput(mapBody, "item", {3}, kDouble);
  addNode(mapBody, "Mul", {"item", "item"}, {"sq"});
  addTypedOutput(mapBody, "sq", kDouble);
  onnx::ModelProto m = makeModel(17);
  addInput(m, "h0", {3}, kDouble);
  addInput(m, "w", {3}, kDouble);
  addInit(m, "M", Tensor::fromVector<int64_t>({4}, {}));
  addInit(m, "two", Tensor::fromVector<int64_t>({2}, {}));
  addInit(m, "zero", Tensor::fromVector<int64_t>({0}, {}));
  setGraph(addNode(m, "Loop", {"M", "", "h0"}, {"h_final", "hs"}, "loop"), "body", body);
  addNode(m, "SplitToSequence", {"hs"}, {"seq"});
  setGraph(addNode(m, "SequenceMap", {"seq"}, {"squares"}, "map"), "body", mapBody);
  setInt(addNode(m, "ConcatFromSequence", {"squares"}, {"y"}), "axis", 0);
  addTypedOutput(m, "y", kDouble);
  auto model = onnxio::prepare(m, Device::cpu(), [] {
    onnxio::PrepareOptions o;
    o.trainable = false;
    return o;
  }());
  expectGradientsMatch([&](const std::vector<Tensor>& xs) { return model->run(xs)[0]; },
                       {values({3}, 0.6).setRequiresGrad(true), values({3}, 0.9, 0.2).setRequiresGrad(true)});
}

// ---- fine-tuning ---------------------------------------------------------------------------------

// d loss / d p for every element of parameter `p`: analytic (backward) against central differences.
void expectParamGradMatches(const std::function<Tensor()>& loss, Tensor p) {
  p.setGrad(Tensor());
  loss().backward();
  Tensor analytic = p.grad().contiguous();
  ASSERT_TRUE(analytic.defined());
  double* px = p.data<double>();
  for (int64_t k = 0; k < p.numel(); ++k) {
    autograd::NoGradGuard ng;
    const double orig = px[k], eps = 1e-6;
    px[k] = orig + eps;
    const double fp = loss().item();
    px[k] = orig - eps;
    const double fm = loss().item();
    px[k] = orig;
    EXPECT_NEAR(analytic.data<double>()[k], (fp - fm) / (2 * eps), 1e-6 + 1e-4 * std::abs((fp - fm) / (2 * eps)))
        << p.name() << "[" << k << "]";
  }
}

// Trains `model` towards `target` with SGD; the loss must fall by `factor`.
void expectFineTunes(onnxio::ImportedModel& model, const std::function<Tensor()>& forward, const Tensor& target,
                     double lr, double factor) {
  model.train();
  SGD sgd(model, lr, 0.9);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    sgd.zeroGrad();
    Tensor loss = ops::mseLoss(forward(), target);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    sgd.step();
  }
  EXPECT_LT(last, first * factor) << "loss " << first << " -> " << last;
}

TEST(OnnxControlFlowTrain, LoopModelFineTunes) {
  auto model = onnxio::prepare(loopModel(true));
  const auto params = model->namedParameters();
  ASSERT_EQ(params.size(), 3u);  // w, h0 and the body's b (a parameter of the subgraph module)
  const Tensor x = values({2, 3}, 0.7);
  const Tensor target = values({3, 2, 3}, 0.5, 0.1);
  auto forward = [&] { return model->run({int64Scalar(3), x})[0]; };
  for (const auto& [name, p] : params) {
    SCOPED_TRACE(name);
    expectParamGradMatches([&] { return ops::mseLoss(forward(), target); }, p);
  }
  expectFineTunes(*model, forward, target, 0.1, 0.7);
}

TEST(OnnxControlFlowTrain, IfModelFineTunes) {
  // The then-branch holds its own parameter v: y = Tanh(x @ w) + v; the else branch x @ w.
  onnx::ModelProto m = ifModel();
  auto* g = m.mutable_graph();
  auto* thenG = g->mutable_node(0)->mutable_attribute(0)->mutable_g();
  thenG->mutable_output(0)->set_name("tv");
  auto* add = thenG->add_node();
  add->set_op_type("Add");
  add->add_input("t");
  add->add_input("v");
  add->add_output("tv");
  onnxio::toTensorProto(values({3}, 0.2), "v", thenG->add_initializer());
  g->mutable_input()->RemoveLast();  // w becomes an initializer
  addInit(m, "w", values({3, 3}, 0.5));
  auto model = onnxio::prepare(m);
  ASSERT_EQ(model->namedParameters().size(), 2u);
  const Tensor x = values({2, 3}, 0.9);
  const Tensor target = values({2, 3}, 0.4, 0.2);
  for (bool c : {true, false}) {
    SCOPED_TRACE(c ? "then" : "else");
    auto forward = [&] { return model->run({boolScalar(c), x})[0]; };
    for (const auto& [name, p] : model->namedParameters()) {
      if (!c && name != "w") continue;  // v is not read by the else branch
      SCOPED_TRACE(name);
      expectParamGradMatches([&] { return ops::mseLoss(forward(), target); }, p);
    }
  }
  expectFineTunes(*model, [&] { return model->run({boolScalar(true), x})[0]; }, target, 0.2, 0.5);
}

// ---- hostile models ------------------------------------------------------------------------------

template <class E>
void expectThrowsWith(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << part << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(OnnxControlFlowHostile, NestingDepthIsBounded) {
  // If inside If inside ... 40 deep: a clear error, no stack exhaustion.
  onnx::ModelProto inner = makeModel(13);
  addNode(inner, "Identity", {"x"}, {"y0"});
  addTypedOutput(inner, "y0", kDouble);
  for (int d = 1; d <= 40; ++d) {
    onnx::ModelProto leaf = makeModel(13);
    addNode(leaf, "Identity", {"x"}, {"e" + std::to_string(d)});
    addTypedOutput(leaf, "e" + std::to_string(d), kDouble);
    onnx::ModelProto outer = makeModel(13);
    auto* n = addNode(outer, "If", {"c"}, {"y" + std::to_string(d)}, "if" + std::to_string(d));
    setGraph(n, "then_branch", inner);
    setGraph(n, "else_branch", leaf);
    addTypedOutput(outer, "y" + std::to_string(d), kDouble);
    inner = outer;
  }
  addInput(inner, "c", {}, kBool);
  addInput(inner, "x", {2}, kDouble);
  expectThrowsWith<ValueError>([&] { onnxio::prepare(inner); }, "levels deep");
}

TEST(OnnxControlFlowHostile, SubgraphInputAndOutputCountsAreChecked) {
  onnx::ModelProto m = ifModel();
  auto* thenG = m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g();
  thenG->add_input()->set_name("stray");
  expectThrowsWith<ValueError>([&] { onnxio::prepare(m); }, "If node 'if': its then_branch declares 1 input");
  m = ifModel();
  m.mutable_graph()->mutable_node(0)->add_output("y2");
  expectThrowsWith<ValueError>([&] { onnxio::prepare(m); }, "give the node one output per branch output");
  m = loopModel(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_input()->RemoveLast();
  expectThrowsWith<ValueError>([&] { onnxio::prepare(m); }, "Loop node 'loop': its body declares 2 inputs");
  m = loopModel(false);
  m.mutable_graph()->mutable_node(0)->clear_attribute();
  expectThrowsWith<ValueError>([&] { onnxio::prepare(m); }, "has no graph attribute 'body'");
}

TEST(OnnxControlFlowHostile, TripCountMustBeANonNegativeInt64Scalar) {
  auto model = onnxio::prepare(loopModel(false));
  const Tensor x = values({2, 3}), w = values({3, 3}), h = values({2, 3});
  expectThrowsWith<ValueError>([&] { model->run({int64Scalar(-3), x, w, h}); }, "the trip count M is -3");
  // A graph input declared int64 still checks its dtype; the declaration left out, the Loop does.
  onnx::ModelProto m = loopModel(false);
  m.mutable_graph()->mutable_input(0)->clear_type();
  auto untyped = onnxio::prepare(m);
  expectThrowsWith<ValueError>([&] { untyped->run({Tensor::scalar(3.0, DType::kFloat64), x, w, h}); },
                               "the trip count M must be an int64 scalar");
  expectThrowsWith<ValueError>([&] { untyped->run({Tensor::fromVector<int64_t>({1, 2}, {2}), x, w, h}); },
                               "the trip count M must be an int64 scalar");
}

TEST(OnnxControlFlowHostile, UnboundedLoopStopsAtTheIterationBound) {
  // No trip count, a condition that stays true: the bound ends it with an error naming the knobs.
  onnx::ModelProto m = loopModel(false);
  auto* node = m.mutable_graph()->mutable_node(0);
  node->set_input(0, "");
  node->set_input(1, "go");
  m.mutable_graph()->mutable_input()->DeleteSubrange(0, 1);  // M
  addInput(m, "go", {}, kBool);
  onnxio::PrepareOptions options;
  options.maxLoopIterations = 50;
  auto model = onnxio::prepare(m, Device::cpu(), options);
  expectThrowsWith<ValueError>(
      [&] { model->run({values({2, 3}), values({3, 3}, 0.1), values({2, 3}), boolScalar(true)}); },
      "ran 50 iterations without stopping");
  EXPECT_EQ(model->run({values({2, 3}), values({3, 3}, 0.1), values({2, 3}), boolScalar(false)})[0].numel(), 0);
  setenv("SINGA_ONNX_MAX_LOOP_ITERATIONS", "many", 1);
  expectThrowsWith<ValueError>([&] { onnxio::prepare(m); }, "SINGA_ONNX_MAX_LOOP_ITERATIONS='many'");
  setenv("SINGA_ONNX_MAX_LOOP_ITERATIONS", "7", 1);
  auto limited = onnxio::prepare(m);
  unsetenv("SINGA_ONNX_MAX_LOOP_ITERATIONS");
  expectThrowsWith<ValueError>(
      [&] { limited->run({values({2, 3}), values({3, 3}, 0.1), values({2, 3}), boolScalar(true)}); },
      "SINGA_ONNX_MAX_LOOP_ITERATIONS");
}

TEST(OnnxControlFlowHostile, IfConditionMustHoldOneElement) {
  onnx::ModelProto m = ifModel();
  m.mutable_graph()->mutable_input(0)->clear_type();
  auto model = onnxio::prepare(m);
  expectThrowsWith<ValueError>(
      [&] { model->run({Tensor::fromVector<double>({1, 0}, {2}), values({2, 3}), values({3, 3})}); },
      "must hold exactly one element");
}

TEST(OnnxControlFlowHostile, ExportRefusesControlFlow) {
  // A trace would record only the branch taken: export must fail naming the op, not write it.
  onnx::ModelProto m = ifModel();
  auto model = onnxio::prepare(m);
  expectThrowsWith<NotSupportedError>(
      [&] {
        onnxio::exportFunction([&](const std::vector<Tensor>& xs) { return model->run(xs); },
                               {boolScalar(true), values({2, 3}), values({3, 3})});
      },
      "ONNX export of If (node 'if') is not supported");
}

}  // namespace
}  // namespace singa
