// conv_bench: times the CPU convolution and pooling kernels on the shapes of the tutorial MNIST
// CNN (batch 64, float32) with 1 and 2 threads, then one whole training step of that CNN
// (conv 1->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2, flatten, linear 800->500,
// ReLU, linear 500->10, softmax cross-entropy, backward, SGD update) in images per second.
// A benchmark prints figures; it asserts nothing.
//   conv_bench [iterations]
//   conv_bench layers THREADS [resnet18|mobilenet_v2|cnn]...
// The second form times forward, backward data and backward weights (+ db) of the convolution
// layer shapes of resnet18 and mobilenet_v2 (batch 16, 224 x 224) and the tutorial CNN (batch
// 64) on each CPU backend: the built-in kernels (native), oneDNN on plain NCHW tensors and oneDNN
// in its blocked layouts with reorders, and the default choice among them (conv_dnnl.cc);
// "model" lines sum the layers times their repetitions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/kernels/cpu/conv_packed.h"
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

// One convolution layer of a model: square kernel, stride, symmetric pad, group; `reps` layers
// of the model have this shape; `dx` whether backward data runs (not for the first layer).
struct Layer {
  const char* name;
  Shape x, w;
  int64_t stride, pad, group, reps;
  bool dx;
};

std::vector<Layer> modelLayers(const std::string& model) {
  if (model == "resnet18") {
    return {
        {"conv1 3->64 7x7 s2", {16, 3, 224, 224}, {64, 3, 7, 7}, 2, 3, 1, 1, false},
        {"l1 64->64 3x3", {16, 64, 56, 56}, {64, 64, 3, 3}, 1, 1, 1, 4, true},
        {"l2.0 64->128 3x3 s2", {16, 64, 56, 56}, {128, 64, 3, 3}, 2, 1, 1, 1, true},
        {"l2 128->128 3x3", {16, 128, 28, 28}, {128, 128, 3, 3}, 1, 1, 1, 3, true},
        {"l2.ds 64->128 1x1 s2", {16, 64, 56, 56}, {128, 64, 1, 1}, 2, 0, 1, 1, true},
        {"l3.0 128->256 3x3 s2", {16, 128, 28, 28}, {256, 128, 3, 3}, 2, 1, 1, 1, true},
        {"l3 256->256 3x3", {16, 256, 14, 14}, {256, 256, 3, 3}, 1, 1, 1, 3, true},
        {"l3.ds 128->256 1x1 s2", {16, 128, 28, 28}, {256, 128, 1, 1}, 2, 0, 1, 1, true},
        {"l4.0 256->512 3x3 s2", {16, 256, 14, 14}, {512, 256, 3, 3}, 2, 1, 1, 1, true},
        {"l4 512->512 3x3", {16, 512, 7, 7}, {512, 512, 3, 3}, 1, 1, 1, 3, true},
        {"l4.ds 256->512 1x1 s2", {16, 256, 14, 14}, {512, 256, 1, 1}, 2, 0, 1, 1, true},
    };
  }
  if (model == "mobilenet_v2") {  // a representative subset: first layer, depthwise and pointwise
    return {
        {"first 3->32 3x3 s2", {16, 3, 224, 224}, {32, 3, 3, 3}, 2, 1, 1, 1, false},
        {"dw 32 3x3 @112", {16, 32, 112, 112}, {32, 1, 3, 3}, 1, 1, 32, 1, true},
        {"pw 32->16 @112", {16, 32, 112, 112}, {16, 32, 1, 1}, 1, 0, 1, 1, true},
        {"pw 16->96 @112", {16, 16, 112, 112}, {96, 16, 1, 1}, 1, 0, 1, 1, true},
        {"dw 96 3x3 s2 @112", {16, 96, 112, 112}, {96, 1, 3, 3}, 2, 1, 96, 1, true},
        {"pw 96->24 @56", {16, 96, 56, 56}, {24, 96, 1, 1}, 1, 0, 1, 1, true},
        {"pw 24->144 @56", {16, 24, 56, 56}, {144, 24, 1, 1}, 1, 0, 1, 2, true},
        {"dw 144 3x3 @56", {16, 144, 56, 56}, {144, 1, 3, 3}, 1, 1, 144, 1, true},
        {"pw 144->24 @56", {16, 144, 56, 56}, {24, 144, 1, 1}, 1, 0, 1, 1, true},
        {"dw 384 3x3 @14", {16, 384, 14, 14}, {384, 1, 3, 3}, 1, 1, 384, 3, true},
        {"pw 384->64 @14", {16, 384, 14, 14}, {64, 384, 1, 1}, 1, 0, 1, 3, true},
        {"dw 960 3x3 @7", {16, 960, 7, 7}, {960, 1, 3, 3}, 1, 1, 960, 2, true},
        {"pw 960->160 @7", {16, 960, 7, 7}, {160, 960, 1, 1}, 1, 0, 1, 2, true},
        {"pw 320->1280 @7", {16, 320, 7, 7}, {1280, 320, 1, 1}, 1, 0, 1, 1, true},
    };
  }
  return {
      {"cnn conv1 1->20 5x5", {64, 1, 28, 28}, {20, 1, 5, 5}, 1, 0, 1, 1, false},
      {"cnn conv2 20->50 5x5", {64, 20, 12, 12}, {50, 20, 5, 5}, 1, 0, 1, 1, true},
  };
}

