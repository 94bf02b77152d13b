// The bookkeeping of the MPI backend's exchange buffers (MpiCommunicator::exchangeBuffer): one
// shared-memory segment per buffer, registered by the address of this rank's data so that
// allReduce recognises it. Internal to comm/ (mpi_communicator.cc, mpi_shared_memory.cc); not
// installed.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "singa/comm/mpi_communicator.h"

#ifdef SINGA_USE_MPI

namespace singa {

struct MpiCommunicator::SharedBuffer {
  char* base = nullptr;  // the segment
  int64_t stride = 0;    // bytes per rank: header + buffer, whole pages
  int64_t numel = 0;
  DType dtype = DType::kFloat32;
  int64_t id = 0;   // creation index, the same on every rank
  int64_t gen = 0;  // all-reduces so far
};

struct MpiCommunicator::BufferRegistry {
  std::mutex mutex;
  std::map<const void*, SharedBuffer> byData;  // keyed by this rank's data address
};

}  // namespace singa

#endif  // SINGA_USE_MPI
