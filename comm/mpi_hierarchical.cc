// The MPI backend across nodes: which ranks share a node, and the hierarchical all-reduce.
//
// Nodes are what MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) says (the launcher's placement, not
// host names), numbered by their lowest rank. When every node's ranks are consecutive (mpirun's
// default --map-by slot, Slurm's block distribution), the rank-ordered sum
// x0 + x1 + ... + x(n-1) can be computed node by node in that order without changing a bit:
// node 0's ranks sum their values in rank order through the node's shared memory, its leader
// (local rank 0) sends that running sum (in the accumulation type: float for float16) to node
// 1's leader, whose ranks continue it with their own values, and so on; the last node divides
// for an average, rounds to the element type, and its leader broadcasts the result to the other
// leaders, whose ranks copy it out of shared memory. Each node's data crosses the network once
// in each direction, where the flat alltoall + allgather sends every rank's share separately.
//
// Per piece g of the buffer (hierPiece_ bytes of running sum), on every node:
//   1. wait until every local rank copied out piece g-1; copy the piece into this rank's slot,
//      publish copied = g (the leader of node k > 0 then receives node k-1's running sum);
//   2. wait for every slot (and the received sum); local rank l continues the sum for its chunk
//      l of the piece: into the node's running sum, or on the last node into the result area;
//      publish reduced = g;
//   3. the leader waits for every chunk, sends the running sum on (not the last node), joins
//      the leaders' broadcast of the result from the last node, publishes resultReady = g;
//   4. every rank copies the result into its buffer and publishes copiedOut = g.
#include "singa/comm/mpi_communicator.h"

#ifdef SINGA_USE_MPI

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "singa/comm/mpi_internal.h"
#include "singa/comm/rank_order_reduce.h"

namespace singa {
namespace {

constexpr int kRunningSumTag = 7302;
// Counters in each local rank's 64-byte header (written by that rank only).
constexpr int kCopiedIn = 0, kReduced = 1, kCopiedOut = 2, kSumReceived = 3, kResultReady = 4;
// Running-sum bytes per piece: large enough that the network, not the handshakes, sets the pace.
constexpr int64_t kHierPieceBytes = int64_t{4} << 20;

}  // namespace

void MpiCommunicator::learnNodes() {
  SINGA_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_));
  SINGA_MPI_CHECK(MPI_Comm_rank(node_, &localRank_));
  SINGA_MPI_CHECK(MPI_Comm_size(node_, &localSize_));
  // The node's lowest world rank identifies it (the split's key is the world rank).
  nodeFirstRank_ = rank_;
  SINGA_MPI_CHECK(MPI_Bcast(&nodeFirstRank_, 1, MPI_INT, 0, node_));
  std::vector<int> firstOf(static_cast<size_t>(size_));
  SINGA_MPI_CHECK(MPI_Allgather(&nodeFirstRank_, 1, MPI_INT, firstOf.data(), 1, MPI_INT, comm_));
  std::vector<int> firsts = firstOf;
  std::sort(firsts.begin(), firsts.end());
  firsts.erase(std::unique(firsts.begin(), firsts.end()), firsts.end());
  nodeCount_ = static_cast<int>(firsts.size());
  nodeOfRank_.resize(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    const auto it = std::lower_bound(firsts.begin(), firsts.end(), firstOf[static_cast<size_t>(r)]);
    nodeOfRank_[static_cast<size_t>(r)] = static_cast<int>(it - firsts.begin());
  }
  nodeIndex_ = nodeOfRank_[static_cast<size_t>(rank_)];
  nodesConsecutive_ = std::is_sorted(nodeOfRank_.begin(), nodeOfRank_.end());
  // Every node's name: its first rank's host name.
  constexpr int kNameBytes = 64;
  char mine[kNameBytes] = {0};
  std::snprintf(mine, sizeof mine, "%s", hostName().c_str());
  std::vector<char> names(static_cast<size_t>(kNameBytes * size_));
  SINGA_MPI_CHECK(MPI_Allgather(mine, kNameBytes, MPI_CHAR, names.data(), kNameBytes, MPI_CHAR, comm_));
  nodeNames_.clear();
  for (int first : firsts) nodeNames_.emplace_back(&names[static_cast<size_t>(first * kNameBytes)]);
  SINGA_MPI_CHECK(MPI_Comm_split(comm_, localRank_ == 0 ? 0 : MPI_UNDEFINED, rank_, &leaders_));
  // A random token for the names of this job's shared-memory objects.
  if (rank_ == 0) {
    std::random_device rd;
    jobToken_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                static_cast<uint64_t>(mpi_detail::Clock::now().time_since_epoch().count());
  }
  SINGA_MPI_CHECK(MPI_Bcast(&jobToken_, 1, MPI_UINT64_T, 0, comm_));
}

std::string MpiCommunicator::hostLayout() const { return formatHostLayout(nodeOfRank_, nodeNames_); }

