// Float32 CPU convolution on oneDNN (libdnnl, the library PyTorch's CPU convolutions run on):
// forward (bias, fused ReLU or Clip; in inference oneDNN's forward_inference kernels, weights
// reordered once and kept, outputs left in oneDNN's layout for the next layer), backward data
// (also ConvTranspose's forward, + bias per channel of dx) and backward weights (+ db), 1-D to
// 3-D, groups, strides, dilations, asymmetric pads.
//
// The kernels in conv.cc ask these first for float32 and run their own im2col + OpenBLAS code
// when they return false: oneDNN turned off, a build without it, an empty tensor, a geometry
// past oneDNN's index range, or a shape oneDNN has no implementation for. float64 never comes here.
//
// Chosen at run time: SINGA_CONV=dnnl|native (read once), setDnnlConvEnabled() for tests and A/B.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "singa/ops/registry.h"

namespace singa::cpu {

/// True when this build has oneDNN (configured with SINGA_USE_DNNL and libdnnl-dev found).
bool dnnlConvAvailable();
/// True when float32 convolutions run on oneDNN: available, and neither SINGA_CONV=native nor
/// setDnnlConvEnabled(false) turned it off.
bool dnnlConvEnabled();
/// Turns the oneDNN path on or off (on only where available); returns the old state.
bool setDnnlConvEnabled(bool on);
/// Which layout oneDNN runs in. kAuto (default): per direction and layer kind, the measured
/// fastest of oneDNN on our plain NCHW / OIHW tensors, oneDNN in its blocked layouts
/// (format_tag::any, with reorders into and out of them around every call) and our own kernels
/// (see conv_dnnl.cc). kPlain and kBlocked force oneDNN in that layout, for benchmarks and tests.
enum class DnnlConvLayout { kAuto, kPlain, kBlocked };
/// Sets the layout choice; returns the old one.
DnnlConvLayout setDnnlConvLayout(DnnlConvLayout layout);

/// Inference (ConvKernelParams::cacheWeights) keeps a convolution's output in oneDNN's blocked
/// layout (Storage::setLayout), for the next convolution to take as it is; the plain tensor is
/// written on first use by anything else. On by default; off: every output is reordered at once
/// (for A/B runs and tests). Returns the old state.
bool setDnnlKeepBlocked(bool on);

/// A 4-D float32 tensor held channel-blocked, as an inference convolution leaves its output
/// (Storage::layout()): channel c of pixel (n, h, w) at
/// ((n * ceil(C / block) + c / block) * H * W + h * W + w) * block + c % block, the channels past
/// C zero. oneDNN's nChw16c and nChw8c, and channels-last (NHWC) with block = C.
struct ChannelBlocked {
  enum Format { kBlock16, kBlock8, kChannelsLast };
  const float* data = nullptr;  // null: not held so
  int64_t block = 0;            // 16, 8, or C (channels last)
  Format format = kBlock16;
};
/// t's buffer when t views its whole storage and that is held channel-blocked.
ChannelBlocked channelBlockedOf(const Tensor& t);
/// The bytes of a buffer for `shape` (4-D) in `like`'s format (its data and block unused).
size_t channelBlockedBytes(const Shape& shape, const ChannelBlocked& like);
/// Makes `buffer` (channelBlockedBytes(y.shape(), like) bytes in `like`'s format) the contents of
/// y: a fresh 4-D float32 tensor viewing its whole, tracked storage, whose memory is released
/// until read (Storage::setLayout). Throws in a build without oneDNN.
void setChannelBlocked(Tensor& y, std::shared_ptr<Storage> buffer, const ChannelBlocked& like);

/// How many convolutions oneDNN has run in this process (tests check that it, not a fallback, ran).
uint64_t dnnlConvRuns();
/// How many times an inference forward reordered weights into oneDNN's layout and kept them
/// (ConvKernelParams::cacheWeights); calls that found them kept do not count.
uint64_t dnnlWeightPacks();
/// How many inference convolutions left their output blocked, and how many took their input
/// blocked from the one before.
uint64_t dnnlBlockedOutputs();
uint64_t dnnlBlockedInputs();

/// Which kernels run float32 convolutions: "oneDNN 2.6.3 avx2", "packed AVX-512 + im2col +
/// OpenBLAS" or "im2col + OpenBLAS".
std::string convBackendDescription();
/// The start line's kernel part: "cpu: ...; gemm: ...; conv: ..." (cpuAndGemmDescription() of
/// core/blas_coretype.h with convBackendDescription()).
std::string cpuKernelsDescription();

/// The oneDNN kernels, with the contexts of Conv, ConvGradInput / ConvTranspose and
/// ConvGradWeight (see conv.cc). Each returns false, having written nothing, when the caller's
/// own kernel must run instead; errors of oneDNN while running become singa::Error.
bool dnnlConvForward(KernelContext& ctx);
bool dnnlConvGradInput(KernelContext& ctx);
bool dnnlConvGradWeight(KernelContext& ctx);

}  // namespace singa::cpu
