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
// Per piece g of the buffer (hierPiece_ bytes of running sum), on every node, with two sets of
// node areas so that piece g is reduced while piece g-1 travels:
//   1. wait until every local rank reduced piece g-1 (slots free) and copied out piece g-2 (this
//      set's areas free; the leader also finished sending g-2's running sum on and posts the
//      receive of g+1's); copy the piece into this rank's slot, publish copiedIn = g;
//   2. wait for every slot (and, after node 0, the received running sum); local rank l
//      continues the sum for its chunk l of the piece: into the node's running sum, or on the
//      last node into the result area; publish reduced = g;
//   3. the leader waits for every chunk, starts sending the running sum on (not the last node)
//      and starts the leaders' broadcast of the result from the last node;
//   4. piece g-1 is copied out: the leader completes its broadcast and publishes resultReady,
//      every rank copies the result into its buffer and publishes copiedOut = g-1.
// 1 MiB pieces: with 4 MiB, buffers of 1-4 MiB were one piece and nothing overlapped (2 hosts x
// 1 rank at 10 Gbit/s: 0.27 against 0.65-0.73 GB/s at 4 MiB).
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
constexpr int kCopiedIn = 0, kReduced = 1, kCopiedOut = 2, kSumReceived = 3, kResultReady = 4, kAreasFree = 5;
// Running-sum bytes per piece (see the top of the file).
constexpr int64_t kHierPieceBytes = int64_t{1} << 20;

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

std::vector<int> MpiCommunicator::ranksOfNode(int node) const {
  std::vector<int> out;
  for (int r = 0; r < size_; ++r) {
    if (nodeOfRank_[static_cast<size_t>(r)] == node) out.push_back(r);
  }
  return out;
}

std::vector<int> MpiCommunicator::ranksOutsideNode(int node) const {
  std::vector<int> out;
  for (int r = 0; r < size_; ++r) {
    if (nodeOfRank_[static_cast<size_t>(r)] != node) out.push_back(r);
  }
  return out;
}

std::string MpiCommunicator::hostsOfRanks(const std::vector<int>& ranks) const {
  std::string out;
  for (int node = 0; node < nodeCount_; ++node) {
    std::vector<int> here;
    for (int r : ranks) {
      if (r >= 0 && r < size_ && nodeOfRank_[static_cast<size_t>(r)] == node) here.push_back(r);
    }
    if (here.empty()) continue;
    const int onNode = static_cast<int>(std::count(nodeOfRank_.begin(), nodeOfRank_.end(), node));
    const std::string ranksText = nodeNames_[static_cast<size_t>(node)] + "[" + formatRanks(here) + "]";
    out += (out.empty() ? "" : " ") + ranksText +
           (static_cast<int>(here.size()) == onNode ? " (every rank of the host)"
                                                    : " (the host of ranks " + formatRanks(ranksOfNode(node)) + ")");
  }
  return out;
}

