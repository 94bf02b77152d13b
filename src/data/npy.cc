// NumPy .npy reading (see npy.h). The format: "\x93NUMPY", a major and a minor version byte, the
// header length (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), the header (ASCII, UTF-8
// in 3.0) ending in '\n', then the data.
#include "singa/data/npy.h"

#include <cstring>
#include <limits>
#include <optional>

#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/memory_limit.h"

namespace singa {
namespace {

// numpy itself refuses headers past 10000 bytes by default; a real one is under 200.
constexpr size_t kMaxHeader = 65536;

struct Header {
  std::optional<std::string> descr;
  std::optional<bool> fortranOrder;
  std::optional<Shape> shape;
};

// A strict reader of the header's dict literal: string keys, and string / True / False / tuple
// of non-negative integers values.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  Header parse() {
    Header h;
    expect('{');
    while (true) {
      skip();
      if (peek() == '}') break;
      const std::string key = str();
      expect(':');
      if (key == "descr") {
        SINGA_CHECK(!h.descr, ValueError, what_ << ": the .npy header repeats 'descr'");
        h.descr = str();
      } else if (key == "fortran_order") {
        SINGA_CHECK(!h.fortranOrder, ValueError, what_ << ": the .npy header repeats 'fortran_order'");
        h.fortranOrder = boolean();
      } else if (key == "shape") {
        SINGA_CHECK(!h.shape, ValueError, what_ << ": the .npy header repeats 'shape'");
        h.shape = tuple();
      } else {
        fail("an unknown key '" + key + "'");
      }
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip();
      if (peek() != '}') fail("',' or '}' after the value of '" + key + "'");
    }
    ++pos_;
    skip();
    if (pos_ != s_.size()) fail("text after the closing '}'");
    SINGA_CHECK(h.descr && h.fortranOrder && h.shape, ValueError,
                what_ << ": the .npy header lacks " << (!h.descr ? "'descr'" : !h.fortranOrder ? "'fortran_order'" : "'shape'")
                      << "; was the file written by numpy.save?");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& wanted) const {
    SINGA_THROW(ValueError, what_ << ": malformed .npy header (" << wanted << " at character " << pos_
                                  << "); was the file written by numpy.save?");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    skip();
    if (peek() != c) fail(std::string("'") + c + "'");
    ++pos_;
  }
  std::string str() {
    skip();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("a quoted string");
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("the end of a string");
    std::string v = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    skip();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("True or False");
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (true) {
      skip();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("a dimension (a non-negative integer)");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        SINGA_CHECK(v <= (std::numeric_limits<int64_t>::max() - digit) / 10, ValueError,
                    what_ << ": a dimension of the .npy shape does not fit 64 bits");
        v = v * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 longs
      shape.push_back(v);
      SINGA_CHECK(shape.size() <= 64, ValueError, what_ << ": the .npy shape has more than 64 dimensions");
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("',' or ')' in the shape");
    }
    ++pos_;
    return shape;
  }

  const std::string& s_;
  const std::string& what_;
  size_t pos_ = 0;
};

DType dtypeOfDescr(const std::string& descr, const std::string& what) {
  SINGA_CHECK(descr.size() >= 2, ValueError, what << ": unknown .npy dtype '" << descr << "'");
  const char order = descr[0];
  const std::string kind = descr.substr(1);
  SINGA_CHECK(order != '>', ValueError,
              what << ": big-endian data ('" << descr << "'); save it little-endian, e.g. "
                   << "numpy.save(path, a.astype(a.dtype.newbyteorder('<')))");
  SINGA_CHECK(order == '<' || order == '|' || order == '=', ValueError,
              what << ": unknown .npy dtype '" << descr << "'");
  if (kind == "u1") return DType::kUInt8;
  if (kind == "b1") return DType::kBool;
  if (kind == "i4") return DType::kInt32;
  if (kind == "i8") return DType::kInt64;
  if (kind == "f4") return DType::kFloat32;
  if (kind == "f8") return DType::kFloat64;
  SINGA_THROW(ValueError, what << ": .npy dtype '" << descr
                               << "' is not supported (uint8, bool, int32, int64, float32 and float64 are); "
                                  "convert it with numpy's astype before saving");
}

}  // namespace

Tensor parseNpy(const std::string& bytes, const std::string& what) {
  static const char kMagic[] = "\x93NUMPY";
  SINGA_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), kMagic, 6) == 0, ValueError,
              what << ": not a .npy file (no \\x93NUMPY magic); write it with numpy.save");
  const int major = static_cast<unsigned char>(bytes[6]);
  SINGA_CHECK(major >= 1 && major <= 3, ValueError,
              what << ": .npy format version " << major << "." << static_cast<int>(static_cast<unsigned char>(bytes[7]))
                   << " is not supported (1.0 to 3.0 are)");
  const size_t lenBytes = major == 1 ? 2 : 4;
  SINGA_CHECK(bytes.size() >= 8 + lenBytes, ValueError, what << ": the .npy file ends inside its header");
  size_t headerLen = 0;
  for (size_t i = 0; i < lenBytes; ++i) headerLen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
  SINGA_CHECK(headerLen <= kMaxHeader, ValueError,
              what << ": the .npy header claims " << headerLen << " bytes (more than " << kMaxHeader << "); a corrupt file?");
  const size_t dataOffset = 8 + lenBytes + headerLen;
  SINGA_CHECK(bytes.size() >= dataOffset, ValueError,
              what << ": the .npy file ends inside its header (" << bytes.size() << " bytes, header to " << dataOffset << ")");
  const Header h = HeaderParser(bytes.substr(8 + lenBytes, headerLen), what).parse();
  const DType dtype = dtypeOfDescr(*h.descr, what);
  SINGA_CHECK(!*h.fortranOrder, ValueError,
              what << ": Fortran-order data; save a C-order array (numpy.save(path, numpy.ascontiguousarray(a)))");
  size_t nbytes = 0;
  try {
    nbytes = checkedBytes(numelOf(*h.shape), dtypeSize(dtype), "npy data");
  } catch (const ShapeError& e) {
    SINGA_THROW(ValueError, what << ": the .npy shape cannot be held: " << e.what());
  }
  const size_t have = bytes.size() - dataOffset;
  SINGA_CHECK(have == nbytes, ValueError,
              what << ": the .npy shape " << *h.shape << " of " << *h.descr << " needs " << nbytes << " bytes of data but the file holds "
                   << have << (have < nbytes ? " (a truncated file?)" : " (trailing bytes: a corrupt file?)"));
  Tensor t(*h.shape, dtype);
  if (nbytes > 0) std::memcpy(t.rawData(), bytes.data() + dataOffset, nbytes);
  if (dtype == DType::kBool) normalizeBools(t);
  return t;
}

Tensor loadNpy(const std::string& path) {
  const std::string bytes = readRegularFile(path, ".npy file", static_cast<int64_t>(
      std::min<size_t>(memoryLimit(), static_cast<size_t>(std::numeric_limits<int64_t>::max()))));
  return parseNpy(bytes, "'" + path + "'");
}

}  // namespace singa
