#include "singa/core/device.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "singa/core/error.h"
#include "singa/core/memory_limit.h"

namespace singa {
namespace {

std::atomic<size_t> gCpuInUse{0};
std::atomic<size_t> gCpuPeak{0};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Blocks of at least glibc's largest mmap threshold. glibc maps each such block afresh and
// unmaps it on free, so a training step that allocates activations of this size (resnet18's first
// layers at batch 16: 51 MiB each) page-faulted and zeroed all of them every step (a tenth of its
// time in the kernel). These blocks are mapped here instead, in 2 MiB granules with transparent
// huge pages asked for, and a freed one is kept for the next request of the same granule count.
constexpr size_t kLargeBlock = size_t{32} << 20;
constexpr size_t kGranule = size_t{2} << 20;

class LargeBlockCache {
 public:
  // Returns a block of exactly `rounded` bytes (a multiple of kGranule) from the cache, or null.
  void* take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = blocks_.size(); i-- > 0;) {  // newest first: its pages are the warmest
      if (blocks_[i].bytes == rounded) {
        void* p = blocks_[i].ptr;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        cached_ -= rounded;
        ++hits_;
        return p;
      }
    }
    ++misses_;
    return nullptr;
  }
  // Keeps a freed block unless that would pass the cache's limit (then the oldest go first).
  void give(void* p, size_t rounded) {
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (rounded > limit_) {
        evicted.push_back({p, rounded});
      } else {
        blocks_.push_back({p, rounded});
        cached_ += rounded;
        while (cached_ > limit_) evictOldest(&evicted);
      }
    }
    for (const Block& b : evicted) ::munmap(b.ptr, b.bytes);
  }
  // Unmaps cached blocks, oldest first, until at most `keep` bytes stay cached.
  void trim(size_t keep) {
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (cached_ > keep) evictOldest(&evicted);
    }
    for (const Block& b : evicted) ::munmap(b.ptr, b.bytes);
  }
  void setLimit(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit_ = bytes;
    }
    trim(bytes);
  }
  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {cached_, limit_, hits_, misses_};
  }

 private:
  struct Block {
    void* ptr;
    size_t bytes;
  };
  void evictOldest(std::vector<Block>* out) {
    out->push_back(blocks_.front());
    cached_ -= blocks_.front().bytes;
    blocks_.erase(blocks_.begin());
  }
  std::mutex mu_;
  std::vector<Block> blocks_;  // oldest first
  size_t cached_ = 0;
  size_t limit_ = kSanitized ? 0 : size_t{4} << 30;
  size_t hits_ = 0, misses_ = 0;
};

LargeBlockCache& largeBlocks() {
  static LargeBlockCache* cache = new LargeBlockCache;  // never destroyed: tensors may outlive statics
  return *cache;
}

// The granule-rounded size of a large block, or 0 for a block the heap serves. Under
// AddressSanitizer every block comes from the heap, so use-after-free stays visible.
size_t largeBlockBytes(size_t bytes) {
  if (kSanitized || bytes < kLargeBlock) return 0;
  return bytes + (kGranule - 1 - (bytes - 1) % kGranule);  // bytes >= 32 MiB: no wrap below 2^64 - 2 MiB
}

void* mapLargeBlock(size_t rounded) {
  void* p = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
  ::madvise(p, rounded, MADV_HUGEPAGE);  // fewer faults and TLB misses; a refusal changes nothing
#endif
  return p;
}

