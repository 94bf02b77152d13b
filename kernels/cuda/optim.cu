// Fused optimizer updates on the GPU: one pass over parameter, gradient and state, with the
// arithmetic of kernels/cpu/optim.cc (PyTorch's single-tensor order of operations; scalars
// computed in double on the host and applied in the tensor's type).
//   SGDUpdate  outputs {param[, momentum_buffer]}, input {grad};
//              SGDParams lr, momentum, dampening, weightDecay, nesterov, initBuffer
//   AdamUpdate outputs {param, exp_avg, exp_avg_sq}, input {grad};
//              AdamParams lr, beta1, beta2, eps, weightDecay, decoupled (AdamW), step (>= 1)
#include <cmath>

#include "singa/kernels/cuda/cuda_common.cuh"

namespace singa::cuda {
namespace {

template <class T>
struct SgdArgs {
  T lr, momentum, dampening, wd;
  bool nesterov, initBuffer;
};

template <class T>
__global__ void sgdKernel(T* p, T* buf, const T* g, int64_t n, SgdArgs<T> a) {
  SINGA_GRID_LOOP(i, n) {
    T d = g[i];
    if (a.wd != T(0)) d = d + a.wd * p[i];
    if (buf != nullptr) {
      if (a.initBuffer) {
        buf[i] = d;
      } else {
        buf[i] = buf[i] * a.momentum + (T(1) - a.dampening) * d;
      }
      d = a.nesterov ? d + a.momentum * buf[i] : buf[i];
    }
    p[i] = p[i] - a.lr * d;
  }
}

template <class T>
struct AdamArgs {
  T stepSize, bc2Sqrt, decay, coupledWd, oneMinusBeta1, beta2, oneMinusBeta2, eps;
  bool hasWd, decoupled;
};

template <class T>
__global__ void adamKernel(T* p, T* m, T* v, const T* g, int64_t n, AdamArgs<T> a) {
  SINGA_GRID_LOOP(i, n) {
    T grad = g[i];
    if (a.hasWd) {
      if (a.decoupled) {
        p[i] = p[i] * a.decay;
      } else {
        grad = grad + a.coupledWd * p[i];
      }
    }
    m[i] = m[i] + a.oneMinusBeta1 * (grad - m[i]);
    v[i] = v[i] * a.beta2 + a.oneMinusBeta2 * grad * grad;
    const T denom = sqrt(v[i]) / a.bc2Sqrt + a.eps;
    p[i] = p[i] - a.stepSize * (m[i] / denom);
  }
}

template <class T>
void sgdUpdate(KernelContext& ctx) {
  const SGDParams& at = ctx.paramsAs<SGDParams>("SGDUpdate");
  SgdArgs<T> a{static_cast<T>(at.lr),
               static_cast<T>(at.momentum),
               static_cast<T>(at.dampening),
               static_cast<T>(at.weightDecay),
               at.nesterov,
               at.initBuffer};
  Tensor& p = ctx.out(0);
  const int64_t n = p.numel();
  if (n == 0) return;
  T* buf = ctx.outputs.size() > 1 ? ctx.out(1).data<T>() : nullptr;
  sgdKernel<T><<<blocksFor(n), kThreads, 0, streamFor(p)>>>(p.data<T>(), buf, ctx.in(0).data<T>(), n, a);
  SINGA_CUDA_LAUNCHED();
}

template <class T>
void adamUpdate(KernelContext& ctx) {
  const AdamParams& at = ctx.paramsAs<AdamParams>("AdamUpdate");
  const double lr = at.lr, beta1 = at.beta1, beta2 = at.beta2;
  const double wd = at.weightDecay;
  const int64_t step = at.step;
  SINGA_CHECK(step >= 1, ValueError, "AdamUpdate: step must be >= 1, got " << step);
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamArgs<T> a{static_cast<T>(lr / bc1),
                static_cast<T>(std::sqrt(bc2)),
                static_cast<T>(1.0 - lr * wd),
                static_cast<T>(wd),
                static_cast<T>(1.0 - beta1),
                static_cast<T>(beta2),
                static_cast<T>(1.0 - beta2),
                static_cast<T>(at.eps),
                wd != 0.0,
                at.decoupled};
  Tensor& p = ctx.out(0);
  const int64_t n = p.numel();
  if (n == 0) return;
  adamKernel<T><<<blocksFor(n), kThreads, 0, streamFor(p)>>>(p.data<T>(), ctx.out(1).data<T>(), ctx.out(2).data<T>(),
                                                             ctx.in(0).data<T>(), n, a);
  SINGA_CUDA_LAUNCHED();
}

}  // namespace

void registerOptimKernels(KernelRegistry& r) {
  r.add(OpId::kSGDUpdate, DeviceType::kCuda, DType::kFloat32, sgdUpdate<float>);
  r.add(OpId::kSGDUpdate, DeviceType::kCuda, DType::kFloat64, sgdUpdate<double>);
  r.add(OpId::kAdamUpdate, DeviceType::kCuda, DType::kFloat32, adamUpdate<float>);
  r.add(OpId::kAdamUpdate, DeviceType::kCuda, DType::kFloat64, adamUpdate<double>);
}

}  // namespace singa::cuda
