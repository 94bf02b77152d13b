// Layers against independent references: hand-written loops for Linear and Conv2d, pooling by
// hand, BatchNorm2d running statistics in train mode and their use in eval mode, activations
// against <cmath>, losses and accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "gradcheck.h"
#include "singa/nn/nn.h"
#include "singa/singa.h"

namespace singa {
namespace {

using test::expectTensorNear;

Tensor randomTensor(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  Generator g(seed);
  Tensor t(shape);
  uniform_(t, lo, hi, g);
  return t;
}

TEST(Layers, LinearMatchesHandMatmul) {
  Linear fc(3, 4);
  fc.bias().copyFrom(randomTensor({4}, 11));  // the default bias is zero: make it count
  Tensor x = randomTensor({2, 3}, 1);
  Tensor y = fc(x);
  ASSERT_EQ(y.shape(), (Shape{2, 4}));
  Tensor expected({2, 4});
  for (int n = 0; n < 2; ++n) {
    for (int o = 0; o < 4; ++o) {
      double s = fc.bias().at(o);
      for (int i = 0; i < 3; ++i) s += x.at(n * 3 + i) * fc.weight().at(o * 3 + i);
      expected.data<float>()[n * 4 + o] = static_cast<float>(s);
    }
  }
  expectTensorNear(y, expected);
  // Leading dims are kept: [2, 5, 3] -> [2, 5, 4], row by row the same map.
  Tensor x3 = randomTensor({2, 5, 3}, 2);
  Tensor y3 = fc(x3);
  ASSERT_EQ(y3.shape(), (Shape{2, 5, 4}));
  expectTensorNear(y3.reshape({10, 4}), fc(x3.reshape({10, 3})));
  // Without bias.
  Linear nb(3, 2, false);
  EXPECT_FALSE(nb.bias().defined());
  EXPECT_EQ(nb(x).shape(), (Shape{2, 2}));
  try {
    fc(randomTensor({2, 5}, 3));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Linear"), std::string::npos) << e.what();
  }
}

TEST(Layers, LinearGradientsFlowToParameters) {
  Linear fc(3, 2);
  Tensor x = randomTensor({4, 3}, 4);
  Tensor loss = ops::reduceSum(fc(x));
  loss.backward();
  ASSERT_TRUE(fc.weight().grad().defined());
  // d sum(xW^T + b) / dW[o, i] = sum_n x[n, i]; / db[o] = N.
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 3; ++i) {
      double s = 0;
      for (int n = 0; n < 4; ++n) s += x.at(n * 3 + i);
      EXPECT_NEAR(fc.weight().grad().at(o * 3 + i), s, 1e-5);
    }
    EXPECT_NEAR(fc.bias().grad().at(o), 4.0, 1e-6);
  }
}

TEST(Layers, Conv2dMatchesNaiveLoops) {
  Conv2d conv(2, 3, 3, /*stride=*/2, /*padding=*/1);
  conv.bias().copyFrom(randomTensor({3}, 12));
  Tensor x = randomTensor({2, 2, 5, 5}, 5);
  Tensor y = conv(x);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3, 3}));
  Tensor expected({2, 3, 3, 3});
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 3; ++o)
      for (int oh = 0; oh < 3; ++oh)
        for (int ow = 0; ow < 3; ++ow) {
          double s = conv.bias().at(o);
          for (int c = 0; c < 2; ++c)
            for (int kh = 0; kh < 3; ++kh)
              for (int kw = 0; kw < 3; ++kw) {
                const int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                if (ih < 0 || ih >= 5 || iw < 0 || iw >= 5) continue;
                s += x.at(((n * 2 + c) * 5 + ih) * 5 + iw) * conv.weight().at(((o * 2 + c) * 3 + kh) * 3 + kw);
              }
          expected.data<float>()[((n * 3 + o) * 3 + oh) * 3 + ow] = static_cast<float>(s);
        }
  expectTensorNear(y, expected, 1e-5, 1e-4);
  // Shapes with dilation and groups.
  Conv2d grouped(4, 6, 3, 1, 2, 2, 2);
  EXPECT_EQ(grouped.weight().shape(), (Shape{6, 2, 3, 3}));
  EXPECT_EQ(grouped(randomTensor({1, 4, 7, 7}, 6)).shape(), (Shape{1, 6, 7, 7}));
  EXPECT_THROW(conv(randomTensor({1, 3, 5, 5}, 7)), ShapeError);
  EXPECT_THROW(conv(randomTensor({2, 5, 5}, 7)), ShapeError);
}

// Sample mean and standard deviation of a tensor's values.
void moments(const Tensor& t, double& mean, double& sd) {
  const std::vector<double> v = t.toVector<double>();
  double s = 0, s2 = 0;
  for (double x : v) s += x, s2 += x * x;
  mean = s / static_cast<double>(v.size());
  sd = std::sqrt(s2 / static_cast<double>(v.size()) - mean * mean);
}

