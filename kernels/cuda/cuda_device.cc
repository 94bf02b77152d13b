// CudaDevice: per-device stream, handles, caching allocator and the DeviceBackend that core code
// uses for CUDA tensors (see cuda_device.h for the why).
//
// Copies: host -> device goes through pinned staging blocks (memcpy into a block that no queued
// copy still reads, then an async copy on the device's stream; an event per block tells when it is
// free again), so the caller's pageable memory is free as soon as copy() returns and the host does
// not wait behind queued kernels: a new block is taken while the earlier ones are in flight, up to
// a cap, and only past the cap does the host wait for the oldest. Device -> host queues the copy
// into a staging block behind all pending work and waits for it, so the host sees the finished
// values; that wait is also where deferred device-side checks are read (see checkWords).
#include "singa/kernels/cuda/cuda_libs.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "singa/core/device.h"

namespace singa::cuda {
namespace {

constexpr int kMaxDevices = 16;
constexpr size_t kStagingBytes = 8 << 20;      // a large block: copies go in chunks of this
constexpr size_t kSmallStagingBytes = 64 << 10;
constexpr size_t kStagingCapBytes = 256 << 20;  // pinned staging in flight before the host waits
constexpr int kCheckSlots = 1024;               // deferred checks between two host waits

/// Size class of a request: 512-byte steps up to 1 MiB, then four classes per power of two.
size_t sizeClass(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (1u << 20)) return (bytes + 511) / 512 * 512;
  size_t p = 1u << 20;
  while (p * 2 < bytes) p *= 2;
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

struct DeviceState {
  std::mutex mu;
  bool ready = false;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;
  size_t workspaceBytes = 0;
  // Caching allocator.
  std::map<size_t, std::vector<void*>> freeLists;  // size class -> free blocks
  std::unordered_map<void*, size_t> blockClass;    // live block -> its size class
  size_t inUse = 0, peak = 0, cached = 0;
  // Pinned staging for host <-> device copies: blocks of two sizes, each free once its event
  // (recorded after the copy that reads it) has completed.
  struct Staging {
    void* ptr = nullptr;
    size_t bytes = 0;
    cudaEvent_t freeAt = nullptr;
    bool used = false;  // freeAt recorded at least once
  };
  std::vector<Staging> staging;
  size_t stagingBytes = 0;
  size_t nextStaging = 0;  // round-robin start of the search for a free block
  // Deferred checks: a ring of two-word slots in device memory and their pinned host copies.
  struct PendingCheck {
    uint64_t seq;  // order of deferral: a waiter reads only checks deferred before its wait began
    int slot;
    std::function<void(int64_t, int64_t)> report;
  };
  uint64_t nextSeq = 0;
  int64_t* checkDev = nullptr;
  int64_t* checkHost = nullptr;
  int nextSlot = 0;
  std::vector<PendingCheck> pending;  // in the stream's order
};

DeviceState& state(int device) {
  static DeviceState* states = new DeviceState[kMaxDevices];  // never destroyed: outlives tensors
  SINGA_CHECK(device >= 0 && device < kMaxDevices, ValueError,
              "cuda:" << device << " is not a valid device index (0.." << kMaxDevices - 1 << ")");
  return states[device];
}

bool envTF32() {
  const char* v = std::getenv("SINGA_CUDA_ALLOW_TF32");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

bool gAllowTF32 = envTF32();

// Creates the stream and handles of `device` once; the caller holds s.mu.
void initLocked(int device, DeviceState& s) {
  if (s.ready) return;
  setDevice(device);
  SINGA_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  SINGA_CUBLAS_CHECK(cublasCreate(&s.cublas));
  SINGA_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  SINGA_CUBLAS_CHECK(cublasSetMathMode(s.cublas, gAllowTF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  SINGA_CUDNN_CHECK(cudnnCreate(&s.cudnn));
  SINGA_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream));
  SINGA_CUDA_CHECK(cudaMalloc(&s.checkDev, sizeof(int64_t) * 2 * kCheckSlots));
  SINGA_CUDA_CHECK(cudaMallocHost(&s.checkHost, sizeof(int64_t) * 2 * kCheckSlots));
  std::memset(s.checkHost, 0xff, sizeof(int64_t) * 2 * kCheckSlots);  // "nothing found"
  s.ready = true;
}

DeviceState& ready(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  initLocked(device, s);
  return s;
}

void releaseCacheLocked(int device, DeviceState& s) {
  if (s.cached == 0) return;
  setDevice(device);
  cudaStreamSynchronize(s.stream);
  for (auto& [cls, blocks] : s.freeLists) {
    for (void* p : blocks) cudaFree(p);
  }
  s.freeLists.clear();
  s.cached = 0;
}

class CudaBackend final : public DeviceBackend {
 public:
  int count() const override { return deviceCount(); }
  void* allocate(size_t bytes, int index) override {
    DeviceState& s = state(index);
    std::lock_guard<std::mutex> lock(s.mu);
    initLocked(index, s);
    const size_t cls = sizeClass(bytes);
    void* p = nullptr;
    auto it = s.freeLists.find(cls);
    if (it != s.freeLists.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      s.cached -= cls;
    } else {
      setDevice(index);
      cudaError_t err = cudaMalloc(&p, cls);
      if (err != cudaSuccess) {
        cudaGetLastError();  // clear the sticky-free error state of a failed allocation
        releaseCacheLocked(index, s);
        err = cudaMalloc(&p, cls);
      }
      if (err != cudaSuccess) {
        cudaGetLastError();
        size_t freeB = 0, totalB = 0;
        cudaMemGetInfo(&freeB, &totalB);
        SINGA_THROW(Error, "out of GPU memory on cuda:" << index << " allocating " << bytes << " bytes ("
                                                        << s.inUse << " bytes held by tensors, " << freeB
                                                        << " of " << totalB
                                                        << " free); use a smaller batch size or model");
      }
    }
    s.blockClass[p] = cls;
    s.inUse += cls;
    s.peak = std::max(s.peak, s.inUse);
    return p;
  }

  void deallocate(void* ptr, size_t, int index) override {
    if (ptr == nullptr) return;
    DeviceState& s = state(index);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.blockClass.find(ptr);
    if (it == s.blockClass.end()) return;
    const size_t cls = it->second;
    s.blockClass.erase(it);
    s.inUse -= cls;
    // Kernels still queued on the stream may read the block; anything that reuses it is queued
    // on the same stream after them, so no synchronisation is needed.
    s.freeLists[cls].push_back(ptr);
    s.cached += cls;
  }

  void copy(void* dst, Device dstDev, const void* src, Device srcDev, size_t bytes) override {
    if (bytes == 0) return;
    if (dstDev.isCuda() && srcDev.isCuda()) {
      DeviceState& s = ready(dstDev.index);
      setDevice(dstDev.index);
      if (dstDev.index == srcDev.index) {
        SINGA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s.stream));
      } else {
        // Order after the source device's pending work, then copy on the destination stream.
        synchronize(srcDev.index);
        SINGA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dstDev.index, src, srcDev.index, bytes, s.stream));
      }
      return;
    }
    if (dstDev.isCuda()) {
      hostToDevice(dst, dstDev.index, src, bytes);
    } else {
      deviceToHost(dst, src, srcDev.index, bytes);
    }
  }

  void memset0(void* ptr, size_t bytes, int index) override {
    if (bytes == 0) return;
    DeviceState& s = ready(index);
    setDevice(index);
    SINGA_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, s.stream));
  }

  void synchronize(int index) override { cuda::synchronize(index); }

 private:
  // A staging block of at least `n` bytes that no queued copy still uses (the caller holds s.mu).
  static DeviceState::Staging& freeStaging(DeviceState& s, size_t n) {
    const size_t want = n <= kSmallStagingBytes ? kSmallStagingBytes : kStagingBytes;
    const size_t count = s.staging.size();
    for (size_t k = 0; k < count; ++k) {
      DeviceState::Staging& b = s.staging[(s.nextStaging + k) % count];
      if (b.bytes != want) continue;
      const cudaError_t q = b.used ? cudaEventQuery(b.freeAt) : cudaSuccess;
      if (q == cudaErrorNotReady) continue;
      SINGA_CUDA_CHECK(q);
      s.nextStaging = (s.nextStaging + k + 1) % count;
      return b;
    }
    if (s.stagingBytes + want <= kStagingCapBytes) return newStaging(s, want);
    // Past the cap: wait for the next block big enough (a large block serves a small copy too).
    for (size_t k = 0; k < count; ++k) {
      DeviceState::Staging& b = s.staging[(s.nextStaging + k) % count];
      if (b.bytes < n) continue;
      if (b.used) SINGA_CUDA_CHECK(cudaEventSynchronize(b.freeAt));
      s.nextStaging = (s.nextStaging + k + 1) % count;
      return b;
    }
    // Only small blocks fill the cap and a large copy needs one: take it past the cap.
    return newStaging(s, want);
  }

  static DeviceState::Staging& newStaging(DeviceState& s, size_t bytes) {
    DeviceState::Staging b;
    b.bytes = bytes;
    SINGA_CUDA_CHECK(cudaMallocHost(&b.ptr, bytes));
    SINGA_CUDA_CHECK(cudaEventCreateWithFlags(&b.freeAt, cudaEventDisableTiming));
    s.staging.push_back(b);
    s.stagingBytes += bytes;
    return s.staging.back();
  }

  static void hostToDevice(void* dst, int device, const void* src, size_t bytes) {
    DeviceState& s = ready(device);
    std::lock_guard<std::mutex> lock(s.mu);  // the staging blocks are shared by the threads
    setDevice(device);
    for (size_t done = 0; done < bytes; done += kStagingBytes) {
      const size_t n = std::min(kStagingBytes, bytes - done);
      DeviceState::Staging& b = freeStaging(s, n);
      std::memcpy(b.ptr, static_cast<const char*>(src) + done, n);
      SINGA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + done, b.ptr, n, cudaMemcpyHostToDevice, s.stream));
      SINGA_CUDA_CHECK(cudaEventRecord(b.freeAt, s.stream));
      b.used = true;
    }
  }

  static void deviceToHost(void* dst, const void* src, int device, size_t bytes) {
    DeviceState& s = ready(device);
    uint64_t checksBefore = 0;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      setDevice(device);
      checksBefore = s.nextSeq;  // checks deferred before this copy are complete after it
      for (size_t done = 0; done < bytes; done += kStagingBytes) {
        const size_t n = std::min(kStagingBytes, bytes - done);
        DeviceState::Staging& b = freeStaging(s, n);
        SINGA_CUDA_CHECK(cudaMemcpyAsync(b.ptr, static_cast<const char*>(src) + done, n, cudaMemcpyDeviceToHost,
                                         s.stream));
        SINGA_CUDA_CHECK(cudaStreamSynchronize(s.stream));
        std::memcpy(static_cast<char*>(dst) + done, b.ptr, n);
      }
    }
    runChecks(s, checksBefore);
  }

 public:
  // Reads the pending checks deferred before sequence number `before` (complete: the caller's
  // wait has passed them; later ones, possibly queued by other threads since, stay pending) and
  // throws the first failure's error. Outside s.mu: a report may read tensors itself.
  static void runChecks(DeviceState& s, uint64_t before) {
    std::vector<DeviceState::PendingCheck> done;
    std::vector<std::array<int64_t, 2>> words;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      auto end = s.pending.begin();
      while (end != s.pending.end() && end->seq < before) ++end;  // pending is in seq order
      if (end == s.pending.begin()) return;
      done.assign(std::make_move_iterator(s.pending.begin()), std::make_move_iterator(end));
      s.pending.erase(s.pending.begin(), end);
      for (const auto& c : done) words.push_back({s.checkHost[2 * c.slot], s.checkHost[2 * c.slot + 1]});
    }
    for (size_t i = 0; i < done.size(); ++i) {
      if (words[i][0] != -1) done[i].report(words[i][0], words[i][1]);  // throws; later ones are dropped
    }
  }
};

}  // namespace

int deviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

void setDevice(int device) {
  // Not cached per thread: NCCL or user code may switch devices behind our back.
  const cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess) {
    cudaGetLastError();
    SINGA_THROW(ValueError, "cannot use cuda:" << device << " (" << cudaGetErrorString(err) << "); "
                                               << deviceCount() << " GPU(s) are visible, use cuda:0.."
                                               << deviceCount() - 1 << " or check CUDA_VISIBLE_DEVICES");
  }
}

cudaStream_t stream(int device) { return ready(device).stream; }
cublasHandle_t cublas(int device) { return ready(device).cublas; }
cudnnHandle_t cudnn(int device) { return ready(device).cudnn; }

void* workspace(int device, size_t bytes) {
  DeviceState& s = ready(device);
  std::lock_guard<std::mutex> lock(s.mu);
  if (bytes <= s.workspaceBytes) return s.workspace;
  setDevice(device);
  if (s.workspace != nullptr) {
    // Work queued with the old buffer must finish before it is returned to the driver.
    SINGA_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    cudaFree(s.workspace);
    s.workspace = nullptr;
    s.workspaceBytes = 0;
  }
  const size_t want = sizeClass(bytes);
  cudaError_t err = cudaMalloc(&s.workspace, want);
  if (err != cudaSuccess) {
    cudaGetLastError();
    releaseCacheLocked(device, s);
    err = cudaMalloc(&s.workspace, want);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    s.workspace = nullptr;
    SINGA_THROW(Error, "out of GPU memory on cuda:" << device << " allocating a " << bytes
                                                    << "-byte workspace; use a smaller batch size");
  }
  s.workspaceBytes = want;
  return s.workspace;
}

