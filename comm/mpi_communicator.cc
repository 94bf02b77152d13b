// The MPI backend. Every collective is (1) an arrival notice to every peer on a side
// communicator, (2) a header allgather that catches mismatched calls, (3) the data movement with
// non-blocking MPI polled against a deadline. allReduce gives each rank one chunk of the buffer
// to sum in rank order and hands the sums back: through a shared-memory segment when every rank
// runs on one node, else alltoall + local sum + allgather (the bytes of a ring all-reduce,
// 2(n-1)/n of the buffer per rank). Exchange buffers (exchangeBuffer(): the DistributedOptimizer's
// gradient buckets) live in shared memory of their own and are reduced in place, each rank
// reading its chunk of every rank's buffer directly and storing the sum into all of them. Either
// way every rank and every run gets the same bits.
#include "singa/comm/mpi_communicator.h"

#ifdef SINGA_USE_MPI

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include <type_traits>

namespace singa {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kArriveTag = 7301;
constexpr int64_t kMaxPieceBytes = int64_t{1} << 30;  // MPI counts are int

#define SINGA_MPI_CHECK(call)                                                                     \
  do {                                                                                            \
    int singa_mpi_rc_ = (call);                                                                   \
    if (singa_mpi_rc_ != MPI_SUCCESS) {                                                           \
      char singa_mpi_msg_[MPI_MAX_ERROR_STRING] = {0};                                            \
      int singa_mpi_len_ = 0;                                                                     \
      MPI_Error_string(singa_mpi_rc_, singa_mpi_msg_, &singa_mpi_len_);                           \
      SINGA_THROW(CommError, #call << " failed on rank " << rank_ << " (" << hostName()           \
                                   << "): " << singa_mpi_msg_ << " at " << __FILE__ << ":" << __LINE__); \
    }                                                                                             \
  } while (0)

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

template <class T> struct Accum { using type = T; };
template <> struct Accum<Half> { using type = float; };
template <> struct Accum<BFloat16> { using type = float; };
template <> struct Accum<bool> { using type = int; };

// x + y in the accumulation type (then halved for an average), as T: the two-rank reduction.
// * 0.5 is x / 2 exactly (the same correctly rounded value), and much cheaper than a division.
template <class T, bool Average>
T pairValue(T x, T y) {
  using A = typename Accum<T>::type;
  const A s = static_cast<A>(static_cast<A>(x) + static_cast<A>(y));
  if constexpr (!Average) {
    return T(s);
  } else if constexpr (std::is_floating_point_v<A>) {
    return T(s * A(0.5));
  } else {
    return T(s / A(2));
  }
}

// srcs[0][i] + srcs[1][i] + ... + srcs[n-1][i], summed in rank order (then divided by n for an
// average), as T.
template <class T>
T rankOrderValue(const char* const* srcs, int n, int64_t i, bool average) {
  using A = typename Accum<T>::type;
  A s = static_cast<A>(reinterpret_cast<const T*>(srcs[0])[i]);
  for (int r = 1; r < n; ++r) s = static_cast<A>(s + static_cast<A>(reinterpret_cast<const T*>(srcs[r])[i]));
  if (average) s = static_cast<A>(s / static_cast<A>(n));
  if constexpr (std::is_same_v<T, bool>) {
    return s != 0;
  } else {
    return T(s);
  }
}

// Two-operand sums run as loops the compiler vectorises: the types whose sum needs no wider
// accumulator kept across ranks.
template <class T>
constexpr bool kPairLoop = !std::is_same_v<T, bool> && !std::is_same_v<T, Half> && !std::is_same_v<T, BFloat16>;

// dst[i] = rankOrderValue(srcs, i). The staging transports and the exchange buffers call this, so
// they give the same bits.
template <class T>
void reduceInRankOrder(const char* const* srcs, int64_t count, int n, char* out, bool average) {
  T* __restrict dst = reinterpret_cast<T*>(out);
  // Serial on purpose: this may run on the communication thread while the compute threads
  // (OpenMP) run backward; the loop is memory-bound anyway.
  if constexpr (kPairLoop<T>) {
    if (n == 2) {  // the common case (same arithmetic, same bits)
      const T* __restrict src0 = reinterpret_cast<const T*>(srcs[0]);
      const T* __restrict src1 = reinterpret_cast<const T*>(srcs[1]);
      if (average) {
        for (int64_t i = 0; i < count; ++i) dst[i] = pairValue<T, true>(src0[i], src1[i]);
      } else {
        for (int64_t i = 0; i < count; ++i) dst[i] = pairValue<T, false>(src0[i], src1[i]);
      }
      return;
    }
  }
  for (int64_t i = 0; i < count; ++i) dst[i] = rankOrderValue<T>(srcs, n, i, average);
}

// MPI reduction op of the two-rank direct path's average: inout = (in + inout) * 0.5. With two
// ranks MPI applies it exactly once per element, giving reduceInRankOrder's bits without a
// second pass over the result (which, after Open MPI's single-copy transfer, is not in cache).
// Built for AVX-512, AVX2 and the baseline on x86-64, picked at load time (as MPI's own sums are).
#if defined(__x86_64__) && defined(__GNUC__)
#define SINGA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SINGA_CLONES
#endif
SINGA_CLONES void halfSumFloat(const float* __restrict a, float* __restrict b, int count) {
  for (int i = 0; i < count; ++i) b[i] = (a[i] + b[i]) * 0.5f;
}

SINGA_CLONES void halfSumDouble(const double* __restrict a, double* __restrict b, int count) {
  for (int i = 0; i < count; ++i) b[i] = (a[i] + b[i]) * 0.5;
}

// Registered for MPI_FLOAT and MPI_DOUBLE only (transportFor): anything else is a bug, and MPI
// ops cannot throw.
void averageOfTwo(void* in, void* inout, int* len, MPI_Datatype* type) {
  if (*type == MPI_FLOAT) {
    halfSumFloat(static_cast<const float*>(in), static_cast<float*>(inout), *len);
  } else if (*type == MPI_DOUBLE) {
    halfSumDouble(static_cast<const double*>(in), static_cast<double*>(inout), *len);
  } else {
    std::fprintf(stderr, "singa: the two-rank average op got a datatype other than float or double\n");
    std::abort();
  }
}

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
  MPI_Comm node;
  MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &localRank_);
  MPI_Comm_free(&node);
  arrived_.assign(static_cast<size_t>(size_), 0);
  timeoutSeconds_ = commTimeoutFromEnv(timeoutSeconds_);
  if (info.source != "single" && info.worldSize != size_) {
    SINGA_THROW(CommError, "the launcher (" << info.source << ") started " << info.worldSize
                                            << " ranks but MPI sees a world of " << size_
                                            << "; under Slurm use `srun --mpi=pmix` (pmi2 and no --mpi give "
                                               "each task a world of its own)");
  }
  buffers_ = std::make_shared<BufferRegistry>();
  createSharedSegment();
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