void MpiCommunicator::createHierarchicalSegment() {
  // Every rank joins the same collectives: used only when no rank turned it (or shared memory)
  // off and the ranks are on several nodes, each node's ranks consecutive.
  const char* hierEnv = std::getenv("SINGA_MPI_HIER");
  const char* shmEnv = std::getenv("SINGA_MPI_SHM");
  int use = (hierEnv == nullptr || std::string(hierEnv) != "0") && (shmEnv == nullptr || std::string(shmEnv) != "0");
  SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &use, 1, MPI_INT, MPI_MIN, comm_));
  if (!use || nodeCount_ < 2) return;
  // With one rank per node there is nothing to sum within a node, and the flat path's alltoall
  // moves the same bytes between hosts in both directions at once: 2 hosts x 1 rank, 10 Gbit/s,
  // 4-64 MiB, three runs: flat 0.97-2.0x as fast as the chain (bench_hierarchical).
  int mostOnANode = localSize_;
  SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &mostOnANode, 1, MPI_INT, MPI_MAX, comm_));
  if (mostOnANode < 2) return;
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
  // Per local rank: header + slot; then two sets of the running sum, the sum received and the
  // result (a piece travels between nodes while the next is reduced).
  hierBytes_ = hierStride_ * localSize_ + 6 * hierPiece_;
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
  const int64_t pieces = (numel + pieceElems - 1) / pieceElems;
  const int local = localSize_, node = nodeIndex_;
  const bool leader = localRank_ == 0, lastNode = node == nodeCount_ - 1;
  // Piece p (from 0) is generation base + p + 1 of the counters; areas alternate between two sets.
  const int64_t base = hierGen_, lastGen = base + pieces;
  hierGen_ = lastGen;
  auto setOf = [](int64_t g) { return static_cast<int>(g & 1); };
  auto area = [&](int64_t g, int which) { return hier_ + hierStride_ * local + (setOf(g) * 3 + which) * hierPiece_; };
  auto runningSum = [&](int64_t g) { return area(g, 0); };  // this node's (accumulation type)
  auto received = [&](int64_t g) { return area(g, 1); };    // the previous node's (accumulation type)
  auto result = [&](int64_t g) { return area(g, 2); };      // the piece's result (element type)
  auto first = [&](int64_t g) { return (g - base - 1) * pieceElems; };
  auto length = [&](int64_t g) { return std::min(pieceElems, numel - first(g)); };
  auto counter = [&](int l, int which) { return reinterpret_cast<int64_t*>(hier_ + l * hierStride_) + which; };
  auto publish = [&](int which, int64_t g) { __atomic_store_n(counter(localRank_, which), g, __ATOMIC_RELEASE); };
  auto slot = [&](int l) { return hier_ + l * hierStride_ + 64; };
  auto waitLocal = [&](int which, int64_t gen, const char* what) {
    waitCounters(hier_, hierStride_, local, nodeFirstRank_, which, gen, what);
  };
  auto waitLeader = [&](int which, int64_t gen, const char* what) {
    waitCounters(hier_, hierStride_, 1, nodeFirstRank_, which, gen, what);
  };
  // Whom a leader's transfers wait on, named if one stalls: the previous and next nodes' ranks,
  // and for the result (a broadcast from the last node) every other node's.
  const std::vector<int> previousNode = node > 0 ? ranksOfNode(node - 1) : std::vector<int>{};
  const std::vector<int> nextNode = lastNode ? std::vector<int>{} : ranksOfNode(node + 1);
  const std::vector<int> otherNodes = ranksOutsideNode(node);
  // The leader's transfers in flight, per set: the running sum received and sent, the result.
  MPI_Request recvs[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL}, sends[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL},
              results[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  auto postReceive = [&](int64_t g) {
    if (!leader || node == 0) return;
    SINGA_MPI_CHECK(MPI_Irecv(received(g), static_cast<int>(length(g) * asize), MPI_BYTE, node - 1, kRunningSumTag,
                              leaders_, &recvs[setOf(g)]));
  };
  auto copyOut = [&](int64_t g) {
    if (leader) {
      wait(results[setOf(g)], "allReduce (hierarchical, result from the last node)", otherNodes);
      publish(kResultReady, g);
    }
    waitLeader(kResultReady, g, "allReduce (hierarchical, result from the last node)");
    std::memcpy(data + first(g) * esize, result(g), static_cast<size_t>(length(g) * esize));
    publish(kCopiedOut, g);
  };
  std::vector<const char*> srcs(static_cast<size_t>(local));
  postReceive(base + 1);
  for (int64_t g = base + 1; g <= lastGen; ++g) {
    const int64_t n = length(g);
    auto off = [&](int c) { return c * (n / local) + std::min<int64_t>(c, n % local); };
    // The slots are free once every rank reduced piece g-1; this set's areas once piece g-2 is
    // copied out and sent on.
    waitLocal(kReduced, g - 1, "allReduce (hierarchical, slot reuse)");
    waitLocal(kCopiedOut, g - 2, "allReduce (hierarchical, area reuse)");
    if (leader) {
      if (sends[setOf(g)] != MPI_REQUEST_NULL) {
        wait(sends[setOf(g)], "allReduce (hierarchical, running sum to the next node)", nextNode);
      }
      publish(kAreasFree, g);
      if (g < lastGen) postReceive(g + 1);
    }
    std::memcpy(slot(localRank_), data + first(g) * esize, static_cast<size_t>(n * esize));
    publish(kCopiedIn, g);
    if (leader && node > 0) {
      wait(recvs[setOf(g)], "allReduce (hierarchical, running sum from the previous node)", previousNode);
      publish(kSumReceived, g);
    }
    waitLocal(kCopiedIn, g, "allReduce (hierarchical, reduce phase)");
    waitLeader(kAreasFree, g, "allReduce (hierarchical, area reuse)");
    if (node > 0) waitLeader(kSumReceived, g, "allReduce (hierarchical, running sum from the previous node)");
    const int64_t from = off(localRank_), count = off(localRank_ + 1) - from;
    for (int l = 0; l < local; ++l) srcs[static_cast<size_t>(l)] = slot(l) + from * esize;
    const char* start = node > 0 ? received(g) + from * asize : nullptr;
    if (lastNode) {
      finishInRankOrder(dtype, start, srcs.data(), local, count, size_, average, result(g) + from * esize);
    } else {
      accumulateInRankOrder(dtype, start, srcs.data(), local, count, runningSum(g) + from * asize);
    }
    publish(kReduced, g);
    if (leader) {
      waitLocal(kReduced, g, "allReduce (hierarchical, node sum)");
      if (!lastNode) {
        SINGA_MPI_CHECK(MPI_Isend(runningSum(g), static_cast<int>(n * asize), MPI_BYTE, node + 1, kRunningSumTag,
                                  leaders_, &sends[setOf(g)]));
      }
      SINGA_MPI_CHECK(
          MPI_Ibcast(result(g), static_cast<int>(n * esize), MPI_BYTE, nodeCount_ - 1, leaders_, &results[setOf(g)]));
    }
    // While this piece travels, the previous one is copied out.
    if (g > base + 1) copyOut(g - 1);
  }
  copyOut(lastGen);
  for (MPI_Request& r : sends) {
    if (r != MPI_REQUEST_NULL) wait(r, "allReduce (hierarchical, running sum to the next node)", nextNode);
  }
}

}  // namespace singa

#endif  // SINGA_USE_MPI
