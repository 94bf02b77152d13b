// Convolution kernels through cuDNN 9, with the CPU contract of kernels/cpu/conv.cc:
//   Conv           (x, w[, b]) -> y
//   ConvGradInput  (dy, w[, b]) -> dx        (also ConvTranspose's forward)
//   ConvGradWeight (x, dy) -> dw[, db]
//   ConvGradBias   (dy) -> db
// Geometry comes from the tensors' shapes and the attributes strides, pads [begin..., end...],
// dilations, group, as on the CPU: 1-D problems get a leading spatial dim of 1, 3-D ones use
// 5-D descriptors.
//
// Algorithms (algo_pick.h): by default the first deterministic algorithm of cuDNN's _v7 heuristic
// ranking whose workspace fits, so that runs are bit-reproducible; SINGA_CUDNN_BENCHMARK=1 times
// the candidates with cudnnFind*AlgorithmEx instead. Cached per device, shape and math mode. Math mode is CUDNN_FMA_MATH unless TF32 is allowed (cuDNN would otherwise
// use TF32 on Ampere and later by default, and results would drift from the CPU oracle).
//
// Padding cuDNN cannot express (begin != end pads with an output extent that symmetric padding
// would not give, or negative pads) runs on an explicitly padded copy of the image with pad 0:
// a zero tensor whose overlap with the image is filled (forward, weight gradient) or read back
// (input gradient).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "singa/kernels/cuda/algo_pick.h"
#include "singa/kernels/cuda/cuda_libs.h"
#include "singa/kernels/cuda/cuda_kernels.h"

namespace singa::cuda {
namespace {

struct Geometry {
  int nd = 0;  // spatial dims of the problem (1..3)
  int64_t N = 0, C = 0, Cout = 0, group = 1;
  std::vector<int64_t> in, out, k, stride, pad, dil;