class CpuBackend final : public DeviceBackend {
 public:
  CpuBackend() {
    // Tensors of a training step are freed and allocated again every step. Keep freed blocks in
    // the heap (no munmap / trim back to the OS) so a step reuses warm pages instead of
    // page-faulting fresh zeroed ones; the heap then stays at the step's high-water mark. Larger
    // blocks go through LargeBlockCache.
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargeBlock));  // the largest glibc accepts
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  void* allocate(size_t bytes, int) override {
    const size_t inUse = gCpuInUse.load(std::memory_order_relaxed);
    checkAllocation(bytes, inUse);  // bytes <= the limit: no wrap below
    void* p = nullptr;
    if (const size_t rounded = largeBlockBytes(bytes)) {
      LargeBlockCache& cache = largeBlocks();
      p = cache.take(rounded);
      if (p == nullptr) {
        // Cached blocks count against the limit too once a new one is needed: drop as many as it
        // takes for this block to fit beside the live ones, and all of them if mapping fails.
        const size_t limit = memoryLimit(), live = inUse + rounded;
        cache.trim(live < limit ? limit - live : 0);
        p = mapLargeBlock(rounded);
        if (p == nullptr) {
          cache.trim(0);
          p = mapLargeBlock(rounded);
        }
      }
    } else {
      const size_t aligned = (bytes + 63) / 64 * 64;
      p = std::aligned_alloc(64, aligned == 0 ? 64 : aligned);
    }
    if (p == nullptr) {
      SINGA_THROW(MemoryError, "out of host memory allocating " << formatBytes(static_cast<double>(bytes))
                                                                << " (" << formatBytes(static_cast<double>(inUse))
                                                                << " in use; free memory or lower the batch size)");
    }
    size_t now = gCpuInUse.fetch_add(bytes) + bytes;
    size_t peak = gCpuPeak.load();
    while (now > peak && !gCpuPeak.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void deallocate(void* ptr, size_t bytes, int) override {
    if (const size_t rounded = largeBlockBytes(bytes)) {
      largeBlocks().give(ptr, rounded);
    } else {
      std::free(ptr);
    }
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

namespace {

// The CUDA module's entry points (kernels/cuda/register.cc), C symbols looked up after dlopen.
using ModuleIdFn = const char* (*)();
using ModuleStepFn = void (*)();
std::atomic<bool> gCudaModuleLoaded{false};
ModuleStepFn gInstallCudaBackend = nullptr;
// Set on the thread that runs the module's registration: a CUDA lookup or add() from inside it
// must not wait on the once-flag that thread holds (it would never return).
thread_local bool tLoadingModule = false;

#ifdef SINGA_USE_CUDA
// The folder libsinga was loaded from, symbolic links resolved: the module is installed beside
// it (build tree, `cmake --install`, the Python package's singa/lib, the GPU bundle's lib/).
std::string libraryFolder(std::string& error) {
  static const char anchor = 0;
  Dl_info where{};
  if (dladdr(&anchor, &where) == 0 || where.dli_fname == nullptr) {
    error = "the folder libsinga was loaded from is unknown (dladdr failed), so its CUDA module cannot be found";
    return "";
  }
  char* real = realpath(where.dli_fname, nullptr);
  if (real == nullptr) {
    error = std::string("libsinga's own path ") + where.dli_fname + " cannot be resolved (" + std::strerror(errno) +
            "), so its CUDA module cannot be found";
    return "";
  }
  std::string path = real;
  std::free(real);
  return path.substr(0, path.rfind('/'));
}

std::string loadCudaModule() {
  std::string error;
  const std::string folder = libraryFolder(error);
  if (!error.empty()) return error;
  const std::string path = folder + "/libsinga_cuda.so";
  if (access(path.c_str(), F_OK) != 0) {
    return "the CUDA module " + path + " is not there (a CUDA build installs it beside libsinga.so.0: reinstall "
           "singa, or copy libsinga_cuda.so along with libsinga)";
  }
  // RTLD_NODELETE: kernels and the backend registered from the module must outlive every handle.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* said = dlerror();
    const std::string why = said != nullptr ? said : "unknown error";
    if (why.find("undefined symbol") != std::string::npos) {
      return "the CUDA module " + path + " cannot be loaded (" + why +
             "): it is from another singa build than " + folder + "/libsinga.so.0; install both from the same build";
    }
    return "the CUDA module " + path + " cannot be loaded (" + why +
           "); if a library is missing: it needs the CUDA libraries it was built with (`ldd " + path +
           "` lists them and what is not found)";
  }
  auto id = reinterpret_cast<ModuleIdFn>(dlsym(handle, "singa_cuda_module_build_id"));
  auto registerAll = reinterpret_cast<ModuleStepFn>(dlsym(handle, "singa_cuda_module_register"));
  auto install = reinterpret_cast<ModuleStepFn>(dlsym(handle, "singa_cuda_module_install_backend"));
  if (id == nullptr || registerAll == nullptr || install == nullptr) {
    return "the CUDA module " + path + " is not a singa CUDA module (its entry points are missing); reinstall singa";
  }
  if (std::string(id()) != SINGA_BUILD_ID) {
    return "the CUDA module " + path + " is from another singa build (build " + id() + ", this libsinga " +
           SINGA_BUILD_ID + "); install both from the same build";
  }
  try {
    registerAll();
  } catch (const std::exception& e) {
    return "the CUDA module " + path + " failed to register its kernels (" + e.what() + ")";
  }
  gInstallCudaBackend = install;
  return "";
}
#endif

void ensureCudaBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (loadDeviceModule(DeviceType::kCuda) && gInstallCudaBackend != nullptr) gInstallCudaBackend();
  });
}

}  // namespace

bool loadDeviceModule(DeviceType type) {
  if (type == DeviceType::kCpu) return true;
  if (gCudaModuleLoaded.load(std::memory_order_acquire)) return true;
  if (tLoadingModule) return false;  // the module's own registration (add(), a lookup) on this thread
#ifdef SINGA_USE_CUDA
  static std::once_flag once;
  std::call_once(once, [] {
    struct Loading {  // reset also when loading throws (call_once then lets a later call retry)
      Loading() { tLoadingModule = true; }
      ~Loading() { tLoadingModule = false; }
    };
    std::string why;
    {
      const Loading loading;
      why = loadCudaModule();
    }
    if (why.empty()) {
      gCudaModuleLoaded.store(true, std::memory_order_release);
    } else {
      setDeviceUnavailableReason(DeviceType::kCuda, why);
    }
  });
#endif
  return gCudaModuleLoaded.load(std::memory_order_acquire);
}

