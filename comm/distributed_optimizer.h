// DistributedOptimizer: data-parallel training over a Communicator, wrapping any Optimizer.
//
//  * At construction every rank checks it has the same parameters and buffers (names, shapes,
//    dtypes) as rank 0 (CommError naming the first difference), then takes rank 0's values.
//  * Gradients are packed into buckets in reverse registration order (the order backward produces
//    them): the first closes at firstBucketBytes, the others at bucketBytes. zeroGrad() (at the
//    start of an accumulation window) sets each parameter's gradient to a zeroed view of its
//    slot in the bucket (where the slot has the parameter's dtype, as PyTorch DDP's
//    gradient_as_bucket_view), so backward accumulates straight into the bucket (Tensor's
//    in-place accumulation rule). A post-accumulate-grad hook per parameter
//    (Tensor::registerPostAccumulateGradHook) marks its slot ready -- copying the gradient in
//    when it is not the view: compressed wire, or gradients dropped by someone else -- and a
//    complete bucket is handed to a communication thread that all-reduces it while backward goes
//    on. step() waits for those, reduces the buckets backward did not complete itself (in order,
//    on the calling thread), leaves each gradient as (or points it at) its averaged values in the
//    bucket and runs the wrapped optimizer.
//    A gradient tensor kept across steps is therefore zeroed by the next zeroGrad() and then
//    overwritten by the next backward and exchange; clone() it to keep its values.
//  * Buckets are reduced strictly in bucket order and the reduction itself is rank-ordered
//    (see MpiCommunicator::allReduceBytes), so runs are reproducible bit for bit.
//  * Optional float16/bfloat16 compression of the exchanged gradients (summed in float).
//  * Gradient accumulation: with accumulationSteps = k, k-1 of every k step() calls only let
//    gradients accumulate (no communication, zeroGrad() keeps them); the k-th reduces the sum
//    and applies gradients averaged over the k micro-batches and the ranks.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "singa/comm/communicator.h"
#include "singa/optim/optimizer.h"

namespace singa {

class Module;

struct DistributedOptions {
  /// Bucket size in bytes of the exchanged (possibly compressed) gradients: a bucket is closed
  /// once it holds at least this many (a parameter is never split across buckets).
  size_t bucketBytes = size_t{25} << 20;
  /// Size of the first bucket (the last layers' gradients, ready first in backward). Small, as in
  /// PyTorch's DDP (1 MiB there too), so the exchange starts early in backward instead of waiting
  /// for a full bucket: with 25 MB buckets a model under 25 MB would otherwise exchange
  /// everything after backward.
  size_t firstBucketBytes = size_t{1} << 20;
  /// kFloat32 (no compression), kFloat16 or kBFloat16.
  DType compression = DType::kFloat32;
  /// Micro-batches whose gradients are summed locally before one exchange and update.
  int accumulationSteps = 1;
  /// All-reduce buckets on a communication thread during backward (false: all in step()).
  bool overlap = true;
};

/// Timing of the gradient exchange (for benchmarks).
struct CommStats {
  int64_t exchanges = 0;       ///< step() calls that exchanged gradients
  int64_t buckets = 0;         ///< bucket all-reduces
  int64_t bytes = 0;           ///< bytes all-reduced (per rank, wire format)
  double commSeconds = 0;      ///< time spent inside bucket all-reduces
  double exposedSeconds = 0;   ///< time step() waited for all-reduces after backward had ended
};

class DistributedOptimizer : public Optimizer {
 public:
  /// Wraps `inner` (its parameters, in its order). `model`, when given, also has its buffers
  /// (BatchNorm running statistics) checked and broadcast from rank 0. Collective: every rank
  /// must construct it with the same layout.
  DistributedOptimizer(std::unique_ptr<Optimizer> inner, Communicator& comm,
                       const DistributedOptions& options = {}, const Module* model = nullptr);
  ~DistributedOptimizer() override;

