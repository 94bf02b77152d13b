// The bodies of the libFuzzer targets, shared with the regression test that replays every
// committed crash input in a normal (non-fuzzer) build. Each entry feeds bytes to one reader;
// a singa::Error is an accepted rejection, anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#pragma once

#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "singa/autograd/node.h"
#include "singa/checkpoint/checkpoint.h"
#include "singa/core/safetensors.h"
#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/core/rng.h"
#include "singa/nn/nn.h"
#include "singa/optim/adam.h"
#include "singa/optim/sgd.h"
#include "singa/data/idx.h"
#include "singa/image/image.h"
#include "singa/data/npy.h"
#include "singa/data/safetensors.h"
#include "singa/data/transforms.h"
#include "singa/onnx/import.h"
#include "singa/onnx/model_io.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/onnx/value_file.h"
#include "singa/ops/ops.h"

namespace singa::fuzz {

/// A fuzz input split at the first two "\n--\n" into meta.json, model.safetensors and
/// optimizer.safetensors (the format of the checkpoint corpus and regressions).
inline std::map<std::string, std::string> splitCheckpointInput(const std::string& input) {
  std::map<std::string, std::string> files;
  const std::string sep = "\n--\n";
  const size_t a = input.find(sep);
  const size_t b = a == std::string::npos ? std::string::npos : input.find(sep, a + sep.size());
  files[checkpoint::kMetaFile] = input.substr(0, a);
  if (a != std::string::npos) {
    files[checkpoint::kModelFile] =
        input.substr(a + sep.size(), b == std::string::npos ? b : b - a - sep.size());
  }
  if (b != std::string::npos) files[checkpoint::kOptimizerFile] = input.substr(b + sep.size());
  return files;
}

/// The checkpoint loader, executed: parse and verify, then restore into the corpus's model (a
/// Sequential holding Linear(3, 2), named "0") and into SGD with momentum and Adam, then take a
/// training step with the restored state, so a state tensor of the wrong shape or dtype that got
/// past the checks would be used. The whole input is also decoded as one safetensors file.
inline void checkpointEntry(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    decodeSafetensors(input, "fuzz input");
  } catch (const Error&) {
  }
  checkpoint::Checkpoint ckpt;
  try {
    ckpt = checkpoint::parseCheckpoint(splitCheckpointInput(input), "fuzz");
  } catch (const Error&) {
    return;
  }
  for (int which = 0; which < 2; ++which) {
    try {
      Generator gen(1);
      Sequential model(std::make_shared<Linear>(3, 2, true, gen));
      std::unique_ptr<Optimizer> opt;
      if (which == 0) {
        opt = std::make_unique<SGD>(model, 0.1, 0.9);
      } else {
        opt = std::make_unique<Adam>(model, 0.01);
      }
      checkpoint::restoreModel(ckpt, model);
      checkpoint::restoreOptimizer(ckpt, *opt);
      Tensor x = Tensor::fromVector<float>({0.5f, -1.0f, 2.0f, 1.0f, 0.0f, -0.5f}, {2, 3});
      Tensor labels = Tensor::fromVector<int64_t>({0, 1}, {2});
      opt->zeroGrad();
      crossEntropyLoss(model.forward(x), labels).backward();
      opt->step();
    } catch (const Error&) {
    }
  }
}

/// The IDX reader (plain or gzip); readIdx works on paths, so the input goes to a scratch file.
inline void idxEntry(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/singa_fuzz_idx_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  for (uint32_t magic : {0u, kIdxImagesMagic}) {
    try {
      readIdx(path, magic);
    } catch (const Error&) {
    }
  }
}

/// The .npy reader (numpy arrays as data sets): header parsing, shape arithmetic, data length.
inline void npyEntry(const uint8_t* data, size_t size) {
  try {
    Tensor t = parseNpy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    if (t.numel() > 0) (void)t.at(t.numel() - 1);  // the data is where the shape says
  } catch (const Error&) {
  }
}

/// The safetensors data source: the file is read by its header, tensor by tensor, so the input
/// goes to a scratch file. Whatever it accepts must equal what the whole-blob decoder (used by
/// checkpoints) makes of the same bytes, and vice versa.
inline void safetensorsEntry(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/singa_fuzz_safetensors_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  std::map<std::string, Tensor> fromFile, fromBytes;
  bool fileOk = true, bytesOk = true;
  try {
    fromFile = loadSafetensors(path);
  } catch (const Error&) {
    fileOk = false;
  }
  try {
    fromBytes = decodeSafetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
  } catch (const Error&) {
    bytesOk = false;
  }
  if (fileOk != bytesOk || fromFile.size() != fromBytes.size()) __builtin_trap();
  for (const auto& [name, t] : fromFile) {
    const Tensor& u = fromBytes.at(name);
    if (t.dtype() != u.dtype() || t.shape() != u.shape() ||
        (t.nbytes() > 0 && std::memcmp(t.rawData(), u.rawData(), t.nbytes()) != 0)) {
      __builtin_trap();
    }
  }
  try {
    MnistSplit split = loadSafetensorsSplit(path);
    (void)split.labels.at(split.size() - 1);  // the split checks passed: labels are [N], N >= 1
  } catch (const Error&) {
  }
}

