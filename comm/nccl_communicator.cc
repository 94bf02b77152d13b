// NCCL collectives on CUDA tensors. Headers (mismatch detection), arrival notices and the
// ncclUniqueId go over the MPI backend; the data goes over NCCL on a stream of our own, which waits
// (on the device, through an event) for everything queued on the compute stream before each
// collective (stream_order.h). Initialisation is non-blocking and bounded by the communicator's
// deadline like every wait: waits poll cudaStreamQuery and ncclCommGetAsyncError; on expiry the
// NCCL communicator is aborted and the job ends with the missing ranks named. A wait that is
// cancelled (this rank shutting down) aborts the NCCL communicator first, so no collective is left
// writing into memory that is about to be freed.
// Built into the CUDA module (kernels/cuda/register.cc calls registerNcclBackend when loaded).
#include "singa/comm/nccl_communicator.h"

namespace singa {
void registerNcclBackend();
}  // namespace singa

#if defined(SINGA_WITH_NCCL) && defined(SINGA_USE_MPI)

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "singa/comm/mpi_communicator.h"
#include "singa/comm/stream_order.h"
#include "singa/kernels/cuda/cuda_device.h"

namespace singa {
namespace {

using Clock = std::chrono::steady_clock;

#define SINGA_CUDA_COMM_CHECK(call)                                                                  \
  do {                                                                                               \
    cudaError_t singa_e_ = (call);                                                                   \
    if (singa_e_ != cudaSuccess)                                                                     \
      SINGA_THROW(CommError, #call << " failed on rank " << mpi_->rank() << " (" << hostName()       \
                                   << "): " << cudaGetErrorString(singa_e_) << " at " << __FILE__ << ":" \
                                   << __LINE__);                                                     \
  } while (0)

#define SINGA_NCCL_CHECK(call)                                                                       \
  do {                                                                                               \
    ncclResult_t singa_r_ = (call);                                                                  \
    if (singa_r_ != ncclSuccess)                                                                     \
      SINGA_THROW(CommError, #call << " failed on rank " << mpi_->rank() << " (" << hostName()       \
                                   << "): " << ncclGetErrorString(singa_r_) << " at " << __FILE__ << ":" \
                                   << __LINE__);                                                     \
  } while (0)

ncclDataType_t ncclType(DType t) {
  switch (t) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat64: return ncclFloat64;
    case DType::kFloat16: return ncclFloat16;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kInt8: return ncclInt8;
    case DType::kInt32: return ncclInt32;
    case DType::kInt64: return ncclInt64;
    case DType::kUInt8: return ncclUint8;
    case DType::kUInt32: return ncclUint32;
    case DType::kUInt64: return ncclUint64;
    default:
      SINGA_THROW(TypeError, "nccl: dtype " << dtypeName(t)
                                            << " has no NCCL type (float32/64, float16, bfloat16, int8/32/64, uint8/32/64)");
  }
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const RankInfo& info) : mpi_(std::make_unique<MpiCommunicator>(info)) {
    timeoutSeconds_ = mpi_->timeout();
    int count = 0;
    SINGA_CUDA_COMM_CHECK(cudaGetDeviceCount(&count));
    SINGA_CHECK(count > 0, CommError, "nccl: rank " << mpi_->rank() << " (" << hostName() << ") sees no GPU");
    device_ = count == 1 ? 0 : mpi_->localRank() % count;
    SINGA_CUDA_COMM_CHECK(cudaSetDevice(device_));
    computeStream_ = cuda::stream(device_);
    SINGA_CUDA_COMM_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    SINGA_CUDA_COMM_CHECK(cudaEventCreateWithFlags(&computeDone_, cudaEventDisableTiming));
    ncclUniqueId id;
    if (mpi_->rank() == 0) SINGA_NCCL_CHECK(ncclGetUniqueId(&id));
    {
      auto guard = mpi_->lock();
      mpi_->agree(CollKind::kBroadcast, DType::kUInt8, static_cast<int64_t>(sizeof(id)), 0);
      MPI_Request req;
      MPI_Ibcast(&id, static_cast<int>(sizeof(id)), MPI_BYTE, 0, mpi_->comm(), &req);
      mpi_->wait(req, "nccl bootstrap (ncclUniqueId broadcast)");
    }
    // Non-blocking initialisation, so that a rank that never joins ends the job at the deadline
    // instead of hanging in ncclCommInitRank.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    try {
      settle(ncclCommInitRankConfig(&comm_, mpi_->worldSize(), id, mpi_->rank(), &config),
             "nccl initialisation (ncclCommInitRankConfig)");
    } catch (...) {
      releaseStreams();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    if (comm_ != nullptr) {
      // ncclCommFinalize is non-blocking on this communicator: it completes queued collectives
      // and the peers' shutdown handshake, polled here within a bound. Then ncclCommDestroy only
      // frees local resources. A collective or a peer that does not finish in time (a rank gone)
      // gets ncclCommAbort instead of a hang. comm_ is never touched after destroy or abort.
      const auto start = Clock::now();
      ncclResult_t state = ncclCommFinalize(comm_);
      while (state == ncclInProgress && std::chrono::duration<double>(Clock::now() - start).count() < 20.0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclInternalError;
      }
      if (state == ncclSuccess) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
      comm_ = nullptr;
    }
    releaseStreams();
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return mpi_->rank(); }
  int worldSize() const override { return mpi_->worldSize(); }
  int localRank() const override { return mpi_->localRank(); }
  std::string hostLayout() const override { return mpi_->hostLayout(); }
  /// The GPU this rank drives.
  int device() const { return device_; }

