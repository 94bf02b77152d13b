// Autograd state behind one AutogradMeta pointer, post-accumulate-grad hooks and the in-place
// gradient accumulation rule (tensor.h): a hook runs once per leaf per backward with the
// accumulated gradient; a gradient set beforehand (a view into a larger buffer, as the
// DistributedOptimizer's buckets) receives the gradient in place; passes without zeroGrad() sum.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "singa/singa.h"

namespace singa {
namespace {

std::vector<double> valuesOf(const Tensor& t) { return t.toVector<double>(); }

TEST(AutogradMeta, TensorsOutsideAutogradCarryNone) {
  Tensor a = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::ones({3, 2});
  Tensor y = ops::matmul(ops::relu(ops::add(a, 1.0)), b).reshape({4});
  // Queries and no-op setters allocate nothing.
  EXPECT_FALSE(a.requiresGrad());
  EXPECT_FALSE(a.grad().defined());
  EXPECT_EQ(a.gradFn(), nullptr);
  EXPECT_TRUE(a.isLeaf());
  a.setRequiresGrad(false);
  a.zeroGrad();
  a.setGrad(Tensor());
  for (const Tensor& t : {a, b, y, a.clone(), a.contiguous(), y.detach()}) EXPECT_FALSE(t.hasAutogradMeta());

  // Taking part in autograd allocates it: on the leaf, and on the outputs of recorded ops.
  Tensor w = Tensor::ones({3, 2}).setRequiresGrad();
  EXPECT_TRUE(w.hasAutogradMeta());
  Tensor z = ops::matmul(a, w);
  EXPECT_TRUE(z.hasAutogradMeta());
  EXPECT_NE(z.gradFn(), nullptr);
  EXPECT_FALSE(z.detach().hasAutogradMeta());
  {
    autograd::NoGradGuard noGrad;  // nothing recorded: no state on the output
    EXPECT_FALSE(ops::matmul(a, w).hasAutogradMeta());
  }
  Tensor g = Tensor::zeros({2});
  g.setGrad(Tensor::ones({2}));  // setGrad and hooks allocate too
  EXPECT_TRUE(g.hasAutogradMeta());
  Tensor h = Tensor::zeros({2});
  h.registerPostAccumulateGradHook([](Tensor&) {});
  EXPECT_TRUE(h.hasAutogradMeta());
}

TEST(PostAccumulateGradHook, FiresOncePerLeafAfterAllContributions) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad().setName("a");
  Tensor b = Tensor::fromVector<float>({3, 4}, {2}).setRequiresGrad().setName("b");
  std::map<std::string, std::vector<std::vector<double>>> seen;  // name -> grad() at each call
  for (Tensor* t : {&a, &b}) {
    t->registerPostAccumulateGradHook([&](Tensor& leaf) {
      ASSERT_TRUE(leaf.grad().defined());
      seen[leaf.name()].push_back(valuesOf(leaf.grad()));
    });
  }
  // a is used three times; its hook must see the full sum d/da = 2 + b + 1, b's d/db = a.
  auto f = [&] { return ops::reduceSum(ops::add(ops::add(ops::mul(a, 2.0), ops::mul(a, b)), a)); };
  f().backward();
  ASSERT_EQ(seen["a"].size(), 1u);
  ASSERT_EQ(seen["b"].size(), 1u);
  EXPECT_EQ(seen["a"][0], (std::vector<double>{6, 7}));
  EXPECT_EQ(seen["b"][0], (std::vector<double>{1, 2}));
  // A second pass without zeroGrad(): once more each, with the summed gradient.
  f().backward();
  ASSERT_EQ(seen["a"].size(), 2u);
  ASSERT_EQ(seen["b"].size(), 2u);
  EXPECT_EQ(seen["a"][1], (std::vector<double>{12, 14}));
  EXPECT_EQ(seen["b"][1], (std::vector<double>{2, 4}));
}

TEST(PostAccumulateGradHook, SeesTheFiniteDifferenceGradient) {
  // f(W) = sum(tanh(x W) * p) + sum(W * W * 0.5): W reaches the loss along two paths.
  Generator gen(42);
  Tensor x({4, 3}, DType::kFloat64), p({4, 2}, DType::kFloat64), w({3, 2}, DType::kFloat64);
  uniform_(x, -1, 1, gen);
  uniform_(p, 0.5, 1.5, gen);
  uniform_(w, -1, 1, gen);
  w.setRequiresGrad();
  auto f = [&] {
    return ops::add(ops::reduceSum(ops::mul(ops::tanh(ops::matmul(x, w)), p)),
                    ops::reduceSum(ops::mul(ops::mul(w, w), 0.5)));
  };
  int calls = 0;
  std::vector<double> atHook;
  w.registerPostAccumulateGradHook([&](Tensor& leaf) {
    ++calls;
    atHook = valuesOf(leaf.grad());
  });
  f().backward();
  ASSERT_EQ(calls, 1);
  ASSERT_EQ(atHook.size(), 6u);
  double* pw = w.data<double>();
  const double eps = 1e-6;
  for (int k = 0; k < 6; ++k) {
    autograd::NoGradGuard noGrad;
    const double orig = pw[k];
    pw[k] = orig + eps;
    const double fp = f().item();
    pw[k] = orig - eps;
    const double fm = f().item();
    pw[k] = orig;
    EXPECT_NEAR(atHook[static_cast<size_t>(k)], (fp - fm) / (2 * eps), 1e-7) << "element " << k;
  }
}

TEST(PostAccumulateGradHook, RunInOrderCanBeRemovedAndFireForALeafRoot) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad();
  std::vector<int> order;
  const uint64_t first = a.registerPostAccumulateGradHook([&](Tensor&) { order.push_back(1); });
  a.registerPostAccumulateGradHook([&](Tensor&) { order.push_back(2); });
  ops::reduceSum(a).backward();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_TRUE(a.removePostAccumulateGradHook(first));
  EXPECT_FALSE(a.removePostAccumulateGradHook(first));
  order.clear();
  a.backward(Tensor::fromVector<float>({5, 6}, {2}));  // the leaf is the root
  EXPECT_EQ(order, (std::vector<int>{2}));
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{6, 7}));
  // A leaf the pass does not reach: no call.
  Tensor unused = Tensor::ones({2}).setRequiresGrad();
  int unusedCalls = 0;
  unused.registerPostAccumulateGradHook([&](Tensor&) { ++unusedCalls; });
  ops::reduceSum(ops::mul(a, 2.0)).backward();
  EXPECT_EQ(unusedCalls, 0);
  EXPECT_THROW(a.registerPostAccumulateGradHook(nullptr), ValueError);
}

