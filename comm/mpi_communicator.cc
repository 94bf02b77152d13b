// The MPI backend's protocol. Every collective is (1) an arrival notice to every peer on a side
// communicator, (2) a header allgather that catches mismatched calls, (3) the data movement with
// non-blocking MPI polled against a deadline. allReduce gives each rank one chunk of the buffer
// to sum in rank order (rank_order_reduce.h) and hands the sums back: through a shared-memory
// segment when every rank runs on one node (mpi_shared_memory.cc), node by node when the ranks
// are on several (mpi_hierarchical.cc), else alltoall + local sum + allgather here (the bytes of
// a ring all-reduce, 2(n-1)/n of the buffer per rank). Exchange buffers (exchangeBuffer(): the
// DistributedOptimizer's gradient buckets) live in shared memory of their own and are reduced in
// place (mpi_shared_memory.cc). Either way every rank and every run gets the same bits.
#include "singa/comm/mpi_communicator.h"

#ifdef SINGA_USE_MPI

#include <sys/mman.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "singa/comm/mpi_internal.h"
#include "singa/comm/mpi_shared_memory.h"
#include "singa/comm/rank_order_reduce.h"

namespace singa {

using mpi_detail::backOff;
using mpi_detail::Clock;
using mpi_detail::kMaxPieceBytes;

namespace mpi_detail {

// Between the polls of a wait. For the first 5 ms: spin, yielding the core to any other thread
// that wants it. A sleeping rank's virtual CPU goes idle, and on a shared host its wake-up then
// took 0.1-0.8 ms instead of microseconds; the rank that arrived last, on the critical path,
// waits for the sleeper in the next handshake (tests/dist/bench_allreduce and a 1.5 ms skew
// probe: 72-99 us against 102-128 us, and no 0.7-0.8 ms outliers). Per-step skew between ranks
// is well under 5 ms. Then sleep in 20 us steps (the thread's timer slack set to 1 us, since the
// default 50 us would make each sleep ~70 us), after a second in 2 ms steps, so a rank waiting
// for a long evaluation on rank 0 leaves the core alone.
void backOff(double waited) {
  if (waited < 0.005) {
    std::this_thread::yield();
    return;
  }
  thread_local bool slackSet = false;
  if (!slackSet) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    slackSet = true;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(waited < 1.0 ? 20 : 2000));
}

}  // namespace mpi_detail

namespace {

constexpr int kArriveTag = 7301;

const char* kindName(int64_t k) {
  switch (static_cast<CollKind>(k)) {
    case CollKind::kAllReduceSum: return "allReduce(sum)";
    case CollKind::kAllReduceAverage: return "allReduce(average)";
    case CollKind::kBroadcast: return "broadcast";
    case CollKind::kAllGather: return "allGather";
    case CollKind::kBarrier: return "barrier";
    case CollKind::kExchangeBuffer: return "exchangeBuffer";
  }
  return "unknown collective";
}

void checkCpuContiguous(const Tensor& t, const char* what) {
  SINGA_CHECK(t.defined(), CommError, "mpi " << what << ": the tensor is undefined");
  SINGA_CHECK(t.device().isCpu(), CommError,
              "mpi " << what << ": the tensor is on " << t.device().str()
                     << "; the mpi backend serves CPU tensors (use the nccl backend for CUDA)");
  SINGA_CHECK(t.isContiguous(), CommError,
              "mpi " << what << ": the tensor must be contiguous (call contiguous() first)");
}

}  // namespace

