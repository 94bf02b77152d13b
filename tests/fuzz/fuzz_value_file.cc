// libFuzzer target: the value-file reader (TensorProto, SequenceProto, OptionalProto files of
// `singa_onnx run` and `test`). The body is in fuzz_entries.h.
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::valueFileEntry(data, size);
  return 0;
}
