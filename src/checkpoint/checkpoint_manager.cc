// A directory of checkpoints: step-<global step> entries, newest by step. Only rank 0 writes and
// prunes; pruning renames an entry to a ".trash-" name before deleting it, so a checkpoint never
// appears half-deleted under its real name. Temporaries left by a killed writer are removed by
// the next writer.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/durable_io.h"
#include "singa/core/error.h"

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

namespace {

// The step of a "step-<digits>" directory name; -1 for any other name, and for a number past
// int64 (a crafted "step-99999999999999999999" is not a checkpoint of ours).
int64_t stepOfName(const std::string& n) {
  if (n.size() <= 5 || n.size() > 5 + 19 || n.compare(0, 5, "step-") != 0) return -1;
  int64_t step = 0;
  for (size_t i = 5; i < n.size(); ++i) {
    if (n[i] < '0' || n[i] > '9') return -1;
    const int digit = n[i] - '0';
    if (step > (INT64_MAX - digit) / 10) return -1;
    step = step * 10 + digit;
  }
  return step;
}

// (step, name) of the complete checkpoints in `dir`, newest first (by step, not by name: steps
// past 10^12 have more digits than entryName pads to).
std::vector<std::pair<int64_t, std::string>> entries(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    const int64_t step = stepOfName(n);
    std::error_code typeEc;
    if (step >= 0 && it->is_directory(typeEc)) found.emplace_back(step, n);
  }
  std::sort(found.rbegin(), found.rend());
  return found;
}

}  // namespace

std::vector<std::string> CheckpointManager::list() const {
  std::vector<std::string> paths;
  for (const auto& [step, n] : entries(dir_)) paths.push_back((fs::path(dir_) / n).string());
  return paths;
}

void CheckpointManager::removeStaleTemporaries() const {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.rfind(".tmp-step-", 0) == 0 || n.rfind(".trash-step-", 0) == 0) stale.push_back(it->path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
}

void CheckpointManager::prune(int64_t writtenStep) const {
  // Only checkpoints older than the one just written are pruned. Newer ones (a damaged checkpoint
  // that --resume skipped, or one from an earlier, longer run) are not ours to judge: counting
  // them would delete the checkpoint just written and keep the damaged one.
  const std::string written = entryName(writtenStep);
  int kept = 1;  // the one just written
  for (const auto& [step, n] : entries(dir_)) {
    if (step > writtenStep || n == written) continue;
    if (++kept <= keep_) continue;
    const fs::path p = fs::path(dir_) / n;
    const fs::path trash = p.parent_path() / (".trash-" + n + "-" + std::to_string(::getpid()));
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
  prune(state.globalStep);
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
