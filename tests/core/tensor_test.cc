#include <gtest/gtest.h>

#include "gradcheck.h"
#include "singa/singa.h"

namespace singa {

TEST(Shape, BroadcastRules) {
  EXPECT_EQ(broadcastShapes({2, 3, 4}, {4}, "Add"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcastShapes({2, 1, 4}, {3, 1}, "Add"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcastShapes({}, {5}, "Add"), (Shape{5}));
  EXPECT_EQ(broadcastShapes({0, 1}, {1, 3}, "Add"), (Shape{0, 3}));
  try {
    broadcastShapes({2, 3}, {4}, "Mul");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Mul"), std::string::npos);
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos);
    EXPECT_NE(msg.find("[4]"), std::string::npos);
  }
}

TEST(Tensor, CreationAndFill) {
  Tensor t = Tensor::full({2, 3}, 1.5);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_TRUE(t.isContiguous());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t.at(i), 1.5);
  Tensor z = Tensor::zeros({4}, DType::kInt64);
  EXPECT_EQ(z.at(3), 0);
  Tensor s = Tensor::scalar(7, DType::kInt32);
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.item(), 7);
  EXPECT_THROW(Tensor({2, -1}), ShapeError);
  EXPECT_THROW(t.item(), ShapeError);
  EXPECT_THROW(t.data<double>(), TypeError);
  EXPECT_FALSE(Tensor().defined());
  EXPECT_THROW(Tensor().shape(), ValueError);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::fromVector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, 2});
  EXPECT_TRUE(r.sharesStorage(t));
  Tensor tr = t.transpose(0, 1);
  EXPECT_TRUE(tr.sharesStorage(t));
  EXPECT_FALSE(tr.isContiguous());
  EXPECT_EQ(tr.shape(), (Shape{3, 2}));
  EXPECT_EQ(tr.at(1), 3);  // tr[0][1] = t[1][0]
  Tensor c = tr.contiguous();
  EXPECT_TRUE(c.isContiguous());
  EXPECT_EQ(c.toVector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor s = t.slice(1, 1, 3);
  EXPECT_TRUE(s.sharesStorage(t));
  EXPECT_EQ(s.toVector<float>(), (std::vector<float>{1, 2, 4, 5}));
  t.data<float>()[4] = 40;  // a write through the base is seen by the view
  EXPECT_EQ(s.at(2), 40);
  // A reshape of a non-contiguous view copies.
  Tensor rr = tr.reshape({6});
  EXPECT_EQ(rr.toVector<float>(), (std::vector<float>{0, 3, 1, 40, 2, 5}));
  EXPECT_THROW(t.reshape({4, 2}), ShapeError);
}

TEST(Tensor, BorrowedStorageIsReleasedOnceByTheLastView) {
  std::vector<float> memory = {1, 2, 3, 4, 5, 6};
  const size_t allocated = cpuBytesInUse();
  int released = 0;
  void* releasedAt = nullptr;
  {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(memory.data(), memory.size() * sizeof(float), Device::cpu(),
                                              [&](void* p) { ++released, releasedAt = p; });
    impl->shape = {6};
    impl->strides = {1};
    Tensor t(impl);
    Tensor view = t.reshape({2, 3}).slice(0, 1, 2);  // the second row
    t = Tensor();
    EXPECT_EQ(released, 0);
    EXPECT_EQ(view.toVector<float>(), (std::vector<float>{4, 5, 6}));
    view.fill(7.0);
  }
  EXPECT_EQ(released, 1);
  EXPECT_EQ(releasedAt, memory.data());
  EXPECT_EQ(cpuBytesInUse(), allocated);  // neither counted nor freed by the CPU allocator
  EXPECT_EQ(memory, (std::vector<float>{1, 2, 3, 7, 7, 7}));  // written through the tensor, not freed
}

TEST(Tensor, DTypeConversion) {
  Tensor t = Tensor::fromVector<float>({-1.5f, 0.f, 2.7f, 300.f}, {4});
  EXPECT_EQ(t.to(DType::kInt32).toVector<int32_t>(), (std::vector<int32_t>{-1, 0, 2, 300}));
  EXPECT_EQ(t.to(DType::kBool).toVector<bool>(), (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(t.to(DType::kFloat64).toVector<double>(), (std::vector<double>{-1.5, 0, 2.700000047683716, 300}));
  Tensor h = t.to(DType::kFloat16);
  EXPECT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_NEAR(h.at(2), 2.7, 1e-3);
  Tensor i64 = Tensor::fromVector<int64_t>({1, 2, 3}, {3});
  EXPECT_EQ(i64.to(DType::kFloat32).toVector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST(Tensor, CopyFromChecksShapes) {
  Tensor a = Tensor::zeros({2, 2});
  Tensor b = Tensor::fromVector<double>({1, 2, 3, 4}, {2, 2});
  a.copyFrom(b);
  EXPECT_EQ(a.toVector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(a.copyFrom(Tensor::zeros({4})), ShapeError);
}

TEST(Tensor, DeviceErrorsAreClear) {
  if (deviceAvailable(DeviceType::kCuda)) GTEST_SKIP() << "a CUDA backend is present";
  try {
    Tensor t({2}, DType::kFloat32, Device::cuda(0));
    FAIL() << "expected NotSupportedError";
  } catch (const NotSupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos);
  }
  EXPECT_THROW(Device::parse("tpu"), ValueError);
  EXPECT_EQ(Device::parse("cuda:1").index, 1);
}

TEST(Rng, DeterministicForASeed) {
  Generator a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.nextU64();
    EXPECT_EQ(x, b.nextU64());
    EXPECT_NE(x, c.nextU64());
  }
  Tensor t({1000});
  Generator g(7);
  uniform_(t, -2, 3, g);
  double mn = 1e9, mx = -1e9, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    mn = std::min(mn, t.at(i));
    mx = std::max(mx, t.at(i));
    sum += t.at(i);
  }
  EXPECT_GE(mn, -2);
  EXPECT_LT(mx, 3);
  EXPECT_NEAR(sum / 1000, 0.5, 0.15);
  Tensor n({20000});
  normal_(n, 1.0, 2.0, g);
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n.numel(); ++i) {
    s1 += n.at(i);
    s2 += n.at(i) * n.at(i);
  }
  double mean = s1 / 20000, var = s2 / 20000 - mean * mean;
  EXPECT_NEAR(mean, 1.0, 0.05);
  EXPECT_NEAR(var, 4.0, 0.15);
  Tensor w({50, 20, 5, 5});
  kaimingUniform_(w, std::sqrt(2.0), g);
  double bound = std::sqrt(2.0) * std::sqrt(3.0 / 500.0);
  for (int64_t i = 0; i < w.numel(); i += 97) EXPECT_LE(std::fabs(w.at(i)), bound);
}

}  // namespace singa
