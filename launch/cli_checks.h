// Number checks for command-line options with a readable message. CLI11's PositiveNumber and
// NonNegativeNumber print "Value 0 not in range 0.000000 to <DBL_MAX in 309 digits>".
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

#include "singa/core/parallel.h"

namespace singa::launch {

namespace detail {
inline CLI::Validator numberCheck(bool allowZero) {
  return CLI::Validator(
      [allowZero](std::string& in) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(in, v)) return "'" + in + "' is not a number";
        // Counts land in int64: CLI11 would saturate 99999999999999999999 to 2^63 - 1 silently.
        if (std::isfinite(v) && v >= 9.2e18) return "is too large (at most 9.2e18), got " + in;
        if (std::isfinite(v) && (allowZero ? v >= 0 : v > 0)) return std::string();
        return std::string(allowZero ? "must be a finite number >= 0" : "must be a finite number > 0") + ", got " + in;
      },
      allowZero ? "NONNEGATIVE" : "POSITIVE", allowZero ? "NONNEGATIVE" : "POSITIVE");
}
}  // namespace detail

/// A thread count: an integer from 0 (the default) to kMaxThreads.
inline const CLI::Validator kThreadCount = CLI::Validator(
    [](std::string& in) -> std::string {
      long long v = 0;
      if (!CLI::detail::lexical_cast(in, v)) return "'" + in + "' is not a whole number";
      if (v >= 0 && v <= kMaxThreads) return std::string();
      return "must be from 0 (default) to " + std::to_string(kMaxThreads) + ", got " + in;
    },
    "0.." + std::to_string(kMaxThreads), "THREADS");

/// Accepts finite numbers > 0.
inline const CLI::Validator kPositive = detail::numberCheck(false);
/// Accepts finite numbers >= 0.
inline const CLI::Validator kNonNegative = detail::numberCheck(true);

}  // namespace singa::launch
