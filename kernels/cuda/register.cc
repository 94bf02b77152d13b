// The CUDA module's entry points. libsinga_cuda.so holds the CUDA backend (these kernels, the
// device layer in cuda_device.cc, the NCCL communicator) and is loaded by libsinga on first use
// of anything CUDA (loadDeviceModule, core/device.h), so a CPU run never maps the CUDA libraries.
// Registration needs no GPU: an op with no CUDA kernel for a dtype is reported through
// KernelRegistry::supports/find; the device backend is installed (installCudaBackend, which asks
// the runtime for GPUs) only when a CUDA device is first requested.
#include "singa/kernels/cuda/cuda_kernels.h"

namespace singa {

void installCudaBackend();   // cuda_device.cc
void registerNcclBackend();  // comm/nccl_communicator.cc

void registerCudaKernels(KernelRegistry& r) {
  cuda::registerCopyKernels(r);
  cuda::registerElementwiseKernels(r);
  cuda::registerReduceKernels(r);
  cuda::registerGemmKernels(r);
  cuda::registerShapeKernels(r);
  cuda::registerConvKernels(r);
  cuda::registerPoolKernels(r);
  cuda::registerNormKernels(r);
  cuda::registerSoftmaxKernels(r);
  cuda::registerOptimKernels(r);
}

}  // namespace singa

// Looked up by name with dlsym (core/device.cc), hence C linkage. Called once, under the
// loader's once-flag: a CUDA kernel lookup from here finds none (the loader is not re-entered).
extern "C" {

// Which build the module is from (libsinga refuses another build's module: the module uses
// libsinga's C++ classes, whose layout only the same build guarantees).
__attribute__((visibility("default"))) const char* singa_cuda_module_build_id() { return SINGA_BUILD_ID; }

__attribute__((visibility("default"))) void singa_cuda_module_register() {
  singa::registerCudaKernels(singa::KernelRegistry::global());
  singa::registerNcclBackend();
}

__attribute__((visibility("default"))) void singa_cuda_module_install_backend() { singa::installCudaBackend(); }

}  // extern "C"
