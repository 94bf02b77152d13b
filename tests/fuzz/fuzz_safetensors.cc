// libFuzzer target: safetensors files as a data source (loadSafetensors, loadSafetensorsSplit),
// checked against the whole-blob decoder. The body is in fuzz_entries.h.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::safetensorsEntry(data, size);
  return 0;
}
