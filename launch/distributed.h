// singa_train on N ranks: the glue between the training loop and comm/. One process-wide
// Distributed object holds the communicator for the whole run (it is deliberately not destroyed
// while an exception unwinds, so a failing rank aborts the job instead of finalising MPI while
// its peers wait in a collective).
//
//   mpirun -np 4 singa_train ...            world size from OMPI_COMM_WORLD_*
//   srun --mpi=pmix singa_train ...         world size from SLURM_*
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/distributed_optimizer.h"

namespace singa {
class Module;
class Optimizer;
}  // namespace singa

namespace singa::launch {

/// Flags of the data-parallel run (registered by addDistributedFlags).
struct DistributedFlags {
  std::string backend = "auto";
  double bucketMiB = 25.0;
  double firstBucketMiB = 1.0;
  std::string compression = "none";  // none, fp16, bf16
  int accumulation = 1;
  double timeoutSeconds = 300.0;
  bool noOverlap = false;
};

/// --comm, --bucket-mb, --first-bucket-mb, --grad-compression, --grad-accumulation, --comm-timeout, --no-overlap.
void addDistributedFlags(CLI::App& app);
DistributedFlags& distributedFlags();

class Distributed {
 public:
  Communicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int worldSize() const { return comm_->worldSize(); }
  /// Rank 0 prints, evaluates, writes metrics, exports and checkpoints.
  bool isRoot() const { return comm_->rank() == 0; }

  /// Wraps `opt` in a DistributedOptimizer (broadcasts rank 0's parameters and buffers, checks
  /// every rank has the same model); returned as is for a world of one without accumulation.
  std::unique_ptr<Optimizer> wrap(std::unique_ptr<Optimizer> opt, const Module& model);
  /// CommError unless every rank runs `stepsPerEpoch` steps per epoch.
  void verifySteps(int64_t stepsPerEpoch);
  /// Averages BatchNorm running statistics over the ranks (before evaluation and export).
  void syncBuffers(const Module& model);
  /// Test hook: SINGA_FAULT_INJECT=raise|kill|hang:RANK:STEP makes rank RANK fail at global
  /// step STEP (throw, SIGKILL itself, or stop answering).
  void afterStep(int64_t globalStep);
  /// Waits for every rank (rank 0 may still be evaluating or exporting); MPI shuts down when
  /// the process exits normally. On N ranks rank 0 prints the gradient-exchange figures
  /// (all-reduce time per step and the share of it hidden behind backward) to stderr.
  void finish();

 private:
  friend Distributed& initDistributed(Device device);
  std::unique_ptr<Communicator> comm_;
  DistributedOptimizer* optimizer_ = nullptr;  // owned by the training loop
  std::string faultKind_;
  int faultRank_ = -1;
  int64_t faultStep_ = -1;
};

/// Creates the process-wide communicator (from the flags and the launcher's environment) and
/// installs the abort-on-uncaught-exception hook. Call once, early in the run.
Distributed& initDistributed(Device device);
/// The world size and whether this is rank 0 (1 and true before initDistributed).
int worldSize();
bool isRoot();
/// On N ranks: prints `message` with this rank and aborts the whole job (never returns).
/// On one rank (or before initDistributed): returns, and main() reports as usual.
void abortIfDistributed(const std::string& message);

}  // namespace singa::launch
