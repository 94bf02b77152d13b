#include "singa/core/memory_limit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "singa/core/error.h"

namespace singa {
namespace {

std::atomic<size_t> gLimit{0};
std::string gLimitSource;

size_t physicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0) return SIZE_MAX;
  return static_cast<size_t>(pages) * static_cast<size_t>(pageSize);
}

// "8G", "512M", "1073741824"; 0 when the text is not such a number.
size_t parseBytes(const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || !(v > 0) || v > 1e20) return 0;
  double scale = 1;
  switch (*end) {
    case 'k': case 'K': scale = 1024.0; ++end; break;
    case 'm': case 'M': scale = 1024.0 * 1024; ++end; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; ++end; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; ++end; break;
    default: break;
  }
  if (*end == 'i' || *end == 'B') ++end;
  if (*end == 'B') ++end;
  if (*end != '\0' || v * scale >= 1.8e19) return 0;
  return static_cast<size_t>(v * scale);
}

size_t defaultLimit(std::string* source) {
  if (const char* env = std::getenv("SINGA_MEMORY_LIMIT")) {
    const size_t v = parseBytes(env);
    if (v > 0) {
      *source = "SINGA_MEMORY_LIMIT=" + std::string(env);
      return v;
    }
    std::fprintf(stderr, "singa: ignoring SINGA_MEMORY_LIMIT='%s' (expected bytes, e.g. 8G or 512M)\n", env);
  }
  size_t limit = physicalMemory();
  *source = "this machine has " + formatBytes(static_cast<double>(limit));
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur < limit) {
    limit = static_cast<size_t>(as.rlim_cur);
    *source = "the address-space limit (ulimit -v) is " + formatBytes(static_cast<double>(limit));
  }
  return limit;
}

std::once_flag gDefaultOnce;

void ensureLimit() {
  std::call_once(gDefaultOnce, [] {
    if (gLimit.load() == 0) gLimit = defaultLimit(&gLimitSource);
  });
}

}  // namespace

std::string formatBytes(double bytes) {
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[48];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f bytes", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), bytes < 10 ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  }
  return buf;
}

size_t memoryLimit() {
  ensureLimit();
  return gLimit.load();
}

void setMemoryLimit(size_t bytes) {
  ensureLimit();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (bytes == 0) {
    gLimit = defaultLimit(&gLimitSource);
  } else {
    gLimitSource = "the memory limit is set to " + formatBytes(static_cast<double>(bytes));
    gLimit = bytes;
  }
}

void checkAllocation(size_t bytes, size_t inUse) {
  const size_t limit = memoryLimit();
  if (bytes <= limit && inUse <= limit - bytes) return;
  SINGA_THROW(MemoryError, "would need " << formatBytes(static_cast<double>(bytes)) << "; " << gLimitSource
                                         << (inUse > 0 ? " and " + formatBytes(static_cast<double>(inUse)) +
                                                             " are in use"
                                                       : std::string())
                                         << " (SINGA_MEMORY_LIMIT sets the limit)");
}

}  // namespace singa
