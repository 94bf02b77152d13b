// Reference implementations for the neural-network op tests: direct loops over every output
// element (no im2col, no GEMM), written independently of the kernels they check. Tensors are
// handled as float64 vectors; spatial problems are padded to three spatial dims.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "singa/singa.h"

namespace singa::test {

/// A random float64 tensor with values in [lo, hi).
inline Tensor randomTensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (double& e : v) e = lo + (hi - lo) * g.nextDouble();
  return Tensor::fromVector(v, shape);
}

inline std::vector<double> valuesOf(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.at(i);
  return v;
}

/// Spatial description padded in front to three dims.
struct Dims3 {
  int64_t v[3] = {1, 1, 1};
  int64_t size() const { return v[0] * v[1] * v[2]; }
};

inline Dims3 dims3(const std::vector<int64_t>& s, int64_t fill) {
  Dims3 d;
  d.v[0] = d.v[1] = d.v[2] = fill;
  const size_t shift = 3 - s.size();
  for (size_t i = 0; i < s.size(); ++i) d.v[shift + i] = s[i];
  return d;
}

struct RefWindow {
  std::vector<int64_t> kernel, strides, padsBegin, padsEnd, dilations;
};

/// Output size of a window: floor((in + pads - extent) / stride) + 1.
inline int64_t refOutSize(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t s, int64_t d) {
  return (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
}

/// ONNX Conv by direct summation. x [N, C, in...], w [Cout, C/group, k...], b [Cout] or undefined.
inline Tensor refConv(const Tensor& x, const Tensor& w, const Tensor& b, const RefWindow& win, int64_t group) {
  const size_t nd = static_cast<size_t>(x.ndim() - 2);
  const int64_t N = x.dim(0), C = x.dim(1), Cout = w.dim(0), Cig = C / group, Cog = Cout / group;
  std::vector<int64_t> inS(x.shape().begin() + 2, x.shape().end()), outS(nd);
  for (size_t i = 0; i < nd; ++i) {
    outS[i] = refOutSize(inS[i], win.padsBegin[i], win.padsEnd[i], win.kernel[i], win.strides[i], win.dilations[i]);
  }
  const Dims3 in = dims3(inS, 1), out = dims3(outS, 1), k = dims3(win.kernel, 1), s = dims3(win.strides, 1),
              p = dims3(win.padsBegin, 0), d = dims3(win.dilations, 1);
  const std::vector<double> xv = valuesOf(x), wv = valuesOf(w);
  const std::vector<double> bv = b.defined() ? valuesOf(b) : std::vector<double>(static_cast<size_t>(Cout), 0.0);
  Shape yShape{N, Cout};
  yShape.insert(yShape.end(), outS.begin(), outS.end());
  std::vector<double> y(static_cast<size_t>(numelOf(yShape)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < Cout; ++oc) {
      const int64_t grp = oc / Cog;
      for (int64_t o0 = 0; o0 < out.v[0]; ++o0)
        for (int64_t o1 = 0; o1 < out.v[1]; ++o1)
          for (int64_t o2 = 0; o2 < out.v[2]; ++o2) {
            double acc = bv[static_cast<size_t>(oc)];
            for (int64_t ic = 0; ic < Cig; ++ic)
              for (int64_t k0 = 0; k0 < k.v[0]; ++k0)
                for (int64_t k1 = 0; k1 < k.v[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k.v[2]; ++k2) {
                    const int64_t i0 = o0 * s.v[0] - p.v[0] + k0 * d.v[0];
                    const int64_t i1 = o1 * s.v[1] - p.v[1] + k1 * d.v[1];
                    const int64_t i2 = o2 * s.v[2] - p.v[2] + k2 * d.v[2];
                    if (i0 < 0 || i0 >= in.v[0] || i1 < 0 || i1 >= in.v[1] || i2 < 0 || i2 >= in.v[2]) continue;
                    const int64_t c = grp * Cig + ic;
                    const double xe =
                        xv[static_cast<size_t>(((n * C + c) * in.v[0] + i0) * in.v[1] * in.v[2] + i1 * in.v[2] + i2)];
                    const double we =
                        wv[static_cast<size_t>(((oc * Cig + ic) * k.v[0] + k0) * k.v[1] * k.v[2] + k1 * k.v[2] + k2)];
                    acc += xe * we;
                  }
            y[static_cast<size_t>(((n * Cout + oc) * out.v[0] + o0) * out.v[1] * out.v[2] + o1 * out.v[2] + o2)] = acc;
          }
    }
  return Tensor::fromVector(y, yShape);
}

/// ONNX ConvTranspose by direct scattering. x [N, Cin, in...], w [Cin, Cout/group, k...].
inline Tensor refConvTranspose(const Tensor& x, const Tensor& w, const Tensor& b, const RefWindow& win,
                               const std::vector<int64_t>& outputPadding, int64_t group) {
  const size_t nd = static_cast<size_t>(x.ndim() - 2);
  const int64_t N = x.dim(0), Cin = x.dim(1), Cog = w.dim(1), Cout = Cog * group, Cig = Cin / group;
  std::vector<int64_t> inS(x.shape().begin() + 2, x.shape().end()), outS(nd);
  for (size_t i = 0; i < nd; ++i) {
    outS[i] = win.strides[i] * (inS[i] - 1) + outputPadding[i] + (win.kernel[i] - 1) * win.dilations[i] + 1 -
              win.padsBegin[i] - win.padsEnd[i];
  }
  const Dims3 in = dims3(inS, 1), out = dims3(outS, 1), k = dims3(win.kernel, 1), s = dims3(win.strides, 1),
              p = dims3(win.padsBegin, 0), d = dims3(win.dilations, 1);
  const std::vector<double> xv = valuesOf(x), wv = valuesOf(w);
  Shape yShape{N, Cout};
  yShape.insert(yShape.end(), outS.begin(), outS.end());
  std::vector<double> y(static_cast<size_t>(numelOf(yShape)), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ic = 0; ic < Cin; ++ic) {
      const int64_t grp = ic / Cig;
      for (int64_t i0 = 0; i0 < in.v[0]; ++i0)
        for (int64_t i1 = 0; i1 < in.v[1]; ++i1)
          for (int64_t i2 = 0; i2 < in.v[2]; ++i2) {
            const double xe =
                xv[static_cast<size_t>(((n * Cin + ic) * in.v[0] + i0) * in.v[1] * in.v[2] + i1 * in.v[2] + i2)];
            for (int64_t oc = 0; oc < Cog; ++oc)
              for (int64_t k0 = 0; k0 < k.v[0]; ++k0)
                for (int64_t k1 = 0; k1 < k.v[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k.v[2]; ++k2) {
                    const int64_t o0 = i0 * s.v[0] - p.v[0] + k0 * d.v[0];
                    const int64_t o1 = i1 * s.v[1] - p.v[1] + k1 * d.v[1];
                    const int64_t o2 = i2 * s.v[2] - p.v[2] + k2 * d.v[2];
                    if (o0 < 0 || o0 >= out.v[0] || o1 < 0 || o1 >= out.v[1] || o2 < 0 || o2 >= out.v[2]) continue;
                    const double we =
                        wv[static_cast<size_t>(((ic * Cog + oc) * k.v[0] + k0) * k.v[1] * k.v[2] + k1 * k.v[2] + k2)];
                    const int64_t c = grp * Cog + oc;
                    y[static_cast<size_t>(((n * Cout + c) * out.v[0] + o0) * out.v[1] * out.v[2] + o1 * out.v[2] +
                                          o2)] += xe * we;
                  }
          }
    }
  if (b.defined()) {
    const std::vector<double> bv = valuesOf(b);
    const int64_t plane = numelOf(outS);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < Cout; ++c)
        for (int64_t i = 0; i < plane; ++i)
          y[static_cast<size_t>((n * Cout + c) * plane + i)] += bv[static_cast<size_t>(c)];
  }
  return Tensor::fromVector(y, yShape);
}

/// Max or average pooling by direct loops over an explicitly given output size (so ceil-mode
/// sizes are stated by the test). Padding cells never win a max; for the average they count
/// only when countIncludePad (and then only inside [-padBegin, in + padEnd)).
inline Tensor refPool(const Tensor& x, const RefWindow& win, const std::vector<int64_t>& outS, bool isMax,
                      bool countIncludePad) {
  const int64_t N = x.dim(0), C = x.dim(1);
  std::vector<int64_t> inS(x.shape().begin() + 2, x.shape().end());
  const Dims3 in = dims3(inS, 1), out = dims3(outS, 1), k = dims3(win.kernel, 1), s = dims3(win.strides, 1),
              p = dims3(win.padsBegin, 0), pe = dims3(win.padsEnd, 0), d = dims3(win.dilations, 1);
  const std::vector<double> xv = valuesOf(x);
  Shape yShape{N, C};
  yShape.insert(yShape.end(), outS.begin(), outS.end());
  std::vector<double> y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t o0 = 0; o0 < out.v[0]; ++o0)
      for (int64_t o1 = 0; o1 < out.v[1]; ++o1)
        for (int64_t o2 = 0; o2 < out.v[2]; ++o2) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t valid = 0, padded = 0;
          for (int64_t k0 = 0; k0 < k.v[0]; ++k0)
            for (int64_t k1 = 0; k1 < k.v[1]; ++k1)
              for (int64_t k2 = 0; k2 < k.v[2]; ++k2) {
                const int64_t i[3] = {o0 * s.v[0] - p.v[0] + k0 * d.v[0], o1 * s.v[1] - p.v[1] + k1 * d.v[1],
                                      o2 * s.v[2] - p.v[2] + k2 * d.v[2]};
                bool inside = true, insidePadded = true;
                for (int a = 0; a < 3; ++a) {
                  inside = inside && i[a] >= 0 && i[a] < in.v[a];
                  insidePadded = insidePadded && i[a] >= -p.v[a] && i[a] < in.v[a] + pe.v[a];
                }
                if (insidePadded) ++padded;
                if (!inside) continue;
                const double v =
                    xv[static_cast<size_t>((nc * in.v[0] + i[0]) * in.v[1] * in.v[2] + i[1] * in.v[2] + i[2])];
                best = std::max(best, v);
                sum += v;
                ++valid;
              }
          y.push_back(isMax ? best : sum / static_cast<double>(countIncludePad ? padded : valid));
        }
  return Tensor::fromVector(y, yShape);
}

}  // namespace singa::test
