// The kernel registry's table and its messages, and the op list's name / description tables.
#include "singa/ops/registry.h"

#include <array>
#include <sstream>

namespace singa {

namespace {

struct OpInfo {
  const char* name;
  int inputs;
  const char* description;
};

constexpr std::array<OpInfo, kOpCount> kOpInfo = {{
#define SINGA_OP_INFO(name, inputs, desc) {#name, inputs, desc},
    SINGA_OPS(SINGA_OP_INFO)
#undef SINGA_OP_INFO
}};

const OpInfo& infoOf(OpId op) {
  const size_t i = static_cast<size_t>(op);
  SINGA_CHECK(i < kOpCount, ValueError, "op id " << i << " is out of range (" << kOpCount << " ops)");
  return kOpInfo[i];
}

}  // namespace

const char* opName(OpId op) { return infoOf(op).name; }
const char* opDescription(OpId op) { return infoOf(op).description; }
int opInputCount(OpId op) { return infoOf(op).inputs; }

std::optional<OpId> opFromName(std::string_view name) {
  for (size_t i = 0; i < kOpCount; ++i) {
    if (name == kOpInfo[i].name) return static_cast<OpId>(i);
  }
  return std::nullopt;
}

const KernelFn KernelRegistry::kNoKernel;

KernelRegistry::KernelRegistry() : table_(kOpCount * kDeviceTypes * kDTypes) {}

KernelRegistry& KernelRegistry::global() {
  static KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    registerCpuKernels(*r);  // the CUDA module registers its own when first asked for (slot())
    return r;
  }();
  return *registry;
}

void KernelRegistry::add(OpId op, DeviceType device, DType dtype, KernelFn fn) {
  SINGA_CHECK(static_cast<size_t>(op) < kOpCount && static_cast<size_t>(device) < kDeviceTypes &&
                  static_cast<size_t>(dtype) < kDTypes,
              ValueError, "KernelRegistry::add: op, device type or dtype out of range");
  // The module's kernels first (a no-op while the module itself registers, on its own thread).
  if (device == DeviceType::kCuda) loadDeviceModule(device);
  table_[index(op, device, dtype)] = std::move(fn);
}

void KernelRegistry::add(OpId op, DeviceType device, std::initializer_list<DType> dtypes, KernelFn fn) {
  for (DType t : dtypes) add(op, device, t, fn);
}

std::vector<DType> KernelRegistry::dtypes(OpId op, DeviceType device) const {
  std::vector<DType> out;
  for (size_t t = 0; t < kDTypes; ++t) {
    if (supports(op, device, static_cast<DType>(t))) out.push_back(static_cast<DType>(t));
  }
  return out;
}

std::vector<OpId> KernelRegistry::ops(DeviceType device) const {
  std::vector<OpId> out;
  for (size_t i = 0; i < kOpCount; ++i) {
    if (!dtypes(static_cast<OpId>(i), device).empty()) out.push_back(static_cast<OpId>(i));
  }
  return out;
}

void KernelRegistry::throwMissing(OpId op, DeviceType device, DType dtype) const {
  if (device == DeviceType::kCuda && !loadDeviceModule(device)) {
    SINGA_THROW(NotSupportedError, opName(op) << ": no CUDA kernels: " << deviceUnavailableReason(device));
  }
  std::ostringstream avail;
  int n = 0;
  for (DType t : dtypes(op, device)) avail << (n++ ? ", " : "") << dtypeName(t);
  SINGA_THROW(TypeError, opName(op) << ": no " << deviceTypeName(device) << " " << dtypeName(dtype) << " kernel"
                                    << (n ? " (available dtypes: " + avail.str() + "; cast the input first)"
                                          : std::string(" (the op has no kernel on this device)")));
}

bool supports(OpId op, Device device, DType dtype) {
  return KernelRegistry::global().supports(op, device.type, dtype);
}

void runKernel(OpId op, DType dtype, Device device, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, const Attrs& attrs, const KernelParams* params) {
  const KernelFn& fn = KernelRegistry::global().find(op, device.type, dtype);
  KernelContext ctx{inputs, outputs, attrs, params};
  fn(ctx);
}

}  // namespace singa