void synchronize(int device) {
  DeviceState& s = ready(device);
  uint64_t checksBefore;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    checksBefore = s.nextSeq;
  }
  setDevice(device);
  SINGA_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  CudaBackend::runChecks(s, checksBefore);
}

void checkDeferred(int device) { synchronize(device); }

int64_t* checkWords(int device) {
  DeviceState& s = ready(device);
  bool full;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    // Slots not yet read come back round: read them first (rare: ~1000 checks without a host
    // wait). The margin covers slots handed out to other threads but not yet deferred.
    full = s.pending.size() >= static_cast<size_t>(kCheckSlots - 64);
  }
  if (full) synchronize(device);
  std::lock_guard<std::mutex> lock(s.mu);
  int64_t* words = s.checkDev + 2 * s.nextSlot;
  s.nextSlot = (s.nextSlot + 1) % kCheckSlots;
  setDevice(device);
  SINGA_CUDA_CHECK(cudaMemsetAsync(words, 0xff, 2 * sizeof(int64_t), s.stream));
  return words;
}

void deferCheck(int device, int64_t* words, std::function<void(int64_t, int64_t)> report) {
  DeviceState& s = ready(device);
  std::lock_guard<std::mutex> lock(s.mu);
  const int slot = static_cast<int>((words - s.checkDev) / 2);
  SINGA_ASSERT(slot >= 0 && slot < kCheckSlots);
  setDevice(device);
  SINGA_CUDA_CHECK(cudaMemcpyAsync(s.checkHost + 2 * slot, words, 2 * sizeof(int64_t), cudaMemcpyDeviceToHost,
                                   s.stream));
  s.pending.push_back({s.nextSeq++, slot, std::move(report)});
}

