// libFuzzer target: the NumPy .npy reader. The body is in fuzz_entries.h.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::npyEntry(data, size);
  return 0;
}
