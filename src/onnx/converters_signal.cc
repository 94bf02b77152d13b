// Signal-processing ONNX operators (opset 17; DFT also 20, its axis an input): the Hann / Hamming /
// Blackman windows, MelWeightMatrix, DFT (with the inverse one-sided IRFFT) and STFT. A DFT is
// linear, so it runs as two engine MatMuls with cosine and sine matrices (real and imaginary parts
// in a trailing dim of 2, as ONNX stores complex values);
// STFT gathers overlapping frames, applies the window and takes a DFT of each.
#include <algorithm>
#include <cmath>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

enum class Window { kHann, kHamming, kBlackman };

template <Window W>
Tensors convertWindow(const ConvertContext& ctx, const Tensors& in) {
  const int64_t size = scalarInt(ctx, requireInput(ctx, in, 0, "size"), "size");
  ctx.check(size >= 0, "size must be >= 0, got " + std::to_string(size));
  checkHostBuffer(ctx, size, sizeof(double), "the window");
  const DType dtype = dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("output_datatype", 1)));
  const double n1 = static_cast<double>(ctx.attrs.getInt("periodic", 1) != 0 ? size : size - 1);
  std::vector<double> v(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    const double x = static_cast<double>(i);
    switch (W) {
      case Window::kHann: v[i] = std::pow(std::sin(x * M_PI / n1), 2.0); break;
      case Window::kHamming: v[i] = 25.0 / 46.0 - std::cos(x * M_PI * 2.0 / n1) * (21.0 / 46.0); break;
      case Window::kBlackman:
        v[i] = 0.42 - 0.5 * std::cos(x * M_PI * 2.0 / n1) + 0.08 * std::cos(x * M_PI * 4.0 / n1);
        break;
    }
  }
  return one(fromDoubles(v, {size}, dtype, ctx.device));
}

Tensors convertMelWeightMatrix(const ConvertContext& ctx, const Tensors& in) {
  const int64_t bins = scalarInt(ctx, requireInput(ctx, in, 0, "num_mel_bins"), "num_mel_bins");
  const int64_t dftLength = scalarInt(ctx, requireInput(ctx, in, 1, "dft_length"), "dft_length");
  const int64_t rate = scalarInt(ctx, requireInput(ctx, in, 2, "sample_rate"), "sample_rate");
  const double lo = scalarDouble(ctx, requireInput(ctx, in, 3, "lower_edge_hertz"), "lower_edge_hertz");
  const double hi = scalarDouble(ctx, requireInput(ctx, in, 4, "upper_edge_hertz"), "upper_edge_hertz");
  ctx.check(bins >= 1 && dftLength >= 1 && rate >= 1,
            "num_mel_bins, dft_length and sample_rate must be >= 1, got " + std::to_string(bins) + ", " +
                std::to_string(dftLength) + ", " + std::to_string(rate));
  ctx.check(std::isfinite(lo) && std::isfinite(hi) && lo >= 0.0 && lo <= hi,
            "need 0 <= lower_edge_hertz <= upper_edge_hertz, got " + std::to_string(lo) + " and " + std::to_string(hi));
  const char* what = "MelWeightMatrix: the output";
  checkHostBuffer(ctx, checkedMul(checkedAdd(dftLength / 2, 1, what), bins, what), sizeof(double), "the output");
  const DType dtype = dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("output_datatype", 1)));
  const int64_t spectrogramBins = dftLength / 2 + 1;
  const double loMel = 2595.0 * std::log1p(lo / 700.0) / std::log(10.0);
  const double hiMel = 2595.0 * std::log1p(hi / 700.0) / std::log(10.0);
  const double step = (hiMel - loMel) / static_cast<double>(bins + 2);
  std::vector<int64_t> f(static_cast<size_t>(bins + 2));
  for (int64_t i = 0; i < bins + 2; ++i) {
    const double hz = 700.0 * std::expm1((static_cast<double>(i) * step + loMel) / 2595.0 * std::log(10.0));
    const double bin = std::floor(static_cast<double>(dftLength + 1) * hz / static_cast<double>(rate));
    f[i] = bin >= 0.0 && bin < 9.0e18 ? static_cast<int64_t>(bin) : -1;  // -1: rejected below
  }
  // Every band edge must be a spectrogram bin (upper_edge_hertz at most the Nyquist frequency).
  for (int64_t i = 0; i < bins + 2; ++i) {
    ctx.check(f[i] >= 0 && f[i] < spectrogramBins + (i == bins + 1 ? 1 : 0),
              "upper_edge_hertz " + std::to_string(hi) + " puts mel band edges past the " +
                  std::to_string(spectrogramBins) + " spectrogram bins of dft_length " + std::to_string(dftLength) +
                  " at sample_rate " + std::to_string(rate) + "; lower it to at most sample_rate / 2");
  }
  std::vector<double> out(static_cast<size_t>(spectrogramBins * bins), 0.0);
  auto at = [&](int64_t j, int64_t i) -> double& { return out[static_cast<size_t>(j * bins + i)]; };
  for (int64_t i = 0; i < bins; ++i) {
    const int64_t l = f[i], c = f[i + 1], h = f[i + 2];
    if (c - l == 0) {
      at(c, i) = 1.0;
    } else {
      for (int64_t j = l; j <= c; ++j) at(j, i) = static_cast<double>(j - l) / static_cast<double>(c - l);
    }
    for (int64_t j = c; j < h; ++j) at(j, i) = static_cast<double>(h - j) / static_cast<double>(h - c);
  }
  return one(fromDoubles(out, {spectrogramBins, bins}, dtype, ctx.device));
}