void MpiCommunicator::timedOut(const std::string& what, double waited) {
  // Give late notices a moment to land before naming the missing ranks.
  for (int i = 0; i < 20; ++i) {
    drainArrivals();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ostringstream missing;
  int count = 0;
  for (int r = 0; r < size_; ++r) {
    if (arrived_[static_cast<size_t>(r)] >= seq_) continue;
    missing << (count++ ? ", " : "") << r << " (last seen at collective #" << arrived_[static_cast<size_t>(r)]
            << ")";
  }
  std::ostringstream msg;
  msg << what << " (collective #" << seq_ << ") did not complete within " << waited
      << " s (SINGA_COMM_TIMEOUT / setTimeout); ranks that did not arrive: "
      << (count ? missing.str() : std::string("none (all arrived; the transfer itself stalled)"));
  abortJob(msg.str(), 3);
  __builtin_unreachable();  // abortJob ends the job
}

void MpiCommunicator::wait(MPI_Request& request, const std::string& what) {
  const auto start = Clock::now();
  int done = 0;
  for (int64_t polls = 0;; ++polls) {
    SINGA_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    SINGA_CHECK(!cancelled_, CommError, what << " cancelled on rank " << rank_ << ": this rank is shutting down");
    if (polls < 256) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) timedOut(what, waited);
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
        os << (transport == kTransportDirect ? " through MPI_Allreduce"
               : transport == kTransportShared ? " through shared memory" : " through MPI");
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
  if (size_ == 2 && native && numel * static_cast<int64_t>(dtypeSize(dtype)) <= limit) return kTransportDirect;
  return sharedMemoryActive() ? kTransportShared : kTransportMpi;
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
    return;
  }
  if (sharedMemoryActive()) {
    allReduceShared(static_cast<char*>(data), numel, dtype, average);
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
    SINGA_DISPATCH_ALL(dtype, T, reduceInRankOrder<T>(srcs.data(), mine, size_, out, average));
    SINGA_MPI_CHECK(
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_BYTE, buf, counts.data(), displs.data(), MPI_BYTE, comm_, &req));
    wait(req, "allReduce (allgather phase)");
  }
}

