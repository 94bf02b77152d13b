// The CUDA device layer: device selection, one stream per device (every kernel, copy and library
// call of that device is queued on it, so the caching allocator can hand a freed block to the
// next request without synchronising), cuBLAS/cuDNN handles bound to that stream, a growable
// workspace, and events for the communicator to order its own stream against ours.
//
// Memory: a caching allocator over plain cudaMalloc (never managed memory). Blocks are rounded
// to size classes and kept in per-class free lists when a tensor dies; an allocation that fails
// empties the cache and retries once before reporting out-of-memory with the sizes involved.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "singa/core/error.h"

/// Turns a CUDA runtime error into a singa::Error carrying the call and file:line.
#define SINGA_CUDA_CHECK(expr)                                                                        \
  do {                                                                                                \
    const cudaError_t singa_cuda_err_ = (expr);                                                       \
    if (singa_cuda_err_ != cudaSuccess)                                                               \
      SINGA_THROW(Error, "CUDA error '" << cudaGetErrorString(singa_cuda_err_) << "' in " #expr " at " \
                                         << __FILE__ << ":" << __LINE__);                            \
  } while (0)

// The library handle types, declared as cuBLAS and cuDNN declare them, so that kernel files
// need not parse those headers (nvcc compile time); kernels/cuda/cuda_libs.h includes them.
struct cublasContext;
struct cudnnContext;

namespace singa::cuda {

/// Number of visible GPUs (0 when there is no driver or no device).
int deviceCount();
/// Makes `device` current for the calling thread; throws naming the visible count when invalid.
void setDevice(int device);
/// The stream all of `device`'s work runs on (created on first use).
cudaStream_t stream(int device);
/// cuBLAS / cuDNN handles of `device`, bound to stream(device).
cublasContext* cublas(int device);
cudnnContext* cudnn(int device);
/// A scratch buffer of at least `bytes` on `device` (valid until the next call on that device;
/// stream-ordered, so kernels queued before a regrowth finish before the old block is reused).
void* workspace(int device, size_t bytes);
/// Waits for everything queued on `device`'s stream.
void synchronize(int device);

/// TF32 tensor-core math for float32 GEMM and convolution: off by default (results then match
/// the CPU to float32 rounding); SINGA_CUDA_ALLOW_TF32=1 in the environment turns it on too.
void setAllowTF32(bool allow);
bool allowTF32();

/// Caching-allocator figures of `device` (bytes held by live tensors / most ever / cached free).
size_t bytesInUse(int device);
size_t peakBytes(int device);
size_t cachedBytes(int device);
/// Returns every cached free block to the driver.
void emptyCache();

/// Checks made on the device whose verdict the host reads later, so that validating labels or
/// indices does not stall the host until the GPU catches up (a hidden synchronisation per step).
/// checkWords(device) gives two int64 words in device memory, reset on the stream to {-1, -1}
/// ("nothing found"); kernels write into them (e.g. atomicMin of the first bad position as
/// unsigned, then the bad value). deferCheck() queues their copy to pinned host memory behind those
/// kernels; `report(word0, word1)` runs, and its exception is thrown, at the next point where the
/// host waits for the device anyway: a device-to-host copy, synchronize() or checkDeferred(). An
/// error on the device therefore surfaces at the next read of a result (as a device-side assert does
/// in PyTorch), with the same message as the CPU's.
int64_t* checkWords(int device);
void deferCheck(int device, int64_t* words, std::function<void(int64_t, int64_t)> report);
/// Waits for the device and throws the first failed deferred check, if any.
void checkDeferred(int device);

/// An event recorded on a device's stream: the communicator records one after the gradients
/// are computed and makes its own stream wait on it (or waits on the host).
class Event {
 public:
  explicit Event(int device);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  /// Records the event at the current end of stream(device) (or of `s` when given).
  void record(cudaStream_t s = nullptr);
  /// Makes `s` wait until the recorded point is reached (no host blocking).
  void waitOn(cudaStream_t s) const;
  void synchronize() const;
  cudaEvent_t get() const { return event_; }

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
};

}  // namespace singa::cuda
