// What the MPI backend's translation units share (mpi_communicator.cc: the protocol and the
// transports through MPI; mpi_shared_memory.cc: the shared-memory transport and exchange
// buffers): the MPI return-code check, the polling back-off of every timed wait, and limits.
// Internal to comm/; not installed.
#pragma once

#include "singa/comm/mpi_communicator.h"

#ifdef SINGA_USE_MPI

#include <chrono>
#include <cstdint>

namespace singa::mpi_detail {

using Clock = std::chrono::steady_clock;
/// The largest piece one MPI call moves: MPI counts are int.
constexpr int64_t kMaxPieceBytes = int64_t{1} << 30;

/// Between the polls of a wait that has lasted `waited` seconds: yields the core at first, then
/// sleeps in short and, after a second, longer steps (see the definition for the measurements).
void backOff(double waited);

}  // namespace singa::mpi_detail

/// Throws CommError naming the call, this rank (member rank_), the host, MPI's message and
/// file:line when an MPI call fails. For MpiCommunicator's member functions.
#define SINGA_MPI_CHECK(call)                                                                     \
  do {                                                                                            \
    int singa_mpi_rc_ = (call);                                                                   \
    if (singa_mpi_rc_ != MPI_SUCCESS) {                                                           \
      char singa_mpi_msg_[MPI_MAX_ERROR_STRING] = {0};                                            \
      int singa_mpi_len_ = 0;                                                                     \
      MPI_Error_string(singa_mpi_rc_, singa_mpi_msg_, &singa_mpi_len_);                           \
      SINGA_THROW(CommError, #call << " failed on rank " << rank_ << " (" << hostName()           \
                                   << "): " << singa_mpi_msg_ << " at " << __FILE__ << ":" << __LINE__); \
    }                                                                                             \
  } while (0)

#endif  // SINGA_USE_MPI
