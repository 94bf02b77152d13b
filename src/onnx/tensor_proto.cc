// TensorProto <-> Tensor. ONNX stores tensor values either as little-endian raw_data, in the typed
// repeated fields (float_data, int32_data for all narrow types, int64_data, double_data,
// uint64_data), or in an external file next to the model. All three are read here; writing always
// uses raw_data, which is what ONNX's own test data and onnx.save produce.
#include "singa/onnx/tensor_proto.h"

#include <algorithm>

#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/narrow_types.h"
#include "singa/core/onnx_dtype.h"

namespace singa::onnxio {

namespace {

const char* onnxTypeName(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "FLOAT";
    case onnx::TensorProto::UINT8: return "UINT8";
    case onnx::TensorProto::INT8: return "INT8";
    case onnx::TensorProto::UINT16: return "UINT16";
    case onnx::TensorProto::INT16: return "INT16";
    case onnx::TensorProto::INT32: return "INT32";
    case onnx::TensorProto::INT64: return "INT64";
    case onnx::TensorProto::STRING: return "STRING";
    case onnx::TensorProto::BOOL: return "BOOL";
    case onnx::TensorProto::FLOAT16: return "FLOAT16";
    case onnx::TensorProto::DOUBLE: return "DOUBLE";
    case onnx::TensorProto::UINT32: return "UINT32";
    case onnx::TensorProto::UINT64: return "UINT64";
    case onnx::TensorProto::COMPLEX64: return "COMPLEX64";
    case onnx::TensorProto::COMPLEX128: return "COMPLEX128";
    case onnx::TensorProto::BFLOAT16: return "BFLOAT16";
    // Newer than the onnx.proto this is built against (1.13): by number.
    case 17: return "FLOAT8E4M3FN";
    case 18: return "FLOAT8E4M3FNUZ";
    case 19: return "FLOAT8E5M2";
    case 20: return "FLOAT8E5M2FNUZ";
    case 21: return "UINT4";
    case 22: return "INT4";
    case 23: return "FLOAT4E2M1";
    case 24: return "FLOAT8E8M0";
    case 25: return "UINT2";
    case 26: return "INT2";
    default: return "UNDEFINED";
  }
}

std::string tensorLabel(const onnx::TensorProto& p) {
  return p.name().empty() ? std::string("<unnamed tensor>") : "'" + p.name() + "'";
}

// A non-negative decimal external-data offset/length; std::stoll threw std::invalid_argument
// for text and accepted negatives (found by the fuzz_tensor_proto target).
int64_t externalNumber(const onnx::TensorProto& proto, const std::string& key, const std::string& value) {
  int64_t v = 0;
  bool ok = !value.empty() && value.size() <= 18;
  for (char c : value) ok = ok && c >= '0' && c <= '9';
  if (ok) v = std::stoll(value);
  SINGA_CHECK(ok, IoError,
              "tensor " << tensorLabel(proto) << ": external data '" << key << "' is '" << value.substr(0, 32)
                        << "', not a non-negative integer; the model file is corrupt");
  return v;
}

// Reads the external data of `proto` (location/offset/length keys) relative to baseDir.
std::string readExternal(const onnx::TensorProto& proto, const std::string& baseDir) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = externalNumber(proto, kv.key(), kv.value());
    if (kv.key() == "length") length = externalNumber(proto, kv.key(), kv.value());
  }
  SINGA_CHECK(!location.empty(), IoError,
              "tensor " << tensorLabel(proto) << " has external data but no 'location' entry");
  SINGA_CHECK(location.find("..") == std::string::npos && location[0] != '/' &&
                  location.find('\0') == std::string::npos,
              IoError,
              "tensor " << tensorLabel(proto) << ": external data location '" << location
                        << "' must be a relative path inside the model's directory");
  // The text may still name a symbolic link to anywhere: resolve it, and require the file that is
  // really read to lie inside the model's directory (as the onnx package's loader does).
  const std::string label = "tensor " + tensorLabel(proto) + ": external data file";
  const std::string dir = canonicalPath(baseDir.empty() ? "." : baseDir, "tensor " + tensorLabel(proto) + ": model directory");
  const std::string path = canonicalPath(dir + "/" + location, label);
  SINGA_CHECK(path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
                  (dir == "/" || path[dir.size()] == '/'),
              IoError,
              label << " '" << location << "' resolves to '" << path << "', outside the model's directory '" << dir
                    << "'; external data must lie next to the model (a symbolic link out of it is refused)");
  return readRegularFileRange(path, label, offset, length);
}