MpiCommunicator::MpiCommunicator(const RankInfo& info) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = 0;
  if (!initialized) {
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    ownsInit_ = true;
  }
  MPI_Query_thread(&provided);
  SINGA_CHECK(provided >= MPI_THREAD_SERIALIZED, CommError,
              "MPI provides thread level " << provided << " but singa needs MPI_THREAD_SERIALIZED or above "
                                           << "(its gradient all-reduce runs on a communication thread)");
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
  MPI_Comm_dup(MPI_COMM_WORLD, &ctrl_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(ctrl_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  learnNodes();
  arrived_.assign(static_cast<size_t>(size_), 0);
  timeoutSeconds_ = commTimeoutFromEnv(timeoutSeconds_);
  if (const char* v = std::getenv("SINGA_LOST_HOST_GRACE"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(v, &end);
    SINGA_CHECK(errno == 0 && end != v && *end == '\0' && x >= 0 && x <= 3600, ValueError,
                "SINGA_LOST_HOST_GRACE='" << v << "' is not a number of seconds from 0 to 3600");
    lostHostGrace_ = x;
  }
  if (info.source != "single" && info.worldSize != size_) {
    SINGA_THROW(CommError, "the launcher (" << info.source << ") started " << info.worldSize
                                            << " ranks but MPI sees a world of " << size_
                                            << "; under Slurm use `srun --mpi=pmix` (pmi2 and no --mpi give "
                                               "each task a world of its own)");
  }
  buffers_ = std::make_shared<BufferRegistry>();
  createSharedSegment();
  createHierarchicalSegment();
  SINGA_MPI_CHECK(MPI_Op_create(&averageOfTwo, 1, &averageOp_));
  if (const char* direct = std::getenv("SINGA_MPI_DIRECT_MAX_BYTES")) {
    char* end = nullptr;
    const long long v = std::strtoll(direct, &end, 10);
    SINGA_CHECK(end != direct && *end == '\0' && v >= 0, CommError,
                "SINGA_MPI_DIRECT_MAX_BYTES='" << direct << "' is not a byte count (e.g. 0 to turn the 2-rank "
                                               << "MPI_Allreduce path off, 8388608 for the default 8 MiB)");
    directMaxBytes_ = v;
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (auto& s : sends_) MPI_Cancel(&s.request), MPI_Request_free(&s.request);
  drainArrivals();
  if (shm_ != nullptr) munmap(shm_, static_cast<size_t>(shmBytes_));
  if (hier_ != nullptr) munmap(hier_, static_cast<size_t>(hierBytes_));
  if (leaders_ != MPI_COMM_NULL) MPI_Comm_free(&leaders_);
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
  if (averageOp_ != MPI_OP_NULL) MPI_Op_free(&averageOp_);
  MPI_Comm_free(&ctrl_);
  MPI_Comm_free(&comm_);
  if (ownsInit_) MPI_Finalize();
}

void MpiCommunicator::announceArrival() {
  // Completed notices are dropped; the rest stay until MPI has sent them.
  sends_.erase(std::remove_if(sends_.begin(), sends_.end(),
                              [](PendingSend& s) {
                                int done = 0;
                                MPI_Test(&s.request, &done, MPI_STATUS_IGNORE);
                                return done != 0;
                              }),
               sends_.end());
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    PendingSend s{std::make_unique<int64_t>(seq_), MPI_REQUEST_NULL};
    SINGA_MPI_CHECK(MPI_Isend(s.value.get(), 1, MPI_INT64_T, p, kArriveTag, ctrl_, &s.request));
    sends_.push_back(std::move(s));
  }
  arrived_[static_cast<size_t>(rank_)] = seq_;
}

void MpiCommunicator::drainArrivals() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kArriveTag, ctrl_, &flag, &st) != MPI_SUCCESS || !flag) return;
    int64_t v = 0;
    MPI_Recv(&v, 1, MPI_INT64_T, st.MPI_SOURCE, kArriveTag, ctrl_, MPI_STATUS_IGNORE);
    int64_t& slot = arrived_[static_cast<size_t>(st.MPI_SOURCE)];
    slot = std::max(slot, v);
  }
}

