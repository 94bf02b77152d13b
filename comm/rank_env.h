// Where this process sits in a job: rank, local rank and world size, read from the launcher's
// environment: Open MPI's mpirun (OMPI_COMM_WORLD_RANK / _LOCAL_RANK / _SIZE), Slurm's srun
// (SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS, e.g. under `srun --mpi=pmix`), or neither: a
// plain single process (rank 0 of 1), which needs no MPI at all.
#pragma once

#include <string>

namespace singa {

struct RankInfo {
  int rank = 0;
  int localRank = 0;
  int worldSize = 1;
  /// "openmpi", "slurm" or "single".
  std::string source = "single";
};

/// Reads the environment (Open MPI first, then Slurm). Throws ValueError for malformed or
/// inconsistent values (naming the variable).
RankInfo detectRankInfo();

/// This machine's host name (for error messages).
std::string hostName();

}  // namespace singa
