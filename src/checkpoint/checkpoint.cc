// Checkpoint write, read and verification (see checkpoint.h). meta.json carries a CRC-32 of
// every file and every tensor, so damage is reported at the first bad tensor rather than as a
// bare "checksum mismatch", and its own CRC-32 (over its canonical dump without the field).
#include "singa/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "singa/core/durable_io.h"
#include "singa/core/json_guard.h"
#include "singa/core/safetensors.h"
#include "singa/core/error.h"
#include "singa/nn/module.h"
#include "singa/optim/optimizer.h"

namespace singa::checkpoint {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kDamagedHint =
    "; the checkpoint is damaged: resume from an earlier one (--resume skips damaged checkpoints) or delete it";
// meta.json is a few KB; the caps keep a hostile one from taking the process's memory or stack.
constexpr uint64_t kMaxMetaBytes = uint64_t{64} << 20;
constexpr int kMaxMetaDepth = 64;
// Counts (epochs, steps, samples) beyond this are not real and would overflow when incremented.
constexpr int64_t kMaxCount = int64_t{1} << 62;

std::string crcField(const json& meta) {
  json copy = meta;
  copy.erase("checksum");
  const std::string dump = copy.dump();
  return hex32(crc32Of(dump.data(), dump.size()));
}

// Size and CRC-32 of a file, and a CRC-32 per tensor.
json describeFile(const std::string& bytes, const std::string& what) {
  SafetensorsHeader h = parseSafetensorsHeader(bytes, what);
  json tensors = json::object();
  for (const SafetensorsEntry& e : h.entries) {
    tensors[e.name] = hex32(crc32Of(bytes.data() + h.dataStart + e.begin, e.end - e.begin));
  }
  return {{"bytes", bytes.size()}, {"crc32", hex32(crc32Of(bytes.data(), bytes.size()))}, {"tensors", tensors}};
}

template <class T>
T field(const json& meta, const char* key, const std::string& what) {
  auto it = meta.find(key);
  SINGA_CHECK(it != meta.end(), IoError, what << " has no '" << key << "' entry" << kDamagedHint);
  if constexpr (std::is_same_v<T, std::string>) {
    SINGA_CHECK(it->is_string(), IoError, what << ": '" << key << "' is not a string" << kDamagedHint);
  } else if constexpr (std::is_unsigned_v<T>) {
    SINGA_CHECK(it->is_number_unsigned(), IoError, what << ": '" << key << "' is not an unsigned integer" << kDamagedHint);
  } else {
    SINGA_CHECK(it->is_number_integer(), IoError, what << ": '" << key << "' is not an integer" << kDamagedHint);
    SINGA_CHECK(!it->is_number_unsigned() || it->template get<uint64_t>() <= static_cast<uint64_t>(kMaxCount),
                IoError, what << ": '" << key << "' is " << it->template get<uint64_t>() << ", beyond any real value"
                              << kDamagedHint);
  }
  return it->get<T>();
}

// Verifies `bytes` against its description in meta.json and decodes it.
std::map<std::string, Tensor> verifyAndDecode(const std::string& bytes, const json& desc, const std::string& what) {
  SINGA_CHECK(desc.is_object() && desc.contains("bytes") && desc["bytes"].is_number_unsigned() &&
                  desc.contains("crc32") && desc["crc32"].is_string() && desc.contains("tensors") &&
                  desc["tensors"].is_object(),
              IoError, what << ": its entry in meta.json is malformed" << kDamagedHint);
  const uint64_t want = desc["bytes"].get<uint64_t>();
  if (bytes.size() != want) {
    SafetensorsHeader h = parseSafetensorsHeader(bytes, what, /*allowShortData=*/true);
    const uint64_t have = bytes.size() - h.dataStart;
    for (const SafetensorsEntry& e : h.entries) {
      SINGA_CHECK(e.end <= have, IoError,
                  what << " is truncated: " << bytes.size() << " of " << want << " bytes; the first incomplete tensor is '"
                       << e.name << "'" << kDamagedHint);
    }
    SINGA_THROW(IoError, what << " has " << bytes.size() << " bytes but meta.json records " << want << kDamagedHint);
  }
  const std::string crc = hex32(crc32Of(bytes.data(), bytes.size()));
  if (crc != desc["crc32"].get<std::string>()) {
    SafetensorsHeader h = parseSafetensorsHeader(bytes, what + " (checksum " + crc + " differs from the recorded " +
                                                            printable(desc["crc32"].get<std::string>()) + ")");
    const json& tensors = desc["tensors"];
    for (const SafetensorsEntry& e : h.entries) {
      auto it = tensors.find(e.name);
      SINGA_CHECK(it != tensors.end() && it->is_string(), IoError,
                  what << " is corrupted: its header lists tensor '" << e.name << "' that meta.json does not record"
                       << kDamagedHint);
      const std::string got = hex32(crc32Of(bytes.data() + h.dataStart + e.begin, e.end - e.begin));
      SINGA_CHECK(got == it->get<std::string>(), IoError,
                  what << " is corrupted: tensor '" << e.name << "' fails its CRC-32 check (recorded "
                       << printable(it->get<std::string>()) << ", computed " << got << ")" << kDamagedHint);
    }
    SINGA_THROW(IoError, what << " is corrupted in its header (file CRC-32 " << crc << ", recorded "
                              << printable(desc["crc32"].get<std::string>()) << ")" << kDamagedHint);
  }
  return decodeSafetensors(bytes, what);
}

std::string describe(const Tensor& t) { return shapeStr(t.shape()) + " " + dtypeName(t.dtype()); }

}  // namespace

