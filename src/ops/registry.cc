#include "singa/ops/registry.h"

#include <set>
#include <sstream>

namespace singa {

KernelRegistry& KernelRegistry::global() {
  static KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    registerCpuKernels(*r);
#ifdef SINGA_USE_CUDA
    registerCudaKernels(*r);
#endif
    return r;
  }();
  return *registry;
}

void KernelRegistry::add(const std::string& op, DeviceType device, DType dtype, KernelFn fn) {
  kernels_[{op, device, dtype}] = std::move(fn);
}

void KernelRegistry::add(const std::string& op, DeviceType device, std::initializer_list<DType> dtypes,
                         KernelFn fn) {
  for (DType t : dtypes) add(op, device, t, fn);
}

bool KernelRegistry::supports(const std::string& op, DeviceType device, DType dtype) const {
  return kernels_.count({op, device, dtype}) != 0;
}

const KernelFn& KernelRegistry::find(const std::string& op, DeviceType device, DType dtype) const {
  auto it = kernels_.find({op, device, dtype});
  if (it != kernels_.end()) return it->second;
  std::ostringstream avail;
  int n = 0;
  for (const auto& [key, fn] : kernels_) {
    if (std::get<0>(key) == op && std::get<1>(key) == device) {
      avail << (n++ ? ", " : "") << dtypeName(std::get<2>(key));
    }
  }
  SINGA_THROW(TypeError, op << ": no " << deviceTypeName(device) << " " << dtypeName(dtype)
                            << " kernel"
                            << (n ? " (available dtypes: " + avail.str() + "; cast the input first)"
                                  : std::string(" (the op has no kernel on this device)")));
}

std::vector<std::string> KernelRegistry::ops(DeviceType device) const {
  std::set<std::string> names;
  for (const auto& [key, fn] : kernels_) {
    if (std::get<1>(key) == device) names.insert(std::get<0>(key));
  }
  return {names.begin(), names.end()};
}

bool supports(const std::string& op, Device device, DType dtype) {
  return KernelRegistry::global().supports(op, device.type, dtype);
}

void runKernel(const std::string& op, DType dtype, Device device, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, const Attrs& attrs) {
  const KernelFn& fn = KernelRegistry::global().find(op, device.type, dtype);
  KernelContext ctx{inputs, outputs, attrs};
  fn(ctx);
}

}  // namespace singa