// ---- shared-memory all-reduce (every rank on one node) ----------------------------------------
//
// Rank 0 creates a POSIX shared-memory object, every rank maps it, and rank 0 unlinks the name
// at once, so nothing is left behind however the job ends. Per rank: a 64-byte header with two
// counters (written by that rank only), a slot for one piece of the buffer and a result area for
// the rank's chunk of that piece. For piece g (a counter every rank advances in step):
//   1. wait until every rank has reduced piece g-1 (so nobody still reads this rank's slot),
//      copy the piece into the slot, publish copied = g;
//   2. wait until every rank has copied piece g, sum chunk `rank` of every slot in rank order into
//      the result area, publish reduced = g;
//   3. wait until every rank has reduced piece g, copy every rank's result into the buffer.
// A rank overwrites its result area only in step 2 of piece g+1, after every rank published
// copied = g+1, i.e. after every rank finished step 3 of piece g.

int64_t* MpiCommunicator::flagOf(int r, int which) const {
  return reinterpret_cast<int64_t*>(shm_ + r * rankStride_) + which;
}
char* MpiCommunicator::slotOf(int r) const { return shm_ + r * rankStride_ + 64; }
char* MpiCommunicator::resultOf(int r) const { return shm_ + r * rankStride_ + 64 + slotBytes_; }

void MpiCommunicator::createSharedSegment() {
  if (size_ < 2) return;
  // Every rank joins the same collectives whatever its own environment says: the segment is used
  // only when no rank turned it off and the whole world shares this node.
  const char* env = std::getenv("SINGA_MPI_SHM");
  const bool wanted = env == nullptr || std::string(env) != "0";
  MPI_Comm node;
  SINGA_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  int nodeSize = 0;
  SINGA_MPI_CHECK(MPI_Comm_size(node, &nodeSize));
  MPI_Comm_free(&node);
  int use = wanted && nodeSize == size_ ? 1 : 0;
  SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &use, 1, MPI_INT, MPI_MIN, comm_));
  if (!use) return;  // turned off somewhere, or ranks on several nodes: the MPI path

  // Small pieces keep a piece's slots and results in cache while the ranks copy, reduce and copy
  // back: on the 2-core machine 128 KiB gave 3 GB/s at 4-64 MiB against 1.9 GB/s with 1 MiB
  // pieces and 1.3 GB/s with 4 MiB (tests/bench_allreduce).
  slotBytes_ = int64_t{128} << 10;
  resultBytes_ = (slotBytes_ / size_ + 64 + 63) / 64 * 64;
  rankStride_ = 64 + slotBytes_ + resultBytes_;
  shmBytes_ = rankStride_ * size_;
  std::string why;
  shm_ = mapNodeSegment(shmBytes_, rankStride_, why);
  if (shm_ == nullptr && !why.empty()) {
    std::fprintf(stderr, "singa: rank %d: no shared-memory segment for the all-reduce (%s, %lld bytes in /dev/shm); "
                 "using MPI point-to-point instead\n", rank_, why.c_str(), static_cast<long long>(shmBytes_));
  }
}