void MpiCommunicator::timedOut(const std::string& what, double waited, const std::vector<int>& peers) {
  // Give late notices a moment to land before naming the missing ranks.
  for (int i = 0; i < 20; ++i) {
    drainArrivals();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ostringstream missing;
  std::vector<int> missingRanks;
  for (int r = 0; r < size_; ++r) {
    if (arrived_[static_cast<size_t>(r)] >= seq_) continue;
    missing << (missingRanks.empty() ? "" : ", ") << r << " (last seen at collective #"
            << arrived_[static_cast<size_t>(r)] << ")";
    missingRanks.push_back(r);
  }
  const int count = static_cast<int>(missingRanks.size());
  // Across hosts, which hosts they are on: a host lost shows as all of its ranks.
  if (count > 0 && nodeCount_ > 1) missing << " on " << hostsOfRanks(missingRanks);
  if (count == 0) {
    // Every rank entered the collective: the transfer stalled. Name who this rank was talking
    // to (across hosts, a lost host or link is the usual cause): the request's peers when the
    // caller knows them, else every rank on another host.
    missing << "none (all arrived; the transfer itself stalled";
    if (nodeCount_ > 1) {
      missing << (peers.empty() ? "; the other hosts: " : "; waiting on ")
              << hostsOfRanks(peers.empty() ? ranksOutsideNode(nodeIndex_) : peers)
              << ", a lost host or link is the usual cause";
    }
    missing << ")";
  }
  std::ostringstream msg;
  msg << what << " (collective #" << seq_ << ") did not complete within " << waited
      << " s (SINGA_COMM_TIMEOUT / setTimeout); ranks that did not arrive: " << missing.str();
  abortAfterTimeout(msg.str());
  __builtin_unreachable();  // abortJob ends the job
}

void MpiCommunicator::abortAfterTimeout(const std::string& message) {
  // Across hosts, a timeout usually means a host (or its link) was lost. MPI_Abort now would make
  // Open MPI's mpirun wait for that host's daemon to confirm the kill, over a connection with data
  // outstanding (no keepalive applies), for many minutes. The launcher notices a lost host itself
  // (mpirun through its oob keepalive, Slurm through its node health checks) and ends the job:
  // this rank names what it waited for, gives the launcher that time, then aborts.
  if (nodeCount_ > 1 && lostHostGrace_ > 0) {
    std::fprintf(stderr,
                 "singa: rank %d of %d (%s): %s; waiting up to %g s for the launcher to end the job "
                 "(SINGA_LOST_HOST_GRACE), then aborting\n",
                 rank_, size_, hostName().c_str(), message.c_str(), lostHostGrace_);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(lostHostGrace_));
    abortJob(message + "; the launcher did not end the job within SINGA_LOST_HOST_GRACE", 3);
  }
  abortJob(message, 3);
  __builtin_unreachable();  // abortJob ends the job
}

void MpiCommunicator::wait(MPI_Request& request, const std::string& what, const std::vector<int>& peers) {
  const auto start = Clock::now();
  int done = 0;
  for (int64_t polls = 0;; ++polls) {
    SINGA_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    SINGA_CHECK(!cancelled_, CommError, what << " cancelled on rank " << rank_ << ": this rank is shutting down");
    if (polls < 256) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) timedOut(what, waited, peers);
    backOff(waited);  // spin while a peer is likely about to arrive, then sleep
  }
}

void MpiCommunicator::agree(CollKind kind, DType dtype, int64_t numel, int64_t extra) {
  ++seq_;
  drainArrivals();
  announceArrival();
  const int64_t mine[5] = {static_cast<int64_t>(kind), static_cast<int64_t>(dtype), numel, extra, seq_};
  std::vector<int64_t> all(static_cast<size_t>(5 * size_));
  MPI_Request req;
  SINGA_MPI_CHECK(MPI_Iallgather(mine, 5, MPI_INT64_T, all.data(), 5, MPI_INT64_T, comm_, &req));
  wait(req, std::string("header of ") + kindName(mine[0]));
  bool same = true;
  for (int r = 1; r < size_ && same; ++r) same = std::equal(all.begin(), all.begin() + 5, all.begin() + 5 * r);
  if (same) return;
  std::ostringstream os;
  os << "mismatched collectives across ranks:";
  for (int r = 0; r < size_; ++r) {
    const int64_t* h = &all[static_cast<size_t>(5 * r)];
    os << (r ? ";" : "") << " rank " << r << " called " << kindName(h[0]) << " of "
       << h[2] << " " << dtypeName(static_cast<DType>(h[1]));
    if (h[0] == static_cast<int64_t>(CollKind::kBroadcast)) os << " from root " << h[3];
    if (h[0] == static_cast<int64_t>(CollKind::kAllReduceSum) || h[0] == static_cast<int64_t>(CollKind::kAllReduceAverage)) {
      const int64_t transport = h[3] & 0xff;
      if (transport == kTransportSharedBuffer) {
        os << " on exchange buffer #" << (h[3] >> 8);
      } else {
        os << (transport == kTransportDirect         ? " through MPI_Allreduce"
               : transport == kTransportShared       ? " through shared memory"
               : transport == kTransportHierarchical ? " hierarchically"
                                                     : " through MPI");
      }
    }
    os << " as collective #" << h[4];
  }
  os << ". Every rank must call the same collectives, in the same order, with the same sizes "
        "(e.g. the same model and the same number of steps per epoch)";
  SINGA_THROW(CommError, os.str());
}

