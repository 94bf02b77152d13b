// Float32 convolution forward with an own AVX-512 GEMM whose right-hand side is packed straight
// from the image (no separate im2col matrix, no BLAS packing of either operand).
//
// For one image and one group, y[M, P] = w[M, K] * col[K, P] (+ bias), where col is the im2col
// matrix of the image (K = channels * window size, P = output positions). OpenBLAS spends a
// fifth of a batch-1 ResNet-18 in packing its operands (the weights on every call, the column
// matrix after im2col wrote it); here:
//  - the column matrix is written directly in the layout the microkernel reads: panels of 48
//    output positions, one K block (<= 320 rows, ~60 KiB, stays in L1/L2) at a time;
//  - the weights are read in place: the microkernel broadcasts w[m, k] for 8 rows m, which are
//    8 sequential streams, so they need no packing;
//  - an 8 x 48 register tile (24 zmm accumulators) starts from the bias and is stored once per
//    K block (loaded back for the next block).
// Threads split the output positions (panels) when there are enough of them, else the output
// channels (the small late layers of a CNN), so both cores work at batch 1.
//
// Chosen at run time: only on CPUs with AVX-512F (the rest of the library is compiled for the
// baseline ISA; only the kernel functions carry the target attribute). SINGA_CONV_PACKED=0 turns
// it off (OpenBLAS path), as does setPackedConvEnabled(false), which tests use to compare the two.
#pragma once

#include <cstdint>

#include "singa/kernels/cpu/im2col.h"

namespace singa::cpu {

/// True when the packed kernel runs for float32 convolutions: the CPU has AVX-512F, the
/// environment does not say SINGA_CONV_PACKED=0, and setPackedConvEnabled did not turn it off.
bool packedConvEnabled();
/// Turns the packed kernel on or off (on only where the CPU supports it); returns the old state.
bool setPackedConvEnabled(bool on);
/// True when this CPU can run the packed kernel at all.
bool packedConvSupported();

/// One image, one group: y[M, P] = w[M, K] * im2col(x)[K, P] + bias[m] (bias may be null), with
/// K = channels * plan.g.kSize() and P = plan.g.outSize(); channel c of the image is the plane at
/// x + c * plan.g.inSize(). w rows are K apart, y rows P apart. `parallel` spreads the work over
/// the OpenMP threads (false when the caller is itself one of several workers). With relu, y is
/// y > 0 ? y : 0 (as the Relu kernel, NaN gives 0), applied as the results are stored.
void packedConvImage(const float* x, int64_t channels, const WindowPlan& plan, const float* w, int64_t M,
                     const float* bias, float* y, bool relu, bool parallel);

/// One output plane of a depthwise convolution (depthwise.h's loops compiled for AVX-512), with
/// the same run-time condition as the packed kernel.
void packedDepthwisePlane(const float* xs, const float* ws, float b0, float* ys, const WindowPlan& plan, bool relu);

}  // namespace singa::cpu
