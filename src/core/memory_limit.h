// The allocation ceiling. Shapes come from files a user hands us; a crafted model can ask for a
// tensor of 16 TiB whose byte count is perfectly representable. Without a ceiling that ends as an
// OOM kill (or, under a lower ulimit, as a bare std::bad_alloc); with it, the allocation that would
// pass the limit throws a MemoryError saying how much it needed and what the limit is.
//
// The limit counts the bytes of CPU tensor storage held at once (the CPU allocator's own count).
// Default: the machine's physical memory, lowered to the address-space limit (ulimit -v) when one
// is set; SINGA_MEMORY_LIMIT (bytes, or with a K/M/G/T suffix: "8G") or setMemoryLimit() set it.
#pragma once

#include <cstddef>
#include <string>

namespace singa {

/// The current ceiling in bytes.
size_t memoryLimit();
/// Sets the ceiling; 0 restores the default (physical memory / SINGA_MEMORY_LIMIT).
void setMemoryLimit(size_t bytes);
/// Throws MemoryError when `bytes` more on top of `inUse` would pass the ceiling.
void checkAllocation(size_t bytes, size_t inUse);
/// "16 TiB", "1.5 GiB", "312 bytes".
std::string formatBytes(double bytes);

}  // namespace singa