TEST(GradAccumulation, IntoAPresetViewWritesTheViewedBuffer) {
  // As the DistributedOptimizer does with its buckets: the gradients of two leaves are views
  // into one zeroed buffer; backward adds into them in place.
  Tensor bucket = Tensor::full({10}, -7.0);  // sentinels outside the two views
  Tensor a = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).setRequiresGrad().setName("a");
  Tensor b = Tensor::fromVector<float>({-1, 2}, {2}).setRequiresGrad().setName("b");
  Tensor aView = bucket.slice(0, 1, 7).reshape({2, 3});
  Tensor bView = bucket.slice(0, 8, 10);
  aView.zero();
  bView.zero();
  a.setGrad(aView);
  b.setGrad(bView);
  // y = sum(a * a) + sum(matmul(b, a)) -> dy/da[i][j] = 2 a[i][j] + b[i], dy/db[i] = sum_j a[i][j]
  auto f = [&] { return ops::add(ops::reduceSum(ops::mul(a, a)), ops::reduceSum(ops::matmul(b.reshape({1, 2}), a))); };
  f().backward();
  EXPECT_EQ(a.grad().rawData(), aView.rawData());
  EXPECT_EQ(b.grad().rawData(), bView.rawData());
  const std::vector<float> once = {-7, 2 - 1, 4 - 1, 6 - 1, 8 + 2, 10 + 2, 12 + 2, -7, 6, 15};
  EXPECT_EQ(bucket.toVector<float>(), once);
  // A second pass without zeroGrad() sums in the same buffer.
  f().backward();
  std::vector<float> twice = once;
  for (size_t k : {1, 2, 3, 4, 5, 6, 8, 9}) twice[k] *= 2;
  EXPECT_EQ(bucket.toVector<float>(), twice);
  EXPECT_EQ(a.grad().rawData(), aView.rawData());
  // zeroGrad() drops the view: the next pass makes a fresh gradient and leaves the buffer alone.
  a.zeroGrad();
  f().backward();
  EXPECT_NE(a.grad().rawData(), aView.rawData());
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{1, 3, 5, 10, 12, 14}));
  EXPECT_EQ(aView.toVector<float>(), (std::vector<float>(twice.begin() + 1, twice.begin() + 7)));
}

TEST(GradAccumulation, AFreshGradientNeverAliasesAndAHeldOneFollowsTheRule) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad().setName("a");
  const Tensor seed = Tensor::fromVector<float>({5, 6}, {2});
  a.backward(seed);
  EXPECT_FALSE(a.grad().sharesStorage(seed));  // the first gradient is a copy
  a.backward(seed);
  EXPECT_EQ(seed.toVector<float>(), (std::vector<float>{5, 6}));
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{10, 12}));
  // Without zeroGrad() a held gradient is the accumulator: it sees the next pass's sum...
  Tensor held = a.grad();
  ops::reduceSum(ops::mul(a, 3.0)).backward();
  EXPECT_EQ(held.toVector<float>(), (std::vector<float>{13, 15}));
  // ... after zeroGrad() the next pass leaves it alone.
  a.zeroGrad();
  ops::reduceSum(ops::mul(a, 3.0)).backward();
  EXPECT_EQ(held.toVector<float>(), (std::vector<float>{13, 15}));
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{3, 3}));
  // A preset gradient unlike the leaf is an error naming the leaf.
  a.setGrad(Tensor::zeros({3}));
  try {
    ops::reduceSum(a).backward();
    FAIL() << "a wrong-shaped preset gradient was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'a'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace singa
