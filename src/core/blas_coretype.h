// No silent SSE3 fallback in OpenBLAS. A DYNAMIC_ARCH OpenBLAS chooses its kernel table when it
// loads, before any of our code runs, and an OpenBLAS older than the CPU gives it the SSE3
// "Prescott" table (Debian 12's 0.3.21 on Emerald Rapids: sgemm 4.6x slower). When libsinga
// loads (its constructor runs after OpenBLAS's) and again before threads are first set, the
// table is re-pointed to the one the CPU's features call for (cpu_features.h), unless the user
// chose one with OPENBLAS_CORETYPE. Other BLAS builds are left as they are.
#pragma once

#include <string>

namespace singa {

/// What the BLAS library runs and how it came to run it.
struct BlasInfo {
  std::string library;       ///< "OpenBLAS 0.3.21"; "" when the BLAS is not OpenBLAS
  std::string loadCore;      ///< the kernel table OpenBLAS chose itself ("Prescott")
  std::string core;          ///< the table its GEMMs run now ("SkylakeX")
  bool dynamic = false;      ///< a DYNAMIC_ARCH build, whose table can be re-pointed
  bool repaired = false;     ///< re-pointed by singa from loadCore to core
  bool userSet = false;      ///< OPENBLAS_CORETYPE was set by the user: left as it chose
  std::string userCoretype;  ///< its value
  std::string note;          ///< why a wanted table was not reached ("" when it was or none was wanted)
};

/// Re-points OpenBLAS once per process (later calls return the first call's record). Runs from
/// libsinga's constructor and from setNumThreads(); no BLAS call may run meanwhile.
BlasInfo repairBlasCoretype();

/// The repair itself, not limited to once (for tests): reads the current table as the library's
/// choice, and re-points it when wantedBlasCoretype() asks for another. No BLAS call may run
/// meanwhile.
BlasInfo repairBlasCoretypeNow();

/// Makes OpenBLAS re-initialise with the named kernel table (as OPENBLAS_CORETYPE would at load)
/// and restores OPENBLAS_CORETYPE as it was, so child processes do not inherit it. OpenBLAS
/// does not check that the CPU runs the table: a name beyond the CPU's ISA makes GEMMs fault.
/// False, doing nothing, when the BLAS is not a DYNAMIC_ARCH OpenBLAS. No BLAS call may run
/// meanwhile.
bool repointBlasCoretype(const std::string& name);

/// The kernel table OpenBLAS runs now ("" when the BLAS is not OpenBLAS).
std::string blasCorename();

/// "OpenBLAS 0.3.21 SkylakeX (auto; OpenBLAS chose Prescott)", "OpenBLAS 0.3.21 Zen (library's
/// choice)", "OpenBLAS 0.3.21 Haswell (OPENBLAS_CORETYPE=Haswell, user's)".
std::string describeBlas(const BlasInfo& info);

/// This process's CPU and GEMM kernels in one line, for start lines and --version:
/// "cpu: AMD family 25 model 1, avx2 fma; gemm: OpenBLAS 0.3.21 Zen (library's choice)".
std::string cpuAndGemmDescription();

}  // namespace singa