void MpiCommunicator::createHierarchicalSegment() {
  // Every rank joins the same collectives: used only when no rank turned it (or shared memory)
  // off and the ranks are on several nodes, each node's ranks consecutive.
  const char* hierEnv = std::getenv("SINGA_MPI_HIER");
  const char* shmEnv = std::getenv("SINGA_MPI_SHM");
  int use = (hierEnv == nullptr || std::string(hierEnv) != "0") && (shmEnv == nullptr || std::string(shmEnv) != "0");
  SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &use, 1, MPI_INT, MPI_MIN, comm_));
  if (!use || nodeCount_ < 2) return;
  if (!nodesConsecutive_) {
    if (rank_ == 0) {
      std::fprintf(stderr, "singa: the ranks of a node are not consecutive (%s); gradients take the flat MPI path, "
                   "which moves more bytes between nodes: place ranks by slot (mpirun --map-by slot, srun "
                   "--distribution=block)\n", hostLayout().c_str());
    }
    return;
  }
  hierPiece_ = kHierPieceBytes;
  hierStride_ = 64 + hierPiece_;
  // Per local rank: header + slot; then the running sum, the sum received and the result.
  hierBytes_ = hierStride_ * localSize_ + 3 * hierPiece_;
  std::string why;
  hier_ = mapSegment(node_, hierBytes_, hierStride_, why);
  if (hier_ == nullptr && !why.empty()) {
    std::fprintf(stderr, "singa: rank %d (%s): no shared-memory segment for the hierarchical all-reduce (%s, %lld "
                 "bytes in /dev/shm); using the flat MPI path\n", rank_, hostName().c_str(), why.c_str(),
                 static_cast<long long>(hierBytes_));
  }
}

void MpiCommunicator::allReduceHierarchical(char* data, int64_t numel, DType dtype, bool average) {
  const int64_t esize = static_cast<int64_t>(dtypeSize(dtype));
  const int64_t asize = static_cast<int64_t>(accumulatorSize(dtype));
  const int64_t pieceElems = hierPiece_ / asize;
  const int local = localSize_, node = nodeIndex_;
  const bool leader = localRank_ == 0, lastNode = node == nodeCount_ - 1;
  char* areas = hier_ + hierStride_ * local;
  char* runningSum = areas;                    // this node's running sum (accumulation type)
  char* received = areas + hierPiece_;         // the previous node's (accumulation type)
  char* result = areas + 2 * hierPiece_;       // the piece's result (element type)
  auto counter = [&](int l, int which) { return reinterpret_cast<int64_t*>(hier_ + l * hierStride_) + which; };
  auto slot = [&](int l) { return hier_ + l * hierStride_ + 64; };
  auto waitLocal = [&](int which, int64_t gen, const char* what) {
    waitCounters(hier_, hierStride_, local, nodeFirstRank_, which, gen, what);
  };
  auto waitLeader = [&](int which, int64_t gen, const char* what) {
    waitCounters(hier_, hierStride_, 1, nodeFirstRank_, which, gen, what);
  };
  std::vector<const char*> srcs(static_cast<size_t>(local));
  for (int64_t start = 0; start < numel; start += pieceElems) {
    const int64_t n = std::min(pieceElems, numel - start);
    char* buf = data + start * esize;
    auto off = [&](int c) { return c * (n / local) + std::min<int64_t>(c, n % local); };
    const int64_t g = ++hierGen_;
    waitLocal(kCopiedOut, g - 1, "allReduce (hierarchical, slot reuse)");
    std::memcpy(slot(localRank_), buf, static_cast<size_t>(n * esize));
    __atomic_store_n(counter(localRank_, kCopiedIn), g, __ATOMIC_RELEASE);
    if (leader && node > 0) {
      MPI_Request req;
      SINGA_MPI_CHECK(MPI_Irecv(received, static_cast<int>(n * asize), MPI_BYTE, node - 1, kRunningSumTag, leaders_,
                                &req));
      wait(req, "allReduce (hierarchical, running sum from the previous node)");
      __atomic_store_n(counter(0, kSumReceived), g, __ATOMIC_RELEASE);
    }
    waitLocal(kCopiedIn, g, "allReduce (hierarchical, reduce phase)");
    if (node > 0) waitLeader(kSumReceived, g, "allReduce (hierarchical, running sum from the previous node)");
    const int64_t first = off(localRank_), count = off(localRank_ + 1) - first;
    for (int l = 0; l < local; ++l) srcs[static_cast<size_t>(l)] = slot(l) + first * esize;
    const char* from = node > 0 ? received + first * asize : nullptr;
    if (lastNode) {
      finishInRankOrder(dtype, from, srcs.data(), local, count, size_, average, result + first * esize);
    } else {
      accumulateInRankOrder(dtype, from, srcs.data(), local, count, runningSum + first * asize);
    }
    __atomic_store_n(counter(localRank_, kReduced), g, __ATOMIC_RELEASE);
    if (leader) {
      waitLocal(kReduced, g, "allReduce (hierarchical, node sum)");
      MPI_Request req;
      if (!lastNode) {
        SINGA_MPI_CHECK(MPI_Isend(runningSum, static_cast<int>(n * asize), MPI_BYTE, node + 1, kRunningSumTag,
                                  leaders_, &req));
        wait(req, "allReduce (hierarchical, running sum to the next node)");
      }
      SINGA_MPI_CHECK(MPI_Ibcast(result, static_cast<int>(n * esize), MPI_BYTE, nodeCount_ - 1, leaders_, &req));
      wait(req, "allReduce (hierarchical, result from the last node)");
      __atomic_store_n(counter(0, kResultReady), g, __ATOMIC_RELEASE);
    }
    waitLeader(kResultReady, g, "allReduce (hierarchical, result from the last node)");
    std::memcpy(buf, result, static_cast<size_t>(n * esize));
    __atomic_store_n(counter(localRank_, kCopiedOut), g, __ATOMIC_RELEASE);
  }
}

}  // namespace singa

#endif  // SINGA_USE_MPI
