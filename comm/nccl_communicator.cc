// NCCL collectives on CUDA tensors. Headers (mismatch detection), arrival notices and the
// ncclUniqueId go over the MPI backend; the data goes over NCCL on a stream of our own that
// synchronises with the legacy default stream the kernels use. Waits poll cudaStreamQuery and
// ncclCommGetAsyncError against the communicator's deadline; on expiry the NCCL communicator is
// aborted and the job ends with the missing ranks named.
#include "singa/comm/nccl_communicator.h"

#if defined(SINGA_WITH_NCCL) && defined(SINGA_USE_MPI)

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "singa/comm/mpi_communicator.h"

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
    ncclUniqueId id;
    if (mpi_->rank() == 0) SINGA_NCCL_CHECK(ncclGetUniqueId(&id));
    {
      auto guard = mpi_->lock();
      mpi_->agree(CollKind::kBroadcast, DType::kUInt8, static_cast<int64_t>(sizeof(id)), 0);
      MPI_Request req;
      MPI_Ibcast(&id, static_cast<int>(sizeof(id)), MPI_BYTE, 0, mpi_->comm(), &req);
      mpi_->wait(req, "nccl bootstrap (ncclUniqueId broadcast)");
    }
    SINGA_NCCL_CHECK(ncclCommInitRank(&comm_, mpi_->worldSize(), id, mpi_->rank()));
    SINGA_CUDA_COMM_CHECK(cudaStreamCreate(&stream_));
  }
  ~NcclCommunicator() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return mpi_->rank(); }
  int worldSize() const override { return mpi_->worldSize(); }
  int localRank() const override { return mpi_->localRank(); }
  /// The GPU this rank drives.
  int device() const { return device_; }

  void allReduce(Tensor& t, ReduceOp op) override {
    check(t, "allReduce");
    const bool average = op == ReduceOp::kAverage;
    SINGA_CHECK(!average || isFloating(t.dtype()), TypeError,
                "nccl allReduce: average needs a floating dtype, the tensor is " << dtypeName(t.dtype()));
    auto guard = mpi_->lock();
    mpi_->agree(average ? CollKind::kAllReduceAverage : CollKind::kAllReduceSum, t.dtype(), t.numel(), 0);
    SINGA_NCCL_CHECK(ncclAllReduce(t.rawData(), t.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()),
                                   average ? ncclAvg : ncclSum, comm_, stream_));
    waitStream("nccl allReduce");
  }
  void broadcast(Tensor& t, int root) override {
    check(t, "broadcast");
    SINGA_CHECK(root >= 0 && root < worldSize(), CommError,
                "nccl broadcast: root " << root << " is outside [0, " << worldSize() << ")");
    auto guard = mpi_->lock();
    mpi_->agree(CollKind::kBroadcast, t.dtype(), t.numel(), root);
    SINGA_NCCL_CHECK(ncclBroadcast(t.rawData(), t.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()),
                                   root, comm_, stream_));
    waitStream("nccl broadcast");
  }
  Tensor allGather(const Tensor& t) override {
    check(t, "allGather");
    Shape s{worldSize()};
    s.insert(s.end(), t.shape().begin(), t.shape().end());
    Tensor out(s, t.dtype(), t.device());
    auto guard = mpi_->lock();
    mpi_->agree(CollKind::kAllGather, t.dtype(), t.numel(), 0);
    SINGA_NCCL_CHECK(ncclAllGather(t.rawData(), out.rawData(), static_cast<size_t>(t.numel()), ncclType(t.dtype()),
                                   comm_, stream_));
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
  }

  void waitStream(const std::string& what) {
    const auto start = Clock::now();
    for (;;) {
      cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) SINGA_CUDA_COMM_CHECK(e);
      SINGA_CHECK(!cancelled_, CommError, what << " cancelled on rank " << rank() << ": this rank is shutting down");
      ncclResult_t async = ncclSuccess;
      SINGA_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
      if (async != ncclSuccess) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        SINGA_THROW(CommError, what << " failed on rank " << rank() << ": " << ncclGetErrorString(async));
      }
      const double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
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
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> makeNcclCommunicator(const RankInfo& info) {
  return std::make_unique<NcclCommunicator>(info);
}

}  // namespace singa

#else

namespace singa {
std::unique_ptr<Communicator> makeNcclCommunicator(const RankInfo&) {
  SINGA_THROW(NotSupportedError, "communicator 'nccl': singa was built without CUDA/NCCL or without MPI; "
                                 "reconfigure with the CUDA toolkit and NCCL present (SINGA_USE_CUDA=ON) and "
                                 "-DSINGA_USE_MPI=ON");
}
}  // namespace singa

#endif