std::map<std::string, std::string> encodeCheckpoint(const std::map<std::string, Tensor>& model,
                                                    const std::map<std::string, Tensor>& optimizer,
                                                    const TrainingState& state) {
  // A configuration the reader would refuse is refused here, before anything is written.
  SINGA_CHECK(jsonNestingDepth(state.configJson, kMaxMetaDepth - 1) < kMaxMetaDepth, ValueError,
              "writeCheckpoint: the run configuration nests JSON more than " << kMaxMetaDepth - 1 << " levels deep");
  json config = json::parse(state.configJson, nullptr, false);
  SINGA_CHECK(!config.is_discarded() && config.is_object(), ValueError,
              "writeCheckpoint: the run configuration must be a JSON object, got '" << printable(state.configJson)
                                                                                   << "'");
  const std::map<std::string, std::string> stMeta{{"format", "pt"}};
  const std::string modelBytes = encodeSafetensors(model, stMeta);
  const std::string optimBytes = encodeSafetensors(optimizer, stMeta);
  json meta = {{"format", "singa-checkpoint"},
               {"version", kFormatVersion},
               {"epoch", state.epoch},
               {"step_in_epoch", state.stepInEpoch},
               {"samples_in_epoch", state.samplesInEpoch},
               {"global_step", state.globalStep},
               {"world_size", state.worldSize},
               {"batch_size", state.batchSize},
               {"rng", {{"seed", state.rngSeed}, {"counter", state.rngCounter}}},
               {"schedule_epoch", state.scheduleEpoch},
               {"config", config},
               {"files",
                {{kModelFile, describeFile(modelBytes, kModelFile)},
                 {kOptimizerFile, describeFile(optimBytes, kOptimizerFile)}}}};
  meta["checksum"] = crcField(meta);
  return {{kModelFile, modelBytes}, {kOptimizerFile, optimBytes}, {kMetaFile, meta.dump(2) + "\n"}};
}