TEST(Layers, DefaultInitialisationIsHeNormalWithZeroBias) {
  ASSERT_EQ(defaultWeightInit(), WeightInit::kHeNormal);
  Generator g(3);
  Linear fc(800, 500, true, g);  // 400,000 draws: the sample sd is within ~0.3% of the true one
  Conv2d conv(20, 50, 5, 1, 0, 1, 1, true, g);  // fan_in 500, 25,000 draws
  double mean, sd;
  moments(fc.weight(), mean, sd);
  EXPECT_NEAR(sd, std::sqrt(2.0 / 800), 0.01 * std::sqrt(2.0 / 800));
  EXPECT_NEAR(mean, 0.0, 0.01 * std::sqrt(2.0 / 800));
  moments(conv.weight(), mean, sd);
  EXPECT_NEAR(sd, std::sqrt(2.0 / 500), 0.03 * std::sqrt(2.0 / 500));
  // Normal, not uniform: a uniform of that sd would have no value beyond sqrt(3) sd.
  const std::vector<float> w = fc.weight().toVector<float>();
  const double bound = std::sqrt(3.0) * std::sqrt(2.0 / 800);
  const auto beyond = std::count_if(w.begin(), w.end(), [&](float v) { return std::fabs(v) > bound; });
  EXPECT_NEAR(static_cast<double>(beyond) / w.size(), 0.0833, 0.005);  // P(|z| > sqrt(3)) = 0.0833
  for (float b : fc.bias().toVector<float>()) ASSERT_EQ(b, 0.0f);
  for (float b : conv.bias().toVector<float>()) ASSERT_EQ(b, 0.0f);
  // Deterministic for a seed.
  Generator g2(3);
  Linear again(800, 500, true, g2);
  EXPECT_EQ(again.weight().toVector<float>(), fc.weight().toVector<float>());
}

TEST(Layers, TorchInitialisationIsUniformWithinOneOverSqrtFanIn) {
  setDefaultWeightInit(WeightInit::kTorchUniform);
  Generator g(4);
  Linear fc(800, 500, true, g);
  Conv2d conv(20, 50, 5, 1, 0, 1, 1, true, g);
  setDefaultWeightInit(WeightInit::kHeNormal);
  const double b = 1.0 / std::sqrt(800.0), bc = 1.0 / std::sqrt(500.0);
  double mean, sd;
  moments(fc.weight(), mean, sd);
  EXPECT_NEAR(sd, b / std::sqrt(3.0), 0.01 * b);
  for (float v : fc.weight().toVector<float>()) ASSERT_LE(std::fabs(v), b);
  for (float v : fc.bias().toVector<float>()) ASSERT_LE(std::fabs(v), b);
  for (float v : conv.weight().toVector<float>()) ASSERT_LE(std::fabs(v), bc);
  moments(conv.bias(), mean, sd);
  EXPECT_GT(sd, 0.2 * bc);  // drawn, not zero
}

TEST(Layers, Pooling) {
  Tensor x = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  MaxPool2d mp(2);
  expectTensorNear(mp(x), Tensor::fromVector<float>({6, 8, 14, 16}, {1, 1, 2, 2}));
  AvgPool2d ap(2);
  expectTensorNear(ap(x), Tensor::fromVector<float>({3.5, 5.5, 11.5, 13.5}, {1, 1, 2, 2}));
  // Stride and ceil mode: 4 -> ceil((4 - 3) / 2) + 1 = 2 windows; the last is clipped.
  MaxPool2d mpc(3, 2, 0, true);
  expectTensorNear(mpc(x), Tensor::fromVector<float>({11, 12, 15, 16}, {1, 1, 2, 2}));
  // Padding with count_include_pad (PyTorch default): corner window sums 1 over 4 cells.
  AvgPool2d app(2, 2, 1);
  Tensor y = app(x);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_NEAR(y.at(0), 1.0 / 4.0, 1e-6);
  AvgPool2d appx(2, 2, 1, false, false);
  EXPECT_NEAR(appx(x).at(0), 1.0, 1e-6);
}

TEST(Layers, BatchNorm2dTrainUpdatesRunningStatsEvalUsesThem) {
  BatchNorm2d bn(2, 0.1, 1e-5);
  Tensor x = randomTensor({3, 2, 2, 2}, 8, 0, 4);
  // Per-channel batch mean and variances by hand.
  double mean[2] = {0, 0}, var[2] = {0, 0};
  const int m = 3 * 2 * 2;
  for (int c = 0; c < 2; ++c) {
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) mean[c] += x.at((n * 2 + c) * 4 + k);
    mean[c] /= m;
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) var[c] += std::pow(x.at((n * 2 + c) * 4 + k) - mean[c], 2);
    var[c] /= m;  // biased, used to normalise
  }
  Tensor y = bn(x);
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 4; ++k) {
        const int i = (n * 2 + c) * 4 + k;
        EXPECT_NEAR(y.at(i), (x.at(i) - mean[c]) / std::sqrt(var[c] + 1e-5), 1e-4);
      }
  // PyTorch momentum 0.1: running = 0.9 * running + 0.1 * batch (unbiased variance).
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(bn.runningMean().at(c), 0.1 * mean[c], 1e-5);
    EXPECT_NEAR(bn.runningVar().at(c), 0.9 + 0.1 * var[c] * m / (m - 1), 1e-5);
  }
  EXPECT_DOUBLE_EQ(bn.onnxMomentum(), 0.9);

  bn.eval();
  const double rm0 = bn.runningMean().at(0), rv0 = bn.runningVar().at(0);
  Tensor z = bn(x);
  EXPECT_NEAR(z.at(0), (x.at(0) - rm0) / std::sqrt(rv0 + 1e-5), 1e-4);
  EXPECT_EQ(bn.runningMean().at(0), rm0);  // eval leaves the statistics alone
  EXPECT_THROW(bn(randomTensor({1, 3, 2, 2}, 9)), ShapeError);
}