  void allReduce(Tensor& t, ReduceOp op) override {
    check(t, "allReduce");
    const bool average = op == ReduceOp::kAverage;
    SINGA_CHECK(!average || isFloating(t.dtype()), TypeError,
                "nccl allReduce: average needs a floating dtype, the tensor is " << dtypeName(t.dtype()));
    auto guard = mpi_->lock();
    mpi_->agree(average ? CollKind::kAllReduceAverage : CollKind::kAllReduceSum, t.dtype(), t.numel(), 0);
    enqueue("nccl allReduce", [&] {
      return ncclAllReduce(t.rawData(), t.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()),
                           average ? ncclAvg : ncclSum, comm_, stream_);
    });
    waitStream("nccl allReduce");
  }
  void broadcast(Tensor& t, int root) override {
    check(t, "broadcast");
    SINGA_CHECK(root >= 0 && root < worldSize(), CommError,
                "nccl broadcast: root " << root << " is outside [0, " << worldSize() << ")");
    auto guard = mpi_->lock();
    mpi_->agree(CollKind::kBroadcast, t.dtype(), t.numel(), root);
    enqueue("nccl broadcast", [&] {
      return ncclBroadcast(t.rawData(), t.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()), root,
                           comm_, stream_);
    });
    waitStream("nccl broadcast");
  }
  Tensor allGather(const Tensor& t) override {
    check(t, "allGather");
    Shape s{worldSize()};
    s.insert(s.end(), t.shape().begin(), t.shape().end());
    Tensor out(s, t.dtype(), t.device());
    auto guard = mpi_->lock();
    mpi_->agree(CollKind::kAllGather, t.dtype(), t.numel(), 0);
    enqueue("nccl allGather", [&] {
      return ncclAllGather(t.rawData(), out.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()), comm_,
                           stream_);
    });
    waitStream("nccl allGather");
    return out;
  }
  void barrier() override { mpi_->barrier(); }
  [[noreturn]] void abortJob(const std::string& message, int exitCode) override {
    mpi_->abortJob(message, exitCode);
    __builtin_unreachable();  // abortJob ends the job
  }

 private:
  void check(const Tensor& t, const char* what) const {
    SINGA_CHECK(t.defined(), CommError, "nccl " << what << ": the tensor is undefined");
    SINGA_CHECK(t.device().isCuda(), CommError,
                "nccl " << what << ": the tensor is on " << t.device().str()
                        << "; the nccl backend serves CUDA tensors (use the mpi backend for CPU)");
    SINGA_CHECK(t.device().index == device_, CommError,
                "nccl " << what << ": the tensor is on " << t.device().str() << " but this rank drives cuda:"
                        << device_);
    SINGA_CHECK(t.isContiguous(), CommError, "nccl " << what << ": the tensor must be contiguous");
    SINGA_CHECK(comm_ != nullptr, CommError,
                "nccl " << what << " on rank " << rank() << ": the NCCL communicator was aborted by an earlier failure");
  }

  // The rank's GPU for the calling thread, the compute stream's end as an event, the NCCL stream
  // waiting on it (see stream_order.h).
  struct Streams {
    NcclCommunicator& c;
    void setDevice() {
      NcclCommunicator& self = c;
      cudaError_t e = cudaSetDevice(self.device_);
      if (e != cudaSuccess) self.failCuda(e, "cudaSetDevice");
    }
    void recordComputeDone() {
      cudaError_t e = cudaEventRecord(c.computeDone_, c.computeStream_);
      if (e != cudaSuccess) c.failCuda(e, "cudaEventRecord (compute stream)");
    }
    void commWaitComputeDone() {
      cudaError_t e = cudaStreamWaitEvent(c.stream_, c.computeDone_, 0);
      if (e != cudaSuccess) c.failCuda(e, "cudaStreamWaitEvent (NCCL stream)");
    }
  };

  [[noreturn]] void failCuda(cudaError_t e, const char* call) {
    SINGA_THROW(CommError, call << " failed on rank " << mpi_->rank() << " (" << hostName()
                                << "): " << cudaGetErrorString(e));
  }

  // Queues one collective behind the compute stream and waits for it (the caller holds the lock).
  template <class Launch>
  void enqueue(const std::string& what, Launch&& launch) {
    Streams streams{*this};
    const ncclResult_t r = commdetail::enqueueAfterCompute(streams, launch);
    settle(r, what);
    waitStream(what);
  }

  // A non-blocking communicator may answer ncclInProgress: poll until the call has completed or
  // failed, within the deadline.
  void settle(ncclResult_t r, const std::string& what) {
    const auto start = Clock::now();
    while (r == ncclInProgress) {
      ncclResult_t state = ncclSuccess;
      SINGA_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
      r = state;
      if (r != ncclInProgress) break;
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (cancelled_) {
        abortNccl();
        SINGA_THROW(CommError, what << " cancelled on rank " << rank() << ": this rank is shutting down");
      }
      if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
        abortNccl();
        std::ostringstream os;
        os << what << " did not complete within " << waited << " s on cuda:" << device_
           << " (SINGA_COMM_TIMEOUT / setTimeout); a peer rank did not join";
        mpi_->abortJob(os.str(), 3);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (r != ncclSuccess) {
      const std::string msg = ncclGetErrorString(r);
      abortNccl();
      SINGA_THROW(CommError, what << " failed on rank " << rank() << " (" << hostName() << "): " << msg);
    }
  }

  // The stream (drained first) and the event; the communicator must be gone already.
  void releaseStreams() {
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
      stream_ = nullptr;
    }
    if (computeDone_ != nullptr) {
      cudaEventDestroy(computeDone_);
      computeDone_ = nullptr;
    }
    cudaGetLastError();
  }

  // Ends the NCCL communicator (its kernels exit), then lets the stream drain, so nothing is left
  // writing into tensors after an error or a cancelled wait.
  void abortNccl() {
    if (comm_ != nullptr) {
      ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    cudaStreamSynchronize(stream_);
    cudaGetLastError();
  }

  void waitStream(const std::string& what) {
    const auto start = Clock::now();
    for (;;) {
      cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) SINGA_CUDA_COMM_CHECK(e);
      if (cancelled_) {
        abortNccl();
        SINGA_THROW(CommError, what << " cancelled on rank " << rank() << ": this rank is shutting down");
      }
      ncclResult_t async = ncclSuccess;
      SINGA_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
      if (async != ncclSuccess && async != ncclInProgress) {
        abortNccl();
        SINGA_THROW(CommError, what << " failed on rank " << rank() << ": " << ncclGetErrorString(async));
      }
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
        abortNccl();
        std::ostringstream os;
        os << what << " did not complete within " << waited
           << " s on cuda:" << device_ << " (SINGA_COMM_TIMEOUT / setTimeout); a peer rank did not join";
        mpi_->abortJob(os.str(), 3);
      }
      std::this_thread::yield();
    }
  }

  std::unique_ptr<MpiCommunicator> mpi_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;         // NCCL's
  cudaStream_t computeStream_ = nullptr;  // the kernels' (cuda::stream(device_))
  cudaEvent_t computeDone_ = nullptr;
  int device_ = 0;
};

std::unique_ptr<Communicator> makeNccl(const RankInfo& info) { return std::make_unique<NcclCommunicator>(info); }

}  // namespace

void registerNcclBackend() { registerNcclCommunicator(&makeNccl); }

}  // namespace singa

#else

namespace singa {
void registerNcclBackend() {}  // the CUDA module without NCCL or MPI: makeNcclCommunicator says so
}  // namespace singa

#endif
