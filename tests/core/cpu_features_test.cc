// The OpenBLAS kernel-table decision (core/cpu_features.h) on the CPUs it was made for, and the
// CPUID reading against the compiler runtime's own (__builtin_cpu_supports, which also checks
// that the OS saves the registers).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "singa/core/cpu_features.h"

namespace singa {
namespace {

CpuFeatures intel(int model) {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.family = 6;
  f.model = model;
  return f;
}

CpuFeatures amd(int family, int model) {
  CpuFeatures f;
  f.vendor = "AuthenticAMD";
  f.family = family;
  f.model = model;
  return f;
}

CpuFeatures withAvx(CpuFeatures f) {
  f.avx = true;
  f.osYmm = true;
  return f;
}

CpuFeatures withAvx2(CpuFeatures f) {
  f = withAvx(f);
  f.avx2 = f.fma = true;
  return f;
}

CpuFeatures withAvx512(CpuFeatures f) {
  f = withAvx2(f);
  f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = true;
  f.osZmm = true;
  return f;
}

struct Row {
  const char* what;
  CpuFeatures cpu;
  const char* corename;
  bool userSet;
  std::optional<std::string> wanted;
};

TEST(CpuFeatures, WantedBlasCoretype) {
  CpuFeatures avx512NotSaved = withAvx512(intel(85));  // the OS leaves XCR0's ZMM bits clear
  avx512NotSaved.osZmm = false;
  CpuFeatures avxNotSaved = withAvx2(intel(158));  // no OSXSAVE: YMM state not saved
  avxNotSaved.osYmm = avxNotSaved.osZmm = false;
  CpuFeatures avx512WithoutBw = withAvx512(intel(87));  // Knights Landing: F without BW/DQ/VL
  avx512WithoutBw.avx512bw = avx512WithoutBw.avx512dq = avx512WithoutBw.avx512vl = false;
  const Row rows[] = {
      {"Emerald Rapids, OpenBLAS 0.3.21's fallback", withAvx512(intel(207)), "Prescott", false, "SkylakeX"},
      {"Emerald Rapids, lower case name", withAvx512(intel(207)), "prescott", false, "SkylakeX"},
      {"Sapphire Rapids, already AVX-512", withAvx512(intel(143)), "Cooperlake", false, std::nullopt},
      {"Skylake-SP, already SkylakeX", withAvx512(intel(85)), "SkylakeX", false, std::nullopt},
      {"Raptor Lake (AVX2), fallback", withAvx2(intel(183)), "Prescott", false, "Haswell"},
      {"Arrow Lake (AVX2), fallback", withAvx2(intel(198)), "Prescott", false, "Haswell"},
      {"AMD Zen 3, library's choice", withAvx2(amd(25, 1)), "Zen", false, std::nullopt},
      {"AMD AVX2, fallback", withAvx2(amd(25, 1)), "Prescott", false, "Zen"},
      {"AMD AVX2, Excavator table is AVX only", withAvx2(amd(25, 1)), "Excavator", false, "Zen"},
      {"AMD Zen 4 (AVX-512) on the Zen table", withAvx512(amd(25, 17)), "Zen", false, "SkylakeX"},
      {"AVX-512 in CPUID, not saved by the OS, Haswell", avx512NotSaved, "Haswell", false, std::nullopt},
      {"AVX-512 in CPUID, not saved by the OS, fallback", avx512NotSaved, "Prescott", false, "Haswell"},
      {"AVX-512F without BW/DQ/VL", avx512WithoutBw, "Prescott", false, "Haswell"},
      {"AVX in CPUID, not saved by the OS", avxNotSaved, "Prescott", false, std::nullopt},
      {"user's OPENBLAS_CORETYPE", withAvx512(intel(207)), "Prescott", true, std::nullopt},
      {"no AVX", intel(26), "Prescott", false, std::nullopt},
      {"AVX only", withAvx(intel(42)), "Prescott", false, "Sandybridge"},
      {"AVX only, already Sandybridge", withAvx(intel(42)), "Sandybridge", false, std::nullopt},
      {"never down: AVX2 CPU on a SkylakeX table", withAvx2(intel(183)), "SkylakeX", false, std::nullopt},
      {"a table this code does not know", withAvx512(intel(207)), "Unknown", false, std::nullopt},
      {"not x86", CpuFeatures{}, "ARMV8", false, std::nullopt},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(wantedBlasCoretype(r.cpu, r.corename, r.userSet), r.wanted) << r.what;
  }
}

TEST(CpuFeatures, CoretypeRanks) {
  EXPECT_EQ(blasCoretypeRank("Prescott"), 0);
  EXPECT_EQ(blasCoretypeRank("Nehalem"), 0);
  EXPECT_EQ(blasCoretypeRank("Opteron_SSE3"), 0);
  EXPECT_EQ(blasCoretypeRank("Sandybridge"), 1);
  EXPECT_EQ(blasCoretypeRank("Excavator"), 1);
  EXPECT_EQ(blasCoretypeRank("Haswell"), 2);
  EXPECT_EQ(blasCoretypeRank("ZEN"), 2);
  EXPECT_EQ(blasCoretypeRank("SkylakeX"), 3);
  EXPECT_EQ(blasCoretypeRank("Cooperlake"), 3);
  EXPECT_EQ(blasCoretypeRank(""), -1);
  EXPECT_EQ(blasCoretypeRank("Unknown"), -1);
}

TEST(CpuFeatures, Describe) {
  EXPECT_EQ(describeCpu(withAvx2(amd(25, 1))), "AMD family 25 model 1, avx2 fma");
  EXPECT_EQ(describeCpu(withAvx512(intel(207))), "Intel family 6 model 207, avx512f avx512bw avx512dq avx512vl avx2 fma");
  CpuFeatures notSaved = withAvx512(intel(85));
  notSaved.osZmm = false;
  EXPECT_EQ(describeCpu(notSaved), "Intel family 6 model 85, avx2 fma (avx512 in CPUID, not enabled by the OS)");
  EXPECT_EQ(describeCpu(withAvx(intel(42))), "Intel family 6 model 42, avx");
  EXPECT_EQ(describeCpu(intel(26)), "Intel family 6 model 26, no avx");
  EXPECT_EQ(describeCpu(CpuFeatures{}), "not x86 (no CPUID)");
}

#if defined(__x86_64__) || defined(__i386__)
TEST(CpuFeatures, DetectAgreesWithCompilerRuntime) {
  __builtin_cpu_init();
  const CpuFeatures f = detectCpuFeatures();
  EXPECT_FALSE(f.vendor.empty());
  EXPECT_GT(f.family, 0);
  EXPECT_EQ(f.usableAvx(), __builtin_cpu_supports("avx") != 0);
  EXPECT_EQ(f.usableAvx() && f.avx2, __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(f.usableAvx() && f.fma, __builtin_cpu_supports("fma") != 0);
  EXPECT_EQ(f.usableAvx512(), __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                                  f.usableAvx2Fma());
  EXPECT_EQ(f.vendor == "GenuineIntel", __builtin_cpu_is("intel") != 0);
  EXPECT_EQ(f.vendor == "AuthenticAMD", __builtin_cpu_is("amd") != 0);
}
#endif

}  // namespace
}  // namespace singa
