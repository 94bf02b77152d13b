// safetensors encoding and strict decoding (see safetensors.h). Byte order: the format is
// little-endian; this file assumes a little-endian host and says so at compile time.
#include "singa/core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>

#include "singa/core/json_guard.h"
#include "singa/core/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace singa {
namespace {

// The Python reader refuses headers above 100 MB; so do we (before allocating anything).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A header nests three levels ({name: {"shape": [...]}}); anything much deeper is hostile.
constexpr int kMaxHeaderDepth = 16;
// Tensor names end up in error messages and state dicts; the Python writer's names are short.
constexpr size_t kMaxNameBytes = 1024;

struct NameAndDtype {
  const char* name;
  DType dtype;
};
constexpr NameAndDtype kDtypes[] = {
    {"F32", DType::kFloat32}, {"F64", DType::kFloat64}, {"F16", DType::kFloat16}, {"BF16", DType::kBFloat16},
    {"I8", DType::kInt8},     {"I16", DType::kInt16},   {"I32", DType::kInt32},   {"I64", DType::kInt64},
    {"U8", DType::kUInt8},    {"BOOL", DType::kBool},   {"U16", DType::kUInt16},  {"U32", DType::kUInt32},
    {"U64", DType::kUInt64},  {"F8_E4M3", DType::kFloat8E4M3FN}, {"F8_E5M2", DType::kFloat8E5M2},
};

uint64_t readLe64(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return v;
}

// numel * elementSize with overflow checks; false when it does not fit in 64 bits.
bool byteSize(const Shape& shape, size_t elementSize, uint64_t& out) {
  uint64_t n = elementSize;
  for (int64_t d : shape) {
    const auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<uint64_t>::max() / ud) return false;
    n *= ud;
  }
  out = n;
  return true;
}

SafetensorsEntry parseEntry(const std::string& name, const nlohmann::json& v, const std::string& what) {
  const std::string where = what + ": tensor '" + printable(name) + "'";
  SINGA_CHECK(!name.empty(), IoError, what << " has a tensor with an empty name; the header is corrupt");
  SINGA_CHECK(name.size() <= kMaxNameBytes, IoError,
              where << " has a name of " << name.size() << " bytes (at most " << kMaxNameBytes
                    << "); the header is corrupt");
  SINGA_CHECK(std::none_of(name.begin(), name.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }),
              IoError, where << " has a name holding control characters; the header is corrupt");
  SINGA_CHECK(v.is_object(), IoError, where << " has a header entry that is not a JSON object");
  auto dt = v.find("dtype");
  auto shape = v.find("shape");
  auto offsets = v.find("data_offsets");
  SINGA_CHECK(dt != v.end() && dt->is_string(), IoError, where << " has no string 'dtype' in the header");
  SINGA_CHECK(shape != v.end() && shape->is_array(), IoError, where << " has no 'shape' array in the header");
  SINGA_CHECK(offsets != v.end() && offsets->is_array() && offsets->size() == 2, IoError,
              where << " has no 'data_offsets' pair [begin, end] in the header");
  SafetensorsEntry e;
  e.name = name;
  e.dtype = dtypeFromSafetensors(dt->get<std::string>(), where);
  SINGA_CHECK(shape->size() <= 64, IoError, where << " has " << shape->size() << " dimensions (at most 64)");
  for (const auto& d : *shape) {
    SINGA_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), IoError,
                where << " has a shape entry that is not a non-negative integer");
    e.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  for (const auto& o : *offsets) {
    SINGA_CHECK(o.is_number_unsigned(), IoError, where << " has data_offsets that are not non-negative integers");
  }
  e.begin = (*offsets)[0].get<uint64_t>();
  e.end = (*offsets)[1].get<uint64_t>();
  SINGA_CHECK(e.begin <= e.end, IoError,
              where << " has data_offsets [" << e.begin << ", " << e.end << "] that end before they begin");
  uint64_t need = 0;
  SINGA_CHECK(byteSize(e.shape, dtypeSize(e.dtype), need), IoError,
              where << ": shape " << e.shape << " is too large to be real; the header is corrupt");
  // With a zero dimension the bytes are 0 whatever the other dimensions, but the tensor's strides
  // are still their product: that must fit in int64 as well.
  int64_t nonzero = 1;
  for (int64_t d : e.shape) {
    SINGA_CHECK(d == 0 || nonzero <= INT64_MAX / d, IoError,
                where << ": shape " << e.shape << " is too large to be real; the header is corrupt");
    if (d != 0) nonzero *= d;
  }
  SINGA_CHECK(e.end - e.begin == need, IoError,
              where << ": shape " << e.shape << " " << dtypeName(e.dtype) << " needs " << need
                    << " bytes but data_offsets [" << e.begin << ", " << e.end << "] hold " << (e.end - e.begin));
  return e;
}

