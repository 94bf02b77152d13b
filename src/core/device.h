// Devices and raw storage. A Device names where a tensor lives (CPU, or CUDA GPU n); Storage is a
// reference-counted block of device memory that tensors view with an offset and strides.
// The CPU backend allocates 64-byte aligned blocks; the CUDA backend plugs its caching allocator
// in through DeviceBackend (see kernels/cuda) so core code never includes CUDA headers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace singa {

enum class DeviceType : uint8_t { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;

  static Device cpu() { return {DeviceType::kCpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::kCuda, index}; }
  /// "cpu", "cuda", "cuda:1"; throws ValueError on anything else.
  static Device parse(const std::string& text);
  bool isCpu() const { return type == DeviceType::kCpu; }
  bool isCuda() const { return type == DeviceType::kCuda; }
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

const char* deviceTypeName(DeviceType t);

/// Memory management of one device type. The CPU backend is built in; others register at start.
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual void* allocate(size_t bytes, int index) = 0;
  virtual void deallocate(void* ptr, size_t bytes, int index) = 0;
  /// Copies between this device and the host, or within this device.
  virtual void copy(void* dst, Device dstDev, const void* src, Device srcDev, size_t bytes) = 0;
  virtual void memset0(void* ptr, size_t bytes, int index) = 0;
  virtual void synchronize(int index) = 0;
  /// Devices of this type the process can use (the CPU backend: 1).
  virtual int count() const { return 1; }
};

/// Installs the backend for `type` (the CUDA backend calls this); the CPU one is always there.
void registerDeviceBackend(DeviceType type, DeviceBackend* backend);
/// Throws NotSupportedError naming the build option when `type` has no backend.
DeviceBackend& deviceBackend(DeviceType type);
bool deviceAvailable(DeviceType type);
/// Why `type` is not available ("" when it is): no CUDA backend in this build, or what the CUDA
/// runtime said when asked for devices (cudaGetErrorString: a missing or too old driver is not
/// the same as a machine without a GPU).
std::string deviceUnavailableReason(DeviceType type);
/// Recorded by a backend's installer when it finds its device unusable.
void setDeviceUnavailableReason(DeviceType type, const std::string& reason);
/// Usable devices of `type`: 1 for the CPU; the visible GPUs for CUDA (0 without a backend).
int deviceCount(DeviceType type);

/// The CUDA backend (its kernels, device layer and NCCL communicator) is a module of its own,
/// libsinga_cuda.so beside libsinga, loaded on first use of anything CUDA (a CUDA tensor, a CUDA
/// kernel lookup, the nccl communicator): a CPU run never maps the CUDA libraries, which cost
/// ~150 MiB of resident memory on load (cuBLASLt alone). Loads it once, with its kernels
/// registered in KernelRegistry::global(); returns whether it is there. No-op for the CPU. When
/// it cannot be loaded, deviceUnavailableReason(kCuda) says why (the loader's words and the fix).
bool loadDeviceModule(DeviceType type);

class Storage;

/// The contents of a CPU Storage held in another arrangement of the same elements: oneDNN's
/// channel-blocked layout, kept between two convolutions in inference so that neither reorders
/// (kernels/cpu/conv_dnnl.cc). Immutable once attached (Storage::setLayout); the plain memory
/// is written from it on the first data() / readData() call.
class StorageLayout {
 public:
  explicit StorageLayout(std::shared_ptr<Storage> buffer) : buffer_(std::move(buffer)) {}
  virtual ~StorageLayout() = default;
  /// The elements in this arrangement. Positions that hold no element (padding) hold zeros.
  const Storage& buffer() const { return *buffer_; }
  /// Writes the contents, plainly laid out, to `plain` (the owning storage's memory).
  virtual void toPlain(void* plain) const = 0;
  /// Whether `other` places the same elements at the same positions of its buffer, so an
  /// elementwise function of equal-shaped tensors may run on the buffers directly.
  virtual bool sameAs(const StorageLayout& other) const = 0;
  /// This arrangement over another buffer of the same size (an elementwise result).
  virtual std::shared_ptr<const StorageLayout> over(std::shared_ptr<Storage> buffer) const = 0;

 private:
  std::shared_ptr<Storage> buffer_;
};

