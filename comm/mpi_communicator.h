// The MPI backend (CPU tensors). Declared here so the NCCL backend can reuse its bootstrap,
// its header agreement and its timed waits.
#pragma once

#include <memory>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "singa/comm/communicator.h"

#ifdef SINGA_USE_MPI
#include <mpi.h>
#endif

namespace singa {

/// The mpi backend for the layout in `info`. Initialises MPI (thread level MPI_THREAD_MULTIPLE,
/// at least MPI_THREAD_SERIALIZED required) unless the program already did. Throws
/// NotSupportedError when singa was built without MPI (-DSINGA_USE_MPI=OFF).
std::unique_ptr<Communicator> makeMpiCommunicator(const RankInfo& info);

#ifdef SINGA_USE_MPI

/// What a collective is, as the ranks compare it before moving data.
enum class CollKind : int64_t {
  kAllReduceSum = 1,
  kAllReduceAverage,
  kBroadcast,
  kAllGather,
  kBarrier,
  kExchangeBuffer
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const RankInfo& info);
  ~MpiCommunicator() override;

  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int worldSize() const override { return size_; }
  int localRank() const override { return localRank_; }
  std::string hostLayout() const override;
  /// The hosts of `ranks` and which of them each holds, with every rank of the host:
  /// "node-b[2,3] (every rank of the host)" or "node-b[3] (the host of ranks 2,3)".
  std::string hostsOfRanks(const std::vector<int>& ranks) const;

  /// Nodes as MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) groups the ranks (not host names),
  /// numbered in the order of their lowest rank; this rank's node; the ranks on it.
  int nodeCount() const { return nodeCount_; }
  int nodeIndex() const { return nodeIndex_; }
  int localSize() const { return localSize_; }
  /// Whether every node's ranks are consecutive (0,1 | 2,3, not 0,2 | 1,3): the hierarchical
  /// path needs it.
  bool nodesConsecutive() const { return nodesConsecutive_; }

  void allReduce(Tensor& t, ReduceOp op = ReduceOp::kSum) override;
  void broadcast(Tensor& t, int root = 0) override;
  Tensor allGather(const Tensor& t) override;
  void barrier() override;
  [[noreturn]] void abortJob(const std::string& message, int exitCode = 1) override;

