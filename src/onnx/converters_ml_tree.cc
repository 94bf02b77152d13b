// Tree ensembles of the ai.onnx.ml domain: TreeEnsemble (opset 5, with set membership) and
// TreeEnsembleRegressor (opset 1 / 3). Both encodings become one internal form (nodes whose
// branches point at a node or a leaf; leaves that add weights to targets), evaluated on the host
// row by row: every tree is walked from its root, its leaf's weights are aggregated per target
// (SUM, AVERAGE over the trees, MIN or MAX), base values are added and the post transform
// applied. Walks are bounded by the node count, so a cyclic (hostile) tree is an error, not a hang.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "singa/core/shape.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/converters_ml.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// Node visits one ensemble may take over a whole input (a hostile model of many deep trees fails
// with an error instead of running for hours).
constexpr int64_t kMaxTreeSteps = int64_t{1} << 32;

enum class Mode { kLeq, kLt, kGte, kGt, kEq, kNeq, kMember };

struct TreeNode {
  Mode mode = Mode::kLeq;
  int64_t feature = 0;
  double split = 0.0;
  std::vector<double> members;  // sorted, for kMember
  int64_t next[2] = {0, 0};     // [false, true]: >= 0 a node index, < 0 leaf -(index + 1)
  bool missingTrue = false;
};

struct Ensemble {
  std::vector<TreeNode> nodes;
  std::vector<std::vector<std::pair<int64_t, double>>> leaves;  // (target, weight) per leaf
  std::vector<int64_t> roots;  // node index, or a leaf -(index + 1) for a one-leaf tree
  int64_t targets = 1;
  std::string aggregate = "SUM";
  std::string post = "NONE";
  std::vector<double> base;
};

bool takesTrue(const TreeNode& n, double v) {
  if (std::isnan(v) && n.missingTrue) return true;
  switch (n.mode) {
    case Mode::kLeq: return v <= n.split;
    case Mode::kLt: return v < n.split;
    case Mode::kGte: return v >= n.split;
    case Mode::kGt: return v > n.split;
    case Mode::kEq: return v == n.split;
    case Mode::kNeq: return v != n.split;
    case Mode::kMember: return std::binary_search(n.members.begin(), n.members.end(), v);
  }
  return false;
}

void checkEnsemble(const ConvertContext& ctx, const Ensemble& e, int64_t features) {
  const auto nodeCount = static_cast<int64_t>(e.nodes.size());
  const auto leafCount = static_cast<int64_t>(e.leaves.size());
  auto validRef = [&](int64_t ref) { return ref >= 0 ? ref < nodeCount : -ref - 1 < leafCount; };
  ctx.check(!e.roots.empty(), "the ensemble has no trees");
  for (int64_t r : e.roots) ctx.check(validRef(r), "a tree root points outside the nodes / leaves");
  for (const TreeNode& n : e.nodes) {
    ctx.check(validRef(n.next[0]) && validRef(n.next[1]), "a branch points outside the nodes / leaves");
    ctx.check(n.feature >= 0 && n.feature < features, "feature id " + std::to_string(n.feature) +
                                                          " is out of range for inputs of " + std::to_string(features) +
                                                          " features");
  }
  for (const auto& leaf : e.leaves) {
    for (const auto& tw : leaf) {
      ctx.check(tw.first >= 0 && tw.first < e.targets, "target id " + std::to_string(tw.first) +
                                                           " is out of range [0, " + std::to_string(e.targets) + ")");
    }
  }
  ctx.check(e.base.empty() || static_cast<int64_t>(e.base.size()) == e.targets,
            "base_values needs one value per target (" + std::to_string(e.targets) + ")");
  ctx.check(e.aggregate == "SUM" || e.aggregate == "AVERAGE" || e.aggregate == "MIN" || e.aggregate == "MAX",
            "aggregate_function must be SUM, AVERAGE, MIN or MAX, got '" + e.aggregate + "'");
}

