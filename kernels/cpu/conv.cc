// Convolution kernels: im2col + OpenBLAS GEMM over chunks of images.
//
// Threading: all parallelism comes from OpenMP, OpenBLAS is made single-threaded while these
// kernels run (so its spinning worker pool never competes with ours).
//  - split mode (at least as many images as threads): each thread takes a contiguous share of
//    the mini-batch and runs its own pipeline (im2col -> GEMM -> copy out) over sub-chunks whose
//    column matrix fits its L2 cache. The threads never wait on each other, the column matrix
//    never leaves the core's cache, and a sub-chunk of images is still one long GEMM.
//  - shared mode (fewer images than threads, or huge images): chunks run one after another;
//    im2col and the copies are spread over the threads and each GEMM is split into row or
//    column blocks, one single-threaded BLAS call per thread.
// On the MNIST CNN shapes (batch 64) split mode beat both one batched GEMM over the whole
// mini-batch with threaded BLAS (the column matrix falls out of cache; BLAS scales poorly on
// 20-50 output channels) and one GEMM per image (short GEMMs), and scales ~2x on 2 cores.
//
// Kernels (float32 and float64; geometry from the shapes of the tensors they get, so the same
// kernels serve Conv and ConvTranspose in both directions):
//   Conv           (x, w[, b]) -> y           y = conv(x, w) + b
//   ConvGradInput  (dy, w[, b]) -> dx         the adjoint in x (+ b per channel of dx); this is
//                                             also ConvTranspose's forward, registered under both
//   ConvGradWeight (x, dy) -> dw[, db]        dw = sum over images of dy * im2col(x)^T; with a
//                                             second output also db (one pass over dy)
//   ConvGradBias   (dy) -> db                 db[c] = sum of dy[:, c, ...]
// Attributes: strides, pads ([begin..., end...]; only the begin pads matter here, the output
// extent comes from the tensors), dilations, group.
// float32 Conv, ConvGradInput and ConvGradWeight run on oneDNN when it is enabled and takes the
// shape (conv_dnnl.h); the code below runs otherwise.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/kernels/cpu/conv_activation.h"
#include "singa/kernels/cpu/conv_dnnl.h"
#include "singa/kernels/cpu/conv_packed.h"
#include "singa/kernels/cpu/cpu_kernels.h"
#include "singa/kernels/cpu/depthwise.h"
#include "singa/kernels/cpu/im2col.h"

namespace singa::cpu {
namespace {

constexpr int64_t kSubChunkBytes = 512 << 10;      // column matrix per sub-chunk (L2-sized)
constexpr int64_t kSharedChunkBytes = 16 << 20;    // column matrix per chunk, shared mode
constexpr int64_t kMaxSplitImageBytes = 64 << 20;  // per-image column matrix limit of split mode
// Output channels per group from which the packed kernel is used: below a register tile (8
// rows) its weight broadcasts are poorly amortised (depthwise convolutions ran 1.4x slower).
constexpr int64_t kPackedMinRows = 8;

template <class F>
void runRange(int64_t n, int64_t grain, bool parallel, F&& f) {
  if (parallel) {
    parallelFor(n, grain, f);
  } else if (n > 0) {
    f(int64_t{0}, n);
  }
}

int64_t planeGrain(int64_t P) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(P, 1)); }

// Runs body(worker, n0, nb, parallelInside) over chunks [n0, n0 + nb) of the N images (see the
// file comment); returns the number of workers (> 1 only in split mode).
template <class F>
int forEachChunk(int64_t N, int64_t colBytesPerImage, F&& body) {
  const int threads = numThreads();
  colBytesPerImage = std::max<int64_t>(colBytesPerImage, 1);
  std::optional<BlasSingleThreaded> singleThreadedBlas;  // parallelism comes from OpenMP only
  if (threads > 1) singleThreadedBlas.emplace();
  if ((threads == 1 || N >= threads) && colBytesPerImage <= kMaxSplitImageBytes) {
    const int64_t sub = std::max<int64_t>(1, kSubChunkBytes / colBytesPerImage);
    parallelFor(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t w = b; w < e; ++w) {
        const int64_t lo = N * w / threads, hi = N * (w + 1) / threads;
        for (int64_t n0 = lo; n0 < hi; n0 += sub) body(static_cast<int>(w), n0, std::min(sub, hi - n0), false);
      }
    });
    return threads;
  }
  const int64_t chunk = std::clamp<int64_t>(kSharedChunkBytes / colBytesPerImage, 1, std::max<int64_t>(N, 1));
  for (int64_t n0 = 0; n0 < N; n0 += chunk) body(0, n0, std::min(chunk, N - n0), threads > 1);
  return 1;
}

