// CUDA backend: one registration function per op family, all called from registerCudaKernels()
// (register.cc). Each family registers exactly the op names, input/output order and attributes
// of its CPU counterpart (kernels/cpu/cpu_kernels.h); dtypes without a CUDA kernel are simply not
// registered, so supports() answers no and find() names the dtypes that exist.
#pragma once

#include "singa/ops/registry.h"

namespace singa {
/// Every CUDA kernel family into `registry` (register.cc; the CUDA module calls it when loaded).
void registerCudaKernels(KernelRegistry& registry);
}  // namespace singa

namespace singa::cuda {

void registerCopyKernels(KernelRegistry& r);         // Copy, Fill (copy.cu)
void registerElementwiseKernels(KernelRegistry& r);  // binary, compare, logic, Where (elementwise.cu)
void registerUnaryKernels(KernelRegistry& r);        // unary + fused grads (unary.cu)
void registerReduceKernels(KernelRegistry& r);       // Reduce*, ArgMax/Min, grads (reduce.cu)
void registerGemmKernels(KernelRegistry& r);         // MatMul, Gemm via cuBLAS (gemm.cc)
void registerShapeKernels(KernelRegistry& r);        // StridedCopy, Concat, Gather, Pad, Tile (shape.cu)
void registerConvKernels(KernelRegistry& r);         // Conv family via cuDNN (conv.cc)
void registerPoolKernels(KernelRegistry& r);         // MaxPool, AveragePool and grads (pool.cu)
void registerNormKernels(KernelRegistry& r);         // BatchNorm, Dropout (batchnorm.cu)
void registerSoftmaxKernels(KernelRegistry& r);      // Softmax family, cross-entropy (softmax.cu)
void registerOptimKernels(KernelRegistry& r);        // SGDUpdate, AdamUpdate (optim.cu)

// Helpers shared by the families (copy.cu); they queue work on the tensors' device stream.
/// Copies `in` (broadcast to out's shape, any strides) into `out` (any strides), same dtype.
void stridedMove(const Tensor& in, Tensor& out);
/// Sets every element of contiguous `out` to the element bit pattern `bits`.
void fillBits(Tensor& out, uint64_t bits);
/// `value` converted to dtype t, as the bytes of one element (CPU conversion rules).
uint64_t valueBits(double value, DType t);
/// A contiguous copy of `t` on its device (t itself when already contiguous).
Tensor contiguousCopy(const Tensor& t);

}  // namespace singa::cuda