/// A block of device memory, freed when the last tensor viewing it goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  /// Memory the caller obtained elsewhere (e.g. a shared-memory mapping): `release(data)` runs
  /// when the last tensor viewing it goes away, instead of the device's deallocate.
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  /// The memory, to read or write. Every call counts as a write: version() moves, so data
  /// derived from the contents (derived()) is stale from then on. A writer re-acquires the
  /// pointer for each update (as every kernel does) instead of keeping it across other work.
  void* data() const {
    settle();
    writes_.fetch_add(1, std::memory_order_relaxed);  // ordering comes from whatever orders the write
    return data_;
  }
  /// The memory, to read only (version() does not move). Nothing may be written through it.
  const void* readData() const {
    settle();
    return data_;
  }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

  /// How many times data() has handed the memory out: equal readings bracket a span with no
  /// write through the engine. nullopt for memory that can change behind the engine's back:
  /// borrowed memory (the constructor below) and memory handed to a writer outside it
  /// (untrack(): a NumPy array or DLPack consumer over the tensor).
  std::optional<uint64_t> version() const {
    if (untracked_.load()) return std::nullopt;
    return writes_.load();
  }
  /// The memory has escaped to a writer the engine does not see; version() is nullopt from now on
  /// and the derived caches are dropped.
  void untrack() const;

  /// Caches of data computed from the contents (e.g. convolution weights reordered for a
  /// kernel), kept with the block and freed with it, one per owner: `owner` is the address of a
  /// tag object of the code that stores it, which alone knows the type. The owner records the
  /// version() it computed at and checks it before use. Thread-safe; a null `d` drops the entry.
  std::shared_ptr<void> derived(const void* owner) const;
  void setDerived(const void* owner, std::shared_ptr<void> d) const;

  /// The contents are `layout`'s from now on (a write: version() moves); the memory is written
  /// from it by the next data() or readData(). Only for a tracked CPU storage whose memory
  /// nothing outside the engine sees (a kernel's output). `releaseMemory`: the storage is a fresh
  /// output whose pointer nobody holds; its memory is freed now and allocated again (under the
  /// memory limit: data() / readData() may then throw MemoryError) only if it is ever read.
  void setLayout(std::shared_ptr<const StorageLayout> layout, bool releaseMemory = false) const;
  /// The other arrangement the contents are held in, or null when the memory holds them.
  std::shared_ptr<const StorageLayout> layout() const {
    if (!hasLayout_.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard<std::mutex> lock(layoutMutex_);
    return layout_;
  }

 private:
  mutable void* data_ = nullptr;  // null while a layout holds the contents of a released block
  size_t bytes_ = 0;
  Device device_;
  std::function<void(void*)> release_;
  mutable std::atomic<uint64_t> writes_{0};
  mutable std::atomic<bool> untracked_{false};
  mutable std::mutex derivedMutex_;
  mutable std::vector<std::pair<const void*, std::shared_ptr<void>>> derived_;
  mutable std::atomic<bool> hasLayout_{false};
  mutable std::mutex layoutMutex_;
  mutable std::shared_ptr<const StorageLayout> layout_;

  void settle() const {
    if (hasLayout_.load(std::memory_order_acquire)) writePlain();
  }
  void writePlain() const;
};

/// Bytes currently held in Storage blocks on the CPU, and the most ever held (for benchmarks).
size_t cpuBytesInUse();
size_t cpuPeakBytes();

/// The CPU allocator keeps freed blocks of 32 MiB and more (rounded up to 2 MiB) for the next
/// request of the same size, so a training step reuses mapped pages instead of faulting in and
/// zeroing fresh ones; smaller blocks are reused by the C heap. Cached blocks are not counted in
/// cpuBytesInUse(); they are dropped, oldest first, past the cache limit (default 4 GiB) and as
/// soon as a new block would not fit beside them under the memory limit (memory_limit.h).
/// AddressSanitizer builds cache nothing.
struct CpuCacheStats {
  size_t cachedBytes = 0;  // held for reuse, not in use
  size_t limitBytes = 0;   // the most kept
  size_t hits = 0;         // large requests served from the cache
  size_t misses = 0;       // large requests that mapped a new block
};
CpuCacheStats cpuCacheStats();
/// Returns every cached block to the operating system.
void releaseCpuCache();
/// Sets the most bytes kept for reuse (0: keep none); drops cached blocks past it.
void setCpuCacheLimit(size_t bytes);

}  // namespace singa
