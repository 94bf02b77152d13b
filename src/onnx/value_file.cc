// Value files (see value_file.h). The three messages share field numbers (1 name, 2 type, 3 a
// tensor), so bytes of one kind often parse as another without error: a SequenceProto read as a
// TensorProto is a float tensor whose dims are the name's bytes ("needs 1582357392000 values"). A
// file therefore counts as a message of a kind only when it parses with no unknown fields and what
// it holds makes sense for that kind; otherwise the error says which kind the file does hold.
// Every file is hostile: its top-level fields are counted on the wire before protobuf builds
// anything, so a few megabytes cannot ask for millions of sub-messages.
#include "singa/onnx/value_file.h"

#include <onnx/onnx_pb.h>  // before onnx-data.pb.h: defines ONNX_API
#include <onnx/onnx-data.pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/onnx/string_tensor.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {

namespace {

using google::protobuf::internal::WireFormatLite;

// How often each top-level field number occurs in a serialized message (numbers above 15 count in
// [0]), read off the wire without building the message; and the bytes of the last field 5 when it
// is length-delimited (OptionalProto.sequence_value), to count inside it too.
struct FieldScan {
  bool wellFormed = true;
  int64_t count[16] = {};
  std::string field5;
  bool has(int field) const { return count[field] > 0; }
};

FieldScan scanFields(const std::string& bytes) {
  FieldScan s;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      s.wellFormed = in.ConsumedEntireMessage();
      return s;
    }
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    ++s.count[field < 16 ? field : 0];
    if (field == 5 && WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      const int64_t left = static_cast<int64_t>(bytes.size()) - in.CurrentPosition();
      if (!in.ReadVarint32(&length) || static_cast<int64_t>(length) > left ||
          !in.ReadString(&s.field5, static_cast<int>(length))) {
        s.wellFormed = false;
        return s;
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) {
      s.wellFormed = false;
      return s;
    }
  }
}

template <class Message>
bool parseClean(const std::string& bytes, Message* m) {
  return m->ParseFromString(bytes) && m->GetReflection()->GetUnknownFields(*m).empty();
}

// A TensorProto whose data fits its dims exactly (or that has no elements): what
// numpy_helper.from_array writes. Other messages read as a TensorProto have names for dims and,
// at best, a sub-message for data: an OptionalProto's sequence_value lands in int32_data.
bool isTensorMessage(const std::string& bytes, onnx::TensorProto* p) {
  if (!parseClean(bytes, p) || p->data_type() == 0 || p->has_segment()) return false;
  uint64_t numel = 1;
  for (int64_t d : p->dims()) {
    if (d < 0 || (d > 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(d))) return false;
    numel *= static_cast<uint64_t>(d);
  }
  if (p->data_location() == onnx::TensorProto::EXTERNAL) return true;
  if (p->has_raw_data()) {
    try {
      return p->raw_data().size() == numel * dtypeSize(dtypeFromOnnx(p->data_type()));
    } catch (const NotSupportedError&) {
      return false;
    }
  }
  const uint64_t values = static_cast<uint64_t>(p->float_data_size()) + p->int32_data_size() + p->int64_data_size() +
                          p->double_data_size() + p->uint64_data_size() + p->string_data_size();
  return values == numel;
}

// A SequenceProto of tensors, or an OptionalProto holding one (same bytes up to field 5), within
// the item bound. Used only to name what a file of the wrong kind holds.
bool isSequenceMessage(const std::string& bytes, const FieldScan& scan) {
  if (scan.has(4) || scan.has(6) || scan.has(7) || scan.count[3] > kMaxSequenceItems || scan.count[5] > 1) {
    return false;
  }
  if (!scan.has(5)) {
    onnx::SequenceProto s;
    return parseClean(bytes, &s) && s.elem_type() == onnx::SequenceProto::TENSOR;
  }
  const FieldScan inner = scanFields(scan.field5);
  if (!inner.wellFormed || inner.count[3] > kMaxSequenceItems || inner.has(4) || inner.has(5) || inner.has(6) ||
      inner.has(7)) {
    return false;
  }
  onnx::OptionalProto o;
  return parseClean(bytes, &o) && o.elem_type() == onnx::OptionalProto::SEQUENCE;
}

// MapProto: name 1, key_type 2 (a tensor element type), keys 3 / string_keys 4, values 5. Told
// apart on the wire only: it is never built (the engine has no map values).
bool looksLikeMap(const FieldScan& scan) {
  for (int f = 6; f < 16; ++f) {
    if (scan.has(f)) return false;
  }
  return !scan.has(0) && scan.has(2) && (scan.has(3) || scan.has(4)) && scan.has(5);
}

std::string declaredKind(const ValueInfo& vi) {
  if (vi.optional) return "OptionalProto";
  return vi.sequence ? "SequenceProto" : "TensorProto";
}