// C = op(A) op(B) + beta * C: single-threaded BLAS inside a worker, split over the threads
// (ompGemm) in shared mode.
template <class T>
void gemm(bool parallel, bool transA, bool transB, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  if (parallel) {
    ompGemm(transA, transB, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
  } else {
    blasGemm(transA, transB, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
  }
}

// [nb, C, P] (image-major, NCHW) -> [C, nb * P] (channel-major).
template <class T>
void toChannelMajor(const T* src, int64_t nb, int64_t channels, int64_t P, T* dst, bool parallel) {
  runRange(nb * channels, planeGrain(P), parallel, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t j = t / channels, c = t % channels;
      std::memcpy(dst + (c * nb + j) * P, src + t * P, static_cast<size_t>(P) * sizeof(T));
    }
  });
}

// [C, nb * P] -> [nb, C, P], adding bias[c] when given.
template <class T>
void toImageMajor(const T* src, int64_t nb, int64_t channels, int64_t P, const T* bias, T* dst, bool parallel) {
  runRange(nb * channels, planeGrain(P), parallel, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t j = t / channels, c = t % channels;
      const T* s = src + (c * nb + j) * P;
      T* d = dst + t * P;
      const T bc = bias ? bias[c] : T(0);
      for (int64_t p = 0; p < P; ++p) d[p] = s[p] + bc;
    }
  });
}

// y[n, c, :] += bias[c] over [nb, C, P].
template <class T>
void addBias(T* y, int64_t nb, int64_t channels, int64_t P, const T* bias, bool parallel) {
  if (!bias) return;
  runRange(nb * channels, planeGrain(P), parallel, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const T bc = bias[t % channels];
      T* d = y + t * P;
      for (int64_t p = 0; p < P; ++p) d[p] += bc;
    }
  });
}

// Sum of n values with eight independent accumulators (a single running sum is one long
// dependency chain the compiler may not reorder).
template <class T>
double sumOf(const T* s, int64_t n) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += s[i + k];
  }
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>(s[i]);
  for (int k = 0; k < 8; ++k) total += static_cast<double>(acc[k]);
  return total;
}

const Tensor* optionalInput(const KernelContext& ctx, size_t i) {
  return ctx.inputs.size() > i && ctx.in(i).defined() ? &ctx.in(i) : nullptr;
}

std::vector<int64_t> kernelDims(const Tensor& w) {
  return std::vector<int64_t>(w.shape().begin() + 2, w.shape().end());
}

// Sizes shared by the kernels: the image side has C channels, the output side Cout channels.
struct ConvDims {
  int64_t N, C, Cout, group, Cog, Kg, P, imgSize, colRows;
  ConvDims(int64_t n, int64_t c, int64_t cout, int64_t grp, const WindowGeom& g)
      : N(n),
        C(c),
        Cout(cout),
        group(grp),
        Cog(cout / grp),
        Kg(c / grp * g.kSize()),
        P(g.outSize()),
        imgSize(c * g.inSize()),
        colRows(c * g.kSize()) {}
};

