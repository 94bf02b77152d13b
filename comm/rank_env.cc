// Rank discovery from the launcher's environment variables.
#include "singa/comm/rank_env.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "singa/core/error.h"

namespace singa {
namespace {

/// The integer in `name`, or -1 when unset; ValueError when set but not a non-negative integer.
int envInt(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v, &end, 10);
  SINGA_CHECK(errno == 0 && end != v && *end == '\0' && x >= 0 && x < (1L << 30), ValueError,
              "environment variable " << name << "='" << v << "' is not a non-negative integer");
  return static_cast<int>(x);
}

RankInfo fromVars(const char* rankVar, const char* localVar, const char* sizeVar, const char* source) {
  RankInfo r;
  r.rank = envInt(rankVar);
  r.worldSize = envInt(sizeVar);
  r.localRank = envInt(localVar);
  SINGA_CHECK(r.rank >= 0 && r.worldSize >= 1, ValueError,
              rankVar << " and " << sizeVar << " must both be set (launched by " << source << "?)");
  SINGA_CHECK(r.rank < r.worldSize, ValueError,
              rankVar << "=" << r.rank << " is not below " << sizeVar << "=" << r.worldSize);
  if (r.localRank < 0) r.localRank = 0;
  r.source = source;
  return r;
}

}  // namespace

RankInfo detectRankInfo() {
  if (envInt("OMPI_COMM_WORLD_SIZE") >= 0) {
    return fromVars("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE", "openmpi");
  }
  if (envInt("SLURM_PROCID") >= 0 && envInt("SLURM_NTASKS") >= 0) {
    return fromVars("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "slurm");
  }
  return RankInfo{};
}

std::string hostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace singa
