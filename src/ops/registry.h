// The kernel registry: (op, device type, dtype) -> kernel. Each backend registers its kernels
// explicitly from one function (registerCpuKernels, registerCudaKernels), called once when the
// registry is first used; no static initialisers. Ops ask supports() / find() before running,
// so a missing kernel is a clear error ("Conv: no CUDA float64 kernel"), never a crash.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "singa/core/attrs.h"
#include "singa/core/tensor.h"

namespace singa {

/// What a kernel sees: its inputs, its pre-allocated outputs and the op's attributes.
struct KernelContext {
  const std::vector<Tensor>& inputs;
  std::vector<Tensor>& outputs;
  const Attrs& attrs;

  const Tensor& in(size_t i) const { return inputs[i]; }
  Tensor& out(size_t i) const { return outputs[i]; }
};

using KernelFn = std::function<void(KernelContext&)>;

class KernelRegistry {
 public:
  /// The process-wide registry, with every built backend's kernels registered.
  static KernelRegistry& global();

  void add(const std::string& op, DeviceType device, DType dtype, KernelFn fn);
  /// Registers the same kernel for several dtypes.
  void add(const std::string& op, DeviceType device, std::initializer_list<DType> dtypes, KernelFn fn);
  bool supports(const std::string& op, DeviceType device, DType dtype) const;
  /// Throws TypeError "Conv: no CUDA float64 kernel (available: ...)" when missing.
  const KernelFn& find(const std::string& op, DeviceType device, DType dtype) const;
  /// Sorted names of ops with at least one kernel on `device`.
  std::vector<std::string> ops(DeviceType device) const;

 private:
  std::map<std::tuple<std::string, DeviceType, DType>, KernelFn> kernels_;
};

/// Convenience: is there a kernel for op on this device and dtype?
bool supports(const std::string& op, Device device, DType dtype);

/// Looks up and runs a kernel. `dtype` selects the kernel (usually the first input's dtype).
void runKernel(const std::string& op, DType dtype, Device device, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, const Attrs& attrs = Attrs());

// Registration entry points, one per backend (defined in kernels/<backend>/register.cc).
void registerCpuKernels(KernelRegistry& registry);
#ifdef SINGA_USE_CUDA
void registerCudaKernels(KernelRegistry& registry);
#endif

}  // namespace singa
