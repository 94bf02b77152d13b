// Wider builds of hot CPU loops (the unary elementwise kernels). The library is compiled for the
// x86-64 baseline (SSE2: 4 floats a vector), so those loop bodies are also compiled with GCC's
// target attribute for AVX2 and AVX-512, and the widest the CPU (and the OS's saved register
// state) supports is taken at run time. The files holding them are built with -ffp-contract=off (kernels/sources.cmake): no
// a * b + c becomes an FMA in the wide builds, so every build does the same IEEE operations per
// element in the same order and gives the baseline's bits (a NaN's sign bit aside); tests
// compare them. Helpers inlined into a wide body become wide code there; their out-of-line copies
// stay baseline code, so nothing wide runs on a CPU without it.
#pragma once

#include <atomic>

#include "singa/core/cpu_features.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SINGA_WIDE_ISA 1
#define SINGA_TARGET_AVX2 __attribute__((target("avx2")))
#define SINGA_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512")))
#else  // one build of each loop (the -ffp-contract=off guarantee is GCC's)
#define SINGA_WIDE_ISA 0
#define SINGA_TARGET_AVX2
#define SINGA_TARGET_AVX512
#endif

namespace singa::cpu {

enum class Isa { kBaseline, kAvx2, kAvx512 };

/// Tests switch the wide builds off to compare (cpu_kernels.h: setWideElementwiseLoops).
inline std::atomic<bool> gWideLoops{true};

/// The build to run now: the widest the CPU supports, or the baseline when switched off.
inline Isa wideIsa() {
  static const Isa widest = [] {
#if SINGA_WIDE_ISA
    const CpuFeatures f = detectCpuFeatures();
    return f.usableAvx512() ? Isa::kAvx512 : f.usableAvx2Fma() ? Isa::kAvx2 : Isa::kBaseline;
#else
    return Isa::kBaseline;
#endif
  }();
  return gWideLoops.load(std::memory_order_relaxed) ? widest : Isa::kBaseline;
}

}  // namespace singa::cpu