std::vector<double> evaluate(const ConvertContext& ctx, const Ensemble& e, const MlRows& x) {
  checkEnsemble(ctx, e, x.cols);
  checkHostBuffer(ctx, checkedMul(x.rows, e.targets, "tree ensemble output"), sizeof(double), "the tree ensemble output");
  const auto t = static_cast<size_t>(e.targets);
  std::vector<double> out(static_cast<size_t>(x.rows) * t);
  std::vector<double> acc(t);
  std::vector<int64_t> hits(t);
  int64_t work = 0;
  for (int64_t r = 0; r < x.rows; ++r) {
    const double* row = x.values.data() + r * x.cols;
    std::fill(acc.begin(), acc.end(), 0.0);
    std::fill(hits.begin(), hits.end(), 0);
    for (int64_t ref : e.roots) {
      for (size_t steps = 0; ref >= 0; ++steps) {
        ctx.check(steps < e.nodes.size(), "a tree has a cycle (a branch leads back to an earlier node)");
        ctx.check(++work <= kMaxTreeSteps, "evaluating the trees takes more than " + std::to_string(kMaxTreeSteps) +
                                               " node visits; the ensemble is too deep or too large for this input");
        const TreeNode& n = e.nodes[static_cast<size_t>(ref)];
        ref = n.next[takesTrue(n, row[n.feature]) ? 1 : 0];
      }
      for (const auto& [target, w] : e.leaves[static_cast<size_t>(-ref - 1)]) {
        double& a = acc[static_cast<size_t>(target)];
        const bool first = hits[static_cast<size_t>(target)]++ == 0;
        a = e.aggregate == "MIN" ? (first ? w : std::min(a, w)) : e.aggregate == "MAX" ? (first ? w : std::max(a, w)) : a + w;
      }
    }
    double* dst = out.data() + static_cast<size_t>(r) * t;
    for (size_t k = 0; k < t; ++k) {
      dst[k] = e.aggregate == "AVERAGE" ? acc[k] / static_cast<double>(e.roots.size()) : acc[k];
      if (!e.base.empty()) dst[k] += e.base[k];
    }
    postTransform(ctx, e.post, dst, e.targets);
  }
  return out;
}

// Values of an attribute given as a float list or (`<name>_as_tensor`) a tensor.
std::vector<double> floatsOrTensor(const ConvertContext& ctx, const std::string& name) {
  if (ctx.attrs.has(name + "_as_tensor")) return doublesOf(ctx.attrs.getTensor(name + "_as_tensor"));
  return ctx.attrs.has(name) ? ctx.attrs.getFloats(name) : std::vector<double>{};
}

std::vector<int64_t> intsAttr(const ConvertContext& ctx, const std::string& name) { return ctx.attrs.getInts(name, {}); }

void checkSameLength(const ConvertContext& ctx, size_t n, size_t got, const std::string& what) {
  ctx.check(got == n, what + " has " + std::to_string(got) + " entries; the other nodes_* attributes have " + std::to_string(n));
}

