#include <gtest/gtest.h>

#include "gradcheck.h"
#include "singa/singa.h"

namespace singa {

TEST(Autograd, ChainAndSharedInputs) {
  // y = sum((a * b) + a) -> dy/da = b + 1, dy/db = a
  Tensor a = Tensor::fromVector<float>({1, 2, 3}, {3}).setRequiresGrad();
  Tensor b = Tensor::fromVector<float>({4, 5, 6}, {3}).setRequiresGrad();
  Tensor y = ops::reduceSum(ops::add(ops::mul(a, b), a));
  y.backward();
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{5, 6, 7}));
  EXPECT_EQ(b.grad().toVector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST(Autograd, AccumulatesAcrossBackwardCalls) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad();
  for (int i = 0; i < 3; ++i) ops::reduceSum(ops::mul(a, 2.0)).backward();
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{6, 6}));
  a.zeroGrad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Autograd, NoGradScopeRecordsNothing) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad();
  Tensor y;
  {
    autograd::NoGradGuard ng;
    y = ops::mul(a, a);
  }
  EXPECT_EQ(y.gradFn(), nullptr);
  EXPECT_FALSE(y.requiresGrad());
  EXPECT_THROW(ops::reduceSum(y).backward(), ValueError);
}

TEST(Autograd, GradReadyFiresOncePerLeafAfterLastContribution) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad().setName("a");
  Tensor b = Tensor::fromVector<float>({3, 4}, {2}).setRequiresGrad().setName("b");
  std::vector<std::string> order;
  std::vector<float> gradAtCall;
  a.onGradReady([&](const std::string& n, TensorImpl& impl) {
    order.push_back(n);
    gradAtCall.push_back(Tensor(impl.grad).toVector<float>()[0]);
  });
  b.onGradReady([&](const std::string& n, TensorImpl&) { order.push_back(n); });
  // a is used three times; its hook must see the full sum (2 + b + 1).
  Tensor y = ops::reduceSum(ops::add(ops::add(ops::mul(a, 2.0), ops::mul(a, b)), a));
  y.backward();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(std::count(order.begin(), order.end(), "a"), 1);
  EXPECT_EQ(gradAtCall[0], 2 + 3 + 1);
}

TEST(Autograd, GradBufferReceivesTheFirstGradientAndAccumulatesAfterIt) {
  // The first gradient of a backward lands in the provider's buffer (no fresh copy); further
  // contributions and later backward calls accumulate as usual (into new tensors).
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad().setName("a");
  Tensor buffer = Tensor::full({2}, -99.0);
  int calls = 0;
  a.setGradBuffer([&](TensorImpl&) {
    ++calls;
    return buffer.implPtr();
  });
  ops::reduceSum(ops::mul(a, 3.0)).backward();
  EXPECT_EQ(a.grad().rawData(), buffer.rawData());
  EXPECT_EQ(buffer.toVector<float>(), (std::vector<float>{3, 3}));
  ops::reduceSum(ops::mul(a, 2.0)).backward();  // a has a gradient: accumulates, no buffer asked
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{5, 5}));
  EXPECT_EQ(calls, 1);
  a.zeroGrad();
  Tensor b = Tensor::fromVector<float>({3, 4}, {2});
  ops::reduceSum(ops::add(ops::mul(a, 2.0), ops::mul(a, b))).backward();  // two contributions
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{5, 6}));
  EXPECT_EQ(calls, 2);
  // A buffer of the wrong shape is an error naming the leaf; none (null) means the default.
  a.zeroGrad();
  a.setGradBuffer([](TensorImpl&) { return Tensor::zeros({3}).implPtr(); });
  try {
    ops::reduceSum(a).backward();
    FAIL() << "a wrong-shaped gradient buffer was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("gradient buffer of 'a'"), std::string::npos) << e.what();
  }
  a.zeroGrad();
  a.setGradBuffer([](TensorImpl&) { return std::shared_ptr<TensorImpl>(); });
  ops::reduceSum(a).backward();
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{1, 1}));
}

TEST(Autograd, NonScalarRootNeedsGradient) {
  Tensor a = Tensor::fromVector<float>({1, 2}, {2}).setRequiresGrad();
  Tensor y = ops::mul(a, 3.0);
  EXPECT_THROW(y.backward(), ShapeError);
  y.backward(Tensor::fromVector<float>({1, 10}, {2}));
  EXPECT_EQ(a.grad().toVector<float>(), (std::vector<float>{3, 30}));
}

TEST(Autograd, ViewGradients) {
  auto f = [](const std::vector<Tensor>& in) {
    return ops::mul(in[0].transpose(0, 1).reshape({6}).slice(0, 1, 5), 1.0);
  };
  Tensor x({2, 3});
  uniform_(x, -1, 1);
  x.setRequiresGrad();
  test::expectGradientsMatch(f, {x});
}

}  // namespace singa