template <class T, class Field>
void copyField(const Field& field, Tensor& t, const onnx::TensorProto& p, const char* fieldName) {
  SINGA_CHECK(field.size() == t.numel(), IoError,
              "tensor " << tensorLabel(p) << ": " << fieldName << " holds " << field.size()
                        << " values but shape " << t.shape() << " needs " << t.numel());
  T* out = static_cast<T*>(t.rawData());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<T>(field.Get(static_cast<int>(i)));
}


// A 4- or 2-bit tensor: `units` bytes of raw data (or int32_data entries, each holding as many
// elements as a byte), the first element in the lowest bits; the unused high bits of the last
// unit are ignored.
Tensor fromPackedProto(const onnx::TensorProto& proto, DType dtype, const Shape& shape, uint64_t numel,
                       uint64_t units, bool external, const std::string& baseDir) {
  const int bits = narrow::fileBits(dtype);
  const uint64_t perUnit = static_cast<uint64_t>(8 / bits);
  std::string ext;
  if (external) ext = readExternal(proto, baseDir);
  const bool raw = external || proto.has_raw_data();
  const uint64_t have = raw ? (external ? ext : proto.raw_data()).size() : static_cast<uint64_t>(proto.int32_data_size());
  SINGA_CHECK(have == units, IoError,
              "tensor " << tensorLabel(proto) << " (" << onnxTypeName(proto.data_type()) << " " << shape << ") needs "
                        << units << (raw ? " bytes" : " int32_data entries") << " (" << perUnit
                        << " elements each), the file holds " << have);
  Tensor t(shape, dtype, Device::cpu());
  uint8_t* out = static_cast<uint8_t*>(t.rawData());
  const std::string& data = external ? ext : proto.raw_data();
  for (uint64_t i = 0; i < numel; ++i) {
    const uint64_t u = i / perUnit;
    const uint32_t unit = raw ? static_cast<uint8_t>(data[u]) : static_cast<uint32_t>(proto.int32_data(static_cast<int>(u)));
    const uint8_t v = static_cast<uint8_t>((unit >> (bits * (i % perUnit))) & ((1u << bits) - 1));
    out[i] = narrow::unpackedByte(dtype, v);
  }
  return t;
}

}  // namespace

DType dtypeFromOnnx(int onnxType) {
  switch (onnxType) {
    case onnx::TensorProto::FLOAT: return DType::kFloat32;
    case onnx::TensorProto::DOUBLE: return DType::kFloat64;
    case onnx::TensorProto::FLOAT16: return DType::kFloat16;
    case onnx::TensorProto::BFLOAT16: return DType::kBFloat16;
    case onnx::TensorProto::INT8: return DType::kInt8;
    case onnx::TensorProto::INT16: return DType::kInt16;
    case onnx::TensorProto::INT32: return DType::kInt32;
    case onnx::TensorProto::INT64: return DType::kInt64;
    case onnx::TensorProto::UINT8: return DType::kUInt8;
    case onnx::TensorProto::UINT16: return DType::kUInt16;
    case onnx::TensorProto::UINT32: return DType::kUInt32;
    case onnx::TensorProto::UINT64: return DType::kUInt64;
    case onnx::TensorProto::BOOL: return DType::kBool;
    case 17: return DType::kFloat8E4M3FN;
    case 18: return DType::kFloat8E4M3FNUZ;
    case 19: return DType::kFloat8E5M2;
    case 20: return DType::kFloat8E5M2FNUZ;
    case 21: return DType::kUInt4;
    case 22: return DType::kInt4;
    case 23: return DType::kFloat4E2M1;
    case 24: return DType::kFloat8E8M0;
    case 25: return DType::kUInt2;
    case 26: return DType::kInt2;
    default:
      SINGA_THROW(NotSupportedError, "ONNX tensor element type " << onnxTypeName(onnxType) << " ("
                                         << onnxType << ") is not supported; supported: FLOAT, "
                                         << "DOUBLE, FLOAT16, BFLOAT16, INT8/16/32/64, UINT8/16/32/64, BOOL, "
                                         << "and as storage FLOAT8E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ/E8M0, "
                                         << "FLOAT4E2M1, INT4/UINT4, INT2/UINT2");
  }
}