  std::string typeName() const override { return "Distributed" + inner_->typeName(); }
  void step() override;
  void zeroGrad() override;
  double lr() const override { return inner_->lr(); }
  void setLr(double lr) override { inner_->setLr(lr); }
  int64_t stepCount() const override { return inner_->stepCount(); }
  const NamedParams& namedParameters() const override { return inner_->namedParameters(); }
  std::map<std::string, Tensor> stateDict() const override { return inner_->stateDict(); }
  void loadStateDict(const std::map<std::string, Tensor>& state) override { inner_->loadStateDict(state); }
  // Parameter groups and clipping belong to the wrapped optimizer (it sees the averaged gradients).
  int setLrMultiplier(const std::string& pattern, double factor) override {
    return inner_->setLrMultiplier(pattern, factor);
  }
  double lrMultiplier(const std::string& name) const override { return inner_->lrMultiplier(name); }
  void setMaxGradNorm(double maxNorm) override { inner_->setMaxGradNorm(maxNorm); }
  double maxGradNorm() const override { return inner_->maxGradNorm(); }
  double lastGradNorm() const override { return inner_->lastGradNorm(); }

  Optimizer& inner() { return *inner_; }
  Communicator& communicator() { return comm_; }
  const DistributedOptions& options() const { return options_; }
  /// Number of buckets and, for tests, the parameter names of bucket `b` in packing order.
  size_t numBuckets() const { return buckets_.size(); }
  /// Bucket `b`'s tensor (the exchanged gradients, in the wire dtype).
  const Tensor& bucketTensor(size_t b) const { return buckets_.at(b).wire; }
  std::vector<std::string> bucketParameters(size_t b) const;
  const CommStats& stats() const { return stats_; }
  /// Buckets handed to the communication thread so far in this step (all of them once the
  /// whole backward has run, when overlap is on).
  size_t launchedBuckets() const { return nextLaunch_; }
  void resetStats() { stats_ = CommStats{}; }

 private:
  struct Slot {
    size_t param;     // index into namedParameters()
    int64_t offset;   // elements into the bucket
    int64_t numel;
    bool ready = false;
    Tensor view;      // the slot as a tensor of the parameter's shape; undefined when the wire
                      // dtype differs from the parameter's (compression)
    uint64_t hook = 0;  // id of the parameter's post-accumulate-grad hook
  };
  struct Bucket {
    std::vector<Slot> slots;
    Tensor wire;      // [total] in the wire dtype
    size_t readySlots = 0;
    bool launched = false;
  };

  void buildBuckets();
  void onGradAccumulated(size_t bucket, size_t slot, const Tensor& param);
  void installGradViews();
  void fillSlot(Bucket& b, Slot& s, const Tensor& grad);
  void launchReadyBuckets();
  void launch(size_t bucket);
  void reduceBucket(size_t bucket);
  void waitForBuckets();
  void commLoop();
  bool syncMicroStep() const { return (microSteps_ + 1) % options_.accumulationSteps == 0; }

  std::unique_ptr<Optimizer> inner_;
  Communicator& comm_;
  DistributedOptions options_;
  std::vector<Bucket> buckets_;
  size_t nextLaunch_ = 0;
  int64_t microSteps_ = 0;
  CommStats stats_;

  // Communication thread.
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<size_t> queue_;
  size_t pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

/// Checks that every rank holds tensors with the same names, shapes and dtypes as rank 0 (in
/// order), throwing CommError that names the first difference and the rank. Collective.
void verifySameLayout(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::string& what);
/// Replaces every tensor's values with rank 0's. Collective.
void broadcastTensors(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors, int root = 0);
/// Averages the model's floating-point buffers (BatchNorm running mean/var) over the ranks, so
/// evaluation and export see statistics from every rank's data. Collective.
void averageBuffers(Communicator& comm, const Module& model);

}  // namespace singa