void writeCheckpoint(const std::string& path, const std::map<std::string, Tensor>& model,
                     const std::map<std::string, Tensor>& optimizer, const TrainingState& state) {
  const std::map<std::string, std::string> files = encodeCheckpoint(model, optimizer, state);
  const fs::path target(path);
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  SINGA_CHECK(!ec, IoError, "cannot create checkpoint directory '" << parent.string() << "': " << ec.message());
  const fs::path tmp = parent / (".tmp-" + target.filename().string() + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  SINGA_CHECK(fs::create_directory(tmp, ec) && !ec, IoError,
              "cannot create temporary checkpoint directory '" << tmp.string() << "': " << ec.message());
  for (const char* name : {kModelFile, kOptimizerFile, kMetaFile}) {
    writeFileSynced((tmp / name).string(), files.at(name), "checkpoint file");
  }
  syncDirectory(tmp.string());
  if (fs::exists(target, ec)) {
    // Replace (rename cannot replace a non-empty directory): swap the two atomically, so the
    // name always holds a complete checkpoint; the old one ends up under the temporary name.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      syncDirectory(parent.string());
      fs::remove_all(tmp, ec);
      return;
    }
    // File systems without RENAME_EXCHANGE: move the old one aside first.
    const fs::path old = parent / (".trash-" + target.filename().string() + "-" + std::to_string(::getpid()));
    fs::remove_all(old, ec);
    renameSynced(target.string(), old.string());
    fs::remove_all(old, ec);
  }
  renameSynced(tmp.string(), target.string());
}

void writeCheckpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const TrainingState& state) {
  writeCheckpoint(path, model.stateDict(), optimizer.stateDict(), state);
}

