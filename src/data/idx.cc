// IDX reading through zlib: gzdopen/gzread handle both gzip and plain files, so the data set
// may be shipped either way. Every failure names the file, the expectation and what was found.
// The files may be hostile: only regular files are read (a FIFO or /dev/zero would block or never
// end), and nothing is allocated beyond what the header declares, after checking that the file
// can hold it; a gzip file is inflated in bounded chunks straight into the tensor.
#include "singa/data/idx.h"

#include <unistd.h>
#include <zlib.h>


#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "singa/core/error.h"
#include "singa/core/file_read.h"

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


// A deflate stream expands at most 1032:1 (a 258-byte match per two bits), so a gzip file of S
// bytes decompresses to fewer than this many: an upper bound known before anything is inflated.
int64_t maxInflatedBytes(int64_t compressedBytes) {
  return compressedBytes > (INT64_MAX - 1024) / 1032 ? INT64_MAX : compressedBytes * 1032 + 1024;
}

}  // namespace

Tensor readIdx(const std::string& path, uint32_t expectedMagic) {
  int64_t fileBytes = 0;
  const int fd = openRegularFile(path, "IDX file", &fileBytes);
  GzFile file(gzdopen(fd, "rb"));
  if (file == nullptr) ::close(fd);
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
  const bool gzip = !gzdirect(f);
  // Everything that can be known before allocating is checked first: a plain file's size is its
  // data, and a gzip file's size bounds what it can inflate to (a small file whose header claims
  // gigabytes is refused without allocating them).
  if (!gzip) {
    const int64_t found = fileBytes - headerBytes;
    SINGA_CHECK(found >= total, IoError,
                "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                             << " bytes of data, found " << found);
    SINGA_CHECK(found == total, IoError,
                "IDX file '" << path << "' has bytes after the " << total << " data bytes that its dimensions "
                             << shape << " describe (" << found << " data bytes); the file is corrupt");
  } else {
    SINGA_CHECK(total <= maxInflatedBytes(fileBytes), IoError,
                "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                             << " bytes of data, but a " << fileBytes << "-byte gzip file inflates to at most "
                             << maxInflatedBytes(fileBytes) << "; the header is corrupt");
  }
  // Only what the header declares is allocated (under the allocation ceiling) and decompressed,
  // straight into the tensor, one bounded chunk at a time.
  Tensor out;
  try {
    out = Tensor(shape, DType::kUInt8);
  } catch (const Error& e) {  // the allocation ceiling, or no memory left below it
    SINGA_THROW(MemoryError, "IDX file '" << path << "': dimensions " << shape << " declare " << total
                                          << " bytes of data, which cannot be loaded: " << e.what());
  }
  const int64_t got = readSome(f, path, out.rawData(), total);
  SINGA_CHECK(got == total, IoError,
              "IDX file '" << path << "' is truncated: dimensions " << shape << " need " << total
                           << " bytes of data, found " << got << (gzip ? " after decompression" : ""));
  unsigned char extra;
  const int64_t trailing = readSome(f, path, &extra, 1);
  SINGA_CHECK(trailing == 0, IoError,
              "IDX file '" << path << "' has bytes after the " << total << " data bytes that its dimensions "
                           << shape << " describe" << (gzip ? " (its decompressed data holds more than the header declares)" : "")
                           << "; the file is corrupt");
  return out;
}

}  // namespace singa
