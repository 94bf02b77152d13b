// Module bookkeeping: dotted names in registration order, tensor names, state dict round trip and
// its errors, modes, freezing, deterministic seeded initialisation.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "singa/nn/nn.h"
#include "singa/singa.h"

namespace singa {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class Net : public Module {
 public:
  Net() {
    conv1 = registerModule("conv1", std::make_shared<Conv2d>(1, 2, 3));
    bn = registerModule("bn", std::make_shared<BatchNorm2d>(2));
    fc = registerModule("fc", std::make_shared<Sequential>(std::make_shared<Linear>(8, 4), std::make_shared<ReLU>(),
                                                           std::make_shared<Linear>(4, 3, false)));
    scale = registerParameter("scale", Tensor::ones({1}));
  }
  std::string typeName() const override { return "Net"; }
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Sequential> fc;
  Tensor scale;
};

std::vector<std::string> namesOf(const Module::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

TEST(Module, NamesInRegistrationOrder) {
  Net net;
  EXPECT_EQ(namesOf(net.namedParameters()),
            (std::vector<std::string>{"scale", "conv1.weight", "conv1.bias", "bn.weight", "bn.bias", "fc.0.weight",
                                      "fc.0.bias", "fc.2.weight"}));
  EXPECT_EQ(namesOf(net.namedBuffers()), (std::vector<std::string>{"bn.running_mean", "bn.running_var"}));
  for (const auto& [name, t] : net.namedParameters()) {
    EXPECT_TRUE(t.requiresGrad()) << name;
    EXPECT_EQ(t.name(), name);
  }
  for (const auto& [name, t] : net.namedBuffers()) {
    EXPECT_FALSE(t.requiresGrad()) << name;
    EXPECT_EQ(t.name(), name);
  }
  EXPECT_EQ(net.parameters().size(), 8u);
  EXPECT_EQ(net.numParameters(), 1 + (2 * 9 + 2) + 2 + 2 + (4 * 8 + 4) + 3 * 4);
  EXPECT_EQ(net.fc->path(), "fc");
  EXPECT_EQ(net.namedModules().size(), 6u);  // conv1, bn, fc, fc.0, fc.1, fc.2
  // The layer's member handle and the registry entry are the same tensor.
  EXPECT_EQ(net.conv1->weight().implPtr(), net.namedParameters()[1].second.implPtr());

  // Registered in a parent, every tensor name gets the full dotted path.
  Module root;
  auto inner = root.registerModule("model", std::make_shared<Net>());
  EXPECT_EQ(inner->conv1->weight().name(), "model.conv1.weight");
  EXPECT_EQ(inner->bn->runningVar().name(), "model.bn.running_var");
  EXPECT_EQ(root.namedParameters()[3].first, "model.bn.weight");
  // A parameter registered after the module joined a tree is named with its path too (a module's
  // own parameters come before its children's, as in PyTorch).
  inner->fc->registerParameter("late", Tensor::zeros({2}));
  EXPECT_EQ(inner->fc->namedParameters().front().first, "late");
  EXPECT_EQ(inner->fc->namedParameters().front().second.name(), "model.fc.late");

  EXPECT_TRUE(contains(net.str(), "Conv2d(1, 2, kernel=3")) << net.str();
  EXPECT_TRUE(contains(net.str(), "(fc): Sequential(")) << net.str();
}

TEST(Module, RegistrationErrors) {
  Module m;
  m.registerParameter("w", Tensor::zeros({2}));
  EXPECT_THROW(m.registerParameter("w", Tensor::zeros({2})), ValueError);
  EXPECT_THROW(m.registerBuffer("w", Tensor::zeros({2})), ValueError);
  EXPECT_THROW(m.registerModule("w", std::make_shared<ReLU>()), ValueError);
  EXPECT_THROW(m.registerParameter("a.b", Tensor::zeros({2})), ValueError);
  EXPECT_THROW(m.registerParameter("", Tensor::zeros({2})), ValueError);
  EXPECT_THROW(m.registerParameter("i", Tensor::zeros({2}, DType::kInt64)), TypeError);
  EXPECT_THROW(m.forward(Tensor::zeros({1})), NotSupportedError);
  Sequential s;
  EXPECT_THROW(s[0], ValueError);
}

TEST(Module, StateDictRoundTrip) {
  manualSeed(1);
  Net a;
  manualSeed(2);
  Net b;
  a.bn->runningMean().fill(0.25);
  auto state = a.stateDict();
  EXPECT_EQ(state.size(), 10u);
  ASSERT_TRUE(state.count("bn.running_mean"));
  EXPECT_NE(b.conv1->weight().at(0), a.conv1->weight().at(0));
  b.loadStateDict(state);
  for (const auto& [name, t] : a.stateDict()) {
    const Tensor u = b.stateDict().at(name);  // a copy: the map is a temporary (ASan: use after free)
    EXPECT_FALSE(u.sharesStorage(t)) << name << " must be copied, not shared";
    for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(u.at(i), t.at(i)) << name << " element " << i;
  }
  // Copies are in place: the layer members see the loaded values, and later edits to a do not leak.
  EXPECT_EQ(b.bn->runningMean().at(1), 0.25);
  a.bn->runningMean().fill(3.0);
  EXPECT_EQ(b.bn->runningMean().at(1), 0.25);
  // Loading a model's own state is a no-op.
  b.loadStateDict(b.stateDict());
  EXPECT_EQ(b.bn->runningMean().at(0), 0.25);
  // Float64 values are converted to the model's float32.
  auto state64 = b.stateDict();
  state64["scale"] = Tensor::full({1}, 0.5, DType::kFloat64);
  b.loadStateDict(state64);
  EXPECT_EQ(b.scale.dtype(), DType::kFloat32);
  EXPECT_EQ(b.scale.at(0), 0.5);
}

TEST(Module, LoadStateDictErrors) {
  Net net;
  const double before = net.conv1->weight().at(0);
  auto good = Net().stateDict();

  auto missing = good;
  missing.erase("bn.bias");
  try {
    net.loadStateDict(missing);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "missing 'bn.bias'")) << e.what();
  }

