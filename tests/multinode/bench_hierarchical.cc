// Benchmark (not a test): the hierarchical all-reduce across nodes against the flat MPI path
// (alltoall + rank-order sum + allgather), the same float32 buffers, in one run.
//
//   tests/multinode/run.sh --hosts 2 --slots 2 --link "rate 10gbit delay 0.1ms" --
//       sh -c '$SINGA_MN_MPIRUN -np 4 --bind-to none build/tests/bench_hierarchical 10'
//
// The two sides alternate, one all-reduce each per iteration after a barrier, and the medians
// are compared (the machine's speed changes from second to second). Bandwidths follow
// nccl-tests: algbw = bytes / time, busbw = algbw * 2(n-1)/n. "between hosts" is what one node
// sends to the others per all-reduce: the hierarchical path sends its running sum (or, from the
// last node, the result) once; the flat path sends every rank's share to every rank elsewhere,
// in both of its phases.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "singa/comm/mpi_communicator.h"
#include "singa/core/parallel.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace singa;
  const int iters = argc > 1 ? std::atoi(argv[1]) : 10;
  auto owner = makeMpiCommunicator(detectRankInfo());
  auto& comm = dynamic_cast<MpiCommunicator&>(*owner);
  setNumThreads(1);
  const int n = comm.worldSize();
  if (comm.nodeCount() < 2 || !comm.hierarchicalActive()) {
    if (comm.rank() == 0) {
      std::fprintf(stderr, "bench_hierarchical compares the two paths across nodes, but the ranks are on %s%s: run "
                   "it on several hosts (tests/multinode/run.sh)\n", comm.hostLayout().c_str(),
                   comm.nodeCount() > 1 ? " (hierarchical path off)" : "");
    }
    return 2;
  }
  const double busFactor = 2.0 * (n - 1) / n;
  const double perNode = static_cast<double>(n) / comm.nodeCount();
  const double flatShare = 2.0 * perNode * (n - perNode) / n;  // x bytes, sent by one node
  if (comm.rank() == 0) {
    std::printf("%d ranks on %s; float32 sum, median of %d alternating iterations\n", n, comm.hostLayout().c_str(),
                iters);
    std::printf("%10s %12s %12s %12s %12s %12s %12s %8s\n", "bytes", "hier ms", "hier algbw", "hier busbw",
                "flat ms", "flat algbw", "flat busbw", "ratio");
    std::printf("%10s %12s %12s %12s %12s %12s %12s %8s\n", "", "", "GB/s", "GB/s", "", "GB/s", "GB/s", "");
  }
  for (int64_t mib : {1, 4, 16, 64}) {
    const int64_t numel = (mib << 20) / 4;
    std::vector<float> values(static_cast<size_t>(numel), 1.0f);
    Tensor t = Tensor::fromVector<float>(values, {numel});
    std::vector<double> hier, flat;
    for (int it = 0; it < iters + 1; ++it) {  // the first round warms up
      for (bool h : {true, false}) {
        comm.useHierarchical(h);
        comm.barrier();
        const auto start = Clock::now();
        comm.allReduce(t);
        double s = std::chrono::duration<double>(Clock::now() - start).count();
        // The slowest rank's time.
        MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (it > 0) (h ? hier : flat).push_back(s);
      }
    }
    comm.useHierarchical(true);
    if (comm.rank() == 0) {
      const double bytes = static_cast<double>(numel) * 4, th = median(hier), tf = median(flat);
      std::printf("%10.0f %12.3f %12.3f %12.3f %12.3f %12.3f %12.3f %7.2fx\n", bytes, th * 1e3, bytes / th / 1e9,
                  bytes / th / 1e9 * busFactor, tf * 1e3, bytes / tf / 1e9, bytes / tf / 1e9 * busFactor, tf / th);
    }
  }
  if (comm.rank() == 0) {
    std::printf("between hosts, per node and all-reduce of B bytes: hierarchical B, flat %.2f B\n", flatShare);
  }
  return 0;
}
