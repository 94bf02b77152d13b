// Gradient buckets, the gradient views and post-accumulate-grad hooks that fill them, the communication thread that
// all-reduces them during backward, and the rank-0 state sync at start.
#include "singa/comm/distributed_optimizer.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <sstream>

#include "singa/autograd/node.h"
#include "singa/nn/module.h"
#include "singa/ops/ops.h"

namespace singa {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// CPU for the mpi/local backends; the tensors' own device for nccl.
Device commDevice(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  if (comm.backend() == "nccl" && !tensors.empty()) return tensors.front().second.device();
  return Device::cpu();
}

std::vector<std::string> describe(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::string> lines;
  for (const auto& [name, t] : tensors) {
    std::ostringstream os;
    os << "'" << name << "' " << dtypeName(t.dtype()) << " " << t.shape();
    lines.push_back(os.str());
  }
  return lines;
}

/// Rank `root`'s string, on every rank.
std::string broadcastString(Communicator& comm, const std::string& s, int root, Device dev) {
  Tensor len = Tensor::fromVector<int64_t>({static_cast<int64_t>(s.size())}, {1}).to(dev);
  comm.broadcast(len, root);
  const int64_t n = static_cast<int64_t>(len.item());
  Tensor bytes = Tensor::zeros({std::max<int64_t>(n, 1)}, DType::kUInt8);
  if (comm.rank() == root) std::copy(s.begin(), s.end(), bytes.data<uint8_t>());
  bytes = bytes.to(dev);
  comm.broadcast(bytes, root);
  std::vector<uint8_t> v = bytes.toVector<uint8_t>();
  return std::string(v.begin(), v.begin() + n);
}

}  // namespace

void verifySameLayout(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::string& what) {
  if (comm.worldSize() == 1) return;
  const Device dev = commDevice(comm, tensors);
  const std::vector<std::string> mine = describe(tensors);
  std::string joined;
  for (const auto& l : mine) joined += l + "\n";
  const std::string rootText = broadcastString(comm, joined, 0, dev);
  std::vector<std::string> theirs;
  std::istringstream in(rootText);
  for (std::string line; std::getline(in, line);) theirs.push_back(line);

  std::ostringstream diff;
  const size_t common = std::min(mine.size(), theirs.size());
  for (size_t i = 0; i < common && diff.tellp() == 0; ++i) {
    if (mine[i] != theirs[i]) {
      diff << "rank " << comm.rank() << "'s " << what << " differ from rank 0's at entry " << i << ": rank 0 has "
           << theirs[i] << ", rank " << comm.rank() << " has " << mine[i];
    }
  }
  if (diff.tellp() == 0 && mine.size() != theirs.size()) {
    diff << "rank " << comm.rank() << " has " << mine.size() << " " << what << " but rank 0 has " << theirs.size()
         << "; first unmatched: "
         << (mine.size() > theirs.size() ? mine[common] + " (only on rank " + std::to_string(comm.rank()) + ")"
                                         : theirs[common] + " (only on rank 0)");
  }
  Tensor flag = Tensor::fromVector<int32_t>({diff.tellp() == 0 ? 0 : 1}, {1}).to(dev);
  std::vector<int32_t> flags = comm.allGather(flag).toVector<int32_t>();
  int bad = -1;
  for (int r = 0; r < comm.worldSize() && bad < 0; ++r) {
    if (flags[static_cast<size_t>(r)] != 0) bad = r;
  }
  if (bad < 0) return;
  const std::string message = broadcastString(comm, diff.str(), bad, dev);
  SINGA_THROW(CommError, "data-parallel setup: " << message
                                                 << "; every rank must build the same model (same flags, same "
                                                    "--onnx file)");
}

void broadcastTensors(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors, int root) {
  if (comm.worldSize() == 1) return;
  for (const auto& [name, t] : tensors) {
    Tensor v = t;
    SINGA_CHECK(v.isContiguous(), ValueError, "broadcast of '" << name << "': the tensor must be contiguous");
    comm.broadcast(v, root);
  }
}

void averageBuffers(Communicator& comm, const Module& model) {
  if (comm.worldSize() == 1) return;
  for (auto& [name, t] : model.namedBuffers()) {
    if (!isFloating(t.dtype())) continue;
    Tensor v = t;
    comm.allReduce(v, ReduceOp::kAverage);
  }
}

