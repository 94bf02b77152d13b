// The native tape. Every op whose inputs need gradients records a Node: its inputs (kept alive,
// they are the saved tensors too) and a backward rule mapping output gradients to input
// gradients. backward() walks the nodes once in reverse topological order, accumulates
// gradients into leaves (in place into a gradient a leaf already has: see tensor.h), and runs
// each leaf's post-accumulate-grad hooks as soon as its last contribution has arrived, so a
// distributed optimizer can all-reduce while the rest of backward runs. The node pointer and
// the hooks live in the tensor's AutogradMeta (src/core/autograd_meta.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "singa/core/tensor.h"

namespace singa::autograd {

/// Maps the gradients of a node's outputs to the gradients of its inputs. An output gradient
/// that nothing contributed to is passed as zeros; an input gradient may be left undefined when
/// that input needs none.
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& gradOutputs)>;

class Node {
 public:
  Node(std::string op, std::vector<Tensor> inputs, BackwardFn backward, size_t numOutputs);

  const std::string& op() const { return op_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  size_t numOutputs() const { return outputShapes_.size(); }
  const std::vector<Shape>& outputShapes() const { return outputShapes_; }
  std::vector<Shape>& outputShapes() { return outputShapes_; }
  std::vector<DType>& outputDTypes() { return outputDTypes_; }
  const std::vector<DType>& outputDTypes() const { return outputDTypes_; }
  std::vector<Tensor> apply(const std::vector<Tensor>& gradOutputs) const { return backward_(gradOutputs); }

 private:
  std::string op_;
  std::vector<Tensor> inputs_;
  BackwardFn backward_;
  std::vector<Shape> outputShapes_;
  std::vector<DType> outputDTypes_;
};

/// True unless a NoGradGuard is active on this thread.
bool gradEnabled();

/// Disables recording for its lifetime (inference, optimizer updates, backward rules).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// True when an op with these inputs should record a node.
bool needsGrad(const std::vector<Tensor>& inputs);

/// Attaches a node to `outputs` when any input requires a gradient (and grad mode is on).
/// Ops call this after computing their outputs.
void record(const std::string& op, const std::vector<Tensor>& inputs,
            std::vector<Tensor>& outputs, BackwardFn backward);

/// Back-propagates `grad` (ones for a one-element root when undefined) from `root`.
void backward(const Tensor& root, const Tensor& grad = Tensor());

}  // namespace singa::autograd
