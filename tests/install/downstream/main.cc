// A downstream project built against the installed package (find_package(singa), singa::singa),
// using the public headers by their prefixed paths: ops and autograd by hand, then the Trainer,
// ONNX export and ONNX import with fine-tuning of the imported model. Exit code 0 = all checks
// passed; each failed check prints what it expected.
#include <singa/autograd/node.h>
#include <singa/core/rng.h>
#include <singa/core/tensor.h>
#include <singa/data/dataset.h>
#include <singa/onnx/export.h>
#include <singa/onnx/import.h>
#include <singa/ops/ops.h>
#include <singa/train/finetune_model.h>
#include <singa/train/models.h>
#include <singa/train/trainer.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

// y = 2x + 1 by plain gradient descent on ops and autograd.
void linearRegression() {
  using singa::Tensor;
  Tensor x = Tensor::fromVector<float>({0, 1, 2, 3}, {4, 1});
  Tensor y = Tensor::fromVector<float>({1, 3, 5, 7}, {4, 1});
  Tensor w = Tensor::zeros({1, 1}).setRequiresGrad();
  Tensor b = Tensor::zeros({1}).setRequiresGrad();
  for (int step = 0; step < 500; ++step) {
    Tensor loss = singa::ops::mseLoss(singa::ops::add(singa::ops::matmul(x, w), b), y);
    loss.backward();
    singa::autograd::NoGradGuard ng;
    w.copyFrom(singa::ops::sub(w, singa::ops::mul(w.grad(), 0.1)));
    b.copyFrom(singa::ops::sub(b, singa::ops::mul(b.grad(), 0.1)));
    w.zeroGrad();
    b.zeroGrad();
  }
  check(std::fabs(w.item() - 2) < 1e-2 && std::fabs(b.item() - 1) < 1e-2,
        "linear regression w=" + std::to_string(w.item()) + " b=" + std::to_string(b.item()) + " (want 2, 1)");
}

// A 4-class image set a small model learns: class c has a bright c-th quadrant over noise.
singa::MnistSplit quadrants(int64_t n, uint64_t seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 28 * 28));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  auto next = [&s] { return (s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 33; };
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = static_cast<int64_t>(next() % 4);
    labels[static_cast<size_t>(i)] = c;
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t q = 0; q < 28; ++q) {
        const bool bright = (r < 14) == (c < 2) && (q < 14) == (c % 2 == 0);
        pixels[static_cast<size_t>((i * 28 + r) * 28 + q)] = static_cast<uint8_t>((bright ? 160 : 0) + next() % 64);
      }
  }
  singa::MnistSplit split;
  split.images = singa::Tensor::fromVector<uint8_t>(pixels, {n, 1, 28, 28});
  split.labels = singa::Tensor::fromVector<int64_t>(labels, {n});
  return split;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : ".";
  singa::manualSeed(0);
  linearRegression();

  // The Trainer on a built-in model.
  const singa::MnistSplit train = quadrants(512, 1), test = quadrants(256, 2);
  std::shared_ptr<singa::Module> mlp = singa::buildModel("mlp", 4);
  singa::TrainerOptions o;
  o.epochs = 2;
  o.batchSize = 32;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.quiet = true;
  o.programName = "downstream";
  const singa::TrainResult r = singa::Trainer(mlp, o).fit(train, &test);
  check(r.validation.accuracy > 0.95, "Trainer: mlp test accuracy " + std::to_string(r.validation.accuracy) + " > 0.95");

  // Export to ONNX, import it back: the imported graph gives the trained model's outputs.
  const std::string path = dir + "/mlp.onnx";
  const singa::Tensor sample = singa::Tensor::zeros({1, 1, 28, 28});
  singa::onnxio::exportModuleToFile(*mlp, {sample}, path);
  auto imported = singa::onnxio::prepareFile(path);
  const singa::Tensor batch = test.images.slice(0, 0, 8).to(singa::DType::kFloat32);
  mlp->eval();
  const singa::Tensor want = mlp->forward(batch), got = imported->run({batch})[0];
  double maxDiff = 0;
  for (int64_t i = 0; i < want.numel(); ++i) maxDiff = std::fmax(maxDiff, std::fabs(want.at(i) - got.at(i)));
  check(got.shape() == want.shape() && maxDiff < 1e-4, "ONNX round trip: max |difference| " + std::to_string(maxDiff));

  // Fine-tune the imported model: its last layer cut, a new head, the base frozen.
  auto model = singa::loadForFineTuning(path, /*lastLayers=*/-1, /*numClasses=*/4, {1, 1, 28, 28}, singa::Device::cpu());
  o.epochs = 1;
  o.freeze = {"base"};
  const singa::TrainResult ft = singa::Trainer(model, o).fit(train, &test);
  check(ft.validation.accuracy > 0.95,
        "fine-tuned import: test accuracy " + std::to_string(ft.validation.accuracy) + " > 0.95");
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "downstream: error: %s\n", e.what());
  return 1;
}
