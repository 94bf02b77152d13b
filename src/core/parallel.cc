#include "singa/core/parallel.h"

#include "singa/core/blas_coretype.h"
#include "singa/core/error.h"

#include <omp.h>

#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace singa {
namespace {
int gThreads = 0;  // 0: not set yet
}

void setNumThreads(int n) {
  // Each OpenMP thread gets its own stack; 100000 of them exhaust memory inside libgomp.
  SINGA_CHECK(n <= kMaxThreads, ValueError,
              "thread count " << n << " is more than the " << kMaxThreads << " threads singa runs (this machine has "
                              << std::thread::hardware_concurrency() << " cores)");
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  // Before the first GEMM (libsinga's constructor normally did it already): OpenBLAS's kernel
  // table for this CPU, not its SSE3 fallback (blas_coretype.h).
  repairBlasCoretype();
  gThreads = n;
  omp_set_num_threads(n);
  // OpenBLAS stays single-threaded: kernels split GEMMs over the OpenMP threads themselves
  // (kernels/cpu/im2col.h ompGemm), so two thread pools never compete for the cores.
  openblas_set_num_threads(1);
}

int numThreads() {
  if (gThreads == 0) setNumThreads(0);
  return gThreads;
}

}  // namespace singa
