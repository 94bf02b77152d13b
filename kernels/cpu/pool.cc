#include "kernels/cpu/cpu_kernels.h"

namespace singa::cpu {

void registerPoolKernels(KernelRegistry& r) { (void)r; }

}  // namespace singa::cpu
