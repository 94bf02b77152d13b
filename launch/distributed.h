// singa_train on N ranks: the process's communicator and the job-wide abort. The Trainer takes
// the communicator as an argument (no global state in the library); the command line keeps one
// for the whole run here, deliberately not destroyed while an exception unwinds, so a failing rank
// aborts the job instead of finalising MPI while its peers wait in a collective.
//
//   mpirun -np 4 singa_train ...            world size from OMPI_COMM_WORLD_*
//   srun --mpi=pmix singa_train ...         world size from SLURM_*
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "singa/comm/communicator.h"

namespace singa::launch {

/// Creates the process's communicator (`backend`: auto, local, mpi, nccl) with `timeoutSeconds`
/// (SINGA_COMM_TIMEOUT overrides it) and installs the abort-on-uncaught-exception hook. Lives
/// until the process exits. Call once, early in the run.
Communicator& initCommunicator(const std::string& backend, Device device, double timeoutSeconds);
/// On N ranks: prints `message` with this rank and aborts the whole job (never returns).
/// On one rank (or before initCommunicator): returns, and main() reports as usual.
void abortIfDistributed(const std::string& message);
/// Test hook for the failure tests, called with the global batch index after each step:
/// SINGA_FAULT_INJECT=raise|kill|hang:RANK:STEP makes rank RANK fail at that step (throw,
/// SIGKILL itself, or stop answering). A no-op function when the variable is not set.
std::function<void(int64_t)> faultInjector(int rank);

}  // namespace singa::launch
