// libFuzzer target: the checkpoint loader (meta.json + safetensors files). The body is in fuzz_entries.h.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::checkpointEntry(data, size);
  return 0;
}