  // Whether cuDNN's symmetric padding reproduces the output extent.
  bool direct() const {
    for (int i = 0; i < nd; ++i) {
      if (pad[i] < 0) return false;
      const int64_t span = in[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1;
      if (span < 0 || span / stride[i] + 1 != out[i]) return false;
    }
    return true;
  }
  // The padded-image geometry: extent L = (out - 1) * stride + dil * (k - 1) + 1, pad 0.
  Geometry padded() const {
    Geometry g = *this;
    for (int i = 0; i < nd; ++i) {
      g.in[i] = (out[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1;
      g.pad[i] = 0;
    }
    return g;
  }
};

Geometry geometryOf(const Shape& image, const Shape& out, const Shape& weight, const KernelContext& ctx,
                    const char* kernel) {
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>(kernel);
  SINGA_CHECK(!cp.fuseRelu && !cp.fuseClip, NotSupportedError,
              kernel << " on CUDA: a fused Relu or Clip is a CPU-only form (ops::convRelu, ops::convClip)");
  const ops::ConvParams& a = cp.window;
  Geometry g;
  g.nd = static_cast<int>(image.size()) - 2;
  SINGA_ASSERT(g.nd >= 1 && g.nd <= 3 && out.size() == image.size() && weight.size() == image.size());
  g.N = image[0];
  g.C = image[1];
  g.Cout = out[1];
  g.group = a.group;
  g.stride = a.strides;
  const std::vector<int64_t>& pads = a.pads;
  g.dil = a.dilations;
  for (int i = 0; i < g.nd; ++i) {
    g.in.push_back(image[2 + i]);
    g.out.push_back(out[2 + i]);
    g.k.push_back(weight[2 + i]);
    g.pad.push_back(pads[i]);
  }
  return g;
}

int narrow(int64_t v) {
  SINGA_CHECK(v >= 0 && v <= (1LL << 31) - 1, NotSupportedError,
              "Conv on CUDA: dimension " << v << " exceeds cuDNN's 32-bit limit");
  return static_cast<int>(v);
}

cudnnDataType_t cudnnType(DType t) {
  if (t == DType::kFloat32) return CUDNN_DATA_FLOAT;
  if (t == DType::kFloat64) return CUDNN_DATA_DOUBLE;
  SINGA_THROW(TypeError, "Conv: no CUDA " << dtypeName(t) << " kernel (float32 or float64 expected)");
}

// The descriptors of one problem (RAII). Spatial dims are padded to at least 2.
struct Descriptors {
  cudnnTensorDescriptor_t image = nullptr, output = nullptr;
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  std::string key;

  Descriptors(const Geometry& g, DType dt) {
    const cudnnDataType_t t = cudnnType(dt);
    const int sp = std::max(g.nd, 2), lead = sp - g.nd;  // leading spatial dims of size 1
    std::vector<int> imageDims{narrow(g.N), narrow(g.C)}, outDims{narrow(g.N), narrow(g.Cout)},
        filterDims{narrow(g.Cout), narrow(g.C / g.group)}, pads, strides, dils;
    for (int i = 0; i < sp; ++i) {
      const bool real = i >= lead;
      const int j = i - lead;
      imageDims.push_back(real ? narrow(g.in[j]) : 1);
      outDims.push_back(real ? narrow(g.out[j]) : 1);
      filterDims.push_back(real ? narrow(g.k[j]) : 1);
      pads.push_back(real ? narrow(g.pad[j]) : 0);
      strides.push_back(real ? narrow(g.stride[j]) : 1);
      dils.push_back(real ? narrow(g.dil[j]) : 1);
    }
    SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&image));
    SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&output));
    SINGA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&filter));
    SINGA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    setPacked(image, t, imageDims);
    setPacked(output, t, outDims);
    SINGA_CUDNN_CHECK(cudnnSetFilterNdDescriptor(filter, t, CUDNN_TENSOR_NCHW, static_cast<int>(filterDims.size()),
                                                 filterDims.data()));
    SINGA_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(conv, sp, pads.data(), strides.data(), dils.data(),
                                                      CUDNN_CROSS_CORRELATION, t));
    SINGA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, narrow(g.group)));
    math = dt == DType::kFloat32 && allowTF32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    SINGA_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
    std::ostringstream os;
    os << static_cast<int>(t) << ':' << static_cast<int>(math) << ':' << g.group;
    for (int v : imageDims) os << ',' << v;
    for (int v : outDims) os << ',' << v;
    for (int v : filterDims) os << ',' << v;
    for (size_t i = 0; i < pads.size(); ++i) os << ';' << pads[i] << '/' << strides[i] << '/' << dils[i];
    key = os.str();
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(image);
    cudnnDestroyTensorDescriptor(output);
    cudnnDestroyFilterDescriptor(filter);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

 private:
  static void setPacked(cudnnTensorDescriptor_t d, cudnnDataType_t t, const std::vector<int>& dims) {
    std::vector<int> st(dims.size());
    int s = 1;
    for (size_t i = dims.size(); i-- > 0;) {
      st[i] = s;
      s *= dims[i];
    }
    SINGA_CUDNN_CHECK(cudnnSetTensorNdDescriptor(d, t, static_cast<int>(dims.size()), dims.data(), st.data()));
  }
};

struct Algo {
  int algo = 0;
  size_t workspace = 0;
};

std::mutex gAlgoMu;
std::map<std::string, Algo> gAlgos;  // "<kind>|<device>|<descriptor key>" -> choice

size_t searchLimit() {
  size_t freeB = 0, totalB = 0;
  if (cudaMemGetInfo(&freeB, &totalB) != cudaSuccess) {
    cudaGetLastError();
    return 64u << 20;
  }
  return std::min<size_t>(size_t{1} << 30, freeB / 4);
}

bool envFlag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strcmp(v, "0") != 0;
}

// See algo_pick.h: heuristic ranking and deterministic algorithms unless told otherwise.
const bool gBenchmark = envFlag("SINGA_CUDNN_BENCHMARK", false);
const bool gDeterministic = envFlag("SINGA_CUDA_DETERMINISTIC", true);

