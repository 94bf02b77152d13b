#include "singa/autograd/trace.h"

namespace singa::autograd {
namespace {
thread_local Tracer* tActive = nullptr;
}

Tracer::Tracer() : previous_(tActive) { tActive = this; }
Tracer::~Tracer() { tActive = previous_; }

Tracer* activeTracer() { return tActive; }

void trace(const std::string& opType, const Attrs& attrs, const std::vector<Tensor>& inputs,
           const std::vector<Tensor>& outputs) {
  if (tActive == nullptr) return;
  tActive->add(OpRecord{opType, attrs, inputs, outputs});
}

}  // namespace singa::autograd
