// CUDA backend entry point: registers every CUDA kernel family (the device backend itself is
// installed lazily by installCudaBackend() in cuda_device.cc). Registration needs no GPU: an op
// with no CUDA kernel for a dtype is reported through KernelRegistry::supports/find.
#include "singa/kernels/cuda/cuda_kernels.h"

namespace singa {

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
