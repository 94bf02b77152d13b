// What the CPU offers, read from CPUID and XGETBV, and which OpenBLAS kernel table fits it.
// OpenBLAS picks its kernels once, when it loads; a release that does not know a CPU model falls
// back to its SSE3 "Prescott" kernels (Debian 12's 0.3.21 does this on Emerald Rapids, Raptor
// Lake and Arrow Lake), 3-5x slower in sgemm. wantedBlasCoretype() decides, from the CPU's
// features alone, whether the library's choice should be replaced (blas_coretype.h does it).
#pragma once

#include <optional>
#include <string>

namespace singa {

/// The CPU's identity and the vector extensions that decide GEMM kernels. Each ISA flag says
/// what CPUID reports; osYmm and osZmm say whether the OS saves the registers (XCR0), without
/// which the instructions fault. Use the usable*() methods, which require both.
struct CpuFeatures {
  std::string vendor;  ///< CPUID vendor string: "GenuineIntel", "AuthenticAMD", ... ("" off x86)
  int family = 0;      ///< display family (base + extended family)
  int model = 0;       ///< display model (extended model included for families 6 and 15+)
  bool avx = false, fma = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool osYmm = false;  ///< XCR0 bits 1-2: SSE and AVX state
  bool osZmm = false;  ///< XCR0 bits 5-7: opmask, upper ZMM halves, ZMM16-31

  bool usableAvx() const { return avx && osYmm; }
  bool usableAvx2Fma() const { return usableAvx() && avx2 && fma; }
  /// The AVX-512 subsets OpenBLAS's SkylakeX kernels use, with the OS saving their state.
  bool usableAvx512() const { return usableAvx2Fma() && avx512f && avx512bw && avx512dq && avx512vl && osZmm; }
};

/// Reads this CPU's features (CPUID, XGETBV). Off x86 every flag is false.
CpuFeatures detectCpuFeatures();

/// One line: "AMD family 25 model 1, avx2 fma", naming AVX-512 the OS leaves disabled.
std::string describeCpu(const CpuFeatures& f);

/// The ISA level of an OpenBLAS (DYNAMIC_ARCH) core name, case-insensitive: 0 SSE-era tables
/// (Prescott, Nehalem, Opteron, ...), 1 AVX (Sandybridge; Bulldozer to Excavator, whose sgemm
/// kernels are AVX/FMA, not AVX2), 2 AVX2 + FMA (Haswell, Zen), 3 AVX-512 (SkylakeX, Cooperlake,
/// SapphireRapids). -1 for a name this table does not know.
int blasCoretypeRank(const std::string& corename);

/// The core OpenBLAS should be re-pointed to, or none: only when the user did not choose one
/// (OPENBLAS_CORETYPE), the current core is known, and its level is below what the CPU can run
/// (AVX-512 -> "SkylakeX"; AVX2 + FMA -> "Zen" on AMD and Hygon, "Haswell" elsewhere; AVX ->
/// "Sandybridge"). Never a lower level than the current one.
std::optional<std::string> wantedBlasCoretype(const CpuFeatures& f, const std::string& corename,
                                              bool userSetCoretype);

}  // namespace singa
