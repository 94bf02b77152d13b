// libFuzzer target: JPEG/PNG decoding and the per-sample transforms. The body is in fuzz_entries.h.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::imageEntry(data, size);
  return 0;
}
