// Threading. One knob sets both pools: OpenMP (our elementwise, pooling and im2col loops) and
// OpenBLAS's own pthreads pool (GEMM). Kernels never call BLAS from inside an OpenMP parallel
// region, so the two pools do not oversubscribe the cores.
#pragma once

#include <cstdint>

namespace singa {

/// The most threads setNumThreads accepts.
constexpr int kMaxThreads = 1024;

/// Sets the threads used by kernels and by OpenBLAS. n <= 0 picks the default (all cores);
/// more than kMaxThreads is a ValueError.
void setNumThreads(int n);
int numThreads();

/// Runs f(begin, end) over [0, n) in chunks of at least `grain` items, in parallel when worth it.
template <class F>
void parallelFor(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks <= 1 || numThreads() <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * grain;
    const int64_t e = b + grain < n ? b + grain : n;
    f(b, e);
  }
}

}  // namespace singa