// Depthwise convolution (one input channel per group: group == C, any channel multiplier)
// directly: each output plane is its bias plus, per tap, a scaled shifted input row segment.
// im2col + a GEMM per group spends its time in per-group set-up and thread hand-offs there
// (MobileNet-v2 ran 5x slower than onnxruntime that way).
template <class T>
void depthwiseForward(const T* x, const T* w, const T* bias, T* y, int64_t N, int64_t Cout, int64_t Cog,
                      const WindowPlan& plan, bool relu) {
  const bool packed = std::is_same_v<T, float> && packedConvEnabled();  // the AVX-512 build of the loops
  const int64_t inSize = plan.g.inSize(), P = plan.g.outSize(), kSize = plan.g.kSize(), C = Cout / Cog;
  parallelFor(N * Cout, std::max<int64_t>(1, 32768 / std::max<int64_t>(P * kSize, 1)), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const int64_t n = plane / Cout, o = plane % Cout;
      const T* xs = x + (n * C + o / Cog) * inSize;
      const T b0 = bias ? bias[o] : T(0);
      if constexpr (std::is_same_v<T, float>) {
        if (packed) {
          packedDepthwisePlane(xs, w + o * kSize, b0, y + plane * P, plan, relu);
          continue;
        }
      }
      depthwisePlaneLoops<T>(xs, w + o * kSize, b0, y + plane * P, plan, relu);
    }
  });
}

template <class T>
void convForwardUnclipped(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& y = ctx.out(0);
  if (y.numel() == 0) return;
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>("Conv");
  const ops::ConvParams& win = cp.window;
  const WindowPlan plan(makeWindowGeom(x.shape(), y.shape(), kernelDims(w), win.strides, win.pads, win.dilations));
  const ConvDims d(x.dim(0), x.dim(1), w.dim(0), win.group, plan.g);
  const bool pointwise = plan.g.pointwise();
  const T* xp = x.data<T>();
  const T* wp = w.data<T>();
  const T* bias = b ? b->data<T>() : nullptr;
  T* yp = y.data<T>();
  // fuseRelu: relu(conv) in one kernel (ops::convRelu, only when nothing is recorded).
  const bool relu = cp.fuseRelu;
  if (d.C == d.group && d.Cog < kPackedMinRows) {  // depthwise: one input channel per group, few outputs each
    depthwiseForward<T>(xp, wp, bias, yp, d.N, d.Cout, d.Cog, plan, relu);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (packedConvEnabled() && d.Cog >= kPackedMinRows) {
      // The packed AVX-512 kernel (conv_packed.h): one image and group per call; whole images
      // per thread when there are enough of them, else each image spread over the threads.
      const int64_t Cg = d.C / d.group, inSize = plan.g.inSize();
      auto image = [&](int64_t n, bool par) {
        for (int64_t grp = 0; grp < d.group; ++grp) {
          packedConvImage(xp + (n * d.C + grp * Cg) * inSize, Cg, plan, wp + grp * d.Cog * d.Kg, d.Cog,
                          bias ? bias + grp * d.Cog : nullptr, yp + (n * d.Cout + grp * d.Cog) * d.P, relu, par);
        }
      };
      const int64_t threads = numThreads();
      if (threads > 1 && d.N >= threads) {
        parallelFor(d.N, (d.N + threads - 1) / threads, [&](int64_t b, int64_t e) {
          for (int64_t n = b; n < e; ++n) image(n, false);
        });
      } else {
        for (int64_t n = 0; n < d.N; ++n) image(n, threads > 1);
      }
      return;
    }
  }
  forEachChunk(d.N, d.colRows * d.P * static_cast<int64_t>(sizeof(T)), [&](int, int64_t n0, int64_t nb, bool par) {
    const int64_t ncols = nb * d.P;
    const T* col = xp + n0 * d.imgSize;  // a 1x1 window: one image is its own column matrix
    if (nb > 1 || !pointwise) {
      T* buf = scratch<T>(0, static_cast<size_t>(d.colRows * ncols));
      im2col(xp + n0 * d.imgSize, nb, d.C, plan, buf, par);
      col = buf;
    }
    T* dst = nb == 1 ? yp + n0 * d.Cout * d.P : scratch<T>(1, static_cast<size_t>(d.Cout * ncols));
    for (int64_t grp = 0; grp < d.group; ++grp) {
      // y_g[Cog, ncols] = w_g[Cog, Kg] @ col_g[Kg, ncols]
      gemm(par, false, false, d.Cog, ncols, d.Kg, wp + grp * d.Cog * d.Kg, d.Kg, col + grp * d.Kg * ncols, ncols, T(0),
           dst + grp * d.Cog * ncols, ncols);
    }
    if (nb == 1) {
      addBias(dst, 1, d.Cout, d.P, bias, par);
    } else {
      toImageMajor(dst, nb, d.Cout, d.P, bias, yp + n0 * d.Cout * d.P, par);
    }
  });
  if (relu) applyConvActivation(yp, y.numel(), cp);
}