SafetensorsHeader parseHeader(std::string_view bytes, uint64_t fileSize, const std::string& what, bool allowShortData) {
  const uint64_t headerLen = safetensorsHeaderLength(bytes, fileSize, what);
  SINGA_CHECK(headerLen <= bytes.size() - 8, IoError,
              what << ": only " << bytes.size() << " bytes of its " << 8 + headerLen << "-byte header were read");
  const char* first = bytes.data() + 8;
  const std::string_view headerText(first, static_cast<size_t>(headerLen));
  SINGA_CHECK(jsonNestingDepth(headerText, kMaxHeaderDepth) <= kMaxHeaderDepth, IoError,
              what << " is corrupt: its header nests JSON more than " << kMaxHeaderDepth
                   << " levels deep (a safetensors header nests 3)");
  // nlohmann keeps the last of two equal keys; the Python reader refuses them, and so do we.
  std::set<std::string> names;
  std::string duplicate;
  auto onEvent = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && duplicate.empty() && parsed.is_string() &&
        !names.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json header = nlohmann::json::parse(headerText.begin(), headerText.end(), onEvent,
                                                /*allow_exceptions=*/false);
  SINGA_CHECK(!header.is_discarded() && header.is_object(), IoError,
              what << " is corrupt: its header is not a JSON object");
  SINGA_CHECK(duplicate.empty(), IoError,
              what << " is corrupt: its header names tensor '" << printable(duplicate) << "' twice");

  SafetensorsHeader h;
  h.dataStart = 8 + headerLen;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      SINGA_CHECK(it->is_object(), IoError, what << ": __metadata__ must be a map of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        SINGA_CHECK(m->is_string(), IoError,
                    what << ": __metadata__ entry '" << printable(m.key()) << "' is not a string");
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parseEntry(it.key(), *it, what));
  }
  // Data order; entries must tile [0, dataBytes) exactly (as the Python reader requires).
  std::sort(h.entries.begin(), h.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const SafetensorsEntry& e : h.entries) {
    SINGA_CHECK(e.begin == expected, IoError,
                what << ": tensor '" << printable(e.name) << "' starts at data byte " << e.begin << " but the previous tensor ends at "
                     << expected << " (overlapping or gapped data_offsets; the header is corrupt)");
    expected = e.end;
  }
  h.dataBytes = expected;
  const uint64_t have = fileSize - h.dataStart;
  if (!allowShortData && have != h.dataBytes) {
    for (const SafetensorsEntry& e : h.entries) {
      SINGA_CHECK(e.end <= have, IoError,
                  what << " is truncated: tensor '" << printable(e.name) << "' needs data bytes [" << e.begin << ", " << e.end
                       << ") but the file holds " << have << " data bytes");
    }
    SINGA_THROW(IoError, what << " is corrupt: " << have - h.dataBytes << " bytes follow the last tensor's data");
  }
  return h;
}

}  // namespace

