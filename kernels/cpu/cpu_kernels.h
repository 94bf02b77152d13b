// CPU backend: one registration function per op family, all called from registerCpuKernels()
// (register.cc). These kernels are also the oracle every other backend is tested against.
#pragma once

#include "singa/ops/registry.h"

namespace singa::cpu {

void registerCopyKernels(KernelRegistry& r);         // Copy, Fill (copy.cc)
void registerElementwiseKernels(KernelRegistry& r);  // binary, compare, logic (elementwise.cc)
void registerUnaryElementwiseKernels(KernelRegistry& r);  // unary + fused grads (elementwise_unary.cc)
/// Whether the unary kernels' contiguous loops run the widest ISA the CPU has (the default) or
/// the baseline build (tests compare the two); returns the previous setting.
bool setWideElementwiseLoops(bool on);
/// The build of those loops that runs now: "avx512", "avx2" or "baseline".
const char* elementwiseLoopIsa();
void registerReduceKernels(KernelRegistry& r);       // Reduce*, ArgMax/Min (reduce.cc)
void registerGemmKernels(KernelRegistry& r);         // MatMul, Gemm (gemm.cc)
void registerShapeKernels(KernelRegistry& r);        // Concat, Pad, Gather, Tile, ... (shape.cc)
void registerConvKernels(KernelRegistry& r);         // Conv, ConvTranspose and grads (conv.cc)
void registerPoolKernels(KernelRegistry& r);         // MaxPool, AveragePool and grads (pool.cc)
void registerNormKernels(KernelRegistry& r);         // BatchNormalization, Dropout (batchnorm.cc)
void registerSoftmaxKernels(KernelRegistry& r);      // Softmax, LogSoftmax, losses (softmax.cc)
void registerOptimKernels(KernelRegistry& r);        // fused optimizer updates (optim.cc)

}  // namespace singa::cpu