// Conv, with a fused Clip (ops::convClip) applied to the output as the Clip kernel would: one
// pass over the output while it is still in cache, no second tensor or op.
template <class T>
void convForward(KernelContext& ctx) {
  if constexpr (std::is_same_v<T, float>) {
    if (dnnlConvForward(ctx)) return;  // with the fused Relu or Clip
  }
  convForwardUnclipped<T>(ctx);
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>("Conv");
  if (cp.fuseClip) applyConvActivation(ctx.out(0).data<T>(), ctx.out(0).numel(), cp);
}

template <class T>
void convGradInput(KernelContext& ctx) {
  if constexpr (std::is_same_v<T, float>) {
    if (dnnlConvGradInput(ctx)) return;
  }
  const Tensor& dy = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& dx = ctx.out(0);
  if (dx.numel() == 0) return;
  const ops::ConvParams& win = ctx.paramsAs<ConvKernelParams>("ConvGradInput").window;
  const WindowPlan plan(makeWindowGeom(dx.shape(), dy.shape(), kernelDims(w), win.strides, win.pads, win.dilations));
  const ConvDims d(dx.dim(0), dx.dim(1), w.dim(0), win.group, plan.g);
  const bool pointwise = plan.g.pointwise();
  const T* dyp = dy.data<T>();
  const T* wp = w.data<T>();
  const T* bias = b ? b->data<T>() : nullptr;
  T* dxp = dx.data<T>();
  if (dy.numel() == 0) {
    std::memset(dxp, 0, dx.nbytes());
    addBias(dxp, d.N, d.C, plan.g.inSize(), bias, true);
    return;
  }
  if (d.C == d.group && d.Cog < kPackedMinRows) {  // depthwise: each input plane from its Cog output planes
    const int64_t inSize = plan.g.inSize(), kSize = plan.g.kSize();
    parallelFor(d.N * d.C, std::max<int64_t>(1, 32768 / std::max<int64_t>(d.P * kSize * d.Cog, 1)),
                [&](int64_t b, int64_t e) {
                  for (int64_t plane = b; plane < e; ++plane) {
                    const int64_t n = plane / d.C, c = plane % d.C;
                    T* dxs = dxp + plane * inSize;
                    std::fill(dxs, dxs + inSize, bias ? bias[c] : T(0));
                    for (int64_t o = c * d.Cog; o < (c + 1) * d.Cog; ++o) {
                      depthwisePlaneGradInput<T>(dyp + (n * d.Cout + o) * d.P, wp + o * kSize, dxs, plan);
                    }
                  }
                });
    return;
  }
  forEachChunk(d.N, d.colRows * d.P * static_cast<int64_t>(sizeof(T)), [&](int, int64_t n0, int64_t nb, bool par) {
    const int64_t ncols = nb * d.P;
    const T* dys = dyp + n0 * d.Cout * d.P;
    if (nb > 1) {
      T* buf = scratch<T>(1, static_cast<size_t>(d.Cout * ncols));
      toChannelMajor(dys, nb, d.Cout, d.P, buf, par);
      dys = buf;
    }
    T* image = dxp + n0 * d.imgSize;
    const bool direct = nb == 1 && pointwise;
    T* dcol = direct ? image : scratch<T>(0, static_cast<size_t>(d.colRows * ncols));
    for (int64_t grp = 0; grp < d.group; ++grp) {
      // dcol_g[Kg, ncols] = w_g[Cog, Kg]^T @ dy_g[Cog, ncols]
      gemm(par, true, false, d.Kg, ncols, d.Cog, wp + grp * d.Cog * d.Kg, d.Kg, dys + grp * d.Cog * ncols, ncols, T(0),
           dcol + grp * d.Kg * ncols, ncols);
    }
    if (!direct) col2im(dcol, nb, d.C, plan, image, par);
    addBias(image, nb, d.C, plan.g.inSize(), bias, par);
  });
}

