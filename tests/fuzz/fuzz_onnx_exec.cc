// libFuzzer target: ONNX models executed, not just parsed. The body (parse, prepare, run on
// small inputs, backward) is onnxExecEntry in fuzz_entries.h; the mutator is structural
// (model_mutator.h) so mutated models stay parseable and wired and reach the kernels. One input
// in four still gets libFuzzer's byte mutations, so the parser keeps being exercised too.
#include "fuzz/fuzz_entries.h"
#include "fuzz/model_mutator.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::onnxExecEntry(data, size);
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned int seed) {
  onnx::ModelProto model;
  if (seed % 4 == 0 || !model.ParseFromArray(data, static_cast<int>(size))) {
    return LLVMFuzzerMutate(data, size, maxSize);
  }
  singa::fuzz::ModelMutator(seed).mutate(model);
  const std::string out = model.SerializeAsString();
  if (out.size() > maxSize) return size;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