int dtypeToOnnx(DType dtype) { return onnxElementType(dtype); }

Tensor fromTensorProto(const onnx::TensorProto& proto, const std::string& baseDir) {
  const DType dtype = dtypeFromOnnx(proto.data_type());
  Shape shape(proto.dims().begin(), proto.dims().end());
  // Element count with overflow checks, and checked against the data present before anything is
  // allocated: a corrupt header must not make us allocate terabytes.
  // Zero dims are left out of the bound: strides of [0, 2^40, 2^40] overflow too (fuzz_tensor_proto).
  uint64_t numel = 1, nonzero = 1;
  for (int64_t d : shape) {
    SINGA_CHECK(d >= 0, IoError, "tensor " << tensorLabel(proto) << " has a negative dim: " << shape);
    SINGA_CHECK(d == 0 || nonzero <= (uint64_t{1} << 62) / static_cast<uint64_t>(d), IoError,
                "tensor " << tensorLabel(proto) << " has implausible dims " << shape << "; the file is corrupt");
    if (d != 0) nonzero *= static_cast<uint64_t>(d);
    numel *= static_cast<uint64_t>(d);
  }
  const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  const bool raw = external || proto.has_raw_data();
  // 4- and 2-bit types are packed two or four to a byte (and to an int32_data entry).
  const uint64_t perUnit = static_cast<uint64_t>(8 / narrow::fileBits(dtype));
  const uint64_t units = (numel + perUnit - 1) / perUnit;
  if (perUnit > 1) return fromPackedProto(proto, dtype, shape, numel, units, external, baseDir);
  if (!raw) {
    const uint64_t values = static_cast<uint64_t>(std::max({proto.float_data_size(), proto.double_data_size(),
                                                            proto.int64_data_size(), proto.int32_data_size(),
                                                            proto.uint64_data_size()}));
    SINGA_CHECK(numel <= values, IoError,
                "tensor " << tensorLabel(proto) << " (" << onnxTypeName(proto.data_type()) << " " << shape
                          << ") needs " << numel << " values but its typed data fields hold at most " << values);
  }
  std::string ext;
  if (external) ext = readExternal(proto, baseDir);
  if (raw) {
    const std::string& data = external ? ext : proto.raw_data();
    SINGA_CHECK(numel <= data.size(), IoError,
                "tensor " << tensorLabel(proto) << " (" << onnxTypeName(proto.data_type()) << " " << shape
                          << ") needs " << numel << " elements, more than the " << data.size() << " bytes of "
                          << (external ? "external data" : "raw_data"));
  }
  Tensor t(shape, dtype, Device::cpu());
  const size_t bytes = t.nbytes();

  if (raw) {
    const std::string& raw = external ? ext : proto.raw_data();
    SINGA_CHECK(raw.size() == bytes, IoError,
                "tensor " << tensorLabel(proto) << " (" << onnxTypeName(proto.data_type()) << " "
                          << shape << ") needs " << bytes << " bytes of data, the file holds "
                          << raw.size() << (external ? " (external data)" : " (raw_data)"));
    if (bytes > 0) std::memcpy(t.rawData(), raw.data(), bytes);
    if (dtype == DType::kBool) normalizeBools(t);
    return t;
  }
  // Typed fields. An all-empty tensor with numel > 0 is an error, except a tensor of 0 elements.
  switch (dtype) {
    case DType::kFloat32: copyField<float>(proto.float_data(), t, proto, "float_data"); break;
    case DType::kFloat64: copyField<double>(proto.double_data(), t, proto, "double_data"); break;
    case DType::kInt64: copyField<int64_t>(proto.int64_data(), t, proto, "int64_data"); break;
    case DType::kInt32: copyField<int32_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kInt16: copyField<int16_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kInt8: copyField<int8_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kUInt8: copyField<uint8_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kBool: copyField<bool>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kUInt16: copyField<uint16_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kUInt32: copyField<uint32_t>(proto.uint64_data(), t, proto, "uint64_data"); break;
    case DType::kUInt64: copyField<uint64_t>(proto.uint64_data(), t, proto, "uint64_data"); break;
    case DType::kFloat16:
    case DType::kBFloat16: copyField<uint16_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ:
    case DType::kFloat8E8M0: copyField<uint8_t>(proto.int32_data(), t, proto, "int32_data"); break;
    case DType::kFloat4E2M1:
    case DType::kInt4:
    case DType::kUInt4:
    case DType::kInt2:
    case DType::kUInt2: break;  // fromPackedProto
  }
  return t;
}