// Best of 3 single calls after a warm-up (these shapes take milliseconds to a second).
double msOnce(const std::function<void()>& f) {
  f();
  double best = 1e300;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int benchLayers(int threads, const std::vector<std::string>& models) {
  setNumThreads(threads);
  struct Backend {
    const char* name;
    bool dnnl;
    cpu::DnnlConvLayout layout;
  };
  std::vector<Backend> backends{{"native", false, cpu::DnnlConvLayout::kAuto}};
  if (cpu::dnnlConvAvailable()) {
    backends.insert(backends.end(), {{"dnnl", true, cpu::DnnlConvLayout::kPlain},
                                     {"dnnl-blk", true, cpu::DnnlConvLayout::kBlocked},
                                     {"default", true, cpu::DnnlConvLayout::kAuto}});
  }
  std::printf("threads %d, float32, ms per call (fwd / bwd data / bwd weights+db); native = %s\n", threads,
              cpu::packedConvEnabled() ? "packed AVX-512 + im2col + OpenBLAS" : "im2col + OpenBLAS");
  for (const std::string& model : models) {
    std::vector<double> total(backends.size() * 3, 0.0);
    for (const Layer& l : modelLayers(model)) {
      const int64_t oh = (l.x[2] + 2 * l.pad - l.w[2]) / l.stride + 1, ow = (l.x[3] + 2 * l.pad - l.w[3]) / l.stride + 1;
      const Shape ys{l.x[0], l.w[0], oh, ow};
      Tensor x = randomFloat(l.x, 1), w = randomFloat(l.w, 2), b = randomFloat({l.w[0]}, 3), dy = randomFloat(ys, 4);
      const KernelParams kp = ConvKernelParams{
          ops::ConvParams{{l.stride, l.stride}, {l.pad, l.pad, l.pad, l.pad}, {1, 1}, l.group, "NOTSET"}, false};
      const Attrs a;
      std::vector<Tensor> y{Tensor(ys)}, dx{Tensor(l.x)}, dwdb{Tensor(l.w), Tensor({l.w[0]})};
      std::printf("  %-22s", l.name);
      for (size_t k = 0; k < backends.size(); ++k) {
        cpu::setDnnlConvEnabled(backends[k].dnnl);
        cpu::setDnnlConvLayout(backends[k].layout);
        const double f = msOnce([&] { runKernel(OpId::kConv, DType::kFloat32, Device::cpu(), {x, w, b}, y, a, &kp); });
        const double d = l.dx ? msOnce([&] {
          runKernel(OpId::kConvGradInput, DType::kFloat32, Device::cpu(), {dy, w}, dx, a, &kp);
        })
                              : 0.0;
        const double g = msOnce(
            [&] { runKernel(OpId::kConvGradWeight, DType::kFloat32, Device::cpu(), {x, dy}, dwdb, a, &kp); });
        std::printf("  %s %7.2f %7.2f %7.2f", backends[k].name, f, d, g);
        total[k * 3] += f * static_cast<double>(l.reps);
        total[k * 3 + 1] += d * static_cast<double>(l.reps);
        total[k * 3 + 2] += g * static_cast<double>(l.reps);
      }
      std::printf("\n");
    }
    std::printf("  %-22s", (model + " model").c_str());
    for (size_t k = 0; k < backends.size(); ++k) {
      std::printf("  %s %7.1f %7.1f %7.1f", backends[k].name, total[k * 3], total[k * 3 + 1], total[k * 3 + 2]);
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "layers") {
    std::vector<std::string> models(argv + 3, argv + argc);
    if (models.empty()) models = {"cnn", "resnet18", "mobilenet_v2"};
    return benchLayers(std::atoi(argv[2]), models);
  }
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