namespace {

Checkpoint parseCheckpointUnguarded(const std::map<std::string, std::string>& files, const std::string& path) {
  auto fileAt = [&](const char* name) -> const std::string& {
    auto it = files.find(name);
    SINGA_CHECK(it != files.end(), IoError,
                "checkpoint '" << path << "' has no " << name << " (an incomplete copy?)" << kDamagedHint);
    return it->second;
  };
  const std::string metaWhat = "checkpoint file '" + (fs::path(path) / kMetaFile).string() + "'";
  const std::string& metaText = fileAt(kMetaFile);
  SINGA_CHECK(metaText.size() <= kMaxMetaBytes, IoError,
              metaWhat << " has " << metaText.size() << " bytes; a checkpoint's meta.json has at most " << kMaxMetaBytes
                       << kDamagedHint);
  SINGA_CHECK(jsonNestingDepth(metaText, kMaxMetaDepth) <= kMaxMetaDepth, IoError,
              metaWhat << " nests JSON more than " << kMaxMetaDepth << " levels deep (its 'config' included)"
                       << kDamagedHint);
  json meta = json::parse(metaText, nullptr, false);
  SINGA_CHECK(!meta.is_discarded() && meta.is_object(), IoError,
              metaWhat << " is not valid JSON (truncated or corrupted)" << kDamagedHint);
  const std::string recorded = field<std::string>(meta, "checksum", metaWhat);
  const std::string computed = crcField(meta);
  SINGA_CHECK(recorded == computed, IoError,
              metaWhat << " is corrupted: its CRC-32 is " << computed << " but it records " << printable(recorded)
                       << kDamagedHint);
  SINGA_CHECK(field<std::string>(meta, "format", metaWhat) == "singa-checkpoint", IoError,
              metaWhat << " is not a singa checkpoint (format '" << printable(meta["format"].get<std::string>())
                       << "')");
  const int64_t version = field<int64_t>(meta, "version", metaWhat);
  SINGA_CHECK(version == kFormatVersion, IoError,
              metaWhat << " has format version " << version << "; this singa reads version " << kFormatVersion);

  Checkpoint c;
  c.path = path;
  TrainingState& s = c.state;
  s.epoch = field<int64_t>(meta, "epoch", metaWhat);
  s.stepInEpoch = field<int64_t>(meta, "step_in_epoch", metaWhat);
  s.samplesInEpoch = field<int64_t>(meta, "samples_in_epoch", metaWhat);
  s.globalStep = field<int64_t>(meta, "global_step", metaWhat);
  const int64_t worldSize = field<int64_t>(meta, "world_size", metaWhat);
  SINGA_CHECK(worldSize >= 1 && worldSize <= (1 << 24), IoError,
              metaWhat << " records world size " << worldSize << kDamagedHint);
  s.worldSize = static_cast<int>(worldSize);
  s.batchSize = field<int64_t>(meta, "batch_size", metaWhat);
  s.scheduleEpoch = field<int64_t>(meta, "schedule_epoch", metaWhat);
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"epoch", s.epoch},
                                {"step_in_epoch", s.stepInEpoch},
                                {"samples_in_epoch", s.samplesInEpoch},
                                {"global_step", s.globalStep},
                                {"batch_size", s.batchSize},
                                {"schedule_epoch", s.scheduleEpoch}}) {
    SINGA_CHECK(v >= 0 && v <= kMaxCount, IoError,
                metaWhat << ": '" << name << "' is " << v << ", outside [0, 2^62]" << kDamagedHint);
  }
  SINGA_CHECK(meta.contains("rng") && meta["rng"].is_object(), IoError,
              metaWhat << " has no 'rng' object" << kDamagedHint);
  s.rngSeed = field<uint64_t>(meta["rng"], "seed", metaWhat);
  s.rngCounter = field<uint64_t>(meta["rng"], "counter", metaWhat);
  SINGA_CHECK(meta.contains("config") && meta["config"].is_object(), IoError,
              metaWhat << " has no 'config' object" << kDamagedHint);
  s.configJson = meta["config"].dump();
  SINGA_CHECK(meta.contains("files") && meta["files"].is_object(), IoError,
              metaWhat << " has no 'files' object" << kDamagedHint);
  const json& desc = meta["files"];
  for (const char* name : {kModelFile, kOptimizerFile}) {
    SINGA_CHECK(desc.contains(name), IoError, metaWhat << " does not describe " << name << kDamagedHint);
  }
  const std::string modelWhat = "checkpoint file '" + (fs::path(path) / kModelFile).string() + "'";
  const std::string optimWhat = "checkpoint file '" + (fs::path(path) / kOptimizerFile).string() + "'";
  c.model = verifyAndDecode(fileAt(kModelFile), desc[kModelFile], modelWhat);
  c.optimizer = verifyAndDecode(fileAt(kOptimizerFile), desc[kOptimizerFile], optimWhat);
  return c;
}

}  // namespace

Checkpoint parseCheckpoint(const std::map<std::string, std::string>& files, const std::string& path) {
  try {
    return parseCheckpointUnguarded(files, path);
  } catch (const json::exception& e) {
    // Every access is type-checked first; this is the net under a check that was missed, in the
    // message style of the others rather than nlohmann's own text.
    SINGA_THROW(IoError, "checkpoint file '" << (fs::path(path) / kMetaFile).string()
                                             << "' is malformed: a field has an unexpected type or value (JSON error "
                                             << e.id << ")" << kDamagedHint);
  }
}

Checkpoint readCheckpoint(const std::string& path) {
  std::error_code ec;
  SINGA_CHECK(fs::is_directory(path, ec), IoError,
              "checkpoint '" << path << "' does not exist or is not a directory");
  std::map<std::string, std::string> files;
  for (const char* name : {kMetaFile, kModelFile, kOptimizerFile}) {
    const fs::path p = fs::path(path) / name;
    // symlink_status: a dangling link or a special file is reported by readFile, not skipped.
    if (fs::exists(fs::symlink_status(p, ec))) {
      files[name] = readFile(p.string(), name == kMetaFile ? kMaxMetaBytes : UINT64_MAX, "checkpoint file");
    }
  }
  return parseCheckpoint(files, path);
}