// TreeEnsemble (opset 5).
Tensors convertTreeEnsemble(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  ctx.check(isFloating(x.dtype()), "input X must be a float tensor");
  auto tensorDoubles = [&](const char* name) {
    return ctx.attrs.has(name) ? doublesOf(ctx.attrs.getTensor(name)) : std::vector<double>{};
  };
  const std::vector<int64_t> features = intsAttr(ctx, "nodes_featureids");
  const size_t n = features.size();
  const std::vector<double> modes = tensorDoubles("nodes_modes");
  const std::vector<double> splits = tensorDoubles("nodes_splits");
  const std::vector<int64_t> trueIds = intsAttr(ctx, "nodes_truenodeids"), falseIds = intsAttr(ctx, "nodes_falsenodeids");
  const std::vector<int64_t> trueLeaf = intsAttr(ctx, "nodes_trueleafs"), falseLeaf = intsAttr(ctx, "nodes_falseleafs");
  std::vector<int64_t> missing = intsAttr(ctx, "nodes_missing_value_tracks_true");
  if (missing.empty()) missing.assign(n, 0);
  checkSameLength(ctx, n, modes.size(), "nodes_modes");
  checkSameLength(ctx, n, splits.size(), "nodes_splits");
  checkSameLength(ctx, n, trueIds.size(), "nodes_truenodeids");
  checkSameLength(ctx, n, falseIds.size(), "nodes_falsenodeids");
  checkSameLength(ctx, n, trueLeaf.size(), "nodes_trueleafs");
  checkSameLength(ctx, n, falseLeaf.size(), "nodes_falseleafs");
  checkSameLength(ctx, n, missing.size(), "nodes_missing_value_tracks_true");
  const std::vector<double> members = tensorDoubles("membership_values");
  size_t memberPos = 0;
  Ensemble e;
  e.targets = ctx.attrs.getInt("n_targets", 0);
  ctx.check(e.targets >= 1, "n_targets must be >= 1");
  const int64_t agg = ctx.attrs.getInt("aggregate_function", 1);
  ctx.check(agg >= 0 && agg <= 3, "aggregate_function must be 0 (AVERAGE), 1 (SUM), 2 (MIN) or 3 (MAX)");
  e.aggregate = std::vector<std::string>{"AVERAGE", "SUM", "MIN", "MAX"}[static_cast<size_t>(agg)];
  const int64_t post = ctx.attrs.getInt("post_transform", 0);
  ctx.check(post >= 0 && post <= 4, "post_transform must be 0 (NONE) .. 4 (PROBIT)");
  e.post = std::vector<std::string>{"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"}[static_cast<size_t>(post)];
  for (size_t i = 0; i < n; ++i) {
    TreeNode node;
    ctx.check(modes[i] >= 0 && modes[i] <= 6, "nodes_modes entries must be 0..6");
    node.mode = static_cast<Mode>(static_cast<int>(modes[i]));
    node.feature = features[i];
    node.split = splits[i];
    node.missingTrue = missing[i] != 0;
    node.next[1] = trueLeaf[i] != 0 ? -trueIds[i] - 1 : trueIds[i];
    node.next[0] = falseLeaf[i] != 0 ? -falseIds[i] - 1 : falseIds[i];
    ctx.check(trueIds[i] >= 0 && falseIds[i] >= 0, "node and leaf ids must be non-negative");
    if (node.mode == Mode::kMember) {
      ctx.check(memberPos < members.size(), "membership_values has fewer sets than BRANCH_MEMBER nodes");
      while (memberPos < members.size() && !std::isnan(members[memberPos])) node.members.push_back(members[memberPos++]);
      ++memberPos;  // the NaN delimiter
      std::sort(node.members.begin(), node.members.end());
    }
    e.nodes.push_back(std::move(node));
  }
  const std::vector<int64_t> leafTargets = intsAttr(ctx, "leaf_targetids");
  const std::vector<double> leafWeights = tensorDoubles("leaf_weights");
  ctx.check(leafTargets.size() == leafWeights.size(), "leaf_targetids and leaf_weights must have the same length");
  for (size_t i = 0; i < leafTargets.size(); ++i) e.leaves.push_back({{leafTargets[i], leafWeights[i]}});
  for (int64_t r : intsAttr(ctx, "tree_roots")) {
    ctx.check(r >= 0, "tree_roots entries must be node indices (>= 0)");
    e.roots.push_back(r);
  }
  const std::vector<double> out = evaluate(ctx, e, mlRows(ctx, x));
  return one(fromDoubles(out, {x.ndim() == 2 ? x.shape()[0] : 1, e.targets}, x.dtype(), x.device()));
}

