// The bodies of the libFuzzer targets, shared with the regression test that replays every
// committed crash input in a normal (non-fuzzer) build. Each entry feeds bytes to one reader;
// a singa::Error is an accepted rejection, anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#pragma once

#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "data/idx.h"
#include "onnx/import.h"
#include "onnx/model_io.h"
#include "onnx/tensor_proto.h"

namespace singa::fuzz {

/// The checkpoint loader: the input is split at the first two "\n--\n" into meta.json,
/// model.safetensors and optimizer.safetensors; the whole input is also decoded as safetensors.
inline void checkpointEntry(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    checkpoint::decodeSafetensors(input, "fuzz input");
  } catch (const Error&) {
  }
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
  try {
    checkpoint::parseCheckpoint(files, "fuzz");
  } catch (const Error&) {
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

/// The TensorProto reader; external data resolves against a directory that does not exist.
inline void tensorProtoEntry(const uint8_t* data, size_t size) {
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return;
  try {
    onnxio::fromTensorProto(proto, "/nonexistent-singa-fuzz");
  } catch (const Error&) {
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

}  // namespace singa::fuzz