char* MpiCommunicator::mapNodeSegment(int64_t bytes, int64_t perRank, std::string& why) {
  char name[64] = {0};
  int ok = 1;
  // Rank 0 removes the name however this function ends (every rank has it open by then, or the
  // segment is not used); descriptors are closed and a mapping not handed out is unmapped.
  struct Cleanup {
    const char* name = nullptr;
    int fd = -1;
    void* map = MAP_FAILED;
    size_t bytes = 0;
    ~Cleanup() {
      if (map != MAP_FAILED) munmap(map, bytes);
      if (fd >= 0) close(fd);
      if (name != nullptr) shm_unlink(name);
    }
  } cleanup;
  cleanup.bytes = static_cast<size_t>(bytes);
  if (rank_ == 0) {
    static std::atomic<int64_t> counter{0};
    std::snprintf(name, sizeof name, "/singa-allreduce-%ld-%ld-%ld", static_cast<long>(getpid()),
                  static_cast<long>(Clock::now().time_since_epoch().count() % 1000000007),
                  static_cast<long>(counter++));
    cleanup.fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (cleanup.fd < 0) {
      ok = 0, why = std::string("shm_open: ") + std::strerror(errno);
    } else {
      cleanup.name = name;
      if (ftruncate(cleanup.fd, bytes) != 0) ok = 0, why = std::string("ftruncate: ") + std::strerror(errno);
    }
  }
  SINGA_MPI_CHECK(MPI_Bcast(name, sizeof name, MPI_CHAR, 0, comm_));
  SINGA_MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, comm_));
  if (ok && rank_ != 0) {
    cleanup.fd = shm_open(name, O_RDWR, 0600);
    if (cleanup.fd < 0) ok = 0, why = std::string("shm_open: ") + std::strerror(errno);
  }
  // Each rank reserves its own part now: a full /dev/shm is an error here, not a SIGBUS later,
  // and the pages come from the rank's own NUMA node (the rank writes them every step).
  if (ok) {
    if (int rc = posix_fallocate(cleanup.fd, rank_ * perRank, perRank); rc != 0) {
      ok = 0, why = std::string("posix_fallocate: ") + std::strerror(rc);
    }
  }
  if (ok) {
    cleanup.map = mmap(nullptr, cleanup.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, cleanup.fd, 0);
    if (cleanup.map == MAP_FAILED) ok = 0, why = std::string("mmap: ") + std::strerror(errno);
  }
  int allOk = ok;
  SINGA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &allOk, 1, MPI_INT, MPI_MIN, comm_));
  if (!allOk) return nullptr;
  void* p = cleanup.map;
  cleanup.map = MAP_FAILED;  // the caller's now
  return static_cast<char*>(p);
}

void MpiCommunicator::waitFlags(int which, int64_t gen, const char* what) {
  waitCounters(shm_, rankStride_, which, gen, what);
}

void MpiCommunicator::waitCounters(char* base, int64_t stride, int which, int64_t gen, const char* what) {
  auto counter = [&](int r) { return reinterpret_cast<int64_t*>(base + r * stride) + which; };
  const auto start = Clock::now();
  for (int64_t polls = 0;; ++polls) {
    bool all = true;
    for (int r = 0; r < size_ && all; ++r) all = __atomic_load_n(counter(r), __ATOMIC_ACQUIRE) >= gen;
    if (all) return;
    SINGA_CHECK(!cancelled_, CommError, what << " cancelled on rank " << rank_ << ": this rank is shutting down");
    if (polls < 256) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
      // Every rank passed agree(): name the ranks that stopped inside this all-reduce.
      std::ostringstream late;
      int count = 0;
      for (int r = 0; r < size_; ++r) {
        if (__atomic_load_n(counter(r), __ATOMIC_ACQUIRE) < gen) late << (count++ ? ", " : "") << r;
      }
      std::ostringstream msg;
      msg << what << " (collective #" << seq_ << ") did not complete within " << waited
          << " s (SINGA_COMM_TIMEOUT / setTimeout); ranks that entered it but did not reach this phase: "
          << late.str();
      abortJob(msg.str(), 3);
    }
    backOff(waited);
  }
}

