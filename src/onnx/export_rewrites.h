// The per-opset rewrites of ONNX export: how one trace record becomes the node(s) its target
// opset wants. The trace records values that newer opsets take as inputs as attributes (Reshape
// shape, Slice starts, Clip bounds, ...; see ops/ops.h); a rewrite moves them into int64 / scalar
// initializer inputs where the opset takes inputs, or writes a short decomposition where the op
// is missing at that opset (HardSwish before 14, GreaterOrEqual before 12). The rewrites are one
// table (export_rewrites.cc): op type -> (opset range, rewrite). A record whose op has no entry
// for the target opset is written as it was recorded. Internal to onnx/ (export.cc); not
// installed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "singa/autograd/trace.h"
#include "singa/core/attrs.h"
#include "singa/core/tensor.h"

namespace singa::onnxio {

using AttrMap = std::map<std::string, AttrValue>;

/// The opsets export writes: 11..17 (17 is the newest Debian's ONNX 1.12 knows).
constexpr int kMinExportOpset = 11;
constexpr int kMaxExportOpset = 17;

/// The node being written for one trace record: what a rewrite reads and edits.
struct NodeDraft {
  const autograd::OpRecord& record;
  int opset;  ///< the target opset of the default domain
  /// The first dim may be the symbolic batch: ExportOptions::dynamicBatch is set and the record
  /// reads a value computed from the graph inputs.
  bool symbolicBatch;
  std::vector<std::string> ins;   ///< input value names ("" for an absent optional input)
  std::vector<std::string> outs;  ///< output value names
  AttrMap attrs;                  ///< the record's attributes
  /// The record's first input (undefined when it has none).
  Tensor x() const { return record.inputs.empty() ? Tensor() : record.inputs[0]; }
};

/// What a rewrite may add to the graph besides its node (the exporter implements it). Names are
/// derived from the node being written, so they are unique and deterministic.
class GraphWriter {
 public:
  virtual ~GraphWriter() = default;
  /// A new int64 initializer holding `v`, named "<node>_<what>"; returns its name.
  virtual std::string intsInput(const std::vector<int64_t>& v, const std::string& what) = 0;
  /// A new scalar initializer of dtype `dt`, named "<node>_<what>"; returns its name.
  virtual std::string scalarInput(double v, DType dt, const std::string& what) = 0;
  /// A fresh value name "<node><suffix>".
  virtual std::string freshName(const std::string& suffix) = 0;
  /// Writes a node of the record being emitted (named after it) with attributes checked against
  /// `op`'s schema at the target opset.
  virtual void addNode(const std::string& op, std::vector<std::string> ins, const std::vector<std::string>& outs,
                       const AttrMap& attrs) = 0;
  /// A helper node "<node><suffix>" of the record being emitted.
  virtual void addAuxNode(const std::string& suffix, const std::string& op, std::vector<std::string> ins,
                          const std::vector<std::string>& outs, const AttrMap& attrs) = 0;
};

/// What a rewrite did: edited the draft (the exporter then writes one node of the record's op
/// type from it), or wrote the record's node(s) itself.
enum class Rewritten { kWriteDraft, kWritten };

using RewriteFn = Rewritten (*)(NodeDraft& node, GraphWriter& graph);

/// One row of the table: the rewrite of `op` at opsets minOpset..maxOpset (inclusive). An `op`
/// ending in '*' is a prefix ("Reduce*": every Reduce op without a row of its own).
struct OpsetRewrite {
  const char* op;
  int minOpset;
  int maxOpset;
  RewriteFn fn;
};

/// The table, in lookup order (the first matching row wins).
const std::vector<OpsetRewrite>& opsetRewrites();

/// The rewrite of `op` at `opset`, or nullptr when the record is written as recorded.
RewriteFn findRewrite(const std::string& op, int opset);

}  // namespace singa::onnxio