// The trees of TreeEnsembleRegressor / TreeEnsembleClassifier (opset 1 / 3): nodes named by
// (tree id, node id), leaves are LEAF nodes and <prefix>_* (target_* or class_*) lists the
// weights each leaf adds to which target or class.
Ensemble legacyTrees(const ConvertContext& ctx, const std::string& prefix) {
  const std::vector<int64_t> treeIds = intsAttr(ctx, "nodes_treeids"), nodeIds = intsAttr(ctx, "nodes_nodeids");
  const size_t n = treeIds.size();
  const std::vector<int64_t> features = intsAttr(ctx, "nodes_featureids");
  const std::vector<std::string> modes = stringsAttr(ctx.attrs, "nodes_modes");
  const std::vector<double> values = floatsOrTensor(ctx, "nodes_values");
  const std::vector<int64_t> trueIds = intsAttr(ctx, "nodes_truenodeids"), falseIds = intsAttr(ctx, "nodes_falsenodeids");
  std::vector<int64_t> missing = intsAttr(ctx, "nodes_missing_value_tracks_true");
  if (missing.empty()) missing.assign(n, 0);
  checkSameLength(ctx, n, nodeIds.size(), "nodes_nodeids");
  checkSameLength(ctx, n, features.size(), "nodes_featureids");
  checkSameLength(ctx, n, modes.size(), "nodes_modes");
  checkSameLength(ctx, n, values.size(), "nodes_values");
  checkSameLength(ctx, n, trueIds.size(), "nodes_truenodeids");
  checkSameLength(ctx, n, falseIds.size(), "nodes_falsenodeids");
  checkSameLength(ctx, n, missing.size(), "nodes_missing_value_tracks_true");

  // (tree, node id) -> the node's internal reference (node index, or leaf -(index + 1)).
  std::map<std::pair<int64_t, int64_t>, int64_t> refOf;
  std::vector<size_t> branchOf;  // node position of each internal branch node
  Ensemble e;
  const std::map<std::string, Mode> modeNames = {{"BRANCH_LEQ", Mode::kLeq}, {"BRANCH_LT", Mode::kLt},
                                                  {"BRANCH_GTE", Mode::kGte}, {"BRANCH_GT", Mode::kGt},
                                                  {"BRANCH_EQ", Mode::kEq},   {"BRANCH_NEQ", Mode::kNeq}};
  for (size_t i = 0; i < n; ++i) {
    const auto key = std::make_pair(treeIds[i], nodeIds[i]);
    ctx.check(refOf.count(key) == 0, "node (tree " + std::to_string(treeIds[i]) + ", id " + std::to_string(nodeIds[i]) +
                                         ") is defined twice");
    if (modes[i] == "LEAF") {
      refOf[key] = -static_cast<int64_t>(e.leaves.size()) - 1;
      e.leaves.emplace_back();
    } else {
      auto m = modeNames.find(modes[i]);
      ctx.check(m != modeNames.end(), "nodes_modes entry '" + modes[i] + "' is not a BRANCH_* mode or LEAF");
      TreeNode node;
      node.mode = m->second;
      node.feature = features[i];
      node.split = values[i];
      node.missingTrue = missing[i] != 0;
      refOf[key] = static_cast<int64_t>(e.nodes.size());
      e.nodes.push_back(node);
      branchOf.push_back(i);
    }
  }
  std::set<std::pair<int64_t, int64_t>> children;
  for (size_t b = 0; b < branchOf.size(); ++b) {
    const size_t i = branchOf[b];
    for (int side = 0; side < 2; ++side) {
      const auto key = std::make_pair(treeIds[i], side == 1 ? trueIds[i] : falseIds[i]);
      auto it = refOf.find(key);
      ctx.check(it != refOf.end(), "a branch of tree " + std::to_string(treeIds[i]) + " points at node id " +
                                       std::to_string(key.second) + ", which the tree does not have");
      e.nodes[b].next[side] = it->second;
      children.insert(key);
    }
  }
  std::set<int64_t> treesWithRoot;
  for (const auto& [key, ref] : refOf) {
    if (children.count(key) == 0 && treesWithRoot.insert(key.first).second) e.roots.push_back(ref);
  }
  const std::vector<int64_t> tTrees = intsAttr(ctx, prefix + "_treeids"), tNodes = intsAttr(ctx, prefix + "_nodeids");
  const std::vector<int64_t> tIds = intsAttr(ctx, prefix + "_ids");
  const std::vector<double> tWeights = floatsOrTensor(ctx, prefix + "_weights");
  ctx.check(tNodes.size() == tTrees.size() && tIds.size() == tTrees.size() && tWeights.size() == tTrees.size(),
            prefix + "_treeids, " + prefix + "_nodeids, " + prefix + "_ids and " + prefix +
                "_weights must have the same length");
  for (size_t i = 0; i < tTrees.size(); ++i) {
    auto it = refOf.find({tTrees[i], tNodes[i]});
    ctx.check(it != refOf.end() && it->second < 0, prefix + " entry " + std::to_string(i) + " names no LEAF node");
    e.leaves[static_cast<size_t>(-it->second - 1)].push_back({tIds[i], tWeights[i]});
  }
  e.post = ctx.attrs.getString("post_transform", "NONE");
  e.base = floatsOrTensor(ctx, "base_values");
  return e;
}