// Picks (once per problem) an algorithm by the policy of algo_pick.h: `find` times the candidates
// (SINGA_CUDNN_BENCHMARK=1), `heuristic` ranks them with the _v7 heuristics; both fill perf and
// return the count.
template <class Perf, class Find, class Heuristic>
Algo chooseAlgo(const std::string& key, cudnnMathType_t math, Find find, Heuristic heuristic) {
  {
    std::lock_guard<std::mutex> lock(gAlgoMu);
    auto it = gAlgos.find(key);
    if (it != gAlgos.end()) return it->second;
  }
  std::vector<Perf> perf(16);
  const size_t limit = searchLimit();
  // Candidates ranked for the descriptor's math type (FMA unless TF32 is allowed) first: one
  // ranked for another may not run under it. Only when none qualifies, the others.
  auto choose = [&](int count, Algo& out) {
    for (const bool sameMathOnly : {true, false}) {
      std::vector<AlgoCandidate> ranked;
      for (int i = 0; i < count; ++i) {
        const bool mathOk = !sameMathOnly || perf[i].mathType == math;
        ranked.push_back({static_cast<int>(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS && mathOk,
                          perf[i].determinism == CUDNN_DETERMINISTIC, perf[i].memory});
      }
      const int k = pickAlgo(ranked, gDeterministic, limit);
      if (k >= 0) {
        out.algo = ranked[k].algo;
        out.workspace = ranked[k].workspace;
        return true;
      }
    }
    return false;
  };
  Algo a;
  bool found = gBenchmark && choose(find(perf), a);
  if (!found) found = choose(heuristic(perf), a);
  SINGA_CHECK(found, NotSupportedError,
              "Conv on CUDA: cuDNN has no " << (gDeterministic ? "deterministic " : "")
                                            << "algorithm for this problem within " << limit
                                            << " bytes of workspace (" << key << ")"
                                            << (gDeterministic ? "; SINGA_CUDA_DETERMINISTIC=0 allows the others" : ""));
  std::lock_guard<std::mutex> lock(gAlgoMu);
  gAlgos[key] = a;
  return a;
}

// Zero tensor of the padded image with `image` copied into the overlap (forward direction), or
// the overlap of `padded` copied into a zeroed `image` (backward direction).
void overlapViews(const Tensor& image, const Tensor& padded, const Geometry& g, Tensor& imageView, Tensor& paddedView) {
  Shape shape{image.dim(0), image.dim(1)};
  int64_t offI = image.offset(), offP = padded.offset();
  for (int i = 0; i < g.nd; ++i) {
    const int64_t lo = std::max<int64_t>(0, -g.pad[i]);
    const int64_t hi = std::min<int64_t>(g.in[i], padded.shape()[2 + i] - g.pad[i]);
    const int64_t len = std::max<int64_t>(0, hi - lo);
    shape.push_back(len);
    offI += lo * image.strides()[2 + i];
    offP += (lo + g.pad[i]) * padded.strides()[2 + i];
  }
  imageView = makeView(image, shape, image.strides(), offI);
  paddedView = makeView(padded, shape, padded.strides(), offP);
}

Tensor padImage(const Tensor& x, const Geometry& g, const Geometry& pg) {
  Shape s{x.dim(0), x.dim(1)};
  for (int i = 0; i < g.nd; ++i) s.push_back(pg.in[i]);
  Tensor xp = Tensor::zeros(s, x.dtype(), x.device());
  Tensor vi, vp;
  overlapViews(x, xp, g, vi, vp);
  if (vi.numel() > 0) stridedMove(vi, vp);
  return xp;
}

struct Scalars {
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  const void* one(DType t) const { return t == DType::kFloat64 ? static_cast<const void*>(&d1) : &f1; }
  const void* zero(DType t) const { return t == DType::kFloat64 ? static_cast<const void*>(&d0) : &f0; }
};
const Scalars kScalars;

void forward(const Tensor& x, const Tensor& w, Tensor& y, const Geometry& g, int dev) {
  cudnnHandle_t h = cudnn(dev);
  const DType dt = y.dtype();
  Descriptors d(g, dt);
  const std::string key = "fwd|" + std::to_string(dev) + "|" + d.key;
  const Algo a = chooseAlgo<cudnnConvolutionFwdAlgoPerf_t>(
      key, d.math,
      [&](std::vector<cudnnConvolutionFwdAlgoPerf_t>& perf) {
        const size_t limit = searchLimit();
        void* ws = workspace(dev, limit);
        int n = 0;
        if (cudnnFindConvolutionForwardAlgorithmEx(h, d.image, x.rawData(), d.filter, w.rawData(), d.conv, d.output,
                                                   y.rawData(), static_cast<int>(perf.size()), &n, perf.data(), ws,
                                                   limit) != CUDNN_STATUS_SUCCESS)
          return 0;
        return n;
      },
      [&](std::vector<cudnnConvolutionFwdAlgoPerf_t>& perf) {
        int n = 0;
        SINGA_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.image, d.filter, d.conv, d.output,
                                                                 static_cast<int>(perf.size()), &n, perf.data()));
        for (int i = 0; i < n; ++i) {
          size_t bytes = 0;
          if (cudnnGetConvolutionForwardWorkspaceSize(h, d.image, d.filter, d.conv, d.output, perf[i].algo, &bytes) ==
              CUDNN_STATUS_SUCCESS)
            perf[i].memory = bytes;
        }
        return n;
      });
  void* ws = a.workspace ? workspace(dev, a.workspace) : nullptr;
  SINGA_CUDNN_CHECK(cudnnConvolutionForward(h, kScalars.one(dt), d.image, x.rawData(), d.filter, w.rawData(), d.conv,
                                            static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws, a.workspace,
                                            kScalars.zero(dt), d.output, y.rawData()));
}

