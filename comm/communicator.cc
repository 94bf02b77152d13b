// The local backend, the backend factory, and the job-wide abort paths (abortJob, the
// std::terminate hook).
#include "singa/comm/communicator.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>

#include "singa/comm/mpi_communicator.h"
#include "singa/comm/nccl_communicator.h"

namespace singa {
namespace {

void checkFloatForAverage(const Tensor& t, ReduceOp op, const char* backend) {
  SINGA_CHECK(op != ReduceOp::kAverage || isFloating(t.dtype()), TypeError,
              backend << " allReduce: average needs a floating dtype, the tensor is " << dtypeName(t.dtype())
                      << "; use ReduceOp::kSum for integers");
}

class LocalCommunicator final : public Communicator {
 public:
  std::string backend() const override { return "local"; }
  int rank() const override { return 0; }
  int worldSize() const override { return 1; }
  int localRank() const override { return 0; }
  void allReduce(Tensor& t, ReduceOp op) override {
    SINGA_CHECK(t.defined(), CommError, "local allReduce: the tensor is undefined");
    checkFloatForAverage(t, op, "local");
  }
  void broadcast(Tensor& t, int root) override {
    SINGA_CHECK(t.defined(), CommError, "local broadcast: the tensor is undefined");
    SINGA_CHECK(root == 0, CommError, "local broadcast: root " << root << " is outside [0, 1)");
  }
  Tensor allGather(const Tensor& t) override {
    SINGA_CHECK(t.defined(), CommError, "local allGather: the tensor is undefined");
    Shape s{1};
    s.insert(s.end(), t.shape().begin(), t.shape().end());
    return t.clone().reshape(s);
  }
  void barrier() override {}
};

Communicator* gAbortComm = nullptr;

[[noreturn]] void terminateHandler() {
  std::string what = "terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = std::string("uncaught exception: ") + ex.what();
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  if (gAbortComm != nullptr) gAbortComm->abortJob(what, 1);
  std::fprintf(stderr, "singa: %s\n", what.c_str());
  std::abort();  // a terminate handler must not return (std::terminate's contract); abort() as the default one does
}

}  // namespace

Tensor Communicator::exchangeBuffer(int64_t numel, DType dtype, Device device) {
  SINGA_CHECK(numel >= 0, ValueError, "exchangeBuffer: numel must be >= 0, got " << numel);
  return Tensor::zeros({numel}, dtype, device);
}

std::string Communicator::hostLayout() const {
  std::vector<int> nodeOfRank(static_cast<size_t>(worldSize()), 0);
  return formatHostLayout(nodeOfRank, {hostName()});
}

std::string formatRanks(const std::vector<int>& ranks) {
  std::ostringstream os;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;  // ranks[i..j] consecutive
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    os << (i ? "," : "") << ranks[i];
    if (j >= i + 2) {
      os << "-" << ranks[j];
    } else if (j == i + 1) {
      os << "," << ranks[j];
    }
    i = j + 1;
  }
  return os.str();
}

std::string formatHostLayout(const std::vector<int>& nodeOfRank, const std::vector<std::string>& nodeNames) {
  const int nodes = static_cast<int>(nodeNames.size());
  std::ostringstream os;
  os << nodes << (nodes == 1 ? " host:" : " hosts:");
  for (int node = 0; node < nodes; ++node) {
    std::vector<int> ranks;
    for (size_t r = 0; r < nodeOfRank.size(); ++r) {
      if (nodeOfRank[r] == node) ranks.push_back(static_cast<int>(r));
    }
    os << " " << nodeNames[static_cast<size_t>(node)] << "[" << formatRanks(ranks) << "]";
  }
  return os.str();
}

void Communicator::abortJob(const std::string& message, int exitCode) {
  std::fprintf(stderr, "singa: rank %d of %d (%s): %s; aborting the job\n", rank(), worldSize(),
               hostName().c_str(), message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(exitCode);
}

std::unique_ptr<Communicator> makeLocalCommunicator() { return std::make_unique<LocalCommunicator>(); }

namespace {
std::atomic<NcclCommunicatorFactory> gMakeNccl{nullptr};
}  // namespace

void registerNcclCommunicator(NcclCommunicatorFactory make) { gMakeNccl.store(make); }

std::unique_ptr<Communicator> makeNcclCommunicator(const RankInfo& info) {
  if (!loadDeviceModule(DeviceType::kCuda)) {
#ifdef SINGA_USE_CUDA
    SINGA_THROW(NotSupportedError, "communicator 'nccl': " << deviceUnavailableReason(DeviceType::kCuda));
#else
    SINGA_THROW(NotSupportedError, "communicator 'nccl': singa was built without CUDA; reconfigure with the CUDA "
                                   "toolkit and NCCL present (SINGA_USE_CUDA=ON)");
#endif
  }
  const NcclCommunicatorFactory make = gMakeNccl.load();
  SINGA_CHECK(make != nullptr, NotSupportedError,
              "communicator 'nccl': singa's CUDA module was built without NCCL or without MPI; reconfigure with "
              "NCCL present next to the CUDA toolkit and -DSINGA_USE_MPI=ON");
  return make(info);
}

std::unique_ptr<Communicator> makeCommunicator(const std::string& name, Device device) {
  const RankInfo info = detectRankInfo();
  std::string backend = name;
  if (backend == "auto") backend = info.worldSize == 1 ? "local" : (device.isCuda() ? "nccl" : "mpi");
  if (backend == "local") {
    SINGA_CHECK(info.worldSize == 1, ValueError,
                "communicator 'local' serves one process, but the launcher started " << info.worldSize
                    << " ranks (" << info.source << "); use 'mpi' or 'auto'");
    return makeLocalCommunicator();
  }
  if (backend == "mpi") return makeMpiCommunicator(info);
  if (backend == "nccl") return makeNcclCommunicator(info);
  SINGA_THROW(ValueError, "unknown communicator '" << name << "'; use auto, local, mpi or nccl");
}

void installAbortOnTerminate(Communicator* comm) {
  gAbortComm = comm;
  std::set_terminate(comm != nullptr ? terminateHandler : std::abort);
}

double commTimeoutFromEnv(double fallback) {
  const char* v = std::getenv("SINGA_COMM_TIMEOUT");
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v, &end);
  SINGA_CHECK(errno == 0 && end != v && *end == '\0', ValueError,
              "SINGA_COMM_TIMEOUT='" << v << "' is not a number of seconds");
  return x;
}

}  // namespace singa