void restoreModel(const Checkpoint& checkpoint, Module& model) {
  const std::string what = "checkpoint file '" + (fs::path(checkpoint.path) / kModelFile).string() + "'";
  const std::map<std::string, Tensor> live = model.stateDict();
  // Model order (parameters, then buffers, in registration order) so "first" means what a user expects.
  Module::NamedTensors ordered = model.namedParameters();
  for (auto& b : model.namedBuffers()) ordered.push_back(b);
  for (const auto& [name, t] : ordered) {
    auto it = checkpoint.model.find(name);
    SINGA_CHECK(it != checkpoint.model.end(), ValueError,
                what << " does not match the model: the first mismatched tensor is '" << name
                     << "', which the model has (" << describe(t) << ") but the checkpoint lacks ("
                     << checkpoint.model.size() << " tensors there); was it written for another model?");
    SINGA_CHECK(it->second.shape() == t.shape() && it->second.dtype() == t.dtype(), ShapeError,
                what << " does not match the model: the first mismatched tensor is '" << name << "': "
                     << describe(it->second) << " in the checkpoint, " << describe(t)
                     << " in the model; was it written for another model or configuration?");
  }
  for (const auto& [name, t] : checkpoint.model) {
    SINGA_CHECK(live.count(name) != 0, ValueError,
                what << " does not match the model: the first mismatched tensor is '" << name
                     << "', which the checkpoint has (" << describe(t)
                     << ") but the model lacks; was it written for another model?");
  }
  model.loadStateDict(checkpoint.model, /*strict=*/true);
}

void restoreOptimizer(const Checkpoint& checkpoint, Optimizer& optimizer) {
  const std::string what = "checkpoint file '" + (fs::path(checkpoint.path) / kOptimizerFile).string() + "'";
  // Counters become int64 and the lr a double: a NaN, an infinity or 1e30 there would convert
  // with undefined behaviour or train on nonsense, so they are checked before the optimizer sees them.
  for (const auto& [name, t] : checkpoint.optimizer) {
    const bool counter = name == "step" || (name.size() > 5 && name.compare(name.size() - 5, 5, ".step") == 0);
    if (!counter && name != "lr") continue;
    SINGA_CHECK(t.numel() == 1, ShapeError,
                what << ": '" << name << "' has shape " << t.shape() << "; a one-element value is expected" << kDamagedHint);
    const double v = t.to(Device::cpu()).item();
    if (counter) {
      SINGA_CHECK(std::isfinite(v) && v >= 0 && v <= static_cast<double>(kMaxCount) && v == std::floor(v), IoError,
                  what << ": step counter '" << name << "' is " << v << ", not a count in [0, 2^62]" << kDamagedHint);
    } else {
      SINGA_CHECK(std::isfinite(v) && v >= 0, IoError,
                  what << ": 'lr' is " << v << "; a learning rate is finite and >= 0" << kDamagedHint);
    }
  }
  auto step = checkpoint.optimizer.find("step");
  if (step != checkpoint.optimizer.end()) {
    const auto steps = static_cast<int64_t>(step->second.to(Device::cpu()).item());
    SINGA_CHECK(steps == checkpoint.state.globalStep, IoError,
                what << " records " << steps << " optimizer steps but meta.json records global step "
                     << checkpoint.state.globalStep << kDamagedHint);
  }
  try {
    optimizer.loadStateDict(checkpoint.optimizer);
  } catch (const ShapeError& e) {
    SINGA_THROW(ShapeError, "checkpoint file '" << (fs::path(checkpoint.path) / kOptimizerFile).string()
                                                << "' does not match the optimizer: " << e.what());
  } catch (const Error& e) {
    SINGA_THROW(ValueError, "checkpoint file '" << (fs::path(checkpoint.path) / kOptimizerFile).string()
                                                << "' does not match the optimizer: " << e.what());
  }
}

}  // namespace singa::checkpoint
