// Backend-test data files for values of every kind the engine runs: a TensorProto for a tensor, a
// SequenceProto for a sequence of tensors, an OptionalProto for an optional (holding a tensor, a
// sequence, or nothing). The kind comes from the type the graph declares for the value; a file of
// another kind is an error naming the file, what it holds and what to write instead. `singa_onnx
// run` and `singa_onnx test` read and write their .pb files through these.
#pragma once

#include <cstdint>
#include <string>

#include "singa/onnx/import.h"

namespace singa::onnxio {

/// The most items a SequenceProto file may hold (each item is a tensor of its own; a file of
/// millions of empty items would otherwise cost far more memory than its bytes).
constexpr int64_t kMaxSequenceItems = int64_t{1} << 20;

/// Reads the value file `path` for a graph value declared as `declared`:
///  - a tensor: a TensorProto (as readTensorFile); a STRING one is a string Value
///    (Value::Kind::kStrings, string_tensor.h: its sizes are checked before anything is built);
///  - sequence(tensor): a SequenceProto of tensors (elem_type TENSOR, tensor_values);
///  - optional(...): an OptionalProto (tensor_value, sequence_value, or neither: the empty
///    optional); a bare TensorProto or SequenceProto is taken as the optional holding it.
/// When the graph declares no type (declared.declared is false) the file's kind is what it parses
/// as: a TensorProto, else a SequenceProto (an OptionalProto holding a tensor or a sequence has the
/// same bytes as a sequence: declare the type to read it as an optional).
/// A uint16 tensor whose declaration says bfloat16/float16 is taken bit for bit as that type (ONNX
/// releases before 1.14 wrote such data as UINT16).
/// Throws IoError for a corrupt or truncated file, TypeError for a file of another kind than the
/// declaration, NotSupportedError for maps, sparse tensors, nested sequences and optionals of
/// optionals (the engine has no such values); every message names the file.
Value readValueFile(const std::string& path, const ValueInfo& declared);
/// readValueFile on bytes already read: `path` names them in errors and is where external data
/// of their tensors is looked for (next to it). At most kMaxProtoBytes.
Value parseValueFile(const std::string& bytes, const std::string& path, const ValueInfo& declared);

/// Writes `value` as the message its declared type calls for (a string Value: a STRING TensorProto): an OptionalProto for an optional
/// (elem_type TENSOR or SEQUENCE; no value for the empty optional), a SequenceProto for a sequence,
/// a TensorProto otherwise. `declared.name` names the message.
void writeValueFile(const Value& value, const ValueInfo& declared, const std::string& path);

/// "TensorProto", "SequenceProto" or "OptionalProto": what writeValueFile writes for these.
const char* valueFileKind(const Value& value, const ValueInfo& declared);

}  // namespace singa::onnxio