namespace {
const Optimizer::NamedParams& paramsOf(const std::unique_ptr<Optimizer>& inner) {
  SINGA_CHECK(inner != nullptr, ValueError, "DistributedOptimizer: the wrapped optimizer is null");
  return inner->namedParameters();
}
}  // namespace

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<Optimizer> inner, Communicator& comm,
                                           const DistributedOptions& options, const Module* model)
    : Optimizer(paramsOf(inner), inner->lr()), inner_(std::move(inner)), comm_(comm), options_(options) {
  SINGA_CHECK(options.bucketBytes >= 1 && options.firstBucketBytes >= 1, ValueError,
              "DistributedOptimizer: bucketBytes and firstBucketBytes must be >= 1");
  SINGA_CHECK(options.accumulationSteps >= 1, ValueError,
              "DistributedOptimizer: accumulationSteps must be >= 1, got " << options.accumulationSteps);
  SINGA_CHECK(options.compression == DType::kFloat32 || options.compression == DType::kFloat16 ||
                  options.compression == DType::kBFloat16,
              ValueError,
              "DistributedOptimizer: compression must be float32 (none), float16 or bfloat16, got "
                  << dtypeName(options.compression));
  const NamedParams& params = inner_->namedParameters();
  verifySameLayout(comm_, params, "parameters");
  if (model != nullptr) verifySameLayout(comm_, model->namedBuffers(), "buffers");
  broadcastTensors(comm_, params);
  if (model != nullptr) broadcastTensors(comm_, model->namedBuffers());
  if (comm_.worldSize() > 1 || options_.accumulationSteps > 1) buildBuckets();
  if (comm_.worldSize() > 1 && options_.overlap) thread_ = std::thread(&DistributedOptimizer::commLoop, this);
}

DistributedOptimizer::~DistributedOptimizer() {
  // Unwinding after an error: the peers may never join the bucket in flight, so it is cancelled
  // rather than waited for (the caller then aborts the job).
  if (std::uncaught_exceptions() > 0) comm_.cancel();
  {
    std::lock_guard<std::mutex> lk(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const Bucket& b : buckets_) {
    for (const Slot& s : b.slots) {
      Tensor p = inner_->namedParameters()[s.param].second;
      p.removePostAccumulateGradHook(s.hook);
    }
  }
}

void DistributedOptimizer::buildBuckets() {
  // Reverse registration order: the last layers' gradients are ready first in backward.
  // A bucket closes once it holds at least its size (as in DDP: a large parameter then travels
  // with the small ones before it instead of opening a bucket that waits for the next layers),
  // or when the wire dtype or the device changes.
  struct Plan {
    DType wire;
    Device device;
    int64_t numel = 0;
    std::vector<Slot> slots;
    bool closed = false;
  };
  std::vector<Plan> plans;
  const NamedParams& params = inner_->namedParameters();
  for (size_t k = params.size(); k-- > 0;) {
    const Tensor& p = params[k].second;
    if (!p.requiresGrad()) continue;
    const DType wire = p.dtype() == DType::kFloat32 ? options_.compression : p.dtype();
    if (plans.empty() || plans.back().closed || plans.back().wire != wire || plans.back().device != p.device()) {
      plans.push_back(Plan{wire, p.device(), 0, {}});
    }
    Plan& b = plans.back();
    b.slots.push_back(Slot{k, b.numel, p.numel(), false, Tensor(), 0});
    b.numel += p.numel();
    const size_t cap = plans.size() == 1 ? options_.firstBucketBytes : options_.bucketBytes;
    b.closed = static_cast<size_t>(b.numel) * dtypeSize(wire) >= cap;
  }
  for (Plan& plan : plans) {
    Bucket b;
    b.slots = std::move(plan.slots);
    // Where the backend can (mpi, one node), in shared memory the ranks reduce in place.
    b.wire = comm_.exchangeBuffer(plan.numel, plan.wire, plan.device);
    buckets_.push_back(std::move(b));
  }
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    for (size_t si = 0; si < b.slots.size(); ++si) {
      Slot& s = b.slots[si];
      Tensor p = params[s.param].second;
      // Backward accumulates straight into the slot when the slot is in the parameter's dtype
      // (installGradViews): fillSlot then copies nothing.
      if (b.wire.dtype() == p.dtype()) s.view = b.wire.slice(0, s.offset, s.offset + s.numel).reshape(p.shape());
      s.hook = p.registerPostAccumulateGradHook([this, bi, si](Tensor& leaf) { onGradAccumulated(bi, si, leaf); });
    }
  }
}

void DistributedOptimizer::installGradViews() {
  // Not while a bucket of this step is filled or in flight (zeroGrad() between backward and
  // step()): the communication thread may be reading it.
  if (nextLaunch_ != 0) return;
  for (const Bucket& b : buckets_) {
    if (b.readySlots != 0) return;
  }
  for (Bucket& b : buckets_) {
    for (Slot& s : b.slots) {
      if (!s.view.defined()) continue;
      Tensor p = inner_->namedParameters()[s.param].second;
      if (p.grad().defined()) continue;  // a gradient set by hand: fillSlot copies it
      s.view.zero();
      p.setGrad(s.view);
    }
  }
}

std::vector<std::string> DistributedOptimizer::bucketParameters(size_t b) const {
  std::vector<std::string> names;
  for (const Slot& s : buckets_.at(b).slots) names.push_back(inner_->namedParameters()[s.param].first);
  return names;
}

