#include <unordered_map>
#include <unordered_set>

#include "singa/autograd/node.h"
#include "singa/ops/ops.h"
#include "singa/ops/registry.h"

namespace singa::autograd {
namespace {
thread_local bool tGradEnabled = true;
}  // namespace

Node::Node(std::string op, std::vector<Tensor> inputs, BackwardFn backward, size_t numOutputs)
    : op_(std::move(op)), inputs_(std::move(inputs)), backward_(std::move(backward)),
      outputShapes_(numOutputs), outputDTypes_(numOutputs, DType::kFloat32) {}

bool gradEnabled() { return tGradEnabled; }

NoGradGuard::NoGradGuard() : previous_(tGradEnabled) { tGradEnabled = false; }
NoGradGuard::~NoGradGuard() { tGradEnabled = previous_; }

bool needsGrad(const std::vector<Tensor>& inputs) {
  if (!tGradEnabled) return false;
  for (const Tensor& t : inputs) {
    const AutogradMeta* m = t.defined() ? t.impl().autograd.get() : nullptr;
    if (m != nullptr && (m->requiresGrad || m->gradFn != nullptr)) return true;
  }
  return false;
}

void record(const std::string& op, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
            BackwardFn backward) {
  if (!needsGrad(inputs)) return;
  // Keep only inputs that lead to a gradient; others are still captured by the rule if needed.
  auto node = std::make_shared<Node>(op, inputs, std::move(backward), outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    node->outputShapes()[i] = out.shape();
    node->outputDTypes()[i] = out.dtype();
    if (!isFloating(out.dtype())) continue;  // comparisons, argmax: no gradient flows
    AutogradMeta& meta = out.impl().autogradMeta();
    meta.gradFn = node;
    meta.outputIndex = static_cast<int>(i);
  }
}

namespace {

bool leadsToGrad(const Tensor& t) {
  const AutogradMeta* m = t.defined() ? t.impl().autograd.get() : nullptr;
  return m != nullptr && (m->gradFn != nullptr || m->requiresGrad);
}

int outputIndexOf(const Tensor& t) { return t.impl().autograd->outputIndex; }

// Accumulates g into slot (summing when one already exists).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else {
    slot = ops::add(slot, g);
  }
}

// Adds g to the gradient of `leaf` (see the rule in tensor.h): a fresh copy when it has none (never
// alias a tensor a backward rule may still hold), else in place.
void accumulateIntoLeaf(const Tensor& leaf, const Tensor& g) {
  AutogradMeta& meta = leaf.impl().autogradMeta();
  if (!meta.grad) {
    meta.grad = g.clone().implPtr();
    return;
  }
  Tensor acc(meta.grad);
  SINGA_CHECK(acc.shape() == g.shape() && acc.dtype() == g.dtype() && acc.device() == g.device(), ValueError,
              "backward: the gradient set on '" << leaf.name() << "' is " << dtypeName(acc.dtype()) << " "
                                                << acc.shape() << " on " << acc.device().str() << " but its gradient is "
                                                << dtypeName(g.dtype()) << " " << g.shape() << " on " << g.device().str()
                                                << "; setGrad() a tensor like the leaf, or zeroGrad() first");
  if (acc.isContiguous()) {
    std::vector<Tensor> outs{acc};
    runKernel(OpId::kAdd, acc.dtype(), acc.device(), {acc, g}, outs);
  } else {
    meta.grad = ops::add(acc, g).implPtr();
  }
}

// Runs the leaf's post-accumulate-grad hooks (a copy of the list: a hook may remove itself).
void runPostAccumulateGradHooks(const Tensor& leaf) {
  const AutogradMeta* meta = leaf.impl().autograd.get();
  if (meta == nullptr || meta->postAccumulateGradHooks.empty()) return;
  const auto hooks = meta->postAccumulateGradHooks;
  Tensor handle = leaf;
  for (const auto& [id, hook] : hooks) hook(handle);
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad) {
  Tensor seed = grad;
  if (!seed.defined()) {
    SINGA_CHECK(root.numel() == 1, ShapeError,
                "backward: the root has shape " << root.shape()
                                                << "; pass an explicit gradient for a non-scalar root");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  SINGA_CHECK(seed.shape() == root.shape(), ShapeError,
              "backward: gradient shape " << seed.shape() << " differs from root shape " << root.shape());
  NoGradGuard noGrad;

  if (!root.gradFn()) {
    SINGA_CHECK(root.requiresGrad(), ValueError,
                "backward: the root does not require a gradient (no input of the computation "
                "required one)");
    accumulateIntoLeaf(root, seed);
    runPostAccumulateGradHooks(root);
    return;
  }

  // Pass 1: count, for every node, how many consumers will send it gradients, and for every
  // leaf how many contributions it will receive.
  std::unordered_map<Node*, int> pending;
  std::unordered_map<TensorImpl*, int> leafPending;
  std::vector<Node*> stack{root.gradFn().get()};
  std::unordered_set<Node*> seen{root.gradFn().get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Tensor& in : n->inputs()) {
      if (!leadsToGrad(in)) continue;
      if (in.gradFn()) {
        Node* p = in.gradFn().get();
        pending[p]++;
        if (seen.insert(p).second) stack.push_back(p);
      } else {
        leafPending[&in.impl()]++;
      }
    }
  }

  // Pass 2: process nodes whose consumers have all delivered (Kahn's order), so each node's
  // rule runs once with its summed output gradients.
  std::unordered_map<Node*, std::vector<Tensor>> grads;
  std::vector<std::shared_ptr<Node>> ready{root.gradFn()};
  grads[root.gradFn().get()].resize(root.gradFn()->numOutputs());
  grads[root.gradFn().get()][outputIndexOf(root)] = seed;
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    std::vector<Tensor> gout = std::move(grads[node.get()]);
    grads.erase(node.get());
    gout.resize(node->numOutputs());
    for (size_t i = 0; i < gout.size(); ++i) {
      if (!gout[i].defined()) {
        gout[i] = Tensor::zeros(node->outputShapes()[i], node->outputDTypes()[i], root.device());
      }
    }
    std::vector<Tensor> gin = node->apply(gout);
    SINGA_ASSERT(gin.size() <= node->inputs().size());
    for (size_t i = 0; i < node->inputs().size(); ++i) {
      const Tensor& in = node->inputs()[i];
      if (!leadsToGrad(in)) continue;
      Tensor g = i < gin.size() ? gin[i] : Tensor();
      if (g.defined()) {
        SINGA_CHECK(g.shape() == in.shape(), ShapeError,
                    "backward of " << node->op() << ": gradient for input " << i << " has shape "
                                   << g.shape() << ", expected " << in.shape() << " (internal error)");
      }
      if (in.gradFn()) {
        Node* p = in.gradFn().get();
        auto& slots = grads[p];
        slots.resize(p->numOutputs());
        if (g.defined()) accumulate(slots[outputIndexOf(in)], g);
        if (--pending[p] == 0) ready.push_back(in.gradFn());
      } else {
        if (g.defined()) accumulateIntoLeaf(in, g);
        if (--leafPending[&in.impl()] == 0) runPostAccumulateGradHooks(in);
      }
    }
  }
}

}  // namespace singa::autograd