void toTensorProto(const Tensor& t, const std::string& name, onnx::TensorProto* proto) {
  SINGA_CHECK(t.defined(), ValueError, "toTensorProto: tensor '" << name << "' is undefined");
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(dtypeToOnnx(t.dtype()));
  for (int64_t d : t.shape()) proto->add_dims(d);
  Tensor c = t.device().isCpu() ? t : t.to(Device::cpu());
  if (!c.isContiguous()) c = c.contiguous();
  const int bits = narrow::fileBits(t.dtype());
  if (bits < 8) {  // packed, the first element in the lowest bits
    const int64_t perByte = 8 / bits;
    std::string packed(static_cast<size_t>((c.numel() + perByte - 1) / perByte), '\0');
    const uint8_t* in = static_cast<const uint8_t*>(c.rawData());
    for (int64_t i = 0; i < c.numel(); ++i) {
      packed[static_cast<size_t>(i / perByte)] = static_cast<char>(
          static_cast<uint8_t>(packed[static_cast<size_t>(i / perByte)]) |
          (narrow::packedBits(t.dtype(), in[i]) << (bits * (i % perByte))));
    }
    proto->set_raw_data(std::move(packed));
    return;
  }
  proto->set_raw_data(std::string(static_cast<const char*>(c.rawData()), c.nbytes()));
}

Tensor readTensorFile(const std::string& path) {
  const std::string bytes = readRegularFile(path, "tensor file", kMaxProtoBytes);
  onnx::TensorProto proto;
  SINGA_CHECK(proto.ParseFromString(bytes), IoError,
              "tensor file '" << path << "' is not a serialized ONNX TensorProto (truncated or "
                              << "another format)");
  std::string baseDir;
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos) baseDir = path.substr(0, slash);
  try {
    return fromTensorProto(proto, baseDir);
  } catch (const NotSupportedError& e) {
    SINGA_THROW(NotSupportedError, "tensor file '" << path << "': " << e.what());
  } catch (const IoError& e) {
    SINGA_THROW(IoError, "tensor file '" << path << "': " << e.what());
  }
}

void writeTensorFile(const Tensor& t, const std::string& path, const std::string& name) {
  onnx::TensorProto proto;
  toTensorProto(t, name, &proto);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SINGA_CHECK(out.good(), IoError, "cannot open '" << path << "' for writing (does the directory exist?)");
  SINGA_CHECK(proto.SerializeToOstream(&out), IoError, "writing tensor file '" << path << "' failed");
  out.close();
  SINGA_CHECK(!out.fail(), IoError, "writing tensor file '" << path << "' failed (disk full?)");
}

}  // namespace singa::onnxio