void DistributedOptimizer::fillSlot(Bucket& b, Slot& s, const Tensor& grad) {
  Tensor dst = b.wire.slice(0, s.offset, s.offset + s.numel);
  if (grad.defined()) {
    // The gradient may still be last step's view of this very slot (no zeroGrad in between).
    if (!(grad.dtype() == dst.dtype() && grad.isContiguous() && grad.rawData() == dst.rawData())) {
      dst.copyFrom(grad.reshape({s.numel}));
    }
  } else {
    dst.zero();  // a parameter backward did not reach on this rank
  }
  s.ready = true;
  ++b.readySlots;
}

void DistributedOptimizer::onGradAccumulated(size_t bucket, size_t slot, const Tensor& param) {
  if (!syncMicroStep()) return;  // accumulating: no communication this micro-step
  Bucket& b = buckets_[bucket];
  Slot& s = b.slots[slot];
  if (s.ready) return;
  autograd::NoGradGuard noGrad;
  fillSlot(b, s, param.grad());
  if (options_.overlap) launchReadyBuckets();
}

void DistributedOptimizer::launchReadyBuckets() {
  // Strictly in bucket order, so every rank issues the same collectives in the same order.
  while (nextLaunch_ < buckets_.size() && buckets_[nextLaunch_].readySlots == buckets_[nextLaunch_].slots.size()) {
    launch(nextLaunch_++);
  }
}

void DistributedOptimizer::launch(size_t bucket) {
  buckets_[bucket].launched = true;
  if (!thread_.joinable()) {
    reduceBucket(bucket);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mutex_);
    queue_.push_back(bucket);
    ++pending_;
  }
  cv_.notify_all();
}

void DistributedOptimizer::reduceBucket(size_t bucket) {
  Bucket& b = buckets_[bucket];
  const auto t0 = Clock::now();
  comm_.allReduce(b.wire, ReduceOp::kAverage);
  stats_.commSeconds += since(t0);
  stats_.bytes += static_cast<int64_t>(b.wire.nbytes());
  ++stats_.buckets;
}

void DistributedOptimizer::commLoop() {
  for (;;) {
    size_t bucket = 0;
    {
      std::unique_lock<std::mutex> lk(mutex_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      bucket = queue_.front();
      queue_.pop_front();
    }
    std::exception_ptr err;
    try {
      reduceBucket(bucket);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lk(mutex_);
      if (err && !error_) error_ = err;
      --pending_;
    }
    cv_.notify_all();
  }
}

void DistributedOptimizer::waitForBuckets() {
  std::unique_lock<std::mutex> lk(mutex_);
  cv_.wait(lk, [&] { return pending_ == 0; });
  if (error_) std::rethrow_exception(error_);
}

void DistributedOptimizer::step() {
  if (!syncMicroStep()) {
    ++microSteps_;
    return;
  }
  if (!buckets_.empty()) {
    autograd::NoGradGuard noGrad;
    // Parameters whose hook did not fire (backward did not reach them, or gradients were set by
    // hand) are taken as they are now.
    for (Bucket& b : buckets_) {
      for (Slot& s : b.slots) {
        if (!s.ready) fillSlot(b, s, inner_->namedParameters()[s.param].second.grad());
      }
    }
    const auto t0 = Clock::now();
    // Buckets backward already handed to the communication thread finish there; the rest are
    // reduced here, in bucket order after those: handing work to a thread only to wait for it
    // costs a wake-up per bucket and lets the ranks drift apart before the collective.
    waitForBuckets();
    while (nextLaunch_ < buckets_.size()) {
      buckets_[nextLaunch_].launched = true;
      reduceBucket(nextLaunch_++);
    }
    stats_.exposedSeconds += since(t0);
    const double scale = 1.0 / options_.accumulationSteps;
    for (Bucket& b : buckets_) {
      for (Slot& s : b.slots) {
        Tensor p = inner_->namedParameters()[s.param].second;
        const Tensor reduced = b.wire.slice(0, s.offset, s.offset + s.numel);
        if (options_.accumulationSteps > 1) {
          Tensor g(p.shape(), p.dtype(), p.device());
          g.reshape({s.numel}).copyFrom(reduced);
          p.setGrad(ops::mul(g, scale));
        } else if (s.view.defined()) {
          // No copy: the gradient is a view of the bucket (usually already, see
          // installGradViews). It stays valid until zeroGrad() zeroes the bucket.
          p.setGrad(s.view);
        } else {  // compressed wire: back to the parameter's dtype
          Tensor g(p.shape(), p.dtype(), p.device());
          g.reshape({s.numel}).copyFrom(reduced);
          p.setGrad(g);
        }
        s.ready = false;
      }
      b.readySlots = 0;
      b.launched = false;
    }
    nextLaunch_ = 0;
    ++stats_.exchanges;
  }
  inner_->step();
  ++microSteps_;
}

void DistributedOptimizer::zeroGrad() {
  // Within an accumulation window the gradients keep summing (no zeroing).
  if (microSteps_ % options_.accumulationSteps != 0) return;
  inner_->zeroGrad();
  installGradViews();
}

}  // namespace singa