// A cancelled wait (cancel(): the rank is shutting down) leaves the counters mid-piece; like an
// abandoned MPI request on the other path, the communicator is not used again after that.
void MpiCommunicator::allReduceShared(char* data, int64_t numel, DType dtype, bool average) {
  const int64_t esize = static_cast<int64_t>(dtypeSize(dtype));
  const int64_t pieceElems = slotBytes_ / esize;
  std::vector<const char*> srcs(static_cast<size_t>(size_));
  for (int64_t start = 0; start < numel; start += pieceElems) {
    const int64_t n = std::min(pieceElems, numel - start);
    char* buf = data + start * esize;
    auto off = [&](int c) { return c * (n / size_) + std::min<int64_t>(c, n % size_); };
    const int64_t g = ++gen_;
    waitFlags(1, g - 1, "allReduce (shared memory, slot reuse)");
    std::memcpy(slotOf(rank_), buf, static_cast<size_t>(n * esize));
    __atomic_store_n(flagOf(rank_, 0), g, __ATOMIC_RELEASE);
    waitFlags(0, g, "allReduce (shared memory, reduce phase)");
    const int64_t mine = off(rank_ + 1) - off(rank_);
    for (int r = 0; r < size_; ++r) srcs[static_cast<size_t>(r)] = slotOf(r) + off(rank_) * esize;
    SINGA_DISPATCH_ALL(dtype, T, reduceInRankOrder<T>(srcs.data(), mine, size_, resultOf(rank_), average));
    __atomic_store_n(flagOf(rank_, 1), g, __ATOMIC_RELEASE);
    waitFlags(1, g, "allReduce (shared memory, gather phase)");
    for (int c = 0; c < size_; ++c) {
      std::memcpy(buf + off(c) * esize, resultOf(c), static_cast<size_t>((off(c + 1) - off(c)) * esize));
    }
  }
}

// ---- exchange buffers: shared-memory buffers reduced in place -------------------------------
//
// One segment per buffer: per rank a 128-byte header (two counters, written by that rank only)
// and then the rank's buffer. For the g-th all-reduce of the buffer, with chunk c of the elements
// reduced by rank c:
//   1. publish written = g (this rank's values are in place), wait for every rank's;
//   2. sum chunk `rank` of every rank's buffer in rank order (a block at a time, into a small
//      local block) and store the block into chunk `rank` of every rank's buffer; publish
//      reduced = g, wait for every rank's. Then every buffer holds every reduced chunk, and no
//      rank reads or writes another's buffer any more, so the next backward may write into it.
// In step 2 chunk c of every buffer is read and written by rank c only. Each rank pushes its
// result to the others rather than the others pulling it: a pull reads lines the owner has just
// written (still dirty in its cache). In CNN training on the 2-core VM the pull of a 0.86 MB chunk
// took 0.03-0.40 ms, depending on the host's state, against 0.08-0.10 ms for the reduction that
// reads twice the bytes, while stores into the peers' lines stream through the store buffer (the
// whole exchange took 0.11-0.20 ms this way and 0.14-0.48 ms that way); it also saves a third
// handshake.

namespace {
constexpr int64_t kBufferHeader = 128;
}

struct MpiCommunicator::SharedBuffer {
  char* base = nullptr;  // the segment
  int64_t stride = 0;    // bytes per rank: header + buffer, whole pages
  int64_t numel = 0;
  DType dtype = DType::kFloat32;
  int64_t id = 0;   // creation index, the same on every rank
  int64_t gen = 0;  // all-reduces so far
};

struct MpiCommunicator::BufferRegistry {
  std::mutex mutex;
  std::map<const void*, SharedBuffer> byData;  // keyed by this rank's data address
};

