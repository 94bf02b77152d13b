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
