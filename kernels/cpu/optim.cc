// Fused optimizer updates: one pass over parameter, gradient and state per step, instead of a
// chain of elementwise ops with temporaries. The arithmetic follows PyTorch's single-tensor
// implementations operation by operation (scalars computed in double, applied in the tensor's
// type), so results match torch.optim to rounding. Parameters and state are outputs updated in
// place; the gradient is the input. All tensors are contiguous (the optimizer guarantees it).
//
//   SGDUpdate  outputs {param[, momentum_buffer]}, input {grad};
//              SGDParams lr, momentum, dampening, weightDecay, nesterov, initBuffer
//   AdamUpdate outputs {param, exp_avg, exp_avg_sq}, input {grad};
//              AdamParams lr, beta1, beta2, eps, weightDecay, decoupled (AdamW), step (>= 1)
#include <cmath>

#include "singa/core/parallel.h"
#include "singa/kernels/cpu/cpu_kernels.h"

namespace singa::cpu {
namespace {

constexpr int64_t kGrain = 1 << 15;

template <class T>
void sgdUpdate(KernelContext& ctx) {
  const SGDParams& a = ctx.paramsAs<SGDParams>("SGDUpdate");
  const T lr = static_cast<T>(a.lr);
  const T momentum = static_cast<T>(a.momentum);
  const T dampening = static_cast<T>(a.dampening);
  const T wd = static_cast<T>(a.weightDecay);
  const bool nesterov = a.nesterov;
  const bool initBuffer = a.initBuffer;
  const bool useMomentum = ctx.outputs.size() > 1;
  T* __restrict p = ctx.out(0).data<T>();
  T* __restrict buf = useMomentum ? ctx.out(1).data<T>() : nullptr;
  const T* __restrict g = ctx.in(0).data<T>();
  const int64_t n = ctx.out(0).numel();
  if (!useMomentum && wd == T(0)) {  // plain SGD: one vectorised axpy
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] -= lr * g[i];
    });
    return;
  }
  if (useMomentum && !initBuffer && !nesterov && dampening == T(0)) {  // the usual momentum step
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T d = g[i] + wd * p[i];
        buf[i] = buf[i] * momentum + d;
        p[i] -= lr * buf[i];
      }
    });
    return;
  }
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T d = g[i];
      if (wd != T(0)) d = d + wd * p[i];
      if (useMomentum) {
        if (initBuffer) {
          buf[i] = d;
        } else {
          buf[i] = buf[i] * momentum + (T(1) - dampening) * d;
        }
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] = p[i] - lr * d;
    }
  });
}

template <class T>
void adamUpdate(KernelContext& ctx) {
  const AdamParams& a = ctx.paramsAs<AdamParams>("AdamUpdate");
  const double lr = a.lr;
  const double beta1 = a.beta1;
  const double beta2 = a.beta2;
  const T eps = static_cast<T>(a.eps);
  const double wd = a.weightDecay;
  const bool decoupled = a.decoupled;
  const int64_t step = a.step;
  SINGA_CHECK(step >= 1, ValueError, "AdamUpdate: step must be >= 1, got " << step);
  const double biasCorrection1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double biasCorrection2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const T stepSize = static_cast<T>(lr / biasCorrection1);
  const T bc2Sqrt = static_cast<T>(std::sqrt(biasCorrection2));
  const T decay = static_cast<T>(1.0 - lr * wd);  // AdamW
  const T coupledWd = static_cast<T>(wd);         // Adam
  const T oneMinusBeta1 = static_cast<T>(1.0 - beta1);
  const T tBeta2 = static_cast<T>(beta2), oneMinusBeta2 = static_cast<T>(1.0 - beta2);
  T* p = ctx.out(0).data<T>();
  T* m = ctx.out(1).data<T>();
  T* v = ctx.out(2).data<T>();
  const T* g = ctx.in(0).data<T>();
  const int64_t n = ctx.out(0).numel();
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T grad = g[i];
      if (wd != 0.0) {
        if (decoupled) {
          p[i] = p[i] * decay;
        } else {
          grad = grad + coupledWd * p[i];
        }
      }
      m[i] = m[i] + oneMinusBeta1 * (grad - m[i]);  // lerp
      v[i] = v[i] * tBeta2 + oneMinusBeta2 * grad * grad;
      const T denom = std::sqrt(v[i]) / bc2Sqrt + eps;
      p[i] = p[i] - stepSize * (m[i] / denom);
    }
  });
}

}  // namespace

void registerOptimKernels(KernelRegistry& r) {
  r.add(OpId::kSGDUpdate, DeviceType::kCpu, DType::kFloat32, sgdUpdate<float>);
  r.add(OpId::kSGDUpdate, DeviceType::kCpu, DType::kFloat64, sgdUpdate<double>);
  r.add(OpId::kAdamUpdate, DeviceType::kCpu, DType::kFloat32, adamUpdate<float>);
  r.add(OpId::kAdamUpdate, DeviceType::kCpu, DType::kFloat64, adamUpdate<double>);
}

}  // namespace singa::cpu
