#include "singa/core/rng.h"

#include <cmath>
#include <vector>

namespace singa {

uint64_t Generator::nextU64() {
  // SplitMix64 applied to (seed, counter): a bijective mix, so streams of different seeds differ.
  uint64_t z = seed_ * 0x9e3779b97f4a7c15ULL + (++counter_) * 0xbf58476d1ce4e5b9ULL + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Generator::nextNormal() {
  double u1 = nextDouble();
  double u2 = nextDouble();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t Generator::nextBelow(uint64_t n) {
  // Rejection sampling removes modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = nextU64();
  } while (x >= limit);
  return x % n;
}

Generator& globalGenerator() {
  static Generator g(0);
  return g;
}

void manualSeed(uint64_t seed) { globalGenerator().manualSeed(seed); }

namespace {

template <class Draw>
void fillHost(Tensor& t, Draw draw) {
  SINGA_CHECK(isFloating(t.dtype()), TypeError,
              "random init needs a floating-point tensor, got " << dtypeName(t.dtype()));
  std::vector<double> values(static_cast<size_t>(t.numel()));
  for (double& v : values) v = draw();
  Tensor host = Tensor::fromVector(values, t.shape());
  t.copyFrom(host);  // converts dtype and moves to t's device
}

}  // namespace

void uniform_(Tensor& t, double low, double high, Generator& g) {
  fillHost(t, [&] { return low + (high - low) * g.nextDouble(); });
}

void normal_(Tensor& t, double mean, double stddev, Generator& g) {
  fillHost(t, [&] { return mean + stddev * g.nextNormal(); });
}

void fanInOut(const Shape& shape, int64_t& fanIn, int64_t& fanOut) {
  SINGA_CHECK(shape.size() >= 2, ShapeError,
              "fan in/out needs a weight of rank >= 2, got shape " << shape);
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  fanIn = shape[1] * receptive;
  fanOut = shape[0] * receptive;
}

void kaimingUniform_(Tensor& t, double gain, Generator& g) {
  int64_t fi, fo;
  fanInOut(t.shape(), fi, fo);
  double bound = gain * std::sqrt(3.0 / static_cast<double>(fi));
  uniform_(t, -bound, bound, g);
}

void kaimingNormal_(Tensor& t, double gain, Generator& g) {
  int64_t fi, fo;
  fanInOut(t.shape(), fi, fo);
  normal_(t, 0.0, gain / std::sqrt(static_cast<double>(fi)), g);
}

void xavierUniform_(Tensor& t, double gain, Generator& g) {
  int64_t fi, fo;
  fanInOut(t.shape(), fi, fo);
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
  uniform_(t, -bound, bound, g);
}

void xavierNormal_(Tensor& t, double gain, Generator& g) {
  int64_t fi, fo;
  fanInOut(t.shape(), fi, fo);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fi + fo)), g);
}

}  // namespace singa
