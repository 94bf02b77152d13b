// The NCCL backend (CUDA tensors), bootstrapped over MPI: rank 0 creates the ncclUniqueId and
// sends it with MPI_Bcast; each rank drives the GPU given by its local rank (or the only visible
// GPU when the scheduler shows each rank just one).
#pragma once

#include <memory>

#include "singa/comm/communicator.h"

namespace singa {

/// Loads the CUDA module (it holds the NCCL backend) and makes the communicator. Throws
/// NotSupportedError naming the build option when singa was built without CUDA, NCCL or MPI, or
/// why the module cannot be loaded; CommError when no GPU is visible.
std::unique_ptr<Communicator> makeNcclCommunicator(const RankInfo& info);

using NcclCommunicatorFactory = std::unique_ptr<Communicator> (*)(const RankInfo& info);
/// Called by the CUDA module when it is loaded, if it was built with NCCL and MPI.
void registerNcclCommunicator(NcclCommunicatorFactory make);

}  // namespace singa
