// A directory of checkpoints: step-<global step> entries, newest by name. Only rank 0 writes and
// prunes; pruning renames an entry to a ".trash-" name before deleting it, so a checkpoint never
// appears half-deleted under its real name. Temporaries left by a killed writer are removed by
// the next writer.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "checkpoint/durable_io.h"
#include "core/error.h"

namespace singa::checkpoint {
namespace fs = std::filesystem;

CheckpointManager::CheckpointManager(std::string dir, int keep, int rank, int worldSize)
    : dir_(std::move(dir)), keep_(keep), rank_(rank), worldSize_(worldSize) {
  SINGA_CHECK(!dir_.empty(), ValueError, "checkpoints: the checkpoint directory must not be empty");
  SINGA_CHECK(keep >= 1, ValueError, "checkpoints: keep at least 1 checkpoint, got " << keep);
  SINGA_CHECK(worldSize >= 1 && rank >= 0 && rank < worldSize, ValueError,
              "checkpoints: rank " << rank << " is outside [0, " << worldSize << ")");
}

std::string CheckpointManager::entryName(int64_t globalStep) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%012lld", static_cast<long long>(globalStep));
  return buf;
}

std::vector<std::string> CheckpointManager::list() const {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() == 17 && n.rfind("step-", 0) == 0 &&
        std::all_of(n.begin() + 5, n.end(), [](char c) { return c >= '0' && c <= '9'; }) && e.is_directory(ec)) {
      names.push_back(n);
    }
  }
  std::sort(names.rbegin(), names.rend());
  std::vector<std::string> paths;
  for (const auto& n : names) paths.push_back((fs::path(dir_) / n).string());
  return paths;
}

void CheckpointManager::removeStaleTemporaries() const {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp-step-", 0) == 0 || n.rfind(".trash-step-", 0) == 0) stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
}

void CheckpointManager::prune() const {
  const std::vector<std::string> all = list();
  for (size_t i = static_cast<size_t>(keep_); i < all.size(); ++i) {
    const fs::path p(all[i]);
    const fs::path trash = p.parent_path() / (".trash-" + p.filename().string() + "-" + std::to_string(::getpid()));
    renameSynced(p.string(), trash.string());
    std::error_code ec;
    fs::remove_all(trash, ec);
  }
}

std::string CheckpointManager::save(const Module& model, const Optimizer& optimizer, const TrainingState& state) {
  if (rank_ != 0) return "";
  std::error_code ec;
  fs::create_directories(dir_, ec);
  SINGA_CHECK(!ec, IoError, "cannot create checkpoint directory '" << dir_ << "': " << ec.message());
  removeStaleTemporaries();
  TrainingState s = state;
  s.worldSize = worldSize_;
  const std::string path = (fs::path(dir_) / entryName(state.globalStep)).string();
  writeCheckpoint(path, model, optimizer, s);
  prune();
  return path;
}

std::optional<Checkpoint> CheckpointManager::loadNewestValid(std::vector<std::string>* skipped) const {
  for (const std::string& path : list()) {
    try {
      return readCheckpoint(path);
    } catch (const Error& e) {
      if (skipped) skipped->push_back(path + ": " + e.what());
    }
  }
  return std::nullopt;
}

}  // namespace singa::checkpoint