Tensor MpiCommunicator::exchangeBuffer(int64_t numel, DType dtype, Device device) {
  SINGA_CHECK(numel >= 0, ValueError, "exchangeBuffer: numel must be >= 0, got " << numel);
  if (!sharedMemoryActive() || !device.isCpu() || numel == 0) return Communicator::exchangeBuffer(numel, dtype, device);
  auto guard = lock();
  // Every rank must map the same size: a mismatch is a CommError here, not a SIGBUS later.
  agree(CollKind::kExchangeBuffer, dtype, numel, 0);
  const int64_t esize = static_cast<int64_t>(dtypeSize(dtype));
  const int64_t stride = (kBufferHeader + numel * esize + 4095) / 4096 * 4096;
  std::string why;
  char* base = mapNodeSegment(stride * size_, stride, why);
  if (base == nullptr) {
    if (!why.empty()) {
      std::fprintf(stderr, "singa: rank %d: an exchange buffer of %lld bytes per rank stays in private memory (%s; "
                   "/dev/shm needs %lld bytes); its all-reduces copy through the usual transport\n", rank_,
                   static_cast<long long>(numel * esize), why.c_str(), static_cast<long long>(stride * size_));
    }
    return Communicator::exchangeBuffer(numel, dtype, device);
  }
  const size_t mapped = static_cast<size_t>(stride * size_);
  struct Unmap {  // until the storage owns the mapping
    char* base;
    size_t bytes;
    ~Unmap() {
      if (base != nullptr) munmap(base, bytes);
    }
  } unmap{base, mapped};
  // Fresh pages read as zero: the counters start at 0 and the buffer is zeroed.
  char* data = base + rank_ * stride + kBufferHeader;
  std::shared_ptr<BufferRegistry> registry = buffers_;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(data, static_cast<size_t>(numel * esize), Device::cpu(),
                                            [registry, base, mapped](void* d) {
                                              {
                                                std::lock_guard<std::mutex> lk(registry->mutex);
                                                registry->byData.erase(d);
                                              }
                                              munmap(base, mapped);
                                            });
  unmap.base = nullptr;
  {
    std::lock_guard<std::mutex> lk(buffers_->mutex);
    buffers_->byData[data] = SharedBuffer{base, stride, numel, dtype, nextBufferId_++, 0};
  }
  impl->shape = {numel};
  impl->strides = {1};
  impl->dtype = dtype;
  return Tensor(impl);
}

MpiCommunicator::SharedBuffer* MpiCommunicator::sharedBufferAt(const void* data, int64_t numel, DType dtype) {
  std::lock_guard<std::mutex> lk(buffers_->mutex);
  auto it = buffers_->byData.find(data);
  if (it == buffers_->byData.end() || it->second.numel != numel || it->second.dtype != dtype) return nullptr;
  return &it->second;  // stays valid while the caller's tensor keeps the storage alive
}

bool MpiCommunicator::isSharedExchangeBuffer(const Tensor& t) {
  return t.defined() && t.device().isCpu() && t.isContiguous() &&
         sharedBufferAt(t.rawData(), t.numel(), t.dtype()) != nullptr;
}

void MpiCommunicator::allReduceSharedBuffer(SharedBuffer& b, bool average) {
  const int64_t esize = static_cast<int64_t>(dtypeSize(b.dtype));
  const int64_t n = b.numel;
  auto off = [&](int c) { return c * (n / size_) + std::min<int64_t>(c, n % size_); };
  auto counter = [&](int which) { return reinterpret_cast<int64_t*>(b.base + rank_ * b.stride) + which; };
  auto data = [&](int r) { return b.base + r * b.stride + kBufferHeader; };
  const int64_t g = ++b.gen;
  __atomic_store_n(counter(0), g, __ATOMIC_RELEASE);
  waitCounters(b.base, b.stride, 0, g, "allReduce (exchange buffer, values written)");
  const int64_t first = off(rank_), count = off(rank_ + 1) - first;
  // A block small enough for L1: the sources are read, then it is stored into every buffer.
  alignas(64) char block[8192];
  const int64_t perBlock = static_cast<int64_t>(sizeof(block)) / esize;
  std::vector<const char*> srcs(static_cast<size_t>(size_));
  for (int64_t at = 0; at < count; at += perBlock) {
    const int64_t len = std::min(perBlock, count - at);
    const int64_t byteOffset = (first + at) * esize;
    for (int r = 0; r < size_; ++r) srcs[static_cast<size_t>(r)] = data(r) + byteOffset;
    SINGA_DISPATCH_ALL(b.dtype, T, reduceInRankOrder<T>(srcs.data(), len, size_, block, average));
    for (int r = 0; r < size_; ++r) std::memcpy(data(r) + byteOffset, block, static_cast<size_t>(len * esize));
  }
  __atomic_store_n(counter(1), g, __ATOMIC_RELEASE);
  waitCounters(b.base, b.stride, 1, g, "allReduce (exchange buffer, reduce phase)");
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
