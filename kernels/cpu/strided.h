// Index arithmetic shared by CPU kernels: walking a (possibly broadcast, possibly strided) tensor
// in row-major order of an output shape. stridesFor() gives, for an operand of shape `in`
// broadcast to `out`, the element stride of each output dimension (0 where broadcast).
#pragma once

#include <cstdint>
#include <vector>

#include "singa/core/tensor.h"

namespace singa::cpu {

/// Strides of `t` viewed as broadcast to `out` (0 on broadcast dimensions).
inline std::vector<int64_t> stridesFor(const Tensor& t, const Shape& out) {
  const size_t n = out.size(), m = t.shape().size();
  std::vector<int64_t> s(n, 0);
  for (size_t i = 0; i < m; ++i) {
    size_t o = n - m + i;
    s[o] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return s;
}

/// Element offset of flat output index `flat` under `strides` for output shape `out`.
inline int64_t offsetOf(int64_t flat, const Shape& out, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t i = out.size(); i-- > 0;) {
    const int64_t d = out[i];
    off += (flat % d) * strides[i];
    flat /= d;
  }
  return off;
}

/// Calls f(outIndex, offsetA) for out indices [begin, end), stepping offsets incrementally
/// (one division per call, not per element).
template <class F>
void forEachOffset(const Shape& out, const std::vector<int64_t>& sa, int64_t begin, int64_t end, F&& f) {
  const int nd = static_cast<int>(out.size());
  if (nd == 0) {
    if (begin < end) f(0, 0);
    return;
  }
  std::vector<int64_t> idx(nd);
  int64_t rem = begin, off = 0;
  for (int i = nd - 1; i >= 0; --i) {
    idx[i] = rem % out[i];
    rem /= out[i];
    off += idx[i] * sa[i];
  }
  for (int64_t k = begin; k < end; ++k) {
    f(k, off);
    for (int i = nd - 1; i >= 0; --i) {
      off += sa[i];
      if (++idx[i] < out[i]) break;
      off -= sa[i] * out[i];
      idx[i] = 0;
    }
  }
}

/// Two-operand form: f(outIndex, offsetA, offsetB).
template <class F>
void forEachOffset2(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb,
                    int64_t begin, int64_t end, F&& f) {
  const int nd = static_cast<int>(out.size());
  if (nd == 0) {
    if (begin < end) f(0, 0, 0);
    return;
  }
  std::vector<int64_t> idx(nd);
  int64_t rem = begin, oa = 0, ob = 0;
  for (int i = nd - 1; i >= 0; --i) {
    idx[i] = rem % out[i];
    rem /= out[i];
    oa += idx[i] * sa[i];
    ob += idx[i] * sb[i];
  }
  for (int64_t k = begin; k < end; ++k) {
    f(k, oa, ob);
    for (int i = nd - 1; i >= 0; --i) {
      oa += sa[i];
      ob += sb[i];
      if (++idx[i] < out[i]) break;
      oa -= sa[i] * out[i];
      ob -= sb[i] * out[i];
      idx[i] = 0;
    }
  }
}

}  // namespace singa::cpu