void backwardData(const Tensor& dy, const Tensor& w, Tensor& dx, const Geometry& g, int dev) {
  cudnnHandle_t h = cudnn(dev);
  const DType dt = dx.dtype();
  Descriptors d(g, dt);
  const std::string key = "bwdData|" + std::to_string(dev) + "|" + d.key;
  const Algo a = chooseAlgo<cudnnConvolutionBwdDataAlgoPerf_t>(
      key, d.math,
      [&](std::vector<cudnnConvolutionBwdDataAlgoPerf_t>& perf) {
        const size_t limit = searchLimit();
        void* ws = workspace(dev, limit);
        int n = 0;
        if (cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.filter, w.rawData(), d.output, dy.rawData(), d.conv,
                                                        d.image, dx.rawData(), static_cast<int>(perf.size()), &n,
                                                        perf.data(), ws, limit) != CUDNN_STATUS_SUCCESS)
          return 0;
        return n;
      },
      [&](std::vector<cudnnConvolutionBwdDataAlgoPerf_t>& perf) {
        int n = 0;
        SINGA_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.filter, d.output, d.conv, d.image,
                                                                      static_cast<int>(perf.size()), &n, perf.data()));
        for (int i = 0; i < n; ++i) {
          size_t bytes = 0;
          if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.filter, d.output, d.conv, d.image, perf[i].algo,
                                                           &bytes) == CUDNN_STATUS_SUCCESS)
            perf[i].memory = bytes;
        }
        return n;
      });
  void* ws = a.workspace ? workspace(dev, a.workspace) : nullptr;
  SINGA_CUDNN_CHECK(cudnnConvolutionBackwardData(h, kScalars.one(dt), d.filter, w.rawData(), d.output, dy.rawData(),
                                                 d.conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws,
                                                 a.workspace, kScalars.zero(dt), d.image, dx.rawData()));
}

