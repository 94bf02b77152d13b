// Benchmark (not a test): the DistributedOptimizer's gradient exchange against a bare
// MPI_Allreduce of the same bytes, in one run.
//
//   mpirun -np 2 build/tests/bench_allreduce [iterations]
//
// For each gradient size, a synthetic model of 16 float32 parameters holding that many bytes
// gets its gradients from a backward pass (sum of every parameter: all-ones gradients), which,
// as in training, writes them straight into the DistributedOptimizer's buckets (default sizes:
// the first closes at 1 MiB, the others at 25 MB); then DistributedOptimizer::step() (SGD, lr 0,
// overlap off so the exchange runs inside step()) all-reduces them. "exchange" is the time inside
// the bucket all-reduces (CommStats::commSeconds: header agreement, then, with every rank on this
// node, the in-place reduction of the buckets' shared memory; SINGA_MPI_SHM=0 gives the MPI
// transports instead), "step" the whole step (exchange, gradient views, update). Bandwidths
// follow nccl-tests: algbw = bytes / time, busbw = algbw * 2(n-1)/n (the bytes each rank must
// move in an all-reduce, so figures compare across rank counts).
//
// The two sides alternate, one step and one bare MPI_Allreduce per iteration, each after a
// barrier, and the medians are compared: on a shared machine whose speed changes from one
// second to the next, timing one side's iterations and then the other's compared two machines.
// (Hand-set gradients would add a copy into the buckets inside step(), and the ranks' skew in
// that copy would be charged to the exchange.)
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "singa/comm/distributed_optimizer.h"
#include "singa/comm/mpi_communicator.h"
#include "singa/core/parallel.h"
#include "singa/ops/ops.h"
#include "singa/optim/sgd.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace singa;
  const int iters = argc > 1 ? std::atoi(argv[1]) : 20;
  auto comm = makeMpiCommunicator(detectRankInfo());
  // One compute thread per rank, as `mpirun --bind-to core` gives each rank one core: idle
  // OpenMP workers spinning on the same core would slow the exchange that follows backward.
  setNumThreads(1);
  const int n = comm->worldSize();
  if (n < 2) {
    std::fprintf(stderr, "bench_allreduce compares the gradient exchange between ranks: run it with "
                         "mpirun -np 2 (or more) --bind-to core %s\n", argv[0]);
    return 2;
  }
  const double busFactor = n > 1 ? 2.0 * (n - 1) / n : 1.0;
  if (comm->rank() == 0) {
    std::printf(
        "gradient exchange vs MPI_Allreduce, %d ranks, %d alternating iterations (medians), "
        "busbw = algbw * 2(n-1)/n\n",
        n, iters);
    std::printf("%10s | %10s %9s %9s | %10s %9s %9s %10s | %6s\n", "bytes", "mpi ms", "algbw", "busbw", "exch ms",
                "algbw", "busbw", "step ms", "ratio");
  }
  for (int64_t mib : {1, 4, 16, 64}) {
    const int64_t total = mib << 20;
    const int64_t per = total / 4 / 16;
    Optimizer::NamedParams params;
    for (int k = 0; k < 16; ++k) {
      Tensor p = Tensor::zeros({per});
      p.setRequiresGrad(true);
      params.emplace_back("p" + std::to_string(k), p);
    }
    DistributedOptions options;
    options.overlap = false;
    DistributedOptimizer opt(std::make_unique<SGD>(params, 0.0), *comm, options);
    auto setGrads = [&] {
      opt.zeroGrad();
      std::vector<Tensor> sums;
      for (auto& [name, p] : params) sums.push_back(ops::reduceSum(p));
      ops::sum(sums).backward();
    };
    std::vector<float> buf(static_cast<size_t>(per * 16), 1.0f);
    setGrads();
    opt.step();  // warm-up
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    std::vector<double> exch, step, bare;
    for (int i = 0; i < iters; ++i) {
      setGrads();
      comm->barrier();
      const double comm0 = opt.stats().commSeconds;
      auto t0 = Clock::now();
      opt.step();
      step.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      exch.push_back(opt.stats().commSeconds - comm0);
      comm->barrier();
      t0 = Clock::now();
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      bare.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    const double e = median(exch), st = median(step), b = median(bare);
    const double bytes = static_cast<double>(per * 16 * 4);
    if (comm->rank() == 0) {
      std::printf("%10.0f | %10.3f %7.2f GB/s %5.2f GB/s | %10.3f %7.2f GB/s %5.2f GB/s %10.3f | %6.2f\n", bytes,
                  1e3 * b, bytes / b / 1e9, busFactor * bytes / b / 1e9, 1e3 * e, bytes / e / 1e9,
                  busFactor * bytes / e / 1e9, 1e3 * st, b / e);
    }
  }
  if (comm->rank() == 0) std::printf("ratio = exchange bandwidth / bare MPI_Allreduce bandwidth\n");
  return 0;
}
