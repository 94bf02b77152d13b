// Reductions (ReduceSum/Mean/Max/Min/Prod, ArgMax/ArgMin) and the gradient kernels of the
// non-linear ones (ReduceMaxGrad/ReduceMinGrad, ReduceProdGrad), same contract as
// kernels/cpu/reduce.cc: ReduceParams axes (normalised, sorted), float sums accumulate in double,
// integer ones in int64, NaN propagates through Max/Min, the gradient goes to the first extremum.
//
// The input's dims split into kept and reduced ones, each coalesced. When there are many outputs
// (or the kept dims are the unit-stride ones: bias gradients, sumTo over leading dims) a thread
// per output walks its group, and neighbouring threads read neighbouring memory; when few outputs
// each reduce many elements (global pooling, full reductions) a block per output shares the work.
#include <type_traits>

#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

enum RedOp : int { kSum, kMean, kProd, kMax, kMin };
const char* const kReduceNames[] = {"ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin"};

template <class T>
using AccOf = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class A>
__device__ __forceinline__ bool nanOf(A v) {
  if constexpr (std::is_floating_point_v<A>) {
    return isnan(v);
  } else {
    return false;
  }
}

template <class A>
__device__ __forceinline__ A combine(int op, A a, A v) {
  switch (op) {
    case kProd: return a * v;
    case kMax: return !nanOf(a) && (v > a || nanOf(v)) ? v : a;
    case kMin: return !nanOf(a) && (v < a || nanOf(v)) ? v : a;
    default: return a + v;
  }
}

struct Plan {
  Indexer<1> kept, red;
  int64_t nOut = 1, nRed = 1;
  bool keptUnitStride = false;
};

Plan planReduce(const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(x.ndim(), false);
  for (int64_t a : axes) reduced[a] = true;
  Shape ks, rs;
  std::vector<int64_t> kst, rst;
  for (int i = 0; i < x.ndim(); ++i) {
    (reduced[i] ? rs : ks).push_back(x.shape()[i]);
    (reduced[i] ? rst : kst).push_back(x.strides()[i]);
  }
  Plan p;
  p.nOut = numelOf(ks);
  p.nRed = numelOf(rs);
  p.kept = makeIndexer<1>(ks, std::array<std::vector<int64_t>, 1>{kst});
  p.red = makeIndexer<1>(rs, std::array<std::vector<int64_t>, 1>{rst});
  p.keptUnitStride = p.kept.nd > 0 && p.kept.st[0][p.kept.nd - 1] == 1;
  return p;
}

__device__ __forceinline__ int64_t offsetOf(const Indexer<1>& ix, int64_t flat) {
  int64_t o[1];
  ix.offsets(flat, o);
  return o[0];
}

template <class T, class A>
__device__ __forceinline__ T finish(int op, A acc, int64_t divisor) {
  if (op == kMean) return static_cast<T>(acc / static_cast<A>(divisor));
  return static_cast<T>(acc);
}

template <class T>
__global__ void reduceThreadKernel(const T* x, T* y, Plan p, int op, AccOf<T> init, int64_t divisor) {
  using A = AccOf<T>;
  SINGA_GRID_LOOP(i, p.nOut) {
    const int64_t base = offsetOf(p.kept, i);
    A acc = init;
    for (int64_t k = 0; k < p.nRed; ++k) acc = combine<A>(op, acc, static_cast<A>(x[base + offsetOf(p.red, k)]));
    y[i] = finish<T, A>(op, acc, divisor);
  }
}

template <class T>
__global__ void reduceBlockKernel(const T* x, T* y, Plan p, int op, AccOf<T> init, int64_t divisor) {
  using A = AccOf<T>;
  __shared__ A partial[32];
  for (int64_t i = blockIdx.x; i < p.nOut; i += gridDim.x) {
    const int64_t base = offsetOf(p.kept, i);
    A acc = init;
    for (int64_t k = threadIdx.x; k < p.nRed; k += blockDim.x) {
      acc = combine<A>(op, acc, static_cast<A>(x[base + offsetOf(p.red, k)]));
    }
    for (int o = 16; o > 0; o /= 2) acc = combine<A>(op, acc, __shfl_down_sync(0xffffffffu, acc, o));
    __syncthreads();
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      A total = partial[0];
      for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) total = combine<A>(op, total, partial[w]);
      y[i] = finish<T, A>(op, total, divisor);
    }
  }
}