// DFT of `x` ([..., n, ..., 1 or 2]) along `axis` with length `n` (zero padded / truncated), keeping
// `k` output bins. Returns [..., k, ..., 2].
Tensor dft(const Tensor& x, int axis, int64_t n, int64_t k, bool inverse) {
  const int last = x.ndim() - 1;
  const bool complex = x.dim(last) == 2;
  Tensor re = ops::squeeze(ops::slice(x, {0}, {1}, {last}), {last});
  Tensor im = complex ? ops::squeeze(ops::slice(x, {1}, {2}, {last}), {last}) : Tensor();
  const int sigLast = re.ndim() - 1;
  auto prepare = [&](Tensor t) {
    t = moveAxis(t, axis, sigLast);
    const int64_t len = t.dim(sigLast);
    if (len > n) t = ops::slice(t, {0}, {n}, {sigLast});
    if (len < n) {
      std::vector<int64_t> pads(2 * static_cast<size_t>(t.ndim()), 0);
      pads[t.ndim() + sigLast] = n - len;
      t = ops::pad(t, pads);
    }
    return t;
  };
  re = prepare(re);
  if (im.defined()) im = prepare(im);
  // [n, k] cosine and sine matrices (applied as t @ M).
  std::vector<double> c(static_cast<size_t>(n * k)), s(static_cast<size_t>(n * k));
  const double scale = inverse ? 1.0 / static_cast<double>(n) : 1.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      const double a = 2.0 * M_PI * static_cast<double>((i * j) % n) / static_cast<double>(n);
      c[static_cast<size_t>(i * k + j)] = std::cos(a) * scale;
      s[static_cast<size_t>(i * k + j)] = std::sin(a) * scale * (inverse ? 1.0 : -1.0);
    }
  }
  Tensor cm = fromDoubles(c, {n, k}, x.dtype(), x.device());
  Tensor sm = fromDoubles(s, {n, k}, x.dtype(), x.device());
  // (re + i im)(C + i S) = (re C - im S) + i (re S + im C)
  Tensor yr = ops::matmul(re, cm);
  Tensor yi = ops::matmul(re, sm);
  if (im.defined()) {
    yr = ops::sub(yr, ops::matmul(im, sm));
    yi = ops::add(yi, ops::matmul(im, cm));
  }
  yr = moveAxis(yr, sigLast, axis);
  yi = moveAxis(yi, sigLast, axis);
  return ops::concat({ops::unsqueeze(yr, {last}), ops::unsqueeze(yi, {last})}, last);
}

// Inverse of a one-sided spectrum `x` ([..., k, ..., 2] along `axis`) to a real signal of length
// `n` ([..., n, ..., 1]), as NumPy's irfft: bins past n/2 are dropped, missing ones are zero, and
// the other half of the spectrum is the conjugate mirror, so y[t] = (1/n) sum_j w_j (re_j cos(2pi
// jt/n) - im_j sin(2pi jt/n)) with w_j = 2 for the mirrored bins 0 < j < n/2, else 1.
Tensor irfft(const Tensor& x, int axis, int64_t n) {
  const int last = x.ndim() - 1;
  const bool complex = x.dim(last) == 2;
  const int64_t k = std::min<int64_t>(x.dim(axis), n / 2 + 1);
  Tensor re = ops::squeeze(ops::slice(x, {0}, {1}, {last}), {last});
  Tensor im = complex ? ops::squeeze(ops::slice(x, {1}, {2}, {last}), {last}) : Tensor();
  const int sigLast = re.ndim() - 1;
  auto prepare = [&](Tensor t) { return ops::slice(moveAxis(t, axis, sigLast), {0}, {k}, {sigLast}); };
  re = prepare(re);
  std::vector<double> c(static_cast<size_t>(k * n)), s(static_cast<size_t>(k * n));
  for (int64_t j = 0; j < k; ++j) {
    const double w = (j == 0 || 2 * j == n) ? 1.0 : 2.0;
    for (int64_t t = 0; t < n; ++t) {
      const double a = 2.0 * M_PI * static_cast<double>((j * t) % n) / static_cast<double>(n);
      c[static_cast<size_t>(j * n + t)] = w * std::cos(a) / static_cast<double>(n);
      s[static_cast<size_t>(j * n + t)] = -w * std::sin(a) / static_cast<double>(n);
    }
  }
  Tensor y = ops::matmul(re, fromDoubles(c, {k, n}, x.dtype(), x.device()));
  if (im.defined()) y = ops::add(y, ops::matmul(prepare(im), fromDoubles(s, {k, n}, x.dtype(), x.device())));
  return ops::unsqueeze(moveAxis(y, sigLast, axis), {last});
}

