#include "singa/core/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <mutex>

#include "singa/core/error.h"
#include "singa/core/memory_limit.h"

namespace singa {
namespace {

std::atomic<size_t> gCpuInUse{0};
std::atomic<size_t> gCpuPeak{0};

class CpuBackend final : public DeviceBackend {
 public:
  CpuBackend() {
    // Tensors of a training step are freed and allocated again every step. Keep freed blocks in
    // the heap (no munmap / trim back to the OS) so a step reuses warm pages instead of
    // page-faulting fresh zeroed ones; the heap then stays at the step's high-water mark.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc accepts
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  void* allocate(size_t bytes, int) override {
    checkAllocation(bytes, gCpuInUse.load(std::memory_order_relaxed));  // bytes <= the limit: no wrap below
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) {
      SINGA_THROW(Error, "out of host memory allocating " << bytes << " bytes");
    }
    size_t now = gCpuInUse.fetch_add(bytes) + bytes;
    size_t peak = gCpuPeak.load();
    while (now > peak && !gCpuPeak.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void deallocate(void* ptr, size_t bytes, int) override {
    std::free(ptr);
    gCpuInUse.fetch_sub(bytes);
  }
  void copy(void* dst, Device, const void* src, Device, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void memset0(void* ptr, size_t bytes, int) override {
    if (bytes) std::memset(ptr, 0, bytes);
  }
  void synchronize(int) override {}
};

CpuBackend gCpuBackend;
DeviceBackend* gCudaBackend = nullptr;

}  // namespace

const char* deviceTypeName(DeviceType t) { return t == DeviceType::kCpu ? "CPU" : "CUDA"; }

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda" || text == "gpu") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    char* end = nullptr;
    long idx = std::strtol(text.c_str() + 5, &end, 10);
    if (*end == '\0' && idx >= 0) return cuda(static_cast<int>(idx));
  }
  SINGA_THROW(ValueError, "unknown device '" << text << "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const {
  return isCpu() ? "cpu" : "cuda:" + std::to_string(index);
}

void registerDeviceBackend(DeviceType type, DeviceBackend* backend) {
  if (type == DeviceType::kCuda) gCudaBackend = backend;
}

#ifdef SINGA_USE_CUDA
void installCudaBackend();  // kernels/cuda/register.cc
#endif

namespace {
void ensureCudaBackend() {
#ifdef SINGA_USE_CUDA
  static std::once_flag once;
  std::call_once(once, [] { installCudaBackend(); });
#endif
}
}  // namespace

DeviceBackend& deviceBackend(DeviceType type) {
  if (type == DeviceType::kCpu) return gCpuBackend;
  ensureCudaBackend();
  if (gCudaBackend == nullptr) {
    SINGA_THROW(NotSupportedError,
                "CUDA device requested but this build has no usable CUDA backend (rebuild with "
                "-DSINGA_USE_CUDA=ON on a machine with the CUDA toolkit, and run where a GPU is "
                "visible), or use --device cpu");
  }
  return *gCudaBackend;
}

bool deviceAvailable(DeviceType type) {
  if (type == DeviceType::kCuda) ensureCudaBackend();
  return type == DeviceType::kCpu || gCudaBackend != nullptr;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = deviceBackend(device.type).allocate(bytes, device.index);
}

Storage::Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release)
    : data_(data), bytes_(bytes), device_(device), release_(std::move(release)) {
  SINGA_CHECK(release_ != nullptr, ValueError,
              "Storage over borrowed memory needs a release function (the device allocator did not allocate it)");
}

Storage::~Storage() {
  if (release_) {
    release_(data_);
  } else if (data_ != nullptr) {
    deviceBackend(device_.type).deallocate(data_, bytes_, device_.index);
  }
}

size_t cpuBytesInUse() { return gCpuInUse.load(); }
size_t cpuPeakBytes() { return gCpuPeak.load(); }

}  // namespace singa
