// Hostile checkpoints: files crafted to crash, hang or exhaust the reader. Each must be refused
// quickly with an IoError (or MemoryError) naming the file, on one line, and --resume's manager
// must never delete a good checkpoint because a bad one is present. Readers that could hang (a
// FIFO, /dev/zero) run in a forked child with a deadline, so a regression fails instead of hanging.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/durable_io.h"
#include "singa/core/json_guard.h"
#include "singa/core/safetensors.h"
#include "singa/core/memory_limit.h"
#include "singa/nn/nn.h"
#include "singa/optim/sgd.h"
#include "hostile/child_process.h"
#include "singa/singa.h"

namespace singa::checkpoint {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using test::contains;
using test::inChild;

// A scratch directory named after the running test.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("singa_hostile_ckpt_") {}
};

std::shared_ptr<Sequential> makeModel() {
  Generator g(1);
  return std::make_shared<Sequential>(std::make_shared<Linear>(4, 3, true, g));
}

TrainingState stateAt(int64_t step) {
  TrainingState s;
  s.globalStep = step;
  s.batchSize = 4;
  s.configJson = R"({"model":"test"})";
  return s;
}

// A valid checkpoint at `path` whose model has done `steps` optimizer steps.
void writeValid(const std::string& path, int64_t steps = 0) {
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  for (int64_t i = 0; i < steps; ++i) {
    Tensor loss = crossEntropyLoss(m->forward(Tensor::ones({2, 4})), Tensor::fromVector<int64_t>({0, 1}, {2}));
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
  writeCheckpoint(path, *m, opt, stateAt(steps));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Edits meta.json with `edit` and seals it again with a correct CRC, as a crafted file would be.
void editMeta(const std::string& ckpt, const std::function<void(json&)>& edit) {
  const std::string file = (fs::path(ckpt) / kMetaFile).string();
  json meta = json::parse(slurp(file));
  edit(meta);
  meta.erase("checksum");
  const std::string dump = meta.dump();
  meta["checksum"] = hex32(crc32Of(dump.data(), dump.size()));
  spit(file, meta.dump(2));
}

std::string errorOfRead(const std::string& path) {
  try {
    readCheckpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HostileCheckpoint, DeeplyNestedMetaJsonIsRefusedNamingIt) {
  TempDir dir;
  const std::string path = dir / "c";
  writeValid(path);
  // 1M levels: copying or dumping the parsed value would recurse once per level (stack overflow).
  const std::string file = (fs::path(path) / kMetaFile).string();
  std::string meta = slurp(file);
  const size_t at = meta.find("\"config\": {");
  ASSERT_NE(at, std::string::npos);
  meta.replace(at, 11, "\"config\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + ", \"x\": {");
  spit(file, meta);
  const std::string got = inChild([&] { return errorOfRead(path); });
  EXPECT_TRUE(contains(got, file) && contains(got, "nests JSON more than 64 levels")) << got.substr(0, 300);
  // Brackets inside strings do not count; a modest depth is fine.
  EXPECT_EQ(jsonNestingDepth(R"({"a": "[[[[[[", "b": [[1]], "c": "\"{"})", 64), 3);
  EXPECT_EQ(jsonNestingDepth(std::string(100, '['), 64), 65);
}

TEST(HostileCheckpoint, SpecialFilesAreRefusedWithoutHanging) {
  TempDir dir;
  const std::string path = dir / "c";
  writeValid(path);
  const fs::path model = fs::path(path) / kModelFile;
  const fs::path meta = fs::path(path) / kMetaFile;

  fs::remove(model);
  fs::create_symlink("/dev/zero", model);  // reading it never ends
  std::string got = inChild([&] {
    readCheckpoint(path);
    return std::string("no error");
  });
  EXPECT_TRUE(contains(got, "IoError") && contains(got, model.string()) && contains(got, "not a regular file") &&
              contains(got, "character device"))
      << got;

  fs::remove(model);
  fs::create_directory(model);
  got = inChild([&] { return errorOfRead(path); });
  EXPECT_TRUE(contains(got, model.string()) && contains(got, "directory")) << got;

  fs::remove(meta);
  ASSERT_EQ(::mkfifo(meta.c_str(), 0600), 0);  // opening it for reading waits for a writer
  got = inChild([&] { return errorOfRead(path); });
  EXPECT_TRUE(contains(got, meta.string()) && contains(got, "FIFO")) << got;
}

TEST(HostileCheckpoint, OversizedFilesAreRefusedBeforeReading) {
  TempDir dir;
  const std::string path = dir / "c";
  writeValid(path);
  const std::string meta = (fs::path(path) / kMetaFile).string();
  fs::resize_file(meta, uint64_t{65} << 20);  // sparse: nothing is written
  std::string e = errorOfRead(path);
  EXPECT_TRUE(contains(e, meta) && contains(e, "more than the 64 MiB")) << e;

  writeValid(path);
  const std::string model = (fs::path(path) / kModelFile).string();
  fs::resize_file(model, uint64_t{8} << 20);
  setMemoryLimit(uint64_t{4} << 20);
  try {
    readCheckpoint(path);
    ADD_FAILURE() << "expected MemoryError";
  } catch (const MemoryError& err) {
    EXPECT_TRUE(contains(err.what(), model)) << err.what();
  } catch (const Error& err) {
    ADD_FAILURE() << "expected MemoryError, got " << err.what();
  }
  setMemoryLimit(0);
}

TEST(HostileCheckpoint, MetaFieldsOutOfRangeOrMultiLineAreRefused) {
  TempDir dir;
  const std::string path = dir / "c";
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    const char* expect;
  };
  const std::vector<Case> cases{
      {"epoch past int64", [](json& m) { m["epoch"] = uint64_t{9223372036854775813ULL}; }, "'epoch' is 9223372036854775813"},
      {"huge schedule", [](json& m) { m["schedule_epoch"] = int64_t{1} << 62 | 1; }, "'schedule_epoch' is"},
      {"float step", [](json& m) { m["global_step"] = 1e30; }, "'global_step' is not an integer"},
      {"world size", [](json& m) { m["world_size"] = 1 << 30; }, "world size"},
      {"rng not an object", [](json& m) { m["rng"] = "x"; }, "'rng'"},
      {"negative seed", [](json& m) { m["rng"]["seed"] = -1; }, "'seed' is not an unsigned integer"},
      {"files entry", [](json& m) { m["files"][kModelFile] = json::array(); }, "its entry in meta.json is malformed"},
      {"format on two lines", [](json& m) { m["format"] = "evil\nsecond line"; }, "evil\\x0asecond line"},
  };
  for (const Case& c : cases) {
    fs::remove_all(path);
    writeValid(path);
    editMeta(path, c.edit);
    const std::string e = errorOfRead(path);
    EXPECT_TRUE(contains(e, path) && contains(e, c.expect) && !contains(e, "\n")) << c.name << ": " << e;
  }
}

TEST(HostileCheckpoint, SafetensorsHeaderTricksAreRefused) {
  auto header = [](const std::string& json, const std::string& data) {
    std::string s;
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((json.size() >> (8 * i)) & 0xff));
    return s + json + data;
  };
  auto errorOf = [](const std::string& bytes) -> std::string {
    try {
      decodeSafetensors(bytes, "file 'x.safetensors'");
    } catch (const IoError& e) {
      return e.what();
    } catch (const Error& e) {
      return std::string("not an IoError: ") + e.what();
    }
    return "no error";
  };
  const std::string one = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  // The same name twice: nlohmann keeps the last one silently.
  std::string e = errorOf(header(R"({"a":)" + one + R"(,"a":)" + one + "}", std::string(4, '\0')));
  EXPECT_TRUE(contains(e, "x.safetensors") && contains(e, "'a' twice")) << e;
  // A name that would put a second line into every error and state-dict message.
  e = errorOf(header(R"({"a\nb":)" + one + "}", std::string(4, '\0')));
  EXPECT_TRUE(contains(e, "control characters") && !contains(e, "\n")) << e;
  // Zero bytes of data, but strides that overflow int64.
  e = errorOf(header(R"({"z":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(contains(e, "'z'") && contains(e, "too large")) << e;
  // Deep nesting in the header.
  e = errorOf(header(R"({"__metadata__":)" + std::string(100000, '[') + std::string(100000, ']') + "}", ""));
  EXPECT_TRUE(contains(e, "nests JSON")) << e;
  // A dtype name with a newline is printed on one line.
  e = errorOf(header(R"({"a":{"dtype":"F\n32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')));
  EXPECT_TRUE(contains(e, "F\\x0a32") && !contains(e, "\n")) << e;
}

TEST(HostileCheckpoint, OptimizerCountersAndLrAreChecked) {
  TempDir dir;
  const std::string path = dir / "c";
  writeValid(path, 2);
  const Checkpoint good = readCheckpoint(path);
  struct Case {
    const char* key;
    double value;
    const char* expect;
  };
  for (const Case& c : {Case{"step", 1e30, "'step' is"}, Case{"step", -1, "'step' is"},
                        Case{"step", std::nan(""), "'step' is"}, Case{"step", 2.5, "'step' is"},
                        Case{"lr", INFINITY, "'lr' is inf"}, Case{"step", 7, "records 7 optimizer steps"}}) {
    Checkpoint bad = good;
    bad.optimizer[c.key] = Tensor::scalar(c.value, DType::kFloat64);
    auto m = makeModel();
    SGD opt(*m, 0.1, 0.9);
    try {
      restoreOptimizer(bad, opt);
      ADD_FAILURE() << c.key << " = " << c.value << " accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), kOptimizerFile) && contains(e.what(), c.expect)) << e.what();
    }
  }
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  restoreOptimizer(good, opt);
  EXPECT_EQ(opt.stepCount(), 2);
}

TEST(HostileCheckpoint, ManagerOrdersByStepAndIgnoresOverflowingNames) {
  TempDir dir;
  for (const char* n : {"step-99999999999999999999", "step-", "step-12x", "stepx-1"}) fs::create_directory(dir / n);
  writeValid(dir / "step-1", 1);
  writeValid(dir / "step-0000000000010", 10);
  const std::string big = dir / CheckpointManager::entryName(int64_t{1'000'000'000'005});
  fs::create_directory(big);
  CheckpointManager mgr(dir.path.string(), 3);
  EXPECT_EQ(mgr.list(), (std::vector<std::string>{big, dir / "step-0000000000010", dir / "step-1"}));
  std::vector<std::string> skipped;
  auto c = mgr.loadNewestValid(&skipped);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->state.globalStep, 10);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_TRUE(contains(skipped[0], big)) << skipped[0];
}

TEST(HostileCheckpoint, ANewerDamagedCheckpointNeverCostsAGoodOne) {
  TempDir dir;
  auto m = makeModel();
  SGD opt(*m, 0.1, 0.9);
  // A damaged checkpoint with a higher step than this run will reach for a while.
  const std::string damaged = dir / CheckpointManager::entryName(100);
  writeValid(damaged, 0);
  spit((fs::path(damaged) / kModelFile).string(), "garbage");
  CheckpointManager mgr(dir.path.string(), /*keep=*/1);
  ASSERT_FALSE(mgr.loadNewestValid().has_value());
  const std::string first = mgr.save(*m, opt, stateAt(0));
  EXPECT_TRUE(fs::exists(first)) << "the checkpoint just written was pruned";
  EXPECT_TRUE(fs::exists(damaged)) << "the damaged checkpoint was deleted (it may be salvageable)";
  auto c = mgr.loadNewestValid();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->path, first);
  // Later saves prune only among the checkpoints up to their own step.
  const std::string second = mgr.save(*m, opt, stateAt(5));
  EXPECT_TRUE(fs::exists(second) && !fs::exists(first) && fs::exists(damaged));
}

}  // namespace
}  // namespace singa::checkpoint