TEST(Layers, DropoutTrainAndEval) {
  Dropout d(0.5);
  Tensor x = Tensor::ones({1000});
  Tensor y = d(x);
  int zeros = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const double v = y.at(i);
    EXPECT_TRUE(v == 0.0 || std::fabs(v - 2.0) < 1e-6) << v;
    zeros += v == 0.0;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  d.eval();
  expectTensorNear(d(x), x);
}

TEST(Layers, Activations) {
  Tensor x = Tensor::fromVector<float>({-2.0f, -0.5f, 0.0f, 0.5f, 3.0f}, {5});
  auto check = [&](Module& m, double (*ref)(double)) {
    Tensor y = m(x);
    for (int64_t i = 0; i < 5; ++i) EXPECT_NEAR(y.at(i), ref(x.at(i)), 1e-6) << m.typeName() << " at " << x.at(i);
  };
  ReLU relu;
  check(relu, [](double v) { return v > 0 ? v : 0.0; });
  Sigmoid sig;
  check(sig, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  Tanh th;
  check(th, [](double v) { return std::tanh(v); });
  LeakyReLU lr(0.2);
  check(lr, [](double v) { return v >= 0 ? v : 0.2 * v; });
  ELU elu(1.0);
  check(elu, [](double v) { return v > 0 ? v : std::exp(v) - 1.0; });

  Softmax sm(1);
  Tensor s = sm(randomTensor({3, 4}, 10));
  for (int r = 0; r < 3; ++r) {
    double sum = 0;
    for (int c = 0; c < 4; ++c) sum += s.at(r * 4 + c);
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  Flatten fl;
  EXPECT_EQ(fl(Tensor::zeros({2, 3, 4, 5})).shape(), (Shape{2, 60}));
  Identity id;
  EXPECT_EQ(id(x).implPtr(), x.implPtr());
}

TEST(Layers, SequentialChainsChildren) {
  manualSeed(3);
  auto seq = std::make_shared<Sequential>(std::make_shared<Conv2d>(1, 2, 3, 1, 1), std::make_shared<ReLU>(),
                                          std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
                                          std::make_shared<Linear>(2 * 2 * 2, 3));
  EXPECT_EQ(seq->size(), 5u);
  EXPECT_EQ(seq->children()[4].first, "4");
  Tensor x = randomTensor({2, 1, 4, 4}, 11);
  Tensor y = (*seq)(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  Tensor manual = x;
  for (size_t i = 0; i < seq->size(); ++i) manual = (*seq)[i]->forward(manual);
  expectTensorNear(y, manual, 0, 0);

  Sequential named({{"conv", std::make_shared<Conv2d>(1, 1, 1)}, {"act", std::make_shared<Sigmoid>()}});
  EXPECT_EQ(named.namedParameters()[0].first, "conv.weight");
  auto fc = named.add("fc", std::make_shared<Flatten>());
  EXPECT_EQ(fc->axis(), 1);
  named.add(std::make_shared<ReLU>());
  EXPECT_EQ(named.children().back().first, "3");
}

TEST(Layers, LossesAndAccuracy) {
  Tensor logits = Tensor::fromVector<float>({1, 2, 3, 1, 0, -1}, {2, 3});
  Tensor labels = Tensor::fromVector<int64_t>({2, 1}, {2});
  // -log softmax by hand.
  const double l0 = -(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3)));
  const double l1 = -(0 - std::log(std::exp(1) + std::exp(0) + std::exp(-1)));
  CrossEntropyLoss ce;
  EXPECT_NEAR(ce(logits, labels).item(), (l0 + l1) / 2, 1e-5);
  MSELoss mse;
  Tensor a = Tensor::fromVector<float>({1, 2, 3}, {3}), b = Tensor::fromVector<float>({1, 0, 0}, {3});
  EXPECT_NEAR(mse(a, b).item(), (0 + 4 + 9) / 3.0, 1e-6);
  EXPECT_EQ(countCorrect(logits, labels), 1);
  EXPECT_DOUBLE_EQ(accuracy(logits, labels), 0.5);
  EXPECT_THROW(countCorrect(logits, Tensor::fromVector<int64_t>({1}, {1})), ShapeError);
}

}  // namespace
}  // namespace singa