void setAllowTF32(bool allow) {
  gAllowTF32 = allow;
  for (int d = 0; d < kMaxDevices; ++d) {
    DeviceState& s = state(d);
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.ready) {
      SINGA_CUBLAS_CHECK(cublasSetMathMode(s.cublas, allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    }
  }
}

bool allowTF32() { return gAllowTF32; }

size_t bytesInUse(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.inUse;
}

size_t peakBytes(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.peak;
}

size_t cachedBytes(int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.cached;
}

void emptyCache() {
  for (int d = 0; d < kMaxDevices; ++d) {
    DeviceState& s = state(d);
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.ready) releaseCacheLocked(d, s);
  }
}

Event::Event(int device) : device_(device) {
  setDevice(device);
  SINGA_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
}

Event::~Event() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

void Event::record(cudaStream_t s) {
  setDevice(device_);
  SINGA_CUDA_CHECK(cudaEventRecord(event_, s != nullptr ? s : stream(device_)));
}

void Event::waitOn(cudaStream_t s) const { SINGA_CUDA_CHECK(cudaStreamWaitEvent(s, event_, 0)); }

void Event::synchronize() const { SINGA_CUDA_CHECK(cudaEventSynchronize(event_)); }

}  // namespace singa::cuda

namespace singa {

// Called once by deviceBackend(): without a visible GPU the CUDA device stays unavailable and
// requesting it gives a clear error.
void installCudaBackend() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    std::ostringstream why;
    if (err != cudaSuccess) {
      // A missing or too old driver, a library mismatch, CUDA_VISIBLE_DEVICES naming no device...:
      // the runtime's own words, since "no GPU" would hide a broken installation.
      why << "the CUDA runtime cannot use any GPU: cudaGetDeviceCount failed with " << cudaGetErrorName(err) << " ("
          << cudaGetErrorString(err) << ")";
    } else {
      why << "the CUDA runtime reports no GPU (cudaGetDeviceCount = 0)";
    }
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    if (visible != nullptr) why << "; CUDA_VISIBLE_DEVICES=\"" << visible << "\"";
    setDeviceUnavailableReason(DeviceType::kCuda, why.str());
    return;
  }
  static cuda::CudaBackend* backend = new cuda::CudaBackend();
  registerDeviceBackend(DeviceType::kCuda, backend);
}

}  // namespace singa