Tensors convertDft(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(x.ndim() >= 2, "input must have a signal dim and the complex dim, got " + shapeStr(x.shape()));
  // Opset 20 takes the axis as input 2 (default -2); earlier opsets as an attribute (default 1).
  const int64_t axisValue = ctx.opset >= 20 ? (hasInput(in, 2) ? scalarInt(ctx, in[2], "axis") : -2)
                                            : ctx.attrs.getInt("axis", 1);
  const int axis = static_cast<int>(normalizeAxes(ctx, {axisValue}, x.ndim())[0]);
  ctx.check(axis != x.ndim() - 1, "axis must not be the last (complex) dim");
  const bool inverse = ctx.attrs.getInt("inverse", 0) != 0;
  const bool onesided = ctx.attrs.getInt("onesided", 0) != 0;
  ctx.check(x.dim(-1) == 1 || x.dim(-1) == 2, "the last dim must be 1 (real) or 2 (complex)");
  const bool inverseOnesided = inverse && onesided;  // IRFFT: a half spectrum to a real signal
  const int64_t n = hasInput(in, 1) ? scalarInt(ctx, in[1], "dft_length")
                                    : (inverseOnesided ? 2 * (x.dim(axis) - 1) : x.dim(axis));
  const bool fromOneBin = inverseOnesided && !hasInput(in, 1);
  ctx.check(n >= 1, "dft_length must be >= 1, got " + std::to_string(n) +
                        (fromOneBin ? " (from a one-sided input of one bin; give dft_length)" : ""));
  const int64_t bins = inverseOnesided ? n : (onesided ? n / 2 + 1 : n);
  checkHostBuffer(ctx, checkedMul(n, bins, "DFT matrix"), 2 * sizeof(double), "the DFT matrices");
  if (inverseOnesided) return one(irfft(x, axis, n));
  return one(dft(x, axis, n, bins, inverse));
}

Tensors convertStft(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "signal");
  ctx.check(x.ndim() == 3, "signal must be [batch, length, 1 or 2]");
  const int64_t step = scalarInt(ctx, requireInput(ctx, in, 1, "frame_step"), "frame_step");
  const Tensor window = optionalInput(in, 2);
  int64_t frameLength =
      hasInput(in, 3) ? scalarInt(ctx, in[3], "frame_length") : (window.defined() ? window.numel() : x.dim(1));
  const bool onesided = ctx.attrs.getInt("onesided", 1) != 0;
  ctx.check(step >= 1, "frame_step must be >= 1, got " + std::to_string(step));
  ctx.check(frameLength >= 1 && frameLength <= x.dim(1),
            "frame_length " + std::to_string(frameLength) + " must lie in [1, " + std::to_string(x.dim(1)) +
                "] (the signal length)");
  ctx.check(!window.defined() || window.numel() == frameLength,
            "window has " + std::to_string(window.defined() ? window.numel() : 0) + " values for frames of " +
                std::to_string(frameLength));
  ctx.check(x.dim(2) == 1 || x.dim(2) == 2, "signal's last dim must be 1 (real) or 2 (complex)");
  const int64_t frames = 1 + (x.dim(1) - frameLength) / step;
  const int64_t bins = onesided ? frameLength / 2 + 1 : frameLength;
  checkHostBuffer(ctx, checkedMul(frames, frameLength, "STFT frames"), sizeof(int64_t), "the frame indices");
  checkHostBuffer(ctx, checkedMul(frameLength, bins, "STFT DFT matrix"), 2 * sizeof(double), "the DFT matrices");
  std::vector<int64_t> idx;
  for (int64_t f = 0; f < frames; ++f) {
    for (int64_t i = 0; i < frameLength; ++i) idx.push_back(f * step + i);
  }
  // [batch, frames, frame_length, c]
  Tensor fr = ops::gather(x, intsTensor(idx, {frames, frameLength}, x.device()), 1);
  if (window.defined()) fr = ops::mul(fr, ops::reshape(castTo(window, x.dtype()), {1, 1, frameLength, 1}));
  return one(dft(fr, 2, frameLength, bins, false));
}

}  // namespace

void registerSignalConverters(ConverterRegistry& r) {
  r.add("HannWindow", 17, convertWindow<Window::kHann>);
  r.add("HammingWindow", 17, convertWindow<Window::kHamming>);
  r.add("BlackmanWindow", 17, convertWindow<Window::kBlackman>);
  r.add("MelWeightMatrix", 17, convertMelWeightMatrix);
  r.add("DFT", 17, convertDft);
  r.add("DFT", 20, convertDft);  // the axis becomes input 2
  r.add("STFT", 17, convertStft);
}

}  // namespace singa::onnxio
