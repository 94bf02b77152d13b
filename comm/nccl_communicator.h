// The NCCL backend (CUDA tensors), bootstrapped over MPI: rank 0 creates the ncclUniqueId and
// sends it with MPI_Bcast; each rank drives the GPU given by its local rank (or the only visible
// GPU when the scheduler shows each rank just one).
#pragma once

#include <memory>

#include "singa/comm/communicator.h"

namespace singa {

/// Throws NotSupportedError naming the build option when singa was built without CUDA or MPI,
/// and CommError when no GPU is visible.
std::unique_ptr<Communicator> makeNcclCommunicator(const RankInfo& info);

}  // namespace singa