  /// Every rank announces the collective it is entering and the ranks compare (kind, dtype,
  /// element count, extra, sequence number): CommError listing every rank's call on a mismatch.
  /// Callers hold lock().
  void agree(CollKind kind, DType dtype, int64_t numel, int64_t extra);
  /// Waits for `request` with the communicator's timeout: on expiry prints `what`, the ranks
  /// that did not arrive, and aborts the job. `peers` (world ranks) are the ranks the request
  /// talks to, named with their hosts when every rank arrived but the transfer stalled.
  void wait(MPI_Request& request, const std::string& what, const std::vector<int>& peers = {});
  /// Serialises collectives issued from different threads of this process.
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }
  MPI_Comm comm() const { return comm_; }

  /// Sum (or average) of `bytes` at `data` holding `numel` elements of `dtype`, reduced in rank
  /// order 0, 1, ..., n-1 by the rank that owns each chunk, so every rank gets bit-identical
  /// values whatever the transport. When every rank runs on one node the chunks move through a
  /// shared-memory segment (copy in, reduce own chunk, copy out); otherwise through MPI (alltoall,
  /// local sum, allgather); small buffers of two ranks by one MPI_Allreduce (see
  /// setDirectAllReduceMaxBytes). All give the same bits. Callers hold lock() and have called agree().
  void allReduceBytes(void* data, int64_t numel, DType dtype, bool average);

  /// Whether allReduce uses the node's shared-memory segment (all ranks on one node, the segment
  /// could be created, SINGA_MPI_SHM not 0). useSharedMemory(false) switches to the MPI path,
  /// useSharedMemory(true) back when the segment exists; every rank must make the same call.
  /// Exchange buffers that already exist keep their in-place path either way.
  bool sharedMemoryActive() const { return shm_ != nullptr && useShm_; }
  void useSharedMemory(bool on) { useShm_ = on; }

  /// Two ranks on one node, float32/float64/int32/int64, at most this many bytes: allReduce is one
  /// MPI_Allreduce (sum; an average then halves in the element type). With two operands there
  /// is a single addition per element whatever the algorithm, so the bits equal the rank-order
  /// reduction of the other transports; below a few MiB Open MPI's single-copy path beats the
  /// shared-memory pieces (tests/bench_allreduce). 0 turns it off; every rank must agree.
  static constexpr int64_t kDefaultDirectMaxBytes = int64_t{8} << 20;
  void setDirectAllReduceMaxBytes(int64_t bytes) { directMaxBytes_.store(bytes, std::memory_order_relaxed); }
  int64_t directAllReduceMaxBytes() const { return directMaxBytes_.load(std::memory_order_relaxed); }

  /// The transport allReduce uses for this many elements of dtype: kTransportMpi (alltoall,
  /// rank-order sum, allgather), kTransportShared (the node's segment), kTransportDirect
  /// (MPI_Allreduce, two ranks on one node) or kTransportHierarchical (ranks on several nodes,
  /// mpi_hierarchical.cc). Part of every all-reduce's header, so ranks that disagree fail.
  enum Transport : int {
    kTransportMpi = 0,
    kTransportShared = 1,
    kTransportDirect = 2,
    kTransportSharedBuffer = 3,
    kTransportHierarchical = 4
  };
  Transport transportFor(int64_t numel, DType dtype) const;

  /// Whether allReduce takes the hierarchical path across nodes: every node's ranks sum in rank
  /// order through a shared-memory segment of the node, the running sum passes from node to node
  /// (one leader per node, MPI point-to-point) in rank order, and the last node's result goes back
  /// to every leader and through shared memory to its ranks: the flat rank-ordered sum's bits,
  /// with each node's data crossing the network once instead of once per rank. Active when the
  /// ranks are on several nodes, some node has two or more, each node's ranks are consecutive
  /// (mpirun's default --map-by slot, Slurm's block distribution), every node could map its
  /// segment and neither SINGA_MPI_HIER nor SINGA_MPI_SHM is 0. useHierarchical(false) switches
  /// to the flat MPI path (every rank the same call).
  bool hierarchicalActive() const { return hier_ != nullptr && useHier_; }
  void useHierarchical(bool on) { useHier_ = on; }

  /// When the node's segment is in use (sharedMemoryActive()) and `device` is the CPU: a buffer in
  /// a shared-memory segment of its own, mapped by every rank, and allReduce on it (the whole
  /// buffer, the tensor returned or a full-size view of it) reduces in place: each rank sums its
  /// chunk of every rank's buffer in rank order and copies the other chunks from their owners,
  /// with no copy into or out of a staging area and no MPI call; the bits equal the other
  /// transports'. The mapping lives as long as a tensor views it. Otherwise an ordinary tensor.
  Tensor exchangeBuffer(int64_t numel, DType dtype, Device device) override;
  /// Whether allReduce(t) takes the in-place shared-buffer path: t is a shared exchange buffer of
  /// this communicator (or a full-size view of one).
  bool isSharedExchangeBuffer(const Tensor& t);

 private:
  void announceArrival();
  void drainArrivals();
  void createSharedSegment();
  /// Collective: rank 0 creates a POSIX shared-memory object of `bytes`, rank r reserves bytes
  /// [r * perRank, (r + 1) * perRank) of it, every rank maps it, and the name is removed at once. nullptr on every rank when any rank failed (`why` says why on
  /// the ranks that failed).
  char* mapNodeSegment(int64_t bytes, int64_t perRank, std::string& why);
  /// The same within `group` (the world, or this rank's node): rank 0 of the group creates the
  /// object and rank i reserves [i * perRank, (i + 1) * perRank); collective over the world, and
  /// nullptr on every rank when any rank failed. Object names carry the job's random token and the
  /// node index, so jobs and hosts sharing a kernel (containers, namespaces) never collide.
  char* mapSegment(MPI_Comm group, int64_t bytes, int64_t perRank, std::string& why);
  void learnNodes();
  void createHierarchicalSegment();
  void allReduceHierarchical(char* data, int64_t numel, DType dtype, bool average);
  struct SharedBuffer;
  /// The registered exchange buffer whose data starts at `data` with `numel` elements, or null.
  SharedBuffer* sharedBufferAt(const void* data, int64_t numel, DType dtype);
  void allReduceSharedBuffer(SharedBuffer& b, bool average);
  /// Waits until counter `which` of every rank's header (at base + r * stride) reaches `gen`.
  void waitCounters(char* base, int64_t stride, int which, int64_t gen, const char* what);
  /// The same for `count` headers whose first belongs to world rank `firstRank`.
  void waitCounters(char* base, int64_t stride, int count, int firstRank, int which, int64_t gen, const char* what);
  void allReduceShared(char* data, int64_t numel, DType dtype, bool average);
  /// Waits until every rank's flag `which` (0: piece copied in, 1: chunk reduced) reaches `gen`.
  void waitFlags(int which, int64_t gen, const char* what);
  int64_t* flagOf(int r, int which) const;
  char* slotOf(int r) const;
  char* resultOf(int r) const;
  /// Ends the job after a collective timed out (see SINGA_LOST_HOST_GRACE in the .cc).
  [[noreturn]] void abortAfterTimeout(const std::string& message);
  [[noreturn]] void timedOut(const std::string& what, double waited, const std::vector<int>& peers);
  /// The world ranks on node `node` (an index into the node list), in order.
  std::vector<int> ranksOfNode(int node) const;
  /// The world ranks on every other node, in order.
  std::vector<int> ranksOutsideNode(int node) const;

  MPI_Comm comm_ = MPI_COMM_NULL;  // collectives
  MPI_Comm ctrl_ = MPI_COMM_NULL;  // arrival notices
  int rank_ = 0, size_ = 1, localRank_ = 0;
  // Nodes: this rank's node communicator, the leaders' communicator (local rank 0 of every node;
  // MPI_COMM_NULL elsewhere), node of every rank, host name of every node.
  MPI_Comm node_ = MPI_COMM_NULL, leaders_ = MPI_COMM_NULL;
  double lostHostGrace_ = 30.0;  // SINGA_LOST_HOST_GRACE: see timedOut
  int nodeCount_ = 1, nodeIndex_ = 0, localSize_ = 1, nodeFirstRank_ = 0;
  bool nodesConsecutive_ = true;
  std::vector<int> nodeOfRank_;
  std::vector<std::string> nodeNames_;
  uint64_t jobToken_ = 0;        // random, from rank 0: part of every shared-memory object name
  int64_t segmentsCreated_ = 0;  // the same on every rank
  // Hierarchical all-reduce: per local rank a header and a slot; then two sets of the node's
  // running sum, the sum received from the previous node and the result (mpi_hierarchical.cc).
  char* hier_ = nullptr;
  int64_t hierBytes_ = 0, hierStride_ = 0, hierPiece_ = 0, hierGen_ = 0;
  bool useHier_ = true;
  bool ownsInit_ = false;
  int64_t seq_ = 0;
  std::vector<int64_t> arrived_;  // per rank: the last collective it announced
  struct PendingSend {
    std::unique_ptr<int64_t> value;
    MPI_Request request;
  };
  std::vector<PendingSend> sends_;
  std::vector<char> scratch_;
  // Shared-memory all-reduce: per rank a header (flags), a slot for one piece of the buffer and
  // a result area for the rank's reduced chunk of that piece.
  char* shm_ = nullptr;
  int64_t shmBytes_ = 0, rankStride_ = 0, slotBytes_ = 0, resultBytes_ = 0, gen_ = 0;
  bool useShm_ = true;
  std::atomic<int64_t> directMaxBytes_{kDefaultDirectMaxBytes};
  MPI_Op averageOp_ = MPI_OP_NULL;  // (a + b) * 0.5, the direct path's average
  // Exchange buffers by the address of this rank's data; shared with the buffers' storages,
  // which unregister and unmap themselves (and may outlive the communicator).
  struct BufferRegistry;
  std::shared_ptr<BufferRegistry> buffers_;
  int64_t nextBufferId_ = 0;
  std::mutex mutex_;
};

#endif  // SINGA_USE_MPI

}  // namespace singa
