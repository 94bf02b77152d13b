// The kernel registry: (op, device type, dtype) -> kernel, a flat table indexed by OpId (the op
// list in op_list.h), device type and dtype, so a dispatch is one array index, never a string
// compare. Each backend registers its kernels explicitly from one function: registerCpuKernels
// when the registry is first used, registerCudaKernels when the CUDA module is loaded (on the
// first CUDA lookup: loadDeviceModule in core/device.h); no static initialisers. Ops
// ask supports() / find() before running, so a missing kernel is a clear error ("Conv: no CUDA
// float64 kernel"), never a crash.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "singa/core/attrs.h"
#include "singa/core/tensor.h"
#include "singa/ops/kernel_params.h"
#include "singa/ops/op_list.h"

namespace singa {

/// What a kernel sees: its inputs, its pre-allocated outputs and, for the kernels that have
/// options, its typed parameters (kernel_params.h). `attrs` is what the caller passed; no kernel
/// reads it (the kernels_typed_params test checks), Attrs being for the trace and ONNX.
struct KernelContext {
  const std::vector<Tensor>& inputs;
  std::vector<Tensor>& outputs;
  const Attrs& attrs;
  const KernelParams* params = nullptr;

  const Tensor& in(size_t i) const { return inputs[i]; }
  Tensor& out(size_t i) const { return outputs[i]; }
  /// The typed parameters; throws ValueError when the caller passed none or another family's.
  template <class P>
  const P& paramsAs(const char* kernel) const {
    const P* p = params != nullptr ? std::get_if<P>(params) : nullptr;
    SINGA_CHECK(p != nullptr, ValueError,
                kernel << " kernel: called without its typed parameters (run it through its ops:: function, "
                          "or pass a KernelParams of its family to runKernel)");
    return *p;
  }
};

using KernelFn = std::function<void(KernelContext&)>;

class KernelRegistry {
 public:
  KernelRegistry();

  /// The process-wide registry, with every built backend's kernels registered.
  static KernelRegistry& global();

  /// Registers (or replaces) a kernel. A CUDA one is added after the CUDA module's own, so it
  /// replaces the built-in kernel for that op and dtype.
  void add(OpId op, DeviceType device, DType dtype, KernelFn fn);
  /// Registers the same kernel for several dtypes.
  void add(OpId op, DeviceType device, std::initializer_list<DType> dtypes, KernelFn fn);
  bool supports(OpId op, DeviceType device, DType dtype) const { return static_cast<bool>(slot(op, device, dtype)); }
  /// Throws TypeError "Conv: no CUDA float64 kernel (available: ...)" when missing.
  const KernelFn& find(OpId op, DeviceType device, DType dtype) const {
    const KernelFn& fn = slot(op, device, dtype);
    if (!fn) throwMissing(op, device, dtype);
    return fn;
  }
  /// Ops with at least one kernel on `device`, in op-list order.
  std::vector<OpId> ops(DeviceType device) const;
  /// Dtypes `op` has a kernel for on `device`.
  std::vector<DType> dtypes(OpId op, DeviceType device) const;

 private:
  static constexpr size_t kDeviceTypes = 2;                                     // kCpu, kCuda
  static constexpr size_t kDTypes = static_cast<size_t>(DType::kUInt2) + 1;  // every DType (kUInt2 is the last)
  static size_t index(OpId op, DeviceType device, DType dtype) {
    return (static_cast<size_t>(op) * kDeviceTypes + static_cast<size_t>(device)) * kDTypes +
           static_cast<size_t>(dtype);
  }
  const KernelFn& slot(OpId op, DeviceType device, DType dtype) const {
    // A CUDA slot is filled by the CUDA module: load it first (once; one atomic load after that).
    // Without the module (missing, or a failed load), no CUDA kernel exists.
    if (device == DeviceType::kCuda && !loadDeviceModule(device)) return kNoKernel;
    return table_[index(op, device, dtype)];
  }
  static const KernelFn kNoKernel;
  [[noreturn]] void throwMissing(OpId op, DeviceType device, DType dtype) const;

  std::vector<KernelFn> table_;  // kOpCount x kDeviceTypes x kDTypes; empty function: no kernel
};

/// Convenience: is there a kernel for op on this device and dtype?
bool supports(OpId op, Device device, DType dtype);

/// Looks up and runs a kernel. `dtype` selects the kernel (usually the first input's dtype).
void runKernel(OpId op, DType dtype, Device device, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, const Attrs& attrs = Attrs(), const KernelParams* params = nullptr);

// The CPU backend's registration (kernels/cpu/register.cc); the CUDA module's is in
// kernels/cuda/cuda_kernels.h.
void registerCpuKernels(KernelRegistry& registry);

}  // namespace singa
