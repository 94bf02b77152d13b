// Replays every input the fuzzers ever crashed on (tests/fuzz/regressions/<target>/) through the
// same entry points, in the ordinary build: each must now be rejected with a singa::Error (the
// entries swallow those) and never crash. The seed corpora are replayed too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include "fuzz/fuzz_entries.h"

namespace singa::fuzz {
namespace {
namespace fs = std::filesystem;

int replay(const std::string& target, const std::function<void(const uint8_t*, size_t)>& entry,
           const std::vector<fs::path>& extraDirs = {}) {
  int n = 0;
  std::vector<fs::path> dirs = extraDirs;
  for (const char* kind : {"regressions", "corpus"}) dirs.push_back(fs::path(SINGA_FUZZ_DIR) / kind / target);
  for (const fs::path& dir : dirs) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++n;
    }
  }
  return n;
}

TEST(FuzzRegressions, Checkpoint) { EXPECT_GT(replay("checkpoint", checkpointEntry), 0); }
TEST(FuzzRegressions, Idx) { EXPECT_GT(replay("idx", idxEntry), 0); }
TEST(FuzzRegressions, Npy) { EXPECT_GT(replay("npy", npyEntry), 0); }
TEST(FuzzRegressions, Safetensors) { EXPECT_GT(replay("safetensors", safetensorsEntry), 0); }
TEST(FuzzRegressions, Image) { EXPECT_GT(replay("image", imageEntry), 0); }
TEST(FuzzRegressions, TensorProto) { EXPECT_GT(replay("tensor_proto", tensorProtoEntry), 0); }
TEST(FuzzRegressions, ValueFile) { EXPECT_GT(replay("value_file", valueFileEntry), 0); }
TEST(FuzzRegressions, OnnxImport) { EXPECT_GT(replay("onnx_import", onnxImportEntry), 0); }
// The crafted models of tests/hostile (run through the CLIs by tests/hostile/run.sh) are run here
// too, so the sanitizer build executes every one of them.
TEST(FuzzRegressions, OnnxExec) {
  EXPECT_GT(replay("onnx_exec", onnxExecEntry, {fs::path(SINGA_FUZZ_DIR) / ".." / "hostile" / "inputs" / "models"}), 0);
}

// The checkpoint entry restores into Sequential(Linear(3, 2)) with SGD and Adam: the valid seeds
// must get that far, or the fuzzer would stop at "no such parameter" and never reach a step.
TEST(FuzzRegressions, CheckpointSeedsRestoreAndStep) {
  for (const char* seed : {"valid_sgd", "valid_adam"}) {
    std::ifstream in(fs::path(SINGA_FUZZ_DIR) / "corpus" / "checkpoint" / seed, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    checkpoint::Checkpoint c = checkpoint::parseCheckpoint(splitCheckpointInput(bytes), seed);
    Sequential model(std::make_shared<Linear>(3, 2));
    checkpoint::restoreModel(c, model);
    std::unique_ptr<Optimizer> opt;
    if (std::string(seed) == "valid_sgd") {
      opt = std::make_unique<SGD>(model, 0.1, 0.9);
    } else {
      opt = std::make_unique<Adam>(model, 0.01);
    }
    EXPECT_NO_THROW(checkpoint::restoreOptimizer(c, *opt)) << seed;
  }
}

// The hardening the fuzz targets asked for, checked by message in every build.
TEST(FuzzRegressions, HugeDimsAreRejectedBeforeAllocating) {
  const fs::path dir = fs::path(SINGA_FUZZ_DIR) / "regressions";
  try {
    readIdx((dir / "idx" / "dims_product_overflows_int64").string());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("implausible dimensions"), std::string::npos) << e.what();
  }
  try {
    readIdx((dir / "idx" / "gzip_header_claims_4gib.gz").string());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  for (const char* name : {"raw_dims_need_4tib", "typed_dims_overflow"}) {
    std::ifstream in(dir / "tensor_proto" / name, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    onnx::TensorProto proto;
    ASSERT_TRUE(proto.ParseFromString(bytes)) << name;
    EXPECT_THROW(onnxio::fromTensorProto(proto), IoError) << name;
  }
}

}  // namespace
}  // namespace singa::fuzz
