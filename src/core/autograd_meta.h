// AutogradMeta: everything autograd keeps about one tensor, behind a single pointer in TensorImpl
// (as c10's AutogradMeta). It is allocated only when the tensor takes part in autograd
// (setRequiresGrad(true), an op recording a node on it, setGrad, a hook), so inference and data
// tensors carry a null pointer and nothing else. The core layer declares it; the autograd layer
// (src/autograd) fills it in: autograd::Node is only forward-declared here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace singa {

namespace autograd {
class Node;
}
class Tensor;
struct TensorImpl;

/// Called with the leaf after backward has accumulated its gradient (see
/// Tensor::registerPostAccumulateGradHook).
using PostAccumulateGradHook = std::function<void(Tensor& leaf)>;

struct AutogradMeta {
  bool requiresGrad = false;
  /// The accumulated gradient of a leaf. When defined as backward reaches the leaf, new
  /// gradients are added into it in place (see Tensor::grad).
  std::shared_ptr<TensorImpl> grad;
  /// The node that produced this tensor (null for a leaf) and which of its outputs it is.
  std::shared_ptr<autograd::Node> gradFn;
  int outputIndex = 0;
  /// Post-accumulate-grad hooks of a leaf, in registration order, with their ids.
  std::vector<std::pair<uint64_t, PostAccumulateGradHook>> postAccumulateGradHooks;
  uint64_t nextHookId = 1;
};

}  // namespace singa
