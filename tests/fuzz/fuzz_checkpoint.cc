// libFuzzer target: checkpoints, loaded and executed (parse, verify, restore into a model and two
// optimizers, one training step). The body is checkpointEntry in fuzz_entries.h. The mutator
// decodes a valid checkpoint, changes it structurally and re-encodes it with correct checksums
// (checkpoint_mutator.h), so inputs get past the CRC checks; one input in four still gets
// libFuzzer's byte mutations for the parsers.
#include "fuzz/checkpoint_mutator.h"
#include "fuzz/fuzz_entries.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  singa::fuzz::checkpointEntry(data, size);
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned int seed) {
  using namespace singa;
  checkpoint::Checkpoint c;
  std::string out;
  try {
    if (seed % 4 == 0) return LLVMFuzzerMutate(data, size, maxSize);
    c = checkpoint::parseCheckpoint(
        fuzz::splitCheckpointInput(std::string(reinterpret_cast<const char*>(data), size)), "fuzz");
    fuzz::CheckpointMutator(seed).mutate(c);
    auto files = checkpoint::encodeCheckpoint(c.model, c.optimizer, c.state);
    out = files[checkpoint::kMetaFile] + "\n--\n" + files[checkpoint::kModelFile] + "\n--\n" +
          files[checkpoint::kOptimizerFile];
  } catch (const Error&) {
    return LLVMFuzzerMutate(data, size, maxSize);
  }
  if (out.size() > maxSize) return size;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