void backwardFilter(const Tensor& x, const Tensor& dy, Tensor& dw, const Geometry& g, int dev) {
  cudnnHandle_t h = cudnn(dev);
  const DType dt = dw.dtype();
  Descriptors d(g, dt);
  const std::string key = "bwdFilter|" + std::to_string(dev) + "|" + d.key;
  const Algo a = chooseAlgo<cudnnConvolutionBwdFilterAlgoPerf_t>(
      key, d.math,
      [&](std::vector<cudnnConvolutionBwdFilterAlgoPerf_t>& perf) {
        const size_t limit = searchLimit();
        void* ws = workspace(dev, limit);
        int n = 0;
        if (cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.image, x.rawData(), d.output, dy.rawData(), d.conv,
                                                          d.filter, dw.rawData(), static_cast<int>(perf.size()), &n,
                                                          perf.data(), ws, limit) != CUDNN_STATUS_SUCCESS)
          return 0;
        return n;
      },
      [&](std::vector<cudnnConvolutionBwdFilterAlgoPerf_t>& perf) {
        int n = 0;
        SINGA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.image, d.output, d.conv, d.filter,
                                                                        static_cast<int>(perf.size()), &n, perf.data()));
        for (int i = 0; i < n; ++i) {
          size_t bytes = 0;
          if (cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.image, d.output, d.conv, d.filter, perf[i].algo,
                                                             &bytes) == CUDNN_STATUS_SUCCESS)
            perf[i].memory = bytes;
        }
        return n;
      });
  void* ws = a.workspace ? workspace(dev, a.workspace) : nullptr;
  SINGA_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, kScalars.one(dt), d.image, x.rawData(), d.output, dy.rawData(),
                                                   d.conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws,
                                                   a.workspace, kScalars.zero(dt), d.filter, dw.rawData()));
}

// t[n, c, ...] += b[c] (t is [N, channels, spatial...], contiguous).
void addChannelBias(Tensor& t, const Tensor& b, int dev) {
  const DType dt = t.dtype();
  cudnnTensorDescriptor_t td, bd;
  SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&td));
  SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bd));
  int64_t S = 1;
  for (int i = 2; i < t.ndim(); ++i) S *= t.shape()[i];
  const int dims[4] = {narrow(t.dim(0)), narrow(t.dim(1)), narrow(S), 1};
  const int st[4] = {narrow(t.dim(1) * S), narrow(S), 1, 1};
  const int bdims[4] = {1, narrow(t.dim(1)), 1, 1};
  const int bst[4] = {narrow(t.dim(1)), 1, 1, 1};
  cudnnStatus_t s1 = cudnnSetTensorNdDescriptor(td, cudnnType(dt), 4, dims, st);
  cudnnStatus_t s2 = cudnnSetTensorNdDescriptor(bd, cudnnType(dt), 4, bdims, bst);
  cudnnStatus_t s3 = CUDNN_STATUS_SUCCESS;
  if (s1 == CUDNN_STATUS_SUCCESS && s2 == CUDNN_STATUS_SUCCESS && t.numel() > 0) {
    s3 = cudnnAddTensor(cudnn(dev), kScalars.one(dt), bd, b.rawData(), kScalars.one(dt), td, t.rawData());
  }
  cudnnDestroyTensorDescriptor(td);
  cudnnDestroyTensorDescriptor(bd);
  SINGA_CUDNN_CHECK(s1);
  SINGA_CUDNN_CHECK(s2);
  SINGA_CUDNN_CHECK(s3);
}

// db[c] = sum of dy[:, c, ...].
void biasGrad(const Tensor& dy, Tensor& db, int dev) {
  const DType dt = dy.dtype();
  if (dy.numel() == 0) {
    db.zero();
    return;
  }
  cudnnTensorDescriptor_t yd, bd;
  SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&yd));
  SINGA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bd));
  int64_t S = 1;
  for (int i = 2; i < dy.ndim(); ++i) S *= dy.shape()[i];
  const int dims[4] = {narrow(dy.dim(0)), narrow(dy.dim(1)), narrow(S), 1};
  const int st[4] = {narrow(dy.dim(1) * S), narrow(S), 1, 1};
  const int bdims[4] = {1, narrow(dy.dim(1)), 1, 1};
  const int bst[4] = {narrow(dy.dim(1)), 1, 1, 1};
  cudnnStatus_t s1 = cudnnSetTensorNdDescriptor(yd, cudnnType(dt), 4, dims, st);
  cudnnStatus_t s2 = cudnnSetTensorNdDescriptor(bd, cudnnType(dt), 4, bdims, bst);
  cudnnStatus_t s3 = CUDNN_STATUS_SUCCESS;
  if (s1 == CUDNN_STATUS_SUCCESS && s2 == CUDNN_STATUS_SUCCESS) {
    s3 = cudnnConvolutionBackwardBias(cudnn(dev), kScalars.one(dt), yd, dy.rawData(), kScalars.zero(dt), bd,
                                      db.rawData());
  }
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(bd);
  SINGA_CUDNN_CHECK(s1);
  SINGA_CUDNN_CHECK(s2);
  SINGA_CUDNN_CHECK(s3);
}