// "input 'x' (declared sequence<float32[?]>)", the declaration a file was read against.
std::string declaredLabel(const ValueInfo& vi) {
  return "'" + vi.name + "' (declared " + vi.str() + ")";
}

[[noreturn]] void wrongKind(const std::string& path, const std::string& holds, const ValueInfo& vi) {
  const char* fix = vi.optional   ? "onnx.helper.make_optional or onnx.numpy_helper.from_optional"
                    : vi.sequence ? "onnx.helper.make_sequence or onnx.numpy_helper.from_list"
                                  : "onnx.numpy_helper.from_array";
  SINGA_THROW(TypeError, "'" << path << "' holds " << holds << ", but the graph declares " << declaredLabel(vi)
                             << ": give a " << declaredKind(vi) << " (" << fix << ")");
}

std::string dirOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// A uint16 tensor whose declaration says bfloat16 or float16, reinterpreted bit for bit.
Tensor asDeclared16(Tensor t, const ValueInfo& vi) {
  if (t.dtype() != DType::kUInt16 || !vi.hasType || (vi.dtype != DType::kBFloat16 && vi.dtype != DType::kFloat16)) {
    return t;
  }
  Tensor c = t.isContiguous() ? t : t.contiguous();
  Tensor out(c.shape(), vi.dtype, Device::cpu());
  if (c.nbytes() > 0) std::memcpy(out.rawData(), c.rawData(), c.nbytes());
  return out;
}

// fromTensorProto with the file (and the item, inside a sequence) named in its errors.
Tensor tensorFrom(const onnx::TensorProto& p, const std::string& path, const std::string& where,
                  const ValueInfo& vi) {
  try {
    return asDeclared16(fromTensorProto(p, dirOf(path)), vi);
  } catch (const NotSupportedError& e) {
    SINGA_THROW(NotSupportedError, "'" << path << "'" << where << ": " << e.what());
  } catch (const IoError& e) {
    SINGA_THROW(IoError, "'" << path << "'" << where << ": " << e.what());
  } catch (const MemoryError& e) {
    SINGA_THROW(MemoryError, "'" << path << "'" << where << ": " << e.what());
  }
}

// A tensor file's value: a string tensor for STRING data, else tensorFrom.
Value tensorValueFrom(const onnx::TensorProto& p, const std::string& path, const std::string& where,
                      const ValueInfo& vi) {
  if (p.data_type() == onnx::TensorProto::STRING) return stringsFromTensorProto(p, "'" + path + "'" + where);
  return tensorFrom(p, path, where, vi);
}

const char* elemTypeName(int t) {
  switch (t) {
    case onnx::SequenceProto::UNDEFINED: return "UNDEFINED";
    case onnx::SequenceProto::TENSOR: return "TENSOR";
    case onnx::SequenceProto::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case onnx::SequenceProto::SEQUENCE: return "SEQUENCE";
    case onnx::SequenceProto::MAP: return "MAP";
    case onnx::SequenceProto::OPTIONAL: return "OPTIONAL";
    default: return "unknown";
  }
}

// The field numbers 4..7 of SequenceProto and OptionalProto hold the element kinds the engine
// lacks: sparse tensors, sequences, maps, optionals.
[[noreturn]] void unsupportedElements(const std::string& path, const char* container, const FieldScan& scan) {
  const char* what = scan.has(4) ? "sparse tensors" : scan.has(5) ? "sequences" : scan.has(6) ? "maps" : "optionals";
  SINGA_THROW(NotSupportedError, "'" << path << "' holds " << container << " of " << what
                                     << "; singa runs sequences of tensors and optionals of a tensor or of "
                                     << "a sequence of tensors only");
}

Value sequenceFrom(const onnx::SequenceProto& sp, const std::string& path, const ValueInfo& vi) {
  const int elem = sp.elem_type();
  SINGA_CHECK(elem == onnx::SequenceProto::TENSOR || elem == onnx::SequenceProto::UNDEFINED, NotSupportedError,
              "'" << path << "' holds a sequence of elem_type " << elemTypeName(elem) << " (" << elem
                  << "); singa runs sequences of tensors only");
  std::vector<Tensor> items;
  items.reserve(static_cast<size_t>(sp.tensor_values_size()));
  for (int i = 0; i < sp.tensor_values_size(); ++i) {
    items.push_back(tensorFrom(sp.tensor_values(i), path, " item " + std::to_string(i), vi));
    SINGA_CHECK(items.back().dtype() == items.front().dtype(), TypeError,
                "'" << path << "': sequence item " << i << " is " << dtypeName(items.back().dtype()) << ", item 0 is "
                    << dtypeName(items.front().dtype()) << "; a sequence holds tensors of one element type");
  }
  return Value::ofSequence(std::move(items), vi.hasType ? vi.dtype : DType::kFloat32);
}

