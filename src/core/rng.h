// Seeded random numbers. A Generator is a counter-based stream (SplitMix64 over a 64-bit
// counter), so results depend only on the seed and the number of draws: identical across
// thread counts and platforms. Distributions are computed here (not with <random>'s
// implementation-defined ones) for the same reason.
#pragma once

#include <cstdint>

#include "singa/core/tensor.h"

namespace singa {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manualSeed(seed); }
  void manualSeed(uint64_t seed) {
    seed_ = seed;
    counter_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }
  /// Restores a stream position (for checkpoints).
  void setState(uint64_t seed, uint64_t counter) {
    seed_ = seed;
    counter_ = counter;
  }
  uint64_t nextU64();
  /// Uniform in [0, 1) with 24 random bits (float) or 53 (double).
  float nextFloat() { return static_cast<float>(nextU64() >> 40) * (1.0f / 16777216.0f); }
  double nextDouble() { return static_cast<double>(nextU64() >> 11) * (1.0 / 9007199254740992.0); }
  /// Standard normal (Box-Muller).
  double nextNormal();
  /// Uniform integer in [0, n).
  uint64_t nextBelow(uint64_t n);

 private:
  uint64_t seed_ = 0;
  uint64_t counter_ = 0;
};

/// The process-wide generator used when none is given (dropout, initialisers).
Generator& globalGenerator();
void manualSeed(uint64_t seed);

// In-place initialisers for floating-point tensors (any device; filled on the host).
void uniform_(Tensor& t, double low, double high, Generator& g = globalGenerator());
void normal_(Tensor& t, double mean, double stddev, Generator& g = globalGenerator());
/// fan_in / fan_out of a weight [out, in, k...] (Linear [out, in] too).
void fanInOut(const Shape& shape, int64_t& fanIn, int64_t& fanOut);
/// He uniform: U(-b, b), b = gain * sqrt(3 / fan_in), gain sqrt(2) for ReLU by default.
void kaimingUniform_(Tensor& t, double gain = 1.4142135623730951, Generator& g = globalGenerator());
void kaimingNormal_(Tensor& t, double gain = 1.4142135623730951, Generator& g = globalGenerator());
/// Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void xavierUniform_(Tensor& t, double gain = 1.0, Generator& g = globalGenerator());
void xavierNormal_(Tensor& t, double gain = 1.0, Generator& g = globalGenerator());

}  // namespace singa