MpiCommunicator::Transport MpiCommunicator::transportFor(int64_t numel, DType dtype) const {
  const bool native = dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kInt32 ||
                      dtype == DType::kInt64;
  // At most kMaxPieceBytes: the element count of one MPI call is an int.
  const int64_t limit = std::min(directMaxBytes_.load(std::memory_order_relaxed), kMaxPieceBytes);
  // One node only: across hosts over TCP the blocking call took 24-36 ms for 1 MiB where the
  // non-blocking point-to-point path took 2.1 ms (tests/multinode, 2 hosts x 1 rank).
  if (size_ == 2 && nodeCount_ == 1 && native && numel * static_cast<int64_t>(dtypeSize(dtype)) <= limit) {
    return kTransportDirect;
  }
  if (sharedMemoryActive()) return kTransportShared;
  return hierarchicalActive() ? kTransportHierarchical : kTransportMpi;
}

void MpiCommunicator::allReduceBytes(void* data, int64_t numel, DType dtype, bool average) {
  if (size_ == 1 || numel == 0) {
    return;
  }
  if (transportFor(numel, dtype) == kTransportDirect) {
    // Two operands: one addition per element (then * 0.5 for an average, inside the op), the
    // same bits as reduceInRankOrder.
    MPI_Datatype type = dtype == DType::kFloat32   ? MPI_FLOAT
                        : dtype == DType::kFloat64 ? MPI_DOUBLE
                        : dtype == DType::kInt32   ? MPI_INT32_T
                                                   : MPI_INT64_T;
    // Blocking on purpose: Open MPI's nonblocking MPI_Iallreduce (libnbc schedules) ran 2-5x
    // slower than the blocking call at 1-4 MiB here. It cannot wait for a missing rank: agree()
    // has just seen every rank enter this collective (with the timeout). A rank that dies or
    // throws after that point (cancel() while its own header exchange was still polling) leaves
    // the other here without the timeout message; the failing rank's error handling aborts the
    // job (singa_train's does, through MPI_Abort), which ends the wait. NaN + NaN may carry
    // either operand's payload; every other result is the rank-ordered sum's bits.
    SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(numel), type, average ? averageOp_ : MPI_SUM,
                                  comm_));
    SINGA_CHECK(!takeAverageOfTwoMisuse(), CommError,
                "allReduce: the two-rank average op got " << dtypeName(dtype) << " (float32 and float64 only); "
                                                          << "this is a bug in singa's transport choice");
    return;
  }
  if (sharedMemoryActive()) {
    allReduceShared(static_cast<char*>(data), numel, dtype, average);
    return;
  }
  if (hierarchicalActive()) {
    allReduceHierarchical(static_cast<char*>(data), numel, dtype, average);
    return;
  }
  const int64_t esize = static_cast<int64_t>(dtypeSize(dtype));
  const int64_t pieceElems = std::max<int64_t>(size_, kMaxPieceBytes / esize / size_ * size_);
  char* base = static_cast<char*>(data);
  std::vector<int> counts(size_), displs(size_), rcounts(size_), rdispls(size_);
  for (int64_t start = 0; start < numel; start += pieceElems) {
    const int64_t n = std::min(pieceElems, numel - start);
    char* buf = base + start * esize;
    // Chunk c: elements [off(c), off(c) + len(c)); rank c reduces chunk c.
    auto len = [&](int c) { return n / size_ + (c < n % size_ ? 1 : 0); };
    int64_t off = 0;
    for (int c = 0; c < size_; ++c) {
      counts[c] = static_cast<int>(len(c) * esize);
      displs[c] = static_cast<int>(off * esize);
      off += len(c);
    }
    const int64_t mine = len(rank_);
    scratch_.resize(static_cast<size_t>(mine * esize * size_));
    for (int r = 0; r < size_; ++r) {
      rcounts[r] = static_cast<int>(mine * esize);
      rdispls[r] = static_cast<int>(r * mine * esize);
    }
    MPI_Request req;
    SINGA_MPI_CHECK(MPI_Ialltoallv(buf, counts.data(), displs.data(), MPI_BYTE, scratch_.data(), rcounts.data(),
                                   rdispls.data(), MPI_BYTE, comm_, &req));
    wait(req, "allReduce (reduce-scatter phase)");
    char* out = buf + displs[rank_];
    std::vector<const char*> srcs(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) srcs[static_cast<size_t>(r)] = scratch_.data() + rdispls[r];
    reduceInRankOrder(dtype, srcs.data(), mine, size_, out, average);
    SINGA_MPI_CHECK(
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_BYTE, buf, counts.data(), displs.data(), MPI_BYTE, comm_, &req));
    wait(req, "allReduce (allgather phase)");
  }
}