Value readSequence(const std::string& bytes, const FieldScan& scan, const std::string& path, const ValueInfo& vi) {
  SINGA_CHECK(scan.count[3] <= kMaxSequenceItems, IoError,
              "'" << path << "' holds " << scan.count[3] << " sequence items, more than the " << kMaxSequenceItems
                  << " a sequence file may hold; the file is corrupt");
  onnx::TensorProto tensor;
  if (isTensorMessage(bytes, &tensor)) wrongKind(path, "a TensorProto", vi);
  if (scan.has(4) || scan.has(5) || scan.has(6) || scan.has(7)) {
    if (looksLikeMap(scan)) wrongKind(path, "a MapProto (maps are not supported)", vi);
    unsupportedElements(path, "a sequence", scan);
  }
  onnx::SequenceProto sp;
  SINGA_CHECK(parseClean(bytes, &sp), IoError,
              "'" << path << "' is not a serialized ONNX SequenceProto (truncated or another format); the graph declares "
                  << declaredLabel(vi));
  return sequenceFrom(sp, path, vi);
}

Value readOptional(const std::string& bytes, const FieldScan& scan, const std::string& path, const ValueInfo& vi) {
  onnx::TensorProto tensor;
  if (isTensorMessage(bytes, &tensor)) return tensorValueFrom(tensor, path, "", vi);  // a bare tensor: the optional holding it
  // Several tensors: a bare SequenceProto (an OptionalProto holds one value).
  if (scan.count[3] > 1) {
    SINGA_CHECK(vi.sequence, IoError,
                "'" << path << "' holds " << scan.count[3] << " tensors, but an OptionalProto holds at most one; the "
                    << "graph declares " << declaredLabel(vi));
    return readSequence(bytes, scan, path, vi);
  }
  if (scan.has(4) || scan.has(6) || scan.has(7)) {
    if (looksLikeMap(scan)) wrongKind(path, "a MapProto (maps are not supported)", vi);
    unsupportedElements(path, "an optional", scan);
  }
  SINGA_CHECK(scan.count[5] <= 1, IoError,
              "'" << path << "' holds " << scan.count[5] << " sequence values; an OptionalProto holds at most one");
  if (scan.has(5)) {
    const FieldScan inner = scanFields(scan.field5);
    SINGA_CHECK(inner.wellFormed, IoError, "'" << path << "': the optional's sequence_value is truncated or corrupt");
    SINGA_CHECK(inner.count[3] <= kMaxSequenceItems, IoError,
                "'" << path << "' holds " << inner.count[3] << " sequence items, more than the " << kMaxSequenceItems
                    << " a sequence may hold; the file is corrupt");
    if (inner.has(4) || inner.has(5) || inner.has(6) || inner.has(7)) unsupportedElements(path, "a sequence", inner);
  }
  onnx::OptionalProto op;
  SINGA_CHECK(parseClean(bytes, &op), IoError,
              "'" << path << "' is not a serialized ONNX OptionalProto (truncated or another format); the graph declares "
                  << declaredLabel(vi));
  const int elem = op.elem_type();
  SINGA_CHECK(elem == onnx::OptionalProto::UNDEFINED || elem == onnx::OptionalProto::TENSOR ||
                  elem == onnx::OptionalProto::SEQUENCE,
              NotSupportedError,
              "'" << path << "' holds an optional of elem_type " << elemTypeName(elem) << " (" << elem
                  << "); singa runs optionals of a tensor or of a sequence of tensors only");
  SINGA_CHECK(!(op.has_tensor_value() && op.has_sequence_value()), IoError,
              "'" << path << "' holds both a tensor_value and a sequence_value; an OptionalProto holds one value");
  if (op.has_sequence_value()) return sequenceFrom(op.sequence_value(), path, vi);
  if (op.has_tensor_value()) {
    // optional(sequence) given as a bare one-item SequenceProto: the same bytes, elem_type TENSOR.
    if (vi.sequence && elem == onnx::OptionalProto::TENSOR) {
      onnx::SequenceProto sp;
      if (parseClean(bytes, &sp)) return sequenceFrom(sp, path, vi);
    }
    return tensorValueFrom(op.tensor_value(), path, "", vi);
  }
  return Value::none();
}

Value readTensor(const std::string& bytes, const FieldScan& scan, const std::string& path, const ValueInfo& vi) {
  onnx::TensorProto p;
  if (isTensorMessage(bytes, &p)) return tensorValueFrom(p, path, "", vi);
  if (isSequenceMessage(bytes, scan)) wrongKind(path, "a SequenceProto or OptionalProto", vi);
  if (looksLikeMap(scan)) wrongKind(path, "a MapProto (maps are not supported)", vi);
  // Not recognisably anything else: report it as the TensorProto it was meant to be.
  SINGA_CHECK(p.ParseFromString(bytes), IoError,
              "tensor file '" << path << "' is not a serialized ONNX TensorProto (truncated or another format)");
  return tensorValueFrom(p, path, "", vi);
}

