// Elementwise kernels over tensors whose contents are held in another layout (Storage::layout():
// convolution outputs kept in oneDNN's blocked layout in inference, conv_dnnl.cc). A residual
// Add of two such tensors, or a Relu of one, runs on the buffers as they are and leaves its
// output in the same layout, so the next convolution takes it without reordering and nothing
// writes the plain tensors. Elementwise on equal shapes, the result is the same whatever the
// order of the elements; positions that hold no element (padding) hold zeros, so only a function
// that maps zeros to +0 qualifies.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>

#include "singa/core/device.h"
#include "singa/core/parallel.h"
#include "singa/core/tensor.h"

namespace singa::cpu {

/// t views its whole storage, in order.
inline bool isWhole(const Tensor& t) {
  return t.offset() == 0 && t.isContiguous() &&
         static_cast<size_t>(t.numel()) * dtypeSize(t.dtype()) == t.impl().storage->bytes();
}

/// out = f(ins...) on the buffers of `ins`' shared layout, when every operand is float32 with
/// out's shape, views its whole storage, and the inputs hold the same layout; false (nothing
/// done) otherwise. `f` takes K floats.
template <size_t K, class F>
bool mapLaidOut(const std::array<const Tensor*, K>& ins, Tensor& out, F f) {
  static_assert(K >= 1);
  // Every elementwise float32 op passes here: the common case (no layout) is one atomic load.
  std::array<std::shared_ptr<const StorageLayout>, K> layouts;
  for (size_t k = 0; k < K; ++k) {
    layouts[k] = ins[k]->impl().storage->layout();
    if (!layouts[k] || (k > 0 && !layouts[k]->sameAs(*layouts[0]))) return false;
  }
  if (out.dtype() != DType::kFloat32 || !isWhole(out) || !out.device().isCpu()) return false;
  for (size_t k = 0; k < K; ++k) {
    const Tensor& t = *ins[k];
    if (t.dtype() != DType::kFloat32 || t.shape() != out.shape() || !isWhole(t)) return false;
  }
  const size_t bytes = layouts[0]->buffer().bytes();
  for (size_t k = 1; k < K; ++k) {
    if (layouts[k]->buffer().bytes() != bytes) return false;
  }
  std::array<float, K> zeros{};
  const float z = std::apply(f, zeros);
  uint32_t zbits = 0;
  std::memcpy(&zbits, &z, sizeof(z));
  if (zbits != 0 || !out.impl().storage->version()) return false;  // f(0...) is not +0; or untracked memory
  std::array<const float*, K> src{};
  for (size_t k = 0; k < K; ++k) src[k] = static_cast<const float*>(layouts[k]->buffer().readData());
  auto buffer = std::make_shared<Storage>(bytes, Device::cpu());
  float* dst = static_cast<float*>(buffer->data());
  parallelFor(static_cast<int64_t>(bytes / sizeof(float)), 32768, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if constexpr (K == 1) {
        dst[i] = f(src[0][i]);
      } else {
        dst[i] = f(src[0][i], src[1][i]);
      }
    }
  });
  out.impl().storage->setLayout(layouts[0]->over(std::move(buffer)));
  return true;
}

}  // namespace singa::cpu
