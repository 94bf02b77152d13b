// Tracing for ONNX export. While a Tracer is active on a thread, every op appends one record:
// its ONNX-style op type, attributes, input and output tensors. The exporter turns the records
// between the given inputs and outputs into a GraphProto; tensors it does not reach from the
// inputs (parameters, constants) become initializers.
#pragma once

#include <string>
#include <vector>

#include "singa/core/attrs.h"
#include "singa/core/tensor.h"

namespace singa::autograd {

struct OpRecord {
  std::string opType;  // ONNX op type, e.g. "Conv"
  Attrs attrs;         // ONNX attributes
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
};

class Tracer {
 public:
  Tracer();
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  const std::vector<OpRecord>& records() const { return records_; }
  void add(OpRecord r) { records_.push_back(std::move(r)); }

 private:
  std::vector<OpRecord> records_;
  Tracer* previous_;
};

/// The active tracer of this thread, or nullptr.
Tracer* activeTracer();

/// Records an op when a tracer is active (cheap no-op otherwise).
void trace(const std::string& opType, const Attrs& attrs, const std::vector<Tensor>& inputs,
           const std::vector<Tensor>& outputs);

}  // namespace singa::autograd