/// The image decoders (TurboJPEG, libspng) under a 1 Mpixel limit, then the transforms on what
/// they decode, with small options that vary with the input: a random crop after a resize
/// (training), and an exact resize with channel conversion and normalisation (evaluation).
inline void imageEntry(const uint8_t* data, size_t size) {
  DecodeLimits limits;
  limits.maxPixels = int64_t{1} << 20;
  Image img;
  try {
    img = decodeImage(data, size, "fuzz image", limits);
  } catch (const Error&) {
    return;
  }
  const int64_t pick = static_cast<int64_t>(size % 97);
  TransformOptions train;
  train.resize = 3 + pick % 13;
  train.crop = 2 + pick % 17;  // sometimes larger than the resized image: padding
  train.randomCrop = true;
  train.hflip = true;
  TransformOptions eval;
  eval.height = 1 + pick % 7;
  eval.width = 1 + pick % 11;
  eval.channels = pick % 2 ? 1 : 3;
  eval.mean.assign(static_cast<size_t>(eval.channels), 0.5f);
  eval.std.assign(static_cast<size_t>(eval.channels), 0.25f);
  Generator gen(size);
  for (const TransformOptions* o : {&train, &eval}) {
    const std::vector<int64_t> shape = transformedShape(*o, img.height, img.width, img.channels);
    std::vector<float> out(static_cast<size_t>(shape[0] * shape[1] * shape[2]), NAN);
    applyTransforms(img, *o, o == &train, gen, out.data());
    for (float v : out) {
      if (!std::isfinite(v)) std::abort();  // every output element is written, and finite
    }
  }
}

/// The TensorProto reader; external data resolves against a directory that does not exist.
inline void tensorProtoEntry(const uint8_t* data, size_t size) {
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return;
  try {
    onnxio::fromTensorProto(proto, "/nonexistent-singa-fuzz");
  } catch (const Error&) {
  }
}

/// The value-file reader (`singa_onnx run` / `test` inputs): the same bytes read as a tensor, a
/// sequence, an optional of a sequence, and with no declared type.
inline void valueFileEntry(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int kind = 0; kind < 4; ++kind) {
    onnxio::ValueInfo vi;
    vi.name = "v";
    vi.declared = kind < 3;
    vi.sequence = kind == 1 || kind == 2;
    vi.optional = kind == 2;
    try {
      onnxio::parseValueFile(bytes, "/nonexistent-singa-fuzz/v.pb", vi);
    } catch (const Error&) {
    }
  }
}

/// The ONNX importer: parseModel's checks, the unsupported-op scan, then prepare().
inline void onnxImportEntry(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    onnx::ModelProto model = onnxio::parseModel(bytes, "fuzz model", "/nonexistent-singa-fuzz");
    onnxio::findUnsupported(model);
    onnxio::prepare(model);
  } catch (const Error&) {
  }
}

/// A small value for a declared graph input: symbolic dims become 2, float elements come from
/// [-2, 2], integer ones from {-1, 0, 1, 2} (so index inputs are now and then out of range).
/// False when the declared shape holds more than 4096 elements (not a fuzz-sized input).
inline bool execInput(const onnxio::ValueInfo& vi, Generator& gen, onnxio::Value* out) {
  if (vi.optional && gen.nextDouble() < 0.25) {
    *out = onnxio::Value::none();
    return true;
  }
  Shape shape;
  int64_t numel = 1;
  for (size_t d = 0; vi.hasShape && d < vi.dims.size(); ++d) {
    const int64_t v = vi.dims[d] < 0 ? 2 : vi.dims[d];
    if (v > 4096 || numel * v > 4096) return false;
    numel *= v;
    shape.push_back(v);
  }
  const DType dtype = vi.hasType ? vi.dtype : DType::kFloat32;
  std::vector<double> values(static_cast<size_t>(numel));
  for (double& v : values) {
    v = isFloating(dtype) ? 4.0 * gen.nextDouble() - 2.0 : std::floor(4.0 * gen.nextDouble()) - 1.0;
  }
  Tensor t = Tensor::fromVector(values, shape).to(dtype);
  *out = vi.sequence ? onnxio::Value::ofSequence({t, t}, dtype) : onnxio::Value(t);
  return true;
}

/// The execution fuzzer's body: parse, prepare, then run the model on small inputs built from
/// its declared input types, once for inference and once in training mode with backward through
/// the first float output, all under a 64 MiB allocation ceiling: sizes a crafted model asks for
/// past it are refused, not allocated, and the sanitized kernels stay well inside libFuzzer's 20 s
/// per-input limit (a 64 MiB strided copy under ASan took seconds).
inline void onnxExecEntry(const uint8_t* data, size_t size) {
  static const bool limited = (setMemoryLimit(size_t{64} << 20), true);
  (void)limited;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    onnx::ModelProto model = onnxio::parseModel(bytes, "fuzz model", "/nonexistent-singa-fuzz");
    if (!onnxio::findUnsupported(model).empty()) return;
    onnxio::PrepareOptions options;
    options.maxLoopIterations = 1000;  // a mutated Loop that never stops fails fast
    auto m = onnxio::prepare(model, Device::cpu(), options);
    Generator gen(size);
    std::vector<onnxio::Value> inputs;
    for (const onnxio::ValueInfo& vi : m->inputs()) {
      onnxio::Value v;
      if (!execInput(vi, gen, &v)) return;
      inputs.push_back(std::move(v));
    }
    {
      autograd::NoGradGuard noGrad;
      m->runValues(inputs);
    }
    m->train(true);
    for (const onnxio::Value& out : m->runValues(inputs)) {
      if (out.isTensor() && out.tensor.defined() && out.tensor.requiresGrad() && isFloating(out.tensor.dtype())) {
        autograd::backward(ops::reduceSum(out.tensor));
        break;
      }
    }
  } catch (const Error&) {
  }
}

}  // namespace singa::fuzz
