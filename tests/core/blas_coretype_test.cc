// OpenBLAS's kernel table re-pointed in a live process (core/blas_coretype.h): the SSE3
// fallback forced by hand is repaired to the table the CPU's features call for, with the same
// sgemm results (against a double-precision reference) before and after; a user's
// OPENBLAS_CORETYPE is left alone. Its own executable: these tests change process-wide state.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "singa/core/blas_coretype.h"
#include "singa/core/cpu_features.h"
#include "singa/core/parallel.h"
#include "singa/core/tensor.h"
#include "singa/ops/ops.h"

namespace singa {
namespace {

constexpr const char* kVariable = "OPENBLAS_CORETYPE";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// C = A B for A:[m, k], B:[k, n] through ops::matmul (OpenBLAS sgemm), each element checked
// against a double-precision sum with a bound proportional to sum |a||b|.
void expectSgemmMatchesReference(const char* when) {
  const int64_t m = 67, k = 301, n = 45;
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(static_cast<int>((i * 7919) % 201) - 100) / 64.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(static_cast<int>((i * 104729) % 199) - 99) / 32.0f;
  const std::vector<float> c =
      ops::matmul(Tensor::fromVector<float>(a, {m, k}), Tensor::fromVector<float>(b, {k, n})).toVector<float>();
  ASSERT_EQ(c.size(), static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double term = static_cast<double>(a[static_cast<size_t>(i * k + p)]) * b[static_cast<size_t>(p * n + j)];
        ref += term;
        magnitude += std::fabs(term);
      }
      ASSERT_NEAR(c[static_cast<size_t>(i * n + j)], ref, 1e-5 * magnitude + 1e-6)
          << when << ", C[" << i << "][" << j << "], table " << blasCorename();
    }
  }
}

TEST(BlasCoretype, LoadLeftNothingToRepair) {
  const BlasInfo info = repairBlasCoretype();
  if (info.library.empty()) GTEST_SKIP() << "the BLAS is not OpenBLAS";
  if (info.userSet) GTEST_SKIP() << "OPENBLAS_CORETYPE=" << info.userCoretype << " is set: the user's choice";
  if (!info.dynamic) GTEST_SKIP() << "OpenBLAS built for one core: " << info.core;
  EXPECT_EQ(wantedBlasCoretype(detectCpuFeatures(), blasCorename(), false), std::nullopt)
      << "libsinga's load left OpenBLAS on " << blasCorename() << " (" << describeBlas(info) << ")";
  EXPECT_EQ(std::getenv(kVariable), nullptr) << "the repair must not leave OPENBLAS_CORETYPE behind";
}

TEST(BlasCoretype, RepairsForcedSse3Fallback) {
  if (const char* preset = std::getenv(kVariable)) {
    GTEST_SKIP() << "OPENBLAS_CORETYPE=" << preset << " is set in the environment: the repair leaves a user's "
                 << "choice alone, so this test of the automatic repair does not apply";
  }
  setNumThreads(1);
  if (!repointBlasCoretype("Prescott")) GTEST_SKIP() << "not a DYNAMIC_ARCH OpenBLAS";
  ASSERT_EQ(lower(blasCorename()), "prescott");
  ASSERT_EQ(std::getenv(kVariable), nullptr);
  expectSgemmMatchesReference("on the forced Prescott table");

  const BlasInfo info = repairBlasCoretypeNow();
  const std::optional<std::string> wanted = wantedBlasCoretype(detectCpuFeatures(), "Prescott", false);
  EXPECT_EQ(lower(info.loadCore), "prescott");
  EXPECT_FALSE(info.userSet);
  EXPECT_EQ(info.repaired, wanted.has_value());
  EXPECT_EQ(lower(blasCorename()), lower(wanted.value_or("Prescott"))) << describeBlas(info);
  EXPECT_EQ(lower(info.core), lower(blasCorename()));
  EXPECT_EQ(std::getenv(kVariable), nullptr) << "the repair must not leave OPENBLAS_CORETYPE behind";
  if (wanted) {
    EXPECT_EQ(describeBlas(info), info.library + " " + info.core + " (auto; OpenBLAS chose " + info.loadCore + ")");
  }
  expectSgemmMatchesReference("after the repair");
}

TEST(BlasCoretype, LeavesUsersChoiceAlone) {
  if (blasCorename().empty()) GTEST_SKIP() << "the BLAS is not OpenBLAS";
  const char* preset = std::getenv(kVariable);
  const std::string userValue = preset != nullptr ? preset : "Prescott";  // Prescott runs on any x86-64
  if (preset == nullptr) setenv(kVariable, userValue.c_str(), 1);
  if (preset == nullptr && !repointBlasCoretype(userValue)) {
    unsetenv(kVariable);
    GTEST_SKIP() << "not a DYNAMIC_ARCH OpenBLAS";
  }
  const std::string before = blasCorename();
  const BlasInfo info = repairBlasCoretypeNow();
  EXPECT_TRUE(info.userSet);
  EXPECT_EQ(info.userCoretype, userValue);
  EXPECT_FALSE(info.repaired);
  EXPECT_EQ(blasCorename(), before);
  ASSERT_NE(std::getenv(kVariable), nullptr);
  EXPECT_EQ(std::string(std::getenv(kVariable)), userValue);
  EXPECT_EQ(describeBlas(info), info.library + " " + before + " (OPENBLAS_CORETYPE=" + userValue + ", user's)");
  if (preset == nullptr) {  // back to what the CPU calls for, without the variable
    unsetenv(kVariable);
    repairBlasCoretypeNow();
  }
}

TEST(BlasCoretype, Describe) {
  BlasInfo info;
  info.library = "OpenBLAS 0.3.21";
  info.loadCore = info.core = "Zen";
  info.dynamic = true;
  EXPECT_EQ(describeBlas(info), "OpenBLAS 0.3.21 Zen (library's choice)");
  info.loadCore = "Prescott";
  info.core = "SkylakeX";
  info.repaired = true;
  EXPECT_EQ(describeBlas(info), "OpenBLAS 0.3.21 SkylakeX (auto; OpenBLAS chose Prescott)");
  info.repaired = false;
  info.core = "Prescott";
  info.note = "it gave Prescott for SkylakeX";
  EXPECT_EQ(describeBlas(info), "OpenBLAS 0.3.21 Prescott (library's choice; it gave Prescott for SkylakeX)");
  EXPECT_EQ(describeBlas(BlasInfo{}), "BLAS without openblas_get_corename (its own kernel choice)");

  const std::string line = cpuAndGemmDescription();
  EXPECT_EQ(line.rfind("cpu: ", 0), 0u) << line;
  EXPECT_NE(line.find("; gemm: OpenBLAS "), std::string::npos) << line;
}

}  // namespace
}  // namespace singa