// No declared type: the first kind the bytes make sense as.
Value readUndeclared(const std::string& bytes, const FieldScan& scan, const std::string& path, const ValueInfo& vi) {
  onnx::TensorProto p;
  if (isTensorMessage(bytes, &p)) return tensorValueFrom(p, path, "", vi);
  if (isSequenceMessage(bytes, scan)) {
    ValueInfo asSequence = vi;
    asSequence.sequence = true;
    asSequence.optional = scan.has(5);
    return asSequence.optional ? readOptional(bytes, scan, path, asSequence) : readSequence(bytes, scan, path, asSequence);
  }
  SINGA_CHECK(!looksLikeMap(scan), NotSupportedError,
              "'" << path << "' holds a MapProto for '" << vi.name
                  << "'; maps are not supported (singa runs tensors, sequences of tensors and optionals)");
  return readTensor(bytes, scan, path, vi);
}

void writeMessage(const google::protobuf::Message& m, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SINGA_CHECK(out.good(), IoError, "cannot open '" << path << "' for writing (does the directory exist?)");
  SINGA_CHECK(m.SerializeToOstream(&out), IoError, "writing '" << path << "' failed");
  out.close();
  SINGA_CHECK(!out.fail(), IoError, "writing '" << path << "' failed (disk full?)");
}

void fillSequence(const std::vector<Tensor>& items, onnx::SequenceProto* sp) {
  sp->set_elem_type(onnx::SequenceProto::TENSOR);
  for (const Tensor& t : items) {
    onnx::TensorProto* p = sp->add_tensor_values();
    toTensorProto(t, "", p);
    p->clear_name();  // as numpy_helper.from_list: items are unnamed
  }
}

}  // namespace

Value readValueFile(const std::string& path, const ValueInfo& declared) {
  return parseValueFile(readRegularFile(path, "value file", kMaxProtoBytes), path, declared);
}

Value parseValueFile(const std::string& bytes, const std::string& path, const ValueInfo& declared) {
  SINGA_CHECK(static_cast<int64_t>(bytes.size()) <= kMaxProtoBytes, IoError,
              "'" << path << "' holds " << bytes.size() << " bytes, more than protobuf can parse (2 GiB)");
  const FieldScan scan = scanFields(bytes);
  SINGA_CHECK(scan.wellFormed, IoError,
              "'" << path << "' is not a serialized ONNX " << (declared.declared ? declaredKind(declared) : "TensorProto")
                  << " (truncated or another format)");
  if (!declared.declared) return readUndeclared(bytes, scan, path, declared);
  if (declared.optional) return readOptional(bytes, scan, path, declared);
  if (declared.sequence) return readSequence(bytes, scan, path, declared);
  return readTensor(bytes, scan, path, declared);
}

const char* valueFileKind(const Value& value, const ValueInfo& declared) {
  if (declared.optional || value.kind == Value::Kind::kNone) return "OptionalProto";
  return value.kind == Value::Kind::kSequence ? "SequenceProto" : "TensorProto";
}

void writeValueFile(const Value& value, const ValueInfo& declared, const std::string& path) {
  if (declared.optional || value.kind == Value::Kind::kNone) {
    onnx::OptionalProto op;
    op.set_name(declared.name);
    switch (value.kind) {
      case Value::Kind::kNone: op.set_elem_type(onnx::OptionalProto::UNDEFINED); break;  // as from_optional(None)
      case Value::Kind::kTensor:
        op.set_elem_type(onnx::OptionalProto::TENSOR);
        toTensorProto(value.tensor, "", op.mutable_tensor_value());
        op.mutable_tensor_value()->clear_name();
        break;
      case Value::Kind::kStrings:
        op.set_elem_type(onnx::OptionalProto::TENSOR);
        stringsToTensorProto(value, "", op.mutable_tensor_value());
        break;
      case Value::Kind::kSequence:
        op.set_elem_type(onnx::OptionalProto::SEQUENCE);
        fillSequence(value.sequence, op.mutable_sequence_value());
        break;
    }
    writeMessage(op, path);
    return;
  }
  if (value.kind == Value::Kind::kSequence) {
    onnx::SequenceProto sp;
    sp.set_name(declared.name);
    fillSequence(value.sequence, &sp);
    writeMessage(sp, path);
    return;
  }
  if (value.isStrings()) {
    onnx::TensorProto p;
    stringsToTensorProto(value, declared.name, &p);
    writeMessage(p, path);
    return;
  }
  writeTensorFile(value.tensor, path, declared.name);
}

}  // namespace singa::onnxio
