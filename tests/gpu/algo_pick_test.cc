// The cuDNN algorithm policy (kernels/cuda/algo_pick.h) on candidate lists shaped like cuDNN's:
// with determinism required (the default) a faster non-deterministic algorithm is never chosen,
// failures and oversized workspaces are skipped, and the choice depends only on the ranking.
#include <gtest/gtest.h>

#include "kernels/cuda/algo_pick.h"

namespace singa::cuda {
namespace {

TEST(CudnnAlgoPick, DeterministicWinsOverAFasterNonDeterministicAlgorithm) {
  // Ranked by time: algo 1 (atomics, non-deterministic) is fastest.
  const std::vector<AlgoCandidate> ranked = {
      {1, true, false, 0}, {0, true, true, 1 << 20}, {3, true, true, 0}};
  EXPECT_EQ(pickAlgo(ranked, true, size_t{1} << 30), 1);   // index of algo 0
  EXPECT_EQ(pickAlgo(ranked, false, size_t{1} << 30), 0);  // opted out: the fastest
}

TEST(CudnnAlgoPick, SkipsFailuresAndWorkspacesOverTheLimit) {
  const std::vector<AlgoCandidate> ranked = {
      {5, false, true, 0}, {6, true, true, 512u << 20}, {7, true, true, 4096}, {8, true, true, 0}};
  EXPECT_EQ(pickAlgo(ranked, true, 64u << 20), 2);
  EXPECT_EQ(pickAlgo(ranked, true, 1024), 3);
  EXPECT_EQ(pickAlgo({{1, true, false, 0}}, true, 1u << 30), -1);  // nothing deterministic: caller falls back
  EXPECT_EQ(pickAlgo({}, true, 1u << 30), -1);
}

}  // namespace
}  // namespace singa::cuda
