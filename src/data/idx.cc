// IDX reading through zlib: gzopen/gzread handle both gzip and plain files, so the data set
// may be shipped either way. Every failure names the file, the expectation and what was found.
#include "data/idx.h"

#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace singa {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `bytes` into dst; returns how many bytes were read. Throws on a zlib error
// (corrupt gzip stream).
int64_t readSome(gzFile f, const std::string& path, void* dst, int64_t bytes) {
  int64_t done = 0;
  char* p = static_cast<char*>(dst);
  while (done < bytes) {
    const int64_t chunk = std::min<int64_t>(bytes - done, 1 << 30);
    const int got = gzread(f, p + done, static_cast<unsigned>(chunk));
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      SINGA_THROW(IoError, "IDX file '" << path << "': read error (" << (msg ? msg : "unknown")
                                        << "); the file is corrupt, re-download or reinstall it");
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

std::string hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex;
  os.width(8);
  os.fill('0');
  os << v;
  return os.str();
}

}  // namespace

Tensor readIdx(const std::string& path, uint32_t expectedMagic) {
  struct stat st {};
  SINGA_CHECK(::stat(path.c_str(), &st) == 0, IoError,
              "IDX file '" << path << "' does not exist or cannot be accessed");
  GzFile file(gzopen(path.c_str(), "rb"));
  SINGA_CHECK(file != nullptr, IoError, "IDX file '" << path << "' cannot be opened for reading");
  gzFile f = file.get();

  unsigned char head[4];
  const int64_t gotHead = readSome(f, path, head, 4);
  SINGA_CHECK(gotHead == 4, IoError,
              "IDX file '" << path << "' is truncated: expected a 4-byte header, found " << gotHead
                           << " bytes");
  const uint32_t magic = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) |
                         (uint32_t{head[2]} << 8) | uint32_t{head[3]};
  const std::string wanted =
      expectedMagic == 0 ? hex32(kIdxImagesMagic) + " (images) or " + hex32(kIdxLabelsMagic) + " (labels)"
                         : hex32(expectedMagic);
  const bool ok = expectedMagic != 0 ? magic == expectedMagic
                                      : (magic == kIdxImagesMagic || magic == kIdxLabelsMagic);
  if (!ok) {
    std::ostringstream typeNote;
    if (head[2] != 0x08) {
      typeNote << " (its type byte 0x" << std::hex << int{head[2]} << " is not 0x08 = unsigned byte)";
    }
    SINGA_THROW(IoError, "IDX file '" << path << "': bad magic number " << hex32(magic) << typeNote.str()
                                      << ", expected " << wanted
                                      << "; the file is not the expected MNIST IDX file or is corrupt");
  }

  const int ndim = head[3];
  std::vector<unsigned char> dimBytes(static_cast<size_t>(ndim) * 4);
  const int64_t gotDims = readSome(f, path, dimBytes.data(), static_cast<int64_t>(dimBytes.size()));
  SINGA_CHECK(gotDims == static_cast<int64_t>(dimBytes.size()), IoError,
              "IDX file '" << path << "' is truncated: expected " << dimBytes.size()
                           << " bytes of dimensions after the header, found " << gotDims);
  Shape shape(static_cast<size_t>(ndim));
  int64_t total = 1, nonzero = 1;
  for (int i = 0; i < ndim; ++i) {
    const unsigned char* b = &dimBytes[static_cast<size_t>(i) * 4];
    const uint32_t d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
    shape[i] = d;
    // 16 GiB is far beyond any IDX data set; a larger product means a corrupt header. Checked
    // before multiplying: the product of two 32-bit dims can overflow int64 (hardening for the fuzz tests).
    // Zero dims are skipped in the bound (a [0, 2^32-1, 2^32-1] tensor still needs strides that
    // overflow; found by the fuzz_idx target).
    SINGA_CHECK(d == 0 || nonzero <= (int64_t{1} << 34) / static_cast<int64_t>(d), IoError,
                "IDX file '" << path << "': implausible dimensions " << shape
                             << " in the header; the file is corrupt");
    if (d != 0) nonzero *= static_cast<int64_t>(d);
    total *= static_cast<int64_t>(d);
  }

  const int64_t headerBytes = 4 + 4 * static_cast<int64_t>(ndim);
  // A plain (uncompressed) file's size is known before allocating anything.
  if (gzdirect(f)) {
    const int64_t found = static_cast<int64_t>(st.st_size) - headerBytes;
    SINGA_CHECK(found >= total, IoError,
                "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                             << " bytes of data, found " << found);
  }

  // A gzip file's size says little: read it in bounded chunks first, so a corrupt header in a
  // tiny file cannot make us allocate up to 16 GiB before the truncation is noticed.
  std::string compressedData;
  if (!gzdirect(f)) {
    int64_t have = 0;
    while (have < total) {
      const int64_t chunk = std::min<int64_t>(total - have, int64_t{64} << 20);
      compressedData.resize(static_cast<size_t>(have + chunk));
      const int64_t n = readSome(f, path, &compressedData[static_cast<size_t>(have)], chunk);
      have += n;
      if (n < chunk) break;
    }
    compressedData.resize(static_cast<size_t>(have));
    SINGA_CHECK(have == total, IoError,
                "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                             << " bytes of data, found " << have);
  }
  Tensor out(shape, DType::kUInt8);
  const int64_t got = gzdirect(f) ? readSome(f, path, out.rawData(), total) : total;
  if (!gzdirect(f) && total > 0) std::memcpy(out.rawData(), compressedData.data(), static_cast<size_t>(total));
  SINGA_CHECK(got == total, IoError,
              "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                           << " bytes of data, found " << got);
  unsigned char extra;
  const int64_t trailing = readSome(f, path, &extra, 1);
  SINGA_CHECK(trailing == 0, IoError,
              "IDX file '" << path << "' has bytes after the " << total << " data bytes that its dimensions "
                           << shape << " describe; the file is corrupt");
  return out;
}

}  // namespace singa
