#include "singa/kernels/cpu/cpu_kernels.h"

namespace singa {

void registerCpuKernels(KernelRegistry& r) {
  cpu::registerCopyKernels(r);
  cpu::registerElementwiseKernels(r);
  cpu::registerReduceKernels(r);
  cpu::registerGemmKernels(r);
  cpu::registerShapeKernels(r);
  cpu::registerConvKernels(r);
  cpu::registerPoolKernels(r);
  cpu::registerNormKernels(r);
  cpu::registerSoftmaxKernels(r);
  cpu::registerOptimKernels(r);
}

}  // namespace singa