template <class T>
void reduce(KernelContext& ctx, int op) {
  const Tensor& x = ctx.in(0);
  const auto& axes = ctx.paramsAs<ReduceParams>(kReduceNames[op]).axes;
  if (op == kMax || op == kMin) {
    for (int64_t a : axes) {
      SINGA_CHECK(x.shape()[a] > 0, ShapeError,
                  (op == kMax ? "ReduceMax" : "ReduceMin") << ": cannot reduce the empty axis " << a << " of "
                                                           << x.shape());
    }
  }
  const Plan p = planReduce(x, axes);
  if (p.nOut == 0) return;
  int64_t count = 1;
  for (int64_t a : axes) count *= x.shape()[a];
  using A = AccOf<T>;
  A init = A(0);
  if (op == kProd) init = A(1);
  if (op == kMax) init = static_cast<A>(std::numeric_limits<T>::lowest());
  if (op == kMin) init = static_cast<A>(std::numeric_limits<T>::max());
  if constexpr (std::numeric_limits<A>::has_infinity) {  // as the CPU kernel: max of all -inf is -inf
    if (op == kMax) init = -std::numeric_limits<A>::infinity();
    if (op == kMin) init = std::numeric_limits<A>::infinity();
  }
  cudaStream_t s = streamFor(ctx.out(0));
  const int64_t divisor = std::max<int64_t>(count, 1);
  if (p.keptUnitStride || p.nOut >= 4096 || p.nRed < 64) {
    reduceThreadKernel<T><<<blocksFor(p.nOut), kThreads, 0, s>>>(x.data<T>(), ctx.out(0).data<T>(), p, op, init,
                                                                 divisor);
  } else {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.nOut, 65535));
    reduceBlockKernel<T><<<blocks, kThreads, 0, s>>>(x.data<T>(), ctx.out(0).data<T>(), p, op, init, divisor);
  }
  SINGA_CUDA_LAUNCHED();
}

// Offset (relative to the group base) of the first extremum of a group (last one on ties when
// `last`), and its position along the reduced elements.
template <class T>
__device__ int64_t extremeIndex(const T* x, const Indexer<1>& red, int64_t nRed, int64_t base, bool isMax, bool last,
                                int64_t* position) {
  int64_t best = -1, bestPos = 0;
  T bv{};
  for (int64_t k = 0; k < nRed; ++k) {
    const int64_t o = base + offsetOf(red, k);
    const T v = x[o];
    const bool better =
        best < 0 || (!nanOf(bv) && (nanOf(v) || (isMax ? v > bv : v < bv) || (last && v == bv)));
    if (better) {
      best = o;
      bv = v;
      bestPos = k;
    }
  }
  if (position) *position = bestPos;
  return best;
}

template <class T>
__global__ void argKernel(const T* x, int64_t* y, Plan p, bool isMax, bool last) {
  SINGA_GRID_LOOP(i, p.nOut) {
    int64_t pos = 0;
    extremeIndex(x, p.red, p.nRed, offsetOf(p.kept, i), isMax, last, &pos);
    y[i] = pos;
  }
}

template <class T>
__global__ void extremeGradKernel(const T* x, const T* gy, T* dx, Plan p, bool isMax) {
  SINGA_GRID_LOOP(i, p.nOut) {
    const int64_t o = extremeIndex(x, p.red, p.nRed, offsetOf(p.kept, i), isMax, false, nullptr);
    if (o >= 0) dx[o] = gy[i];
  }
}

