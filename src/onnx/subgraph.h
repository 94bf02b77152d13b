// Subgraphs of control-flow nodes (internal header). The importer turns every graph attribute of
// a node (If's then_branch / else_branch, the body of Loop, Scan and SequenceMap) into an
// ImportedModel of its own, built like the main graph. A subgraph may read values of the graphs
// around it (outer scope): the importer lists those names as extra, undeclared inputs of the
// subgraph and appends them to the node's own inputs, so the enclosing graph orders the node
// after their producers and keeps them alive until it runs. The converters (converters_control.cc)
// run a subgraph eagerly, node by node under the autograd tape, once per branch taken or
// iteration: gradients flow through exactly the ops that ran.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "singa/onnx/converter.h"
#include "singa/onnx/import.h"

namespace singa::onnxio {

/// Subgraphs nest at most this deep (an If inside a Loop body is depth 2); deeper is a ValueError.
constexpr int kMaxSubgraphDepth = 16;
/// The default bound on one Loop node's iterations (PrepareOptions::maxLoopIterations).
constexpr int64_t kDefaultMaxLoopIterations = 1000000;

struct NodeGraphs {
  struct Graph {
    std::string attr;                      // "then_branch", "body", ...
    std::shared_ptr<ImportedModel> model;  // declared inputs first, then the outer-scope ones
    size_t declaredInputs = 0;
    std::vector<size_t> outerSlots;        // per outer-scope input: its index in the node's inputs
  };
  std::vector<Graph> graphs;
  size_t explicitInputs = 0;  // the node's own inputs; the outer-scope values follow them
  int64_t maxLoopIterations = kDefaultMaxLoopIterations;

  /// The graph attribute `attr` (ValueError naming the node when the node has none).
  const Graph& get(const ConvertContext& ctx, const std::string& attr) const;
  /// Runs graph `attr` on its declared inputs `declared`, taking the outer-scope values from
  /// `nodeInputs` (all of the node's inputs); returns its outputs.
  std::vector<Value> run(const ConvertContext& ctx, const std::string& attr, std::vector<Value> declared,
                         const std::vector<Value>& nodeInputs) const;
};

/// Checks, at import, that a control-flow node's subgraphs declare as many inputs and outputs as
/// the node's inputs, outputs and attributes call for (ValueError naming the node and the fix).
/// Other op types are accepted as they are.
void validateControlNode(const std::string& nodeName, const std::string& opType, int opset, const Attrs& attrs,
                         size_t numOutputs, const NodeGraphs& graphs);

}  // namespace singa::onnxio
