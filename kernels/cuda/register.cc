// CUDA backend entry point: installs the CUDA device backend when a GPU is visible and registers
// the CUDA kernels. Ops without a CUDA kernel report it through KernelRegistry::find/supports.
#include <cuda_runtime.h>

#include "core/device.h"
#include "core/error.h"
#include "ops/registry.h"

namespace singa {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    SINGA_THROW(Error, "CUDA " << what << " failed: " << cudaGetErrorString(err));
  }
}

class CudaBackend final : public DeviceBackend {
 public:
  void* allocate(size_t bytes, int index) override {
    check(cudaSetDevice(index), "cudaSetDevice");
    void* p = nullptr;
    if (bytes == 0) bytes = 256;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
      SINGA_THROW(Error, "out of GPU memory on cuda:" << index << " allocating " << bytes
                                                       << " bytes: " << cudaGetErrorString(err));
    }
    return p;
  }
  void deallocate(void* ptr, size_t, int) override { cudaFree(ptr); }
  void copy(void* dst, Device, const void* src, Device, size_t bytes) override {
    if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
  }
  void memset0(void* ptr, size_t bytes, int index) override {
    check(cudaSetDevice(index), "cudaSetDevice");
    if (bytes) check(cudaMemset(ptr, 0, bytes), "cudaMemset");
  }
  void synchronize(int index) override {
    check(cudaSetDevice(index), "cudaSetDevice");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
};

}  // namespace

// Called once by deviceBackend(): without a visible GPU the CUDA device stays unavailable and
// requesting it gives a clear error.
void installCudaBackend() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return;
  static CudaBackend backend;
  registerDeviceBackend(DeviceType::kCuda, &backend);
}

void registerCudaKernels(KernelRegistry&) {}

}  // namespace singa
