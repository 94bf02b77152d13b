// CPUID and XGETBV, read once per call (the caller keeps the result), and the core-type table
// that maps OpenBLAS's kernel names to ISA levels.
#include "singa/core/cpu_features.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SINGA_X86 1
#endif

namespace singa {

#ifdef SINGA_X86
namespace {

bool bit(unsigned value, int b) { return ((value >> b) & 1u) != 0; }

// XCR0 through the instruction itself: _xgetbv would need -mxsave for this one file.
uint64_t readXcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

}  // namespace
#endif

CpuFeatures detectCpuFeatures() {
  CpuFeatures f;
#ifdef SINGA_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned maxLeaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  if (maxLeaf < 1 || !__get_cpuid(1, &a, &b, &c, &d)) return f;
  const int baseFamily = static_cast<int>((a >> 8) & 0xF);
  const int baseModel = static_cast<int>((a >> 4) & 0xF);
  f.family = baseFamily == 0xF ? baseFamily + static_cast<int>((a >> 20) & 0xFF) : baseFamily;
  f.model = baseFamily == 0x6 || baseFamily == 0xF ? baseModel + (static_cast<int>((a >> 16) & 0xF) << 4) : baseModel;
  f.fma = bit(c, 12);
  f.avx = bit(c, 28);
  const bool osxsave = bit(c, 27);
  if (osxsave) {
    const uint64_t xcr0 = readXcr0();
    f.osYmm = (xcr0 & 0x6) == 0x6;
    f.osZmm = (xcr0 & 0xE0) == 0xE0;
  }
  if (maxLeaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = bit(b, 5);
    f.avx512f = bit(b, 16);
    f.avx512dq = bit(b, 17);
    f.avx512bw = bit(b, 30);
    f.avx512vl = bit(b, 31);
  }
#endif
  return f;
}

std::string describeCpu(const CpuFeatures& f) {
  if (f.vendor.empty()) return "not x86 (no CPUID)";
  std::string vendor = f.vendor;
  if (vendor == "GenuineIntel") vendor = "Intel";
  if (vendor == "AuthenticAMD") vendor = "AMD";
  if (vendor == "HygonGenuine") vendor = "Hygon";
  std::string out = vendor + " family " + std::to_string(f.family) + " model " + std::to_string(f.model) + ",";
  if (f.usableAvx512()) out += " avx512f avx512bw avx512dq avx512vl";
  if (f.usableAvx2Fma()) {
    out += " avx2 fma";
  } else if (f.usableAvx()) {
    out += " avx";
    if (f.fma) out += " fma";
  } else {
    out += " no avx";
  }
  if (f.avx512f && !f.osZmm && f.osYmm) out += " (avx512 in CPUID, not enabled by the OS)";
  if (f.avx && !f.osYmm) out += " (avx in CPUID, not enabled by the OS)";
  return out;
}

int blasCoretypeRank(const std::string& corename) {
  // The names of OpenBLAS's DYNAMIC_ARCH tables (driver/others/dynamic.c), by the ISA of their
  // GEMM kernels. Excavator and its family run Piledriver's AVX/FMA kernels, not AVX2 ones.
  static const std::pair<const char*, int> kRanks[] = {
      {"katmai", 0},      {"coppermine", 0},   {"northwood", 0},  {"prescott", 0},      {"banias", 0},
      {"atom", 0},        {"core2", 0},        {"penryn", 0},     {"dunnington", 0},    {"nehalem", 0},
      {"athlon", 0},      {"opteron", 0},      {"opteron_sse3", 0}, {"barcelona", 0},   {"nano", 0},
      {"bobcat", 0},      {"sandybridge", 1},  {"bulldozer", 1},  {"piledriver", 1},    {"steamroller", 1},
      {"excavator", 1},   {"haswell", 2},      {"zen", 2},        {"skylakex", 3},      {"cooperlake", 3},
      {"sapphirerapids", 3}};
  std::string lower = corename;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  for (const auto& [name, rank] : kRanks) {
    if (lower == name) return rank;
  }
  return -1;
}

std::optional<std::string> wantedBlasCoretype(const CpuFeatures& f, const std::string& corename,
                                              bool userSetCoretype) {
  if (userSetCoretype) return std::nullopt;
  const int current = blasCoretypeRank(corename);
  if (current < 0) return std::nullopt;  // a table this code does not know: leave it
  std::string wanted;
  int wantedRank = 0;
  if (f.usableAvx512()) {
    wanted = "SkylakeX";
    wantedRank = 3;
  } else if (f.usableAvx2Fma()) {
    wanted = f.vendor == "AuthenticAMD" || f.vendor == "HygonGenuine" ? "Zen" : "Haswell";
    wantedRank = 2;
  } else if (f.usableAvx()) {
    wanted = "Sandybridge";
    wantedRank = 1;
  }
  if (wantedRank <= current) return std::nullopt;
  return wanted;
}

}  // namespace singa
