// singa_train's data-parallel glue: flags, the process-wide communicator, the optimizer wrap,
// step-count agreement, BatchNorm statistics, the fault-injection hook for the failure tests,
// and the job-wide abort.
#include "launch/distributed.h"

#include <chrono>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "launch/cli_checks.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace singa::launch {
namespace {

Distributed*& instance() {
  static Distributed* d = nullptr;  // leaked on purpose: see finish() and abortIfDistributed()
  return d;
}

void destroyInstance() {
  Distributed*& d = instance();
  installAbortOnTerminate(nullptr);
  delete d;  // finalises MPI (after run() has destroyed the optimizer and its thread)
  d = nullptr;
}

void parseFault(const char* spec, std::string& kind, int& rank, int64_t& step) {
  std::string s(spec);
  std::istringstream in(s);
  std::string k, r, st;
  if (std::getline(in, k, ':') && std::getline(in, r, ':') && std::getline(in, st)) {
    try {
      kind = k;
      rank = std::stoi(r);
      step = std::stoll(st);
      if (kind == "raise" || kind == "kill" || kind == "hang") return;
    } catch (const std::exception&) {
    }
  }
  SINGA_THROW(ValueError, "SINGA_FAULT_INJECT='" << s << "' is not KIND:RANK:STEP with KIND raise, kill or hang");
}

}  // namespace

DistributedFlags& distributedFlags() {
  static DistributedFlags flags;
  return flags;
}

void addDistributedFlags(CLI::App& app) {
  DistributedFlags& f = distributedFlags();
  app.add_option("--comm", f.backend, "Communicator on N ranks: auto, mpi, nccl (local for one process)")
      ->check(CLI::IsMember({"auto", "local", "mpi", "nccl"}));
  app.add_option("--bucket-mb", f.bucketMiB, "Gradient bucket size in MiB for the all-reduce (N ranks)")
      ->check(kPositive);
  app.add_option("--first-bucket-mb", f.firstBucketMiB,
                 "Size in MiB of the first gradient bucket (the last layers'), small so the all-reduce starts early "
                 "in backward (N ranks)")
      ->check(kPositive);
  app.add_option("--grad-compression", f.compression, "Exchange gradients as none, fp16 or bf16 (N ranks)")
      ->check(CLI::IsMember({"none", "fp16", "bf16"}));
  app.add_option("--grad-accumulation", f.accumulation,
                 "Micro-batches whose gradients are summed before each update (effective batch x k)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--comm-timeout", f.timeoutSeconds,
                 "Seconds a collective may wait for the other ranks before the job is aborted (<= 0: never)");
  app.add_flag("--no-overlap", f.noOverlap, "All-reduce gradients after backward instead of during it");
}

Distributed& initDistributed(Device device) {
  SINGA_CHECK(instance() == nullptr, ValueError, "initDistributed called twice");
  auto* d = new Distributed();
  const DistributedFlags& f = distributedFlags();
  d->comm_ = makeCommunicator(f.backend, device);
  d->comm_->setTimeout(commTimeoutFromEnv(f.timeoutSeconds));
  instance() = d;
  std::atexit(destroyInstance);
  installAbortOnTerminate(d->comm_.get());
  if (const char* spec = std::getenv("SINGA_FAULT_INJECT")) parseFault(spec, d->faultKind_, d->faultRank_, d->faultStep_);
  return *d;
}

std::unique_ptr<Optimizer> Distributed::wrap(std::unique_ptr<Optimizer> opt, const Module& model) {
  const DistributedFlags& f = distributedFlags();
  if (worldSize() == 1 && f.accumulation == 1) return opt;
  DistributedOptions o;
  // At least a byte, at most 2^62 (beyond any model; keeps the conversion defined).
  auto bytesOf = [](double mib) { return static_cast<size_t>(std::clamp(mib * 1048576.0, 1.0, 0x1p62)); };
  o.bucketBytes = bytesOf(f.bucketMiB);
  o.firstBucketBytes = bytesOf(f.firstBucketMiB);
  o.compression = f.compression == "fp16" ? DType::kFloat16 : f.compression == "bf16" ? DType::kBFloat16
                                                                                       : DType::kFloat32;
  o.accumulationSteps = f.accumulation;
  o.overlap = !f.noOverlap;
  auto wrapped = std::make_unique<DistributedOptimizer>(std::move(opt), *comm_, o, &model);
  optimizer_ = wrapped.get();
  return wrapped;
}

void Distributed::verifySteps(int64_t stepsPerEpoch) {
  if (worldSize() == 1) return;
  Tensor mine = Tensor::fromVector<int64_t>({stepsPerEpoch}, {1});
  std::vector<int64_t> all = comm_->allGather(mine).toVector<int64_t>();
  for (int r = 0; r < worldSize(); ++r) {
    SINGA_CHECK(all[static_cast<size_t>(r)] == all[0], CommError,
                "data sharding: rank " << r << " has " << all[static_cast<size_t>(r)] << " steps per epoch but rank 0 has "
                                       << all[0] << "; every rank must load the same data set with the same "
                                                    "--batch-size and --limit-train");
  }
}

void Distributed::syncBuffers(const Module& model) { averageBuffers(*comm_, model); }

void Distributed::afterStep(int64_t globalStep) {
  if (faultRank_ != rank() || faultStep_ != globalStep) return;
  if (faultKind_ == "raise") {
    SINGA_THROW(Error, "injected failure (SINGA_FAULT_INJECT) at step " << globalStep);
  }
  if (faultKind_ == "kill") std::raise(SIGKILL);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // hang
}

void Distributed::finish() {
  if (optimizer_ != nullptr && isRoot() && optimizer_->stats().exchanges > 0) {
    const CommStats& s = optimizer_->stats();
    const double steps = static_cast<double>(s.exchanges);
    const double hidden = s.commSeconds > 0 ? 1.0 - std::min(1.0, s.exposedSeconds / s.commSeconds) : 0.0;
    std::fprintf(stderr,
                 "gradient exchange: %d ranks, %lld steps, %.2f MB and %.1f buckets per step, all-reduce %.3f ms "
                 "per step, exposed after backward %.3f ms per step, hidden behind backward %.1f%%\n",
                 worldSize(), static_cast<long long>(s.exchanges), static_cast<double>(s.bytes) / steps / 1e6,
                 static_cast<double>(s.buckets) / steps, 1e3 * s.commSeconds / steps, 1e3 * s.exposedSeconds / steps,
                 100.0 * hidden);
  }
  optimizer_ = nullptr;  // the training loop destroys it next
  if (worldSize() > 1) comm_->barrier();
}

int worldSize() { return instance() != nullptr ? instance()->worldSize() : 1; }
bool isRoot() { return instance() == nullptr || instance()->isRoot(); }

void abortIfDistributed(const std::string& message) {
  Distributed* d = instance();
  if (d == nullptr || d->worldSize() == 1) return;
  d->comm().abortJob(message, 1);
}

}  // namespace singa::launch