// dx = gy * product of the group's other elements: suffix products first (stored in dx), then
// a forward sweep with the prefix product, so zeros need no division.
template <class T>
__global__ void prodGradKernel(const T* x, const T* gy, T* dx, Plan p) {
  SINGA_GRID_LOOP(i, p.nOut) {
    const int64_t base = offsetOf(p.kept, i);
    T suffix(1);
    for (int64_t k = p.nRed; k-- > 0;) {
      const int64_t o = base + offsetOf(p.red, k);
      dx[o] = suffix;
      suffix *= x[o];
    }
    T prefix(1);
    for (int64_t k = 0; k < p.nRed; ++k) {
      const int64_t o = base + offsetOf(p.red, k);
      dx[o] = gy[i] * prefix * dx[o];
      prefix *= x[o];
    }
  }
}

template <class T>
void argExtreme(KernelContext& ctx, bool isMax) {
  const Tensor& x = ctx.in(0);
  const ArgReduceParams& params = ctx.paramsAs<ArgReduceParams>(isMax ? "ArgMax" : "ArgMin");
  const int64_t axis = params.axis;
  SINGA_CHECK(x.shape()[axis] > 0, ShapeError,
              (isMax ? "ArgMax" : "ArgMin") << ": axis " << axis << " of " << x.shape() << " is empty");
  const Plan p = planReduce(x, {axis});
  if (p.nOut == 0) return;
  argKernel<T><<<blocksFor(p.nOut), kThreads, 0, streamFor(x)>>>(x.data<T>(), ctx.out(0).data<int64_t>(), p, isMax,
                                                                 params.selectLastIndex);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void extremeGrad(KernelContext& ctx, bool isMax) {
  const Tensor& x = ctx.in(0);
  const Plan p = planReduce(x, ctx.paramsAs<ReduceParams>(isMax ? "ReduceMaxGrad" : "ReduceMinGrad").axes);
  if (p.nOut == 0 || p.nRed == 0) return;
  extremeGradKernel<T><<<blocksFor(p.nOut), kThreads, 0, streamFor(x)>>>(x.data<T>(), ctx.in(1).data<T>(),
                                                                         ctx.out(0).data<T>(), p, isMax);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void prodGrad(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Plan p = planReduce(x, ctx.paramsAs<ReduceParams>("ReduceProdGrad").axes);
  if (p.nOut == 0 || p.nRed == 0) return;
  prodGradKernel<T><<<blocksFor(p.nOut), kThreads, 0, streamFor(x)>>>(x.data<T>(), ctx.in(1).data<T>(),
                                                                      ctx.out(0).data<T>(), p);
  SINGA_CUDA_LAUNCHED();
}

void addReduce(KernelRegistry& r, OpId name, int op) {
  r.add(name, DeviceType::kCuda, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64},
        [op](KernelContext& c) { SINGA_CUDA_DISPATCH_ARITH(c.in(0).dtype(), T, reduce<T>(c, op)); });
}

}  // namespace

void registerReduceKernels(KernelRegistry& r) {
  addReduce(r, OpId::kReduceSum, kSum);
  addReduce(r, OpId::kReduceMean, kMean);
  addReduce(r, OpId::kReduceProd, kProd);
  addReduce(r, OpId::kReduceMax, kMax);
  addReduce(r, OpId::kReduceMin, kMin);
  const auto arith = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64};
  r.add(OpId::kArgMax, DeviceType::kCuda, arith,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_ARITH(c.in(0).dtype(), T, argExtreme<T>(c, true)); });
  r.add(OpId::kArgMin, DeviceType::kCuda, arith,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_ARITH(c.in(0).dtype(), T, argExtreme<T>(c, false)); });
  const auto floats = {DType::kFloat32, DType::kFloat64};
  r.add(OpId::kReduceMaxGrad, DeviceType::kCuda, floats,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_FLOAT(c.in(0).dtype(), T, extremeGrad<T>(c, true)); });
  r.add(OpId::kReduceMinGrad, DeviceType::kCuda, floats,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_FLOAT(c.in(0).dtype(), T, extremeGrad<T>(c, false)); });
  r.add(OpId::kReduceProdGrad, DeviceType::kCuda, floats,
        [](KernelContext& c) { SINGA_CUDA_DISPATCH_FLOAT(c.in(0).dtype(), T, prodGrad<T>(c)); });
}

}  // namespace singa::cuda