uint64_t safetensorsHeaderLength(std::string_view first8, uint64_t fileSize, const std::string& what) {
  SINGA_CHECK(first8.size() >= 8 && fileSize >= 8, IoError,
              what << " is truncated: " << fileSize << " bytes, fewer than the 8-byte header length");
  const uint64_t headerLen = readLe64(first8);
  SINGA_CHECK(headerLen <= kMaxHeaderBytes, IoError,
              what << " is not a safetensors file or is corrupt: header length " << headerLen
                   << " exceeds the 100 MB limit");
  SINGA_CHECK(headerLen <= fileSize - 8, IoError,
              what << " is truncated: its header needs " << headerLen << " bytes, only " << fileSize - 8
                   << " follow the length");
  return headerLen;
}

SafetensorsHeader parseSafetensorsHeader(const std::string& bytes, const std::string& what, bool allowShortData) {
  return parseHeader(bytes, bytes.size(), what, allowShortData);
}

SafetensorsHeader parseSafetensorsFileHeader(std::string_view prefix, uint64_t fileSize, const std::string& what) {
  return parseHeader(prefix, fileSize, what, /*allowShortData=*/false);
}

const char* safetensorsDtypeName(DType dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  SINGA_THROW(TypeError, "safetensors: dtype " << dtypeName(dtype) << " has no safetensors name");
}

DType dtypeFromSafetensors(const std::string& name, const std::string& what) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  SINGA_THROW(IoError, what << " has dtype '" << printable(name, 32)
                            << "', which singa does not read (F32 F64 F16 BF16 I8 I16 I32 I64 U8 U16 U32 U64 BOOL F8_E4M3 F8_E5M2)");
}

std::string encodeSafetensors(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SINGA_CHECK(t.defined(), ValueError, "safetensors: tensor '" << name << "' is undefined");
    SINGA_CHECK(name != "__metadata__", ValueError, "safetensors: '__metadata__' cannot name a tensor");
    Tensor c = t.to(Device::cpu()).contiguous();
    const uint64_t n = c.nbytes();
    header[name] = {{"dtype", safetensorsDtypeName(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    host.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  out += json;
  for (const Tensor& c : host) {
    if (c.nbytes() > 0) out.append(static_cast<const char*>(c.rawData()), c.nbytes());
  }
  return out;
}

Tensor allocateSafetensorsTensor(const SafetensorsEntry& entry, const std::string& what) {
  try {
    return Tensor(entry.shape, entry.dtype);
  } catch (const MemoryError& err) {
    SINGA_THROW(MemoryError, what << ": tensor '" << printable(entry.name) << "' " << entry.shape << " cannot be loaded: "
                                  << err.what());
  }
}

void checkSafetensorsBools(const Tensor& t, const SafetensorsEntry& entry, const std::string& what) {
  if (entry.dtype != DType::kBool) return;
  // Only 0 and 1 are valid bool bytes (anything else is undefined behaviour when read as bool).
  const auto* b = static_cast<const unsigned char*>(t.rawData());
  for (uint64_t i = 0; i < entry.end - entry.begin; ++i) {
    SINGA_CHECK(b[i] <= 1, IoError, what << ": tensor '" << printable(entry.name) << "' (BOOL) holds byte " << int{b[i]}
                                         << " at element " << i << "; only 0 and 1 are valid");
  }
}

std::map<std::string, Tensor> decodeSafetensors(const std::string& bytes, const std::string& what,
                                                std::map<std::string, std::string>* metadata) {
  SafetensorsHeader h = parseSafetensorsHeader(bytes, what);
  std::map<std::string, Tensor> out;
  for (const SafetensorsEntry& e : h.entries) {
    Tensor t = allocateSafetensorsTensor(e, what);
    if (e.end > e.begin) std::memcpy(t.rawData(), bytes.data() + h.dataStart + e.begin, e.end - e.begin);
    checkSafetensorsBools(t, e, what);
    out.emplace(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(h.metadata);
  return out;
}

}  // namespace singa