template <class T>
void convGradBias(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& db = ctx.out(0);
  const int64_t N = dy.dim(0), C = dy.dim(1), P = N * C > 0 ? dy.numel() / (N * C) : 0;
  const T* dyp = dy.data<T>();
  T* dbp = db.data<T>();
  parallelFor(C, std::max<int64_t>(1, 65536 / std::max<int64_t>(N * P, 1)), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) acc += sumOf(dyp + (n * C + c) * P, P);
      dbp[c] = static_cast<T>(acc);
    }
  });
}

template <class T>
void convGradWeight(KernelContext& ctx) {
  if constexpr (std::is_same_v<T, float>) {
    if (dnnlConvGradWeight(ctx)) return;
  }
  const Tensor& x = ctx.in(0);
  const Tensor& dy = ctx.in(1);
  Tensor& dw = ctx.out(0);
  T* dbp = ctx.outputs.size() > 1 ? ctx.out(1).data<T>() : nullptr;  // fused ConvGradBias
  if (dbp && dw.numel() == 0) {
    const std::vector<Tensor> dyIn{dy};
    std::vector<Tensor> dbOut{ctx.out(1)};
    KernelContext sub{dyIn, dbOut, ctx.attrs, ctx.params};
    convGradBias<T>(sub);
    return;
  }
  if (dw.numel() == 0) return;
  const ops::ConvParams& win = ctx.paramsAs<ConvKernelParams>("ConvGradWeight").window;
  const WindowPlan plan(makeWindowGeom(x.shape(), dy.shape(), kernelDims(dw), win.strides, win.pads, win.dilations));
  const ConvDims d(x.dim(0), x.dim(1), dw.dim(0), win.group, plan.g);
  const bool pointwise = plan.g.pointwise();
  const T* xp = x.data<T>();
  const T* dyp = dy.data<T>();
  T* dwp = dw.data<T>();
  const int64_t dwSize = dw.numel();
  if (d.N == 0 || d.P == 0) {
    std::memset(dwp, 0, dw.nbytes());
    if (dbp) std::memset(dbp, 0, static_cast<size_t>(d.Cout) * sizeof(T));
    return;
  }
  if (d.C == d.group && d.Cog < kPackedMinRows) {  // depthwise: each output channel's taps on its own
    const int64_t inSize = plan.g.inSize(), kSize = plan.g.kSize();
    parallelFor(d.Cout, 1, [&](int64_t b, int64_t e) {
      std::vector<double> acc(static_cast<size_t>(kSize));
      for (int64_t o = b; o < e; ++o) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double bsum = 0;
        for (int64_t n = 0; n < d.N; ++n) {
          const T* dys = dyp + (n * d.Cout + o) * d.P;
          depthwisePlaneGradWeight<T>(xp + (n * d.C + o / d.Cog) * inSize, dys, acc.data(), plan);
          if (dbp) bsum += sumOf(dys, d.P);
        }
        for (int64_t r = 0; r < kSize; ++r) dwp[o * kSize + r] = static_cast<T>(acc[static_cast<size_t>(r)]);
        if (dbp) dbp[o] = static_cast<T>(bsum);
      }
    });
    return;
  }
  // Each worker accumulates dw^T (per group [Kg, Cog]: OpenBLAS runs this shape faster than
  // [Cog, Kg]) in a private buffer; the buffers are summed and transposed into dw at the end.
  std::vector<T> partial(static_cast<size_t>(numThreads() * dwSize), T(0));
  // db, when asked for, is summed from the dy chunks while they are in cache anyway.
  std::vector<double> dbPartial(dbp ? static_cast<size_t>(numThreads() * d.Cout) : 0, 0.0);
  const int workers = forEachChunk(d.N, d.colRows * d.P * static_cast<int64_t>(sizeof(T)),
                                   [&](int worker, int64_t n0, int64_t nb, bool par) {
                                     const int64_t ncols = nb * d.P;
                                     const T* col = xp + n0 * d.imgSize;
                                     if (nb > 1 || !pointwise) {
                                       T* buf = scratch<T>(0, static_cast<size_t>(d.colRows * ncols));
                                       im2col(xp + n0 * d.imgSize, nb, d.C, plan, buf, par);
                                       col = buf;
                                     }
                                     const T* dys = dyp + n0 * d.Cout * d.P;
                                     if (nb > 1) {
                                       T* buf = scratch<T>(1, static_cast<size_t>(d.Cout * ncols));
                                       toChannelMajor(dys, nb, d.Cout, d.P, buf, par);
                                       dys = buf;
                                     }
                                     if (dbp) {
                                       double* dbAcc = dbPartial.data() + worker * d.Cout;
                                       for (int64_t c = 0; c < d.Cout; ++c) {
                                         if (nb > 1) {
                                           dbAcc[c] += sumOf(dys + c * ncols, ncols);
                                         } else {
                                           dbAcc[c] += sumOf(dys + c * d.P, d.P);
                                         }
                                       }
                                     }
                                     T* acc = partial.data() + worker * dwSize;
                                     for (int64_t grp = 0; grp < d.group; ++grp) {
                                       // dw_g^T[Kg, Cog] += col_g[Kg, ncols] @ dy_g[Cog, ncols]^T
                                       gemm(par, false, true, d.Kg, d.Cog, ncols, col + grp * d.Kg * ncols, ncols,
                                            dys + grp * d.Cog * ncols, ncols, T(1), acc + grp * d.Kg * d.Cog, d.Cog);
                                     }
                                   });
  // Sum the workers' dw^T buffers and transpose into dw, in 64 x 64 tiles so both the reads
  // (rows of Cog) and the writes (rows of Kg) stay in cache.
  constexpr int64_t kTile = 64;
  const int64_t kTiles = (d.Kg + kTile - 1) / kTile, oTiles = (d.Cog + kTile - 1) / kTile;
  parallelFor(d.group * kTiles * oTiles, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t grp = t / (kTiles * oTiles), kt = (t / oTiles) % kTiles, ot = t % oTiles;
      const int64_t k0 = kt * kTile, k1 = std::min(k0 + kTile, d.Kg);
      const int64_t o0 = ot * kTile, o1 = std::min(o0 + kTile, d.Cog);
      for (int64_t o = o0; o < o1; ++o) {
        T* dst = dwp + (grp * d.Cog + o) * d.Kg;
        for (int64_t k = k0; k < k1; ++k) {
          T v = 0;
          for (int wk = 0; wk < workers; ++wk)
            v += partial[static_cast<size_t>(wk * dwSize + grp * d.Kg * d.Cog + k * d.Cog + o)];
          dst[k] = v;
        }
      }
    }
  });
  for (int64_t c = 0; dbp && c < d.Cout; ++c) {
    double v = 0;
    for (int wk = 0; wk < workers; ++wk) v += dbPartial[static_cast<size_t>(wk * d.Cout + c)];
    dbp[c] = static_cast<T>(v);
  }
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
  const auto dtypes = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kConv, DeviceType::kCpu, dtypes,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, convForward<T>(ctx)); });
  const KernelFn gradInput = [](KernelContext& ctx) {
    SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, convGradInput<T>(ctx));
  };
  r.add(OpId::kConvGradInput, DeviceType::kCpu, dtypes, gradInput);
  r.add(OpId::kConvTranspose, DeviceType::kCpu, dtypes, gradInput);
  r.add(OpId::kConvGradWeight, DeviceType::kCpu, dtypes,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, convGradWeight<T>(ctx)); });
  r.add(OpId::kConvGradBias, DeviceType::kCpu, dtypes,
        [](KernelContext& ctx) { SINGA_DISPATCH_FLOAT(ctx.in(0).dtype(), T, convGradBias<T>(ctx)); });
}

}  // namespace singa::cpu
