// A structure-aware mutator for checkpoints (libFuzzer's custom mutator for fuzz_checkpoint).
// Every tensor and every meta.json file carries a CRC-32, so a byte flip past the headers is
// refused by the checksum and never reaches restoring. This mutator decodes a valid checkpoint,
// changes what a crafted one would (a tensor's shape or dtype, a missing, extra or renamed
// tensor, optimizer counters and learning rates at the edges, the training-state fields) and
// encodes it again with correct sizes and checksums, so the restore code and the optimizer step
// that follows see it.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "singa/checkpoint/checkpoint.h"
#include "singa/core/tensor.h"

namespace singa::fuzz {

class CheckpointMutator {
 public:
  explicit CheckpointMutator(uint32_t seed) : rng_(seed) {}

  /// Mutates `c` in place (1-3 changes).
  void mutate(checkpoint::Checkpoint& c) {
    const int n = 1 + static_cast<int>(below(3));
    for (int i = 0; i < n; ++i) mutateOnce(c);
  }

 private:
  std::mt19937 rng_;

  uint64_t below(uint64_t n) { return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  int64_t interestingInt() {
    static const int64_t kValues[] = {0, 1, 2, 3, -1, 7, 1 << 20, int64_t{1} << 31, int64_t{1} << 32,
                                      int64_t{1} << 62, (int64_t{1} << 62) + 1, std::numeric_limits<int64_t>::max(),
                                      std::numeric_limits<int64_t>::min()};
    return kValues[below(sizeof(kValues) / sizeof(kValues[0]))];
  }

  double interestingDouble() {
    static const double kValues[] = {0.0, -1.0, 0.5, 1e30, -1e30, 9.3e18, std::nan(""),
                                     std::numeric_limits<double>::infinity(), 4611686018427387905.0};
    return kValues[below(sizeof(kValues) / sizeof(kValues[0]))];
  }

  Tensor reshaped(const Tensor& t) {
    Shape shape;
    for (uint64_t i = 0, n = below(4); i < n; ++i) shape.push_back(static_cast<int64_t>(below(4)));
    Tensor out = Tensor::zeros(shape, t.dtype());
    return out;
  }

  Tensor retyped(const Tensor& t) {
    static const DType kTypes[] = {DType::kFloat32, DType::kFloat64, DType::kInt64, DType::kInt32,
                                   DType::kFloat16, DType::kBool, DType::kUInt8};
    return t.to(kTypes[below(sizeof(kTypes) / sizeof(kTypes[0]))]);
  }

  void mutateTensors(std::map<std::string, Tensor>& m) {
    if (m.empty() || below(6) == 0) {
      m["extra" + std::to_string(below(3))] = Tensor::zeros({2}, DType::kFloat32);
      return;
    }
    auto it = m.begin();
    std::advance(it, static_cast<long>(below(m.size())));
    switch (below(6)) {
      case 0: it->second = reshaped(it->second); break;
      case 1: it->second = retyped(it->second); break;
      case 2: m.erase(it); break;
      case 3: {  // rename
        Tensor t = it->second;
        const std::string name = it->first + (below(2) ? ".x" : "");
        m.erase(it);
        m[below(2) ? name : std::string("0.weight")] = t;
        break;
      }
      default: {  // a value at the edges (counters, learning rates, weights)
        Tensor t = it->second.to(DType::kFloat64).contiguous();
        if (t.numel() > 0) {
          const bool integral = !isFloating(it->second.dtype());
          t.data<double>()[below(static_cast<uint64_t>(t.numel()))] =
              integral ? static_cast<double>(interestingInt()) : interestingDouble();
        }
        it->second = t.to(it->second.dtype());
        break;
      }
    }
  }

  void mutateState(checkpoint::TrainingState& s) {
    switch (below(8)) {
      case 0: s.epoch = interestingInt(); break;
      case 1: s.stepInEpoch = interestingInt(); break;
      case 2: s.samplesInEpoch = interestingInt(); break;
      case 3: s.globalStep = interestingInt(); break;
      case 4: s.worldSize = static_cast<int>(interestingInt()); break;
      case 5: s.batchSize = interestingInt(); break;
      case 6: s.scheduleEpoch = interestingInt(); break;
      default: s.rngCounter = static_cast<uint64_t>(interestingInt()); break;
    }
  }

  void mutateOnce(checkpoint::Checkpoint& c) {
    switch (below(5)) {
      case 0: mutateTensors(c.model); break;
      case 1:
      case 2: mutateTensors(c.optimizer); break;
      case 3: mutateState(c.state); break;
      default: {  // the optimizer's scalars "step" and "lr", where restoring converts them
        const char* name = below(2) ? "step" : "lr";
        Tensor t = Tensor::scalar(below(2) ? interestingDouble() : static_cast<double>(interestingInt()),
                                  below(2) ? DType::kInt64 : DType::kFloat64);
        c.optimizer[name] = t;
        break;
      }
    }
  }
};

}  // namespace singa::fuzz