  auto extra = good;
  extra["head.weight"] = Tensor::zeros({2});
  try {
    net.loadStateDict(extra);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "unexpected 'head.weight'")) << e.what();
  }

  auto wrongShape = good;
  wrongShape["fc.0.weight"] = Tensor::zeros({4, 9});
  try {
    net.loadStateDict(wrongShape);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(contains(msg, "fc.0.weight") && contains(msg, "[4, 9]") && contains(msg, "[4, 8]")) << msg;
  }
  // Failed loads changed nothing.
  EXPECT_EQ(net.conv1->weight().at(0), before);

  // Non-strict: missing and unexpected names are ignored, shapes still checked.
  missing["head.weight"] = Tensor::zeros({2});
  EXPECT_NO_THROW(net.loadStateDict(missing, false));
  EXPECT_EQ(net.conv1->weight().at(0), good.at("conv1.weight").at(0));
  EXPECT_THROW(net.loadStateDict(wrongShape, false), ShapeError);
}

TEST(Module, TrainEvalRecursive) {
  Net net;
  EXPECT_TRUE(net.isTraining());
  net.eval();
  EXPECT_FALSE(net.isTraining());
  EXPECT_FALSE(net.bn->isTraining());
  EXPECT_FALSE((*net.fc)[1]->isTraining());
  net.train();
  EXPECT_TRUE((*net.fc)[2]->isTraining());
}

TEST(Module, FreezeByNameOrPrefix) {
  Net net;
  EXPECT_EQ(net.setRequiresGrad("conv1", false), 2);
  EXPECT_FALSE(net.conv1->weight().requiresGrad());
  EXPECT_FALSE(net.conv1->bias().requiresGrad());
  EXPECT_TRUE(net.bn->weight().requiresGrad());
  EXPECT_EQ(net.setRequiresGrad("fc.0", false), 2);  // not fc.2
  EXPECT_TRUE(net.namedParameters()[7].second.requiresGrad());
  EXPECT_EQ(net.setRequiresGrad("fc.2.weight", false), 1);
  EXPECT_EQ(net.setRequiresGrad("", true), 8);
  EXPECT_TRUE(net.conv1->weight().requiresGrad());
  try {
    net.setRequiresGrad("conv", false);  // a prefix must end at a dot
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "conv1.weight")) << e.what();
  }
}

TEST(Module, ZeroGradAndToDevice) {
  Net net;
  net.conv1->weight().setGrad(Tensor::ones({2, 1, 3, 3}));
  net.zeroGrad();
  EXPECT_FALSE(net.conv1->weight().grad().defined());
  auto impl = net.conv1->weight().implPtr();
  net.to(Device::cpu());
  EXPECT_EQ(net.conv1->weight().implPtr(), impl);
}

TEST(Module, SeededInitIsDeterministicAndPyTorchBoundedInTorchMode) {
  setDefaultWeightInit(WeightInit::kTorchUniform);
  manualSeed(123);
  Linear a(20, 5);
  Conv2d c(3, 4, 3);
  manualSeed(123);
  Linear b(20, 5);
  setDefaultWeightInit(WeightInit::kHeNormal);
  for (int64_t i = 0; i < a.weight().numel(); ++i) EXPECT_EQ(a.weight().at(i), b.weight().at(i));
  for (int64_t i = 0; i < a.bias().numel(); ++i) EXPECT_EQ(a.bias().at(i), b.bias().at(i));
  const double bound = 1.0 / std::sqrt(20.0);
  double maxAbs = 0;
  for (int64_t i = 0; i < a.weight().numel(); ++i) maxAbs = std::max(maxAbs, std::fabs(a.weight().at(i)));
  EXPECT_LE(maxAbs, bound);
  EXPECT_GT(maxAbs, 0.5 * bound);  // uses the range, not a tiny one
  const double convBound = 1.0 / std::sqrt(27.0);
  for (int64_t i = 0; i < c.weight().numel(); ++i) EXPECT_LE(std::fabs(c.weight().at(i)), convBound);
  for (int64_t i = 0; i < c.bias().numel(); ++i) EXPECT_LE(std::fabs(c.bias().at(i)), convBound);
  // An explicit generator leaves the global one alone.
  Generator g(5);
  Linear d(3, 3, true, g);
  Generator g2(5);
  Linear e(3, 3, true, g2);
  EXPECT_EQ(d.weight().at(4), e.weight().at(4));
}

TEST(Module, BadLayerArguments) {
  EXPECT_THROW(Conv2d(3, 4, 0), ValueError);
  EXPECT_THROW(Conv2d(3, 4, 3, 1, 0, 1, 2), ValueError);  // 3 channels, 2 groups
  EXPECT_THROW(Linear(0, 3), ValueError);
  EXPECT_THROW(BatchNorm2d(4, 1.5), ValueError);
  EXPECT_THROW(Dropout(1.0), ValueError);
  EXPECT_THROW(MaxPool2d(2, 2, 3), ValueError);
}

}  // namespace
}  // namespace singa
