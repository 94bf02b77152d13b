// The MPI backend's shared-memory transport, used when every rank runs on one node: the node
// segment that stages allReduce's pieces (copy in, reduce own chunk in rank order, copy out) and
// the exchange buffers that are reduced in place. Both hand out the same bits as the MPI path
// (rank_order_reduce.h). The protocol around them (arrival notices, the header agreement, the
// choice of transport) lives in mpi_communicator.cc.
#include "singa/comm/mpi_shared_memory.h"

#ifdef SINGA_USE_MPI

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "singa/comm/mpi_internal.h"
#include "singa/comm/rank_order_reduce.h"

namespace singa {

using mpi_detail::backOff;
using mpi_detail::Clock;

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
  return mapSegment(comm_, bytes, perRank, why);
}

char* MpiCommunicator::mapSegment(MPI_Comm group, int64_t bytes, int64_t perRank, std::string& why) {
  char name[64] = {0};
  int ok = 1, groupRank = 0, groupSize = 1;
  SINGA_MPI_CHECK(MPI_Comm_rank(group, &groupRank));
  SINGA_MPI_CHECK(MPI_Comm_size(group, &groupSize));
  // The group's rank 0 removes the name however this function ends (every rank has it open by
  // then, or the segment is not used); descriptors are closed and a mapping not handed out is
  // unmapped.
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
  // The job's token tells jobs apart, the node index the nodes of one job whose "hosts" share a
  // kernel (containers, network namespaces), the count the segments of this communicator.
  const int64_t serial = segmentsCreated_++;
  if (groupRank == 0) {
    std::snprintf(name, sizeof name, "/singa-%016llx-%d-%lld", static_cast<unsigned long long>(jobToken_),
                  nodeIndex_, static_cast<long long>(serial));
    cleanup.fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (cleanup.fd < 0) {
      ok = 0, why = std::string("shm_open: ") + std::strerror(errno);
    } else {
      cleanup.name = name;
      if (ftruncate(cleanup.fd, bytes) != 0) ok = 0, why = std::string("ftruncate: ") + std::strerror(errno);
    }
  }
  SINGA_MPI_CHECK(MPI_Bcast(name, sizeof name, MPI_CHAR, 0, group));
  SINGA_MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, group));
  if (ok && groupRank != 0) {
    cleanup.fd = shm_open(name, O_RDWR, 0600);
    if (cleanup.fd < 0) ok = 0, why = std::string("shm_open: ") + std::strerror(errno);
  }
  // Each rank reserves its own part now (rank 0 also what lies past every rank's part): a full
  // /dev/shm is an error here, not a SIGBUS later, and the pages come from the rank's own NUMA
  // node (the rank writes them every step).
  if (ok) {
    int64_t from = groupRank * perRank, len = perRank;
    if (groupRank == 0 && bytes > groupSize * perRank) {
      if (int rc = posix_fallocate(cleanup.fd, groupSize * perRank, bytes - groupSize * perRank); rc != 0) {
        ok = 0, why = std::string("posix_fallocate: ") + std::strerror(rc);
      }
    }
    if (int rc = ok ? posix_fallocate(cleanup.fd, from, len) : 0; rc != 0) {
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
  waitCounters(base, stride, size_, 0, which, gen, what);
}

void MpiCommunicator::waitCounters(char* base, int64_t stride, int count, int firstRank, int which, int64_t gen,
                                   const char* what) {
  auto counter = [&](int r) { return reinterpret_cast<int64_t*>(base + r * stride) + which; };
  const auto start = Clock::now();
  for (int64_t polls = 0;; ++polls) {
    bool all = true;
    for (int r = 0; r < count && all; ++r) all = __atomic_load_n(counter(r), __ATOMIC_ACQUIRE) >= gen;
    if (all) return;
    SINGA_CHECK(!cancelled_, CommError, what << " cancelled on rank " << rank_ << ": this rank is shutting down");
    if (polls < 256) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
      // Every rank passed agree(): name the ranks that stopped inside this all-reduce.
      std::ostringstream late;
      int lateCount = 0;
      for (int r = 0; r < count; ++r) {
        if (__atomic_load_n(counter(r), __ATOMIC_ACQUIRE) < gen) late << (lateCount++ ? ", " : "") << firstRank + r;
      }
      std::ostringstream msg;
      msg << what << " (collective #" << seq_ << ") did not complete within " << waited
          << " s (SINGA_COMM_TIMEOUT / setTimeout); ranks that entered it but did not reach this phase: "
          << late.str();
      abortAfterTimeout(msg.str());
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
    reduceInRankOrder(dtype, srcs.data(), mine, size_, resultOf(rank_), average);
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
constexpr int64_t kBufferHeader = 128;  // per rank, before its buffer: the two counters
}  // namespace

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
    reduceInRankOrder(b.dtype, srcs.data(), len, size_, block, average);
    for (int r = 0; r < size_; ++r) std::memcpy(data(r) + byteOffset, block, static_cast<size_t>(len * esize));
  }
  __atomic_store_n(counter(1), g, __ATOMIC_RELEASE);
  waitCounters(b.base, b.stride, 1, g, "allReduce (exchange buffer, reduce phase)");
}

}  // namespace singa

#endif  // SINGA_USE_MPI