const Tensor* optionalInput(const KernelContext& ctx, size_t i) {
  return ctx.inputs.size() > i && ctx.in(i).defined() ? &ctx.in(i) : nullptr;
}

int prepare(const Tensor& t) {
  const int dev = t.device().index;
  setDevice(dev);
  return dev;
}

void convKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& y = ctx.out(0);
  if (y.numel() == 0) return;
  const int dev = prepare(y);
  const Geometry g = geometryOf(x.shape(), y.shape(), w.shape(), ctx, "Conv");
  if (x.numel() == 0 || w.numel() == 0) {
    y.zero();
  } else if (g.direct()) {
    forward(x, w, y, g, dev);
  } else {
    const Geometry pg = g.padded();
    forward(padImage(x, g, pg), w, y, pg, dev);
  }
  if (b) addChannelBias(y, *b, dev);
}

void convGradInputKernel(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& dx = ctx.out(0);
  if (dx.numel() == 0) return;
  const int dev = prepare(dx);
  const Geometry g = geometryOf(dx.shape(), dy.shape(), w.shape(), ctx, "ConvGradInput");
  if (dy.numel() == 0 || w.numel() == 0) {
    dx.zero();
  } else if (g.direct()) {
    backwardData(dy, w, dx, g, dev);
  } else {
    const Geometry pg = g.padded();
    Shape s{dx.dim(0), dx.dim(1)};
    for (int i = 0; i < g.nd; ++i) s.push_back(pg.in[i]);
    Tensor dxp(s, dx.dtype(), dx.device());
    backwardData(dy, w, dxp, pg, dev);
    dx.zero();
    Tensor vi, vp;
    overlapViews(dx, dxp, g, vi, vp);
    if (vi.numel() > 0) stridedMove(vp, vi);
  }
  if (b) addChannelBias(dx, *b, dev);
}

void convGradWeightKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& dy = ctx.in(1);
  Tensor& dw = ctx.out(0);
  const int dev = prepare(dy);
  if (ctx.outputs.size() > 1) biasGrad(dy, ctx.out(1), dev);
  if (dw.numel() == 0) return;
  const Geometry g = geometryOf(x.shape(), dy.shape(), dw.shape(), ctx, "ConvGradWeight");
  if (x.numel() == 0 || dy.numel() == 0) {
    dw.zero();
  } else if (g.direct()) {
    backwardFilter(x, dy, dw, g, dev);
  } else {
    const Geometry pg = g.padded();
    backwardFilter(padImage(x, g, pg), dy, dw, pg, dev);
  }
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
  const auto dtypes = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kConv, DeviceType::kCuda, dtypes, convKernel);
  r.add(OpId::kConvGradInput, DeviceType::kCuda, dtypes, convGradInputKernel);
  r.add(OpId::kConvTranspose, DeviceType::kCuda, dtypes, convGradInputKernel);
  r.add(OpId::kConvGradWeight, DeviceType::kCuda, dtypes, convGradWeightKernel);
  r.add(OpId::kConvGradBias, DeviceType::kCuda, dtypes, [](KernelContext& ctx) {
    const int dev = prepare(ctx.in(0));
    biasGrad(ctx.in(0), ctx.out(0), dev);
  });
}

}  // namespace singa::cuda
