#include <unordered_map>
#include <unordered_set>

#include "singa/autograd/node.h"
#include "singa/ops/ops.h"

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
    if (t.defined() && (t.requiresGrad() || t.gradFn() != nullptr)) return true;
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
    out.impl().gradFn = node;
    out.impl().outputIndex = static_cast<int>(i);
  }
}

namespace {

bool leadsToGrad(const Tensor& t) { return t.defined() && (t.gradFn() || t.requiresGrad()); }

// Accumulates g into slot (summing when one already exists).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else {
    slot = ops::add(slot, g);
  }
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
    Tensor g = root.grad();
    accumulate(g, seed);
    root.impl().grad = g.implPtr();
    if (root.impl().gradReadyHook) root.impl().gradReadyHook(root.name(), root.impl());
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
  grads[root.gradFn().get()][root.impl().outputIndex] = seed;
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
        if (g.defined()) accumulate(slots[in.impl().outputIndex], g);
        if (--pending[p] == 0) ready.push_back(in.gradFn());
      } else {
        TensorImpl& leaf = in.impl();
        if (g.defined()) {
          Tensor acc = leaf.grad ? Tensor(leaf.grad) : Tensor();
          if (acc.defined()) {
            accumulate(acc, g);
          } else {
            // Never alias a gradient buffer another op may still hold: copy on first write, into
            // the leaf's gradient buffer when it has one (Tensor::setGradBuffer).
            std::shared_ptr<TensorImpl> buffer = leaf.gradBuffer ? leaf.gradBuffer(leaf) : nullptr;
            if (buffer != nullptr) {
              acc = Tensor(buffer);
              SINGA_CHECK(acc.shape() == g.shape() && acc.dtype() == g.dtype() && acc.isContiguous(), ValueError,
                          "gradient buffer of '" << leaf.name << "' is " << acc.shape() << " " << dtypeName(acc.dtype())
                                                 << ", the gradient " << g.shape() << " " << dtypeName(g.dtype()));
              acc.copyFrom(g);
            } else {
              acc = g.clone();
            }
          }
          leaf.grad = acc.implPtr();
        }
        if (--leafPending[&leaf] == 0 && leaf.gradReadyHook) leaf.gradReadyHook(leaf.name, leaf);
      }
    }
  }
}

}  // namespace singa::autograd