int deviceCount(DeviceType type) {
  if (type == DeviceType::kCpu) return 1;
  return deviceAvailable(type) ? deviceBackend(type).count() : 0;
}

DeviceBackend& deviceBackend(DeviceType type) {
  if (type == DeviceType::kCpu) return gCpuBackend;
  ensureCudaBackend();
  if (gCudaBackend == nullptr) {
    SINGA_THROW(NotSupportedError, "CUDA device requested but " << deviceUnavailableReason(type) << "; use --device cpu");
  }
  return *gCudaBackend;
}

bool deviceAvailable(DeviceType type) {
  if (type == DeviceType::kCuda) ensureCudaBackend();
  return type == DeviceType::kCpu || gCudaBackend != nullptr;
}

namespace {
std::mutex gReasonMu;
std::string gCudaReason;
}  // namespace

void setDeviceUnavailableReason(DeviceType type, const std::string& reason) {
  if (type != DeviceType::kCuda) return;
  std::lock_guard<std::mutex> lock(gReasonMu);
  gCudaReason = reason;
}

std::string deviceUnavailableReason(DeviceType type) {
  if (deviceAvailable(type)) return "";
#ifdef SINGA_USE_CUDA
  std::lock_guard<std::mutex> lock(gReasonMu);
  if (!gCudaReason.empty()) return gCudaReason;
  return "the CUDA backend found no usable GPU";
#else
  return "this build has no CUDA backend (rebuild with -DSINGA_USE_CUDA=ON on a machine with the CUDA toolkit)";
#endif
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = deviceBackend(device.type).allocate(bytes, device.index);
}

Storage::Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release)
    : data_(data), bytes_(bytes), device_(device), release_(std::move(release)), untracked_(true) {
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

void Storage::setLayout(std::shared_ptr<const StorageLayout> layout, bool releaseMemory) const {
  SINGA_CHECK(layout != nullptr && device_.isCpu() && !untracked_.load(), ValueError,
              "Storage::setLayout needs a layout and a tracked CPU storage");
  std::shared_ptr<const StorageLayout> old;  // freed after the lock is released
  void* freed = nullptr;
  {
    std::lock_guard<std::mutex> lock(layoutMutex_);
    old = std::exchange(layout_, std::move(layout));
    if (releaseMemory && !release_) freed = std::exchange(data_, nullptr);
    hasLayout_.store(true, std::memory_order_release);
  }
  if (freed != nullptr) deviceBackend(device_.type).deallocate(freed, bytes_, device_.index);
  writes_.fetch_add(1, std::memory_order_relaxed);
}

void Storage::writePlain() const {
  std::shared_ptr<const StorageLayout> done;  // freed after the lock is released
  std::lock_guard<std::mutex> lock(layoutMutex_);
  if (!layout_) return;  // another thread wrote it meanwhile
  if (data_ == nullptr && bytes_ > 0) data_ = deviceBackend(device_.type).allocate(bytes_, device_.index);
  layout_->toPlain(data_);
  done = std::move(layout_);  // leaves layout_ empty
  hasLayout_.store(false, std::memory_order_release);
}

void Storage::untrack() const {
  settle();  // the memory is about to be seen outside the engine
  untracked_.store(true);
  std::vector<std::pair<const void*, std::shared_ptr<void>>> old;  // freed after the lock is released
  std::lock_guard<std::mutex> lock(derivedMutex_);
  old.swap(derived_);
}

std::shared_ptr<void> Storage::derived(const void* owner) const {
  std::lock_guard<std::mutex> lock(derivedMutex_);
  for (const auto& [o, d] : derived_) {
    if (o == owner) return d;
  }
  return nullptr;
}

void Storage::setDerived(const void* owner, std::shared_ptr<void> d) const {
  std::shared_ptr<void> old;  // freed after the lock is released
  std::lock_guard<std::mutex> lock(derivedMutex_);
  for (auto it = derived_.begin(); it != derived_.end(); ++it) {
    if (it->first != owner) continue;
    old = std::exchange(it->second, std::move(d));
    if (!it->second) derived_.erase(it);
    return;
  }
  if (d) derived_.emplace_back(owner, std::move(d));
}

size_t cpuBytesInUse() { return gCpuInUse.load(); }
size_t cpuPeakBytes() { return gCpuPeak.load(); }

CpuCacheStats cpuCacheStats() { return largeBlocks().stats(); }
void releaseCpuCache() { largeBlocks().trim(0); }
void setCpuCacheLimit(size_t bytes) {
  if (!kSanitized) largeBlocks().setLimit(bytes);
}

}  // namespace singa