void MpiCommunicator::allReduce(Tensor& t, ReduceOp op) {
  checkCpuContiguous(t, "allReduce");
  const bool average = op == ReduceOp::kAverage;
  SINGA_CHECK(!average || isFloating(t.dtype()), TypeError,
              "mpi allReduce: average needs a floating dtype, the tensor is " << dtypeName(t.dtype())
                                                                             << "; use ReduceOp::kSum for integers");
  auto guard = lock();
  SharedBuffer* shared = sharedBufferAt(t.rawData(), t.numel(), t.dtype());
  // The transport (and which exchange buffer) is part of the header: ranks that disagree on it
  // fail here, not in a timeout.
  agree(average ? CollKind::kAllReduceAverage : CollKind::kAllReduceSum, t.dtype(), t.numel(),
        shared != nullptr ? int64_t{kTransportSharedBuffer} + (shared->id << 8)
                          : int64_t{transportFor(t.numel(), t.dtype())});
  if (shared != nullptr) {
    allReduceSharedBuffer(*shared, average);
    return;
  }
  allReduceBytes(t.rawData(), t.numel(), t.dtype(), average);
}

void MpiCommunicator::broadcast(Tensor& t, int root) {
  checkCpuContiguous(t, "broadcast");
  SINGA_CHECK(root >= 0 && root < size_, CommError,
              "mpi broadcast: root " << root << " is outside [0, " << size_ << ")");
  auto guard = lock();
  agree(CollKind::kBroadcast, t.dtype(), t.numel(), root);
  char* p = static_cast<char*>(t.rawData());
  const int64_t bytes = static_cast<int64_t>(t.nbytes());
  for (int64_t off = 0; off < bytes; off += kMaxPieceBytes) {
    MPI_Request req;
    const int count = static_cast<int>(std::min(kMaxPieceBytes, bytes - off));
    SINGA_MPI_CHECK(MPI_Ibcast(p + off, count, MPI_BYTE, root, comm_, &req));
    wait(req, "broadcast");
  }
}

Tensor MpiCommunicator::allGather(const Tensor& in) {
  checkCpuContiguous(in, "allGather");
  SINGA_CHECK(static_cast<int64_t>(in.nbytes()) * size_ < INT_MAX, CommError,
              "mpi allGather: " << in.nbytes() << " bytes per rank over " << size_
                                << " ranks exceed MPI's 2 GiB count limit; gather smaller tensors");
  Shape s{size_};
  s.insert(s.end(), in.shape().begin(), in.shape().end());
  Tensor out(s, in.dtype());
  auto guard = lock();
  agree(CollKind::kAllGather, in.dtype(), in.numel(), 0);
  MPI_Request req;
  const int bytes = static_cast<int>(in.nbytes());
  SINGA_MPI_CHECK(MPI_Iallgather(in.rawData(), bytes, MPI_BYTE, out.rawData(), bytes, MPI_BYTE, comm_, &req));
  wait(req, "allGather");
  return out;
}

void MpiCommunicator::barrier() {
  auto guard = lock();
  agree(CollKind::kBarrier, DType::kUInt8, 0, 0);
  MPI_Request req;
  SINGA_MPI_CHECK(MPI_Ibarrier(comm_, &req));
  wait(req, "barrier");
}

void MpiCommunicator::abortJob(const std::string& message, int exitCode) {
  std::fprintf(stderr, "singa: rank %d of %d (%s): %s; aborting the job\n", rank_, size_, hostName().c_str(),
               message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  MPI_Abort(MPI_COMM_WORLD, exitCode);
  std::_Exit(exitCode);
}

std::unique_ptr<Communicator> makeMpiCommunicator(const RankInfo& info) {
  return std::make_unique<MpiCommunicator>(info);
}

}  // namespace singa

#else  // !SINGA_USE_MPI

namespace singa {
std::unique_ptr<Communicator> makeMpiCommunicator(const RankInfo&) {
  SINGA_THROW(NotSupportedError, "communicator 'mpi': singa was built without MPI; reconfigure with "
                                 "-DSINGA_USE_MPI=ON (needs libopenmpi-dev)");
}
}  // namespace singa

#endif
