// conv_bench: times the CPU convolution and pooling kernels on the shapes of the tutorial MNIST
// CNN (batch 64, float32) with 1 and 2 threads, then one whole training step of that CNN
// (conv 1->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2, flatten, linear 800->500,
// ReLU, linear 500->10, softmax cross-entropy, backward, SGD update) in images per second.
// A benchmark prints figures; it asserts nothing.
//   conv_bench [iterations]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "singa/ops/registry.h"
#include "singa/singa.h"

using namespace singa;

namespace {

// Best of 5 rounds of `iters` calls: the machine may be shared, and the minimum is the figure
// least disturbed by other processes.
double msPerCall(const std::function<void()>& f, int iters) {
  f();  // warm-up: scratch buffers, BLAS thread pool
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count() / iters);
  }
  return best;
}

Tensor randomFloat(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t(shape, DType::kFloat32);
  uniform_(t, -1, 1, g);
  return t;
}

// The typed parameters the op functions hand these kernels (stride 1, no padding).
KernelParams convParams() { return ConvKernelParams{ops::ConvParams{{1, 1}, {0, 0, 0, 0}, {1, 1}, 1, "NOTSET"}, false}; }

void benchConv(const char* name, const Shape& xs, const Shape& ws, int iters, bool wantDx) {
  Tensor x = randomFloat(xs, 1), w = randomFloat(ws, 2), b = randomFloat({ws[0]}, 3);
  const Shape ys{xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1};
  Tensor dy = randomFloat(ys, 4);
  const KernelParams kp = convParams();
  const Attrs a;
  std::vector<Tensor> y{Tensor(ys)}, dx{Tensor(xs)}, dw{Tensor(ws)}, db{Tensor({ws[0]})};
  const double fwd = msPerCall([&] { runKernel(OpId::kConv, DType::kFloat32, Device::cpu(), {x, w, b}, y, a, &kp); }, iters);
  // The op computes dW and db in one pass over dy (ConvGradWeight with two outputs).
  std::vector<Tensor> dwdb{dw[0], db[0]};
  const double gw = msPerCall(
      [&] {
        runKernel(OpId::kConvGradWeight, DType::kFloat32, Device::cpu(), {x, dy}, dwdb, a, &kp);
      },
      iters);
  const double gx = wantDx ? msPerCall(
                                 [&] {
                                   runKernel(OpId::kConvGradInput, DType::kFloat32, Device::cpu(), {dy, w}, dx, a, &kp);
                                 },
                                 iters)
                           : 0;
  std::printf("  %-28s fwd %7.3f ms   bwd %7.3f ms (dW+db %.3f, dX %s)\n", name, fwd, gw + gx, gw,
              wantDx ? std::to_string(gx).substr(0, 5).c_str() : "skipped");
}

void benchPool(const char* name, const Shape& xs, int iters) {
  Tensor x = randomFloat(xs, 5);
  const Shape ys{xs[0], xs[1], xs[2] / 2, xs[3] / 2};
  const KernelParams kp = PoolKernelParams{{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, false, false, "NOTSET"};
  const Attrs a;
  std::vector<Tensor> outs{Tensor(ys), Tensor(ys, DType::kInt32)}, dx{Tensor(xs)};
  Tensor dy = randomFloat(ys, 6);
  const double fwd = msPerCall([&] { runKernel(OpId::kMaxPool, DType::kFloat32, Device::cpu(), {x}, outs, a, &kp); }, iters);
  const double bwd = msPerCall(
      [&] {
        runKernel(OpId::kMaxPoolGrad, DType::kFloat32, Device::cpu(), {dy, outs[1]}, dx, a, &kp);
      },
      iters);
  std::printf("  %-28s fwd %7.3f ms   bwd %7.3f ms\n", name, fwd, bwd);
}

// The tutorial CNN, one SGD step per call.
struct Cnn {
  Tensor w1 = randomFloat({20, 1, 5, 5}, 10), b1 = randomFloat({20}, 11);
  Tensor w2 = randomFloat({50, 20, 5, 5}, 12), b2 = randomFloat({50}, 13);
  Tensor w3 = randomFloat({500, 800}, 14), b3 = randomFloat({500}, 15);
  Tensor w4 = randomFloat({10, 500}, 16), b4 = randomFloat({10}, 17);
  std::vector<Tensor*> params{&w1, &b1, &w2, &b2, &w3, &b3, &w4, &b4};

  Cnn() {
    for (Tensor* p : params) {
      *p = ops::mul(*p, 0.05);
      p->setRequiresGrad();
    }
  }

  void step(const Tensor& x, const Tensor& labels) {
    ops::PoolParams pool;
    pool.kernel = {2, 2};
    pool.strides = {2, 2};
    Tensor h = ops::maxPool(ops::relu(ops::conv(x, w1, b1, ops::ConvParams{})), pool);
    h = ops::maxPool(ops::relu(ops::conv(h, w2, b2, ops::ConvParams{})), pool);
    h = ops::flatten(h, 1);
    h = ops::relu(ops::gemm(h, w3, b3, 1.0, 1.0, false, true));
    Tensor logits = ops::gemm(h, w4, b4, 1.0, 1.0, false, true);
    Tensor loss = ops::softmaxCrossEntropy(logits, labels);
    loss.backward();
    autograd::NoGradGuard ng;
    for (Tensor* p : params) {
      Tensor updated = ops::sub(*p, ops::mul(p->grad(), 0.01));
      p->copyFrom(updated);
      p->zeroGrad();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 10;
  for (int threads : {1, 2}) {
    setNumThreads(threads);
    std::printf("threads %d (kernel timings, float32, batch 64)\n", threads);
    benchConv("conv1 x[64,1,28,28] w[20,1,5,5]", {64, 1, 28, 28}, {20, 1, 5, 5}, iters, false);
    benchConv("conv2 x[64,20,12,12] w[50,20,5,5]", {64, 20, 12, 12}, {50, 20, 5, 5}, iters, true);
    benchPool("maxpool2 [64,20,24,24]", {64, 20, 24, 24}, iters);
    benchPool("maxpool2 [64,50,8,8]", {64, 50, 8, 8}, iters);
  }
  try {
    Tensor x = randomFloat({64, 1, 28, 28}, 20);
    std::vector<int64_t> lv(64);
    for (int i = 0; i < 64; ++i) lv[static_cast<size_t>(i)] = i % 10;
    Tensor labels = Tensor::fromVector(lv, {64});
    for (int threads : {1, 2}) {
      setNumThreads(threads);
      Cnn cnn;
      const double ms = msPerCall([&] { cnn.step(x, labels); }, iters);
      std::printf("CNN training step, threads %d: %.3f ms/step, %.0f images/s\n", threads, ms, 64.0 / ms * 1000.0);
    }
  } catch (const Error& e) {
    std::printf("CNN step skipped: %s\n", e.what());
  }
  return 0;
}
