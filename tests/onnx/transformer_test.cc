// A decoder-only transformer written with onnx.helper at opset 23 (tests/onnx/transformer_models.py:
// Gather embedding, RMSNormalization, RotaryEmbedding, causal grouped-query Attention, a
// Gelu-gated MLP, SoftmaxCrossEntropyLoss) imported and trained here: its loss gradient with
// respect to every parameter is checked against finite differences (float64 model), it fine-tunes
// (the loss falls), and it exports (opset 17, as the primitive ops it is composed of) and imports
// back with the same outputs. The onnxruntime comparison of the same model is
// onnx_transformer_ort (Python). The models are written by the onnx_transformer_models fixture
// into SINGA_ONNX_TRANSFORMER_DIR; without them (no Python venv) the tests are skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "singa/onnx/export.h"
#include "singa/onnx/import.h"
#include "singa/optim/adam.h"
#include "singa/singa.h"

namespace singa {
namespace {

constexpr int64_t kVocab = 11;  // as transformer_models.py

std::string modelPath(const char* file) {
  const std::string path = std::string(SINGA_ONNX_TRANSFORMER_DIR) + "/" + file;
  return std::filesystem::exists(path) ? path : "";
}

// tokens, position_ids, labels (next token) for `batch` sequences of `seq` tokens.
std::vector<Tensor> batchOf(int64_t batch, int64_t seq, uint64_t seed) {
  std::vector<int64_t> tokens, pos, labels;
  uint64_t state = seed;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> row;
    for (int64_t s = 0; s <= seq; ++s) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      row.push_back(static_cast<int64_t>((state >> 33) % kVocab));
    }
    for (int64_t s = 0; s < seq; ++s) {
      tokens.push_back(row[s]);
      labels.push_back(row[s + 1]);
      pos.push_back(s);
    }
  }
  return {Tensor::fromVector(tokens, {batch, seq}), Tensor::fromVector(pos, {batch, seq}),
          Tensor::fromVector(labels, {batch, seq})};
}

TEST(OnnxTransformer, DecoderGradientsMatchFiniteDifferences) {
  const std::string path = modelPath("decoder_f64.onnx");
  if (path.empty()) GTEST_SKIP() << "no decoder_f64.onnx (the onnx_transformer_models fixture needs the Python venv)";
  onnxio::PrepareOptions options;
  options.training = true;
  auto model = onnxio::prepareFile(path, Device::cpu(), options);
  const std::vector<Tensor> batch = batchOf(2, 4, 11);
  Tensor loss = model->run(batch)[1];
  loss.backward();
  // Every parameter gets a gradient; a few elements of each (first, middle, last) are perturbed.
  const double eps = 1e-6;
  int checked = 0;
  for (auto& [name, p] : model->namedParameters()) {
    const Tensor grad = p.grad();
    ASSERT_TRUE(grad.defined()) << name << " received no gradient";
    double* data = p.data<double>();
    for (int64_t k : {int64_t{0}, p.numel() / 2, p.numel() - 1}) {
      const double orig = data[k];
      double lossPlus, lossMinus;
      {
        autograd::NoGradGuard noGrad;
        data[k] = orig + eps;
        lossPlus = model->run(batch)[1].at(0);
        data[k] = orig - eps;
        lossMinus = model->run(batch)[1].at(0);
        data[k] = orig;
      }
      const double numeric = (lossPlus - lossMinus) / (2 * eps);
      EXPECT_NEAR(grad.at(k), numeric, 1e-6 + 1e-4 * std::fabs(numeric)) << name << " element " << k;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3 * 21);  // embedding, 9 per layer, final norm, unembedding
}

TEST(OnnxTransformer, DecoderFineTunesAndLossFalls) {
  const std::string path = modelPath("decoder_f32.onnx");
  if (path.empty()) GTEST_SKIP() << "no decoder_f32.onnx (the onnx_transformer_models fixture needs the Python venv)";
  onnxio::PrepareOptions options;
  options.training = true;
  auto model = onnxio::prepareFile(path, Device::cpu(), options);
  Adam adam(*model, 0.02);
  const std::vector<Tensor> batch = batchOf(4, 8, 5);  // one fixed batch: the loss must fall on it
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    adam.zeroGrad();
    Tensor loss = model->run(batch)[1];
    loss.backward();
    adam.step();
    if (step == 0) first = loss.at(0);
    last = loss.at(0);
    ASSERT_TRUE(std::isfinite(last)) << "step " << step;
  }
  std::cout << "decoder fine-tuning: loss " << first << " -> " << last << " in 30 Adam steps\n";
  EXPECT_LT(last, 0.5 * first) << "loss " << first << " -> " << last;
  // The cross-entropy of a uniform guess is ln(11) = 2.4; the trained model is well below.
  EXPECT_GT(first, 1.5);
}

TEST(OnnxTransformer, DecoderExportsAndImportsBack) {
  const std::string path = modelPath("decoder_f32.onnx");
  if (path.empty()) GTEST_SKIP() << "no decoder_f32.onnx (the onnx_transformer_models fixture needs the Python venv)";
  auto model = onnxio::prepareFile(path);
  const std::vector<Tensor> batch = batchOf(2, 6, 9);
  onnxio::ExportOptions opts;
  opts.inputNames = {"tokens", "position_ids", "labels"};
  opts.outputNames = {"logits", "loss"};
  opts.dynamicBatch = false;
  std::map<std::string, Tensor> state;
  for (const auto& [name, p] : model->namedParameters()) state[name] = p;
  const onnx::ModelProto exported =
      onnxio::exportFunction([&](const std::vector<Tensor>& xs) { return model->run(xs); }, batch, state, opts);
  // Kept for onnxruntime (transformer_models.py check-export).
  onnxio::saveModel(exported, std::string(SINGA_ONNX_TRANSFORMER_DIR) + "/decoder_exported.onnx");
  auto again = onnxio::prepare(exported);
  const std::vector<Tensor> want = model->run(batch), got = again->run(batch);
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape());
    for (int64_t k = 0; k < want[i].numel(); ++k) EXPECT_NEAR(got[i].at(k), want[i].at(k), 1e-5) << "output " << i;
  }
  // The re-imported model trains too: the original parameters are its parameters, by name (the
  // constants the ops computed from, such as the causal bias and the rotary caches, become
  // initializers as well).
  std::set<std::string> names;
  for (const auto& [name, p] : again->namedParameters()) names.insert(name);
  for (const auto& [name, p] : model->namedParameters()) EXPECT_EQ(names.count(name), 1u) << name;
}

}  // namespace
}  // namespace singa