Tensors convertTreeEnsembleRegressor(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  Ensemble e = legacyTrees(ctx, "target");
  e.targets = ctx.attrs.getInt("n_targets", 1);
  ctx.check(e.targets >= 1, "n_targets must be >= 1");
  e.aggregate = ctx.attrs.getString("aggregate_function", "SUM");
  const std::vector<double> out = evaluate(ctx, e, mlRows(ctx, x));
  return one(fromDoubles(out, {x.ndim() == 2 ? x.shape()[0] : 1, e.targets}, DType::kFloat32, x.device()));
}

// TreeEnsembleClassifier (opset 1 / 3): class scores summed over the trees, plus base values;
// the label is the class of the highest score. Two classes whose leaves weigh one class only
// (onnxruntime's conventions, checked against it): weights on class 0 are the one score s of a
// binary model, written [1 - s, s] (all weights positive: probabilities) or [-s, s], with only
// LOGISTIC / PROBIT applied to s; weights on class 1 keep the scores [0, s] (post transform per
// class). Either way the label is the second class when s > 0.5 (positive weights) or s > 0.
Tensors convertTreeEnsembleClassifier(const ConvertContext& ctx, const Tensors& in) {
  refuseStrings(ctx, {"classlabels_strings"});
  const Tensor& x = requireInput(ctx, in, 0, "X");
  const std::vector<int64_t> labels = intsAttr(ctx, "classlabels_int64s");
  ctx.check(!labels.empty(), "classlabels_int64s is missing (string labels are not supported)");
  Ensemble e = legacyTrees(ctx, "class");
  const std::string post = e.post;
  const auto classes = static_cast<int64_t>(labels.size());
  std::set<int64_t> used;
  bool allPositive = true;
  for (const auto& leaf : e.leaves) {
    for (const auto& [c, w] : leaf) {
      used.insert(c);
      allPositive = allPositive && w >= 0.0;
    }
  }
  const bool oneScore = classes == 2 && used.size() == 1;
  const bool binary = oneScore && *used.begin() == 0;
  e.post = "NONE";  // applied below, after the labels are taken from the raw scores
  e.targets = classes;
  const MlRows rows = mlRows(ctx, x);
  std::vector<double> scores = evaluate(ctx, e, rows);
  std::vector<int64_t> outLabels(static_cast<size_t>(rows.rows));
  for (int64_t i = 0; i < rows.rows; ++i) {
    double* row = scores.data() + i * classes;
    if (oneScore) {
      const double s = binary ? row[0] : row[1];
      outLabels[static_cast<size_t>(i)] = labels[(allPositive ? s > 0.5 : s > 0.0) ? 1 : 0];
    } else {
      outLabels[static_cast<size_t>(i)] = labels[static_cast<size_t>(std::max_element(row, row + classes) - row)];
    }
    if (binary) {
      double s = row[0];
      const bool transformed = post == "LOGISTIC" || post == "PROBIT";
      if (transformed) postTransform(ctx, post, &s, 1);
      row[0] = allPositive || transformed ? 1.0 - s : -s;
      row[1] = s;
    } else {
      postTransform(ctx, post, row, classes);
    }
  }
  return {fromInts(outLabels, {rows.rows}, DType::kInt64, x.device()),
          fromDoubles(scores, {rows.rows, classes}, DType::kFloat32, x.device())};
}

}  // namespace

void registerMlTreeConverters(ConverterRegistry& r) {
  r.add("ai.onnx.ml:TreeEnsemble", 5, convertTreeEnsemble, false);
  r.add("ai.onnx.ml:TreeEnsembleRegressor", 1, convertTreeEnsembleRegressor, false);
  r.add("ai.onnx.ml:TreeEnsembleClassifier", 1, convertTreeEnsembleClassifier, false);
}

}  // namespace singa::onnxio
