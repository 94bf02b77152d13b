// checkpoint_verify DIR: reads and verifies every checkpoint in DIR (sizes, CRC-32s, headers) and
// prints one line per checkpoint, then "valid V of N; newest valid step S; temporaries T".
// Exit status 0 when every complete checkpoint verifies, 1 when any is damaged (a torn
// checkpoint visible under its real name is exactly what the kill-safety test must never see).
#include <cstdio>
#include <filesystem>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/error.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint_verify DIR\n");
    return 2;
  }
  singa::checkpoint::CheckpointManager mgr(argv[1], 1);
  int valid = 0, total = 0, temporaries = 0;
  long long newest = -1;
  for (const std::string& path : mgr.list()) {
    ++total;
    try {
      auto c = singa::checkpoint::readCheckpoint(path);
      ++valid;
      if (newest < 0) newest = c.state.globalStep;
      std::printf("ok   %s (epoch %lld, step %lld, global step %lld)\n", path.c_str(),
                  static_cast<long long>(c.state.epoch), static_cast<long long>(c.state.stepInEpoch),
                  static_cast<long long>(c.state.globalStep));
    } catch (const singa::Error& e) {
      std::printf("BAD  %s: %s\n", path.c_str(), e.what());
    }
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(argv[1], ec)) {
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) ++temporaries;
  }
  std::printf("valid %d of %d; newest valid step %lld; temporaries %d\n", valid, total, newest, temporaries);
  return valid == total ? 0 : 1;
}
