// Communicator: the collectives data-parallel training needs (allReduce sum/average, broadcast,
// allGather, barrier) over the ranks of a job, behind one interface with three backends:
//   local  world size 1; no MPI at run time (every collective is a copy or a no-op)
//   mpi    CPU tensors over Open MPI (comm/mpi_communicator.cc)
//   nccl   CUDA tensors over NCCL, bootstrapped over MPI (comm/nccl_communicator.cc, CUDA builds)
//
// Every collective of the mpi and nccl backends is timed: one that does not complete within
// timeout() seconds prints which ranks did not arrive and aborts the whole job (a hung collective
// cannot be recovered from). Before the data moves, the ranks exchange a small header (operation,
// dtype, element count, root, sequence number), so ranks that call different collectives or pass
// different sizes get a CommError naming each rank's call instead of a hang or silent garbage.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "singa/comm/rank_env.h"
#include "singa/core/error.h"
#include "singa/core/tensor.h"

namespace singa {

/// A collective that failed: mismatched calls across ranks, an MPI/NCCL error, a bad tensor.
class CommError : public Error {
 public:
  using Error::Error;
};

enum class ReduceOp { kSum, kAverage };

class Communicator {
 public:
  virtual ~Communicator() = default;

  /// "local", "mpi" or "nccl".
  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  /// Index of this rank among the ranks on its node.
  virtual int localRank() const = 0;
  /// The job's hosts and the ranks on each, for start lines and error messages:
  /// "2 hosts: node-a[0,1] node-b[2,3]". The mpi backend groups ranks into nodes with
  /// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) and names each node by its host name; the local
  /// backend is "1 host: NAME[0]". Not a collective (learnt when the communicator was made).
  virtual std::string hostLayout() const;

  /// In place: every rank ends with the element-wise sum (or average) over ranks. The result is
  /// bit-identical on every rank. Average is defined for floating dtypes only.
  virtual void allReduce(Tensor& t, ReduceOp op = ReduceOp::kSum) = 0;
  /// In place: every rank ends with `root`'s values.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  /// Returns [worldSize, ...t.shape()]: slice r is rank r's `t`.
  virtual Tensor allGather(const Tensor& t) = 0;
  virtual void barrier() = 0;
  /// A zeroed 1-D tensor of `numel` elements that allReduce can reduce faster than an ordinary
  /// tensor: the mpi backend places it in a shared-memory segment of the node, where every rank
  /// reads the others' buffers directly (no copy in or out, no MPI). Collective: every rank calls
  /// it with the same arguments in the same order. Where that is not possible (other backends,
  /// ranks on several nodes, SINGA_MPI_SHM=0, no room in /dev/shm) it is an ordinary tensor on
  /// `device`; either way it is used like any other tensor. The DistributedOptimizer keeps its
  /// gradient buckets in such buffers.
  virtual Tensor exchangeBuffer(int64_t numel, DType dtype, Device device);

  /// Makes collectives in progress on other threads of this process give up with CommError
  /// (used while unwinding after an error, so a communication thread can be joined).
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  /// Seconds a collective may take before the job is aborted (default 300; <= 0 disables).
  void setTimeout(double seconds) { timeoutSeconds_ = seconds; }
  double timeout() const { return timeoutSeconds_; }

  /// Ends every process of the job: prints `message` with this rank and host, then aborts
  /// (MPI_Abort where MPI runs; std::_Exit otherwise). Never returns.
  [[noreturn]] virtual void abortJob(const std::string& message, int exitCode = 1);

 protected:
  double timeoutSeconds_ = 300.0;
  std::atomic<bool> cancelled_{false};
};

/// The backend for `name` ("auto", "local", "mpi", "nccl"). "auto" picks local for a world of
/// one, nccl when `device` is CUDA, else mpi. The rank layout comes from detectRankInfo().
/// Throws NotSupportedError naming the build option when the backend is not compiled in, and
/// ValueError for a world size above 1 with the local backend.
std::unique_ptr<Communicator> makeCommunicator(const std::string& name = "auto",
                                               Device device = Device::cpu());

/// The local backend (world size 1).
std::unique_ptr<Communicator> makeLocalCommunicator();

/// Installs a std::terminate handler that aborts the whole job through `comm` (printing the rank
/// and the uncaught exception), so an exception on one rank never leaves the others blocked in a
/// collective. `comm` must outlive the process's use of it; pass nullptr to remove.
void installAbortOnTerminate(Communicator* comm);

/// Ascending ranks as "0,1" or, for runs of three or more, "0-3,5".
std::string formatRanks(const std::vector<int>& ranks);
/// "N hosts: NAME[r,...] ..." for ranks 0..n-1 on node nodeOfRank[r] named nodeNames[node]; runs
/// of three or more consecutive ranks are written "first-last" (node-a[0-7]).
std::string formatHostLayout(const std::vector<int>& nodeOfRank, const std::vector<std::string>& nodeNames);

/// The seconds in SINGA_COMM_TIMEOUT when set (ValueError when it is not a number), else `fallback`.
double commTimeoutFromEnv(double fallback = 300.0);

}  // namespace singa
