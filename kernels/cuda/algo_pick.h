// Which cuDNN convolution algorithm to run, as a plain function over cuDNN's candidate list so
// that the policy is tested without a GPU (tests/gpu/algo_pick_test.cc).
//
// Reproducibility: runs are bit-reproducible only if the same algorithm runs every time and the
// algorithm itself is deterministic (some backward algorithms accumulate with atomics). So by
// default the choice comes from cuDNN's heuristic ranking (the same for a given GPU, cuDNN and
// problem), never from timing, and skips non-deterministic algorithms. SINGA_CUDNN_BENCHMARK=1
// picks by measured time instead (fastest; the choice may then differ between runs);
// SINGA_CUDA_DETERMINISTIC=0 also allows non-deterministic algorithms.
#pragma once

#include <cstddef>
#include <vector>

namespace singa::cuda {

struct AlgoCandidate {
  int algo = 0;
  bool ok = false;             // cuDNN's status for it was success
  bool deterministic = false;  // CUDNN_DETERMINISTIC
  size_t workspace = 0;        // bytes it needs
};

/// Index into `ranked` (cuDNN's order: by heuristic rank, or by time when benchmarking) of the
/// first candidate that succeeded, fits `workspaceLimit` and, when `requireDeterministic`, is
/// deterministic; -1 when none qualifies.
inline int pickAlgo(const std::vector<AlgoCandidate>& ranked, bool requireDeterministic, size_t workspaceLimit) {
  for (size_t i = 0; i < ranked.size(); ++i) {
    const AlgoCandidate& c = ranked[i];
    if (!c.ok || c.workspace > workspaceLimit) continue;
    if (requireDeterministic && !c.deterministic) continue;
    return static_cast<int>(i);
  }
  return -1;
}

}  // namespace singa::cuda
