// JPEG and PNG decoding (see image.h) through TurboJPEG and libspng. Both libraries report errors
// by return code (TurboJPEG's own setjmp stays inside the library), so every failure here becomes
// an IoError naming the file. The header is read first and its dimensions checked against the
// limits before pixel memory is allocated. The pixels match what Pillow decodes for the same file,
// so that a data set read here feeds a model what torchvision's ImageFolder would.
#include <turbojpeg.h>
#include <spng.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <new>

#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/memory_limit.h"
#include "singa/image/image.h"

namespace singa {
namespace {

// A progressive JPEG costs one pass over the whole image per scan; a crafted file can repeat
// empty scans to make a tiny file decode for minutes. Real encoders write about 10.
constexpr int64_t kMaxJpegScans = 1000;
// Ancillary PNG chunks (text, ICC profiles, EXIF) are parsed by libspng; bound what it may keep.
constexpr size_t kPngChunkLimit = size_t{16} << 20;
constexpr size_t kPngChunkCacheLimit = size_t{64} << 20;

bool isPng(const uint8_t* d, size_t n) {
  static const uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(d, kSig, 8) == 0;
}

bool isJpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

void checkDims(int64_t width, int64_t height, const std::string& name, const char* format,
               const DecodeLimits& limits) {
  SINGA_CHECK(width > 0 && height > 0, IoError,
              "image '" << name << "': the " << format << " header is incomplete or declares an empty " << width
                        << "x" << height << " image; the file is corrupt or truncated");
  SINGA_CHECK(width <= limits.maxPixels / height, IoError,
              "image '" << name << "': " << width << "x" << height << " pixels (" << format
                        << ") are more than the limit of " << limits.maxPixels
                        << " pixels (DecodeLimits::maxPixels); shrink the image or raise the limit");
}

// Allocates n bytes of pixels under the process's memory ceiling.
std::vector<uint8_t> pixelBuffer(size_t n, const std::string& name) {
  try {
    checkAllocation(n, 0);
  } catch (const MemoryError& e) {
    SINGA_THROW(MemoryError, "image '" << name << "' cannot be decoded: it " << e.what());
  }
  try {
    return std::vector<uint8_t>(n);
  } catch (const std::bad_alloc&) {
    SINGA_THROW(MemoryError, "image '" << name << "' (" << formatBytes(static_cast<double>(n))
                                       << " of pixels) does not fit in memory");
  }
}

// ---- JPEG ---------------------------------------------------------------------------------------

// One decompressor per thread, reused across images. TurboJPEG 2.1 leaves a decompressor whose
// header read failed in the middle of its marker parser (the next header then misparses), so a
// failed one is destroyed and the next image gets a fresh one.
class JpegDecompressor {
 public:
  JpegDecompressor() {
    thread_local std::unique_ptr<void, int (*)(tjhandle)> cached(nullptr, tjDestroy);
    slot_ = &cached;
    if (!cached) cached.reset(tjInitDecompress());
    SINGA_CHECK(cached, Error, "TurboJPEG could not create a decompressor: " << tjGetErrorStr2(nullptr));
  }
  tjhandle get() const { return slot_->get(); }
  /// Drops the decompressor after a failure; the next image creates a new one.
  void discard() { slot_->reset(); }

 private:
  std::unique_ptr<void, int (*)(tjhandle)>* slot_;
};

// Start-of-scan markers (FF DA); entropy-coded data never contains them (an FF there is followed
// by 00 or a restart marker), so this counts scans, plus any in metadata such as thumbnails.
int64_t countJpegScans(const uint8_t* d, size_t n) {
  int64_t scans = 0;
  const uint8_t* end = d + n;
  for (const uint8_t* p = d; p + 1 < end;) {
    p = static_cast<const uint8_t*>(std::memchr(p, 0xFF, static_cast<size_t>(end - p - 1)));
    if (!p) break;
    if (p[1] == 0xDA) ++scans;
    ++p;
  }
  return scans;
}

// PIL decodes CMYK JPEGs with Adobe's inverted convention and converts to RGB as
// R = (255 - K) - (255 - K) * C / 255, with C = 255 - stored and K = 255 - stored (rounded
// division by 255, as Pillow's MULDIV255).
uint8_t cmykChannel(int storedInk, int storedBlack) {
  const int nk = storedBlack;
  const int t = (255 - storedInk) * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

Image decodeJpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeLimits& limits) {
  JpegDecompressor decompressor;
  tjhandle tj = decompressor.get();
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsamp, &colorspace) != 0) {
    const std::string why = tjGetErrorStr2(tj);
    decompressor.discard();
    SINGA_THROW(IoError, "image '" << name << "': not a readable JPEG header (" << why
                                   << "); the file is corrupt or truncated");
  }
  checkDims(width, height, name, "JPEG", limits);
  const int64_t scans = countJpegScans(data, size);
  SINGA_CHECK(scans <= kMaxJpegScans, IoError,
              "image '" << name << "': the JPEG has " << scans << " scans, more than the " << kMaxJpegScans
                        << " any encoder writes (a crafted file?)");
  Image img;
  img.height = height;
  img.width = width;
  const bool gray = colorspace == TJCS_GRAY;
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  img.channels = gray ? 1 : 3;
  const int format = gray ? TJPF_GRAY : (cmyk ? TJPF_CMYK : TJPF_RGB);
  const int64_t decodedChannels = gray ? 1 : (cmyk ? 4 : 3);
  const int64_t pixels = int64_t{width} * height;  // <= maxPixels, checked above
  std::vector<uint8_t> decoded = pixelBuffer(static_cast<size_t>(pixels * decodedChannels), name);
  if (tjDecompress2(tj, data, static_cast<unsigned long>(size), decoded.data(), width, 0, height, format, 0) != 0) {
    // libjpeg repairs damaged entropy data with a warning, and Pillow accepts such files; a file
    // that ends early (libjpeg's "Premature end of JPEG file") is truncated, as Pillow says too.
    const std::string why = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || why.find("Premature end") != std::string::npos) {
      decompressor.discard();
      SINGA_THROW(IoError, "image '" << name << "': the JPEG data is corrupt or truncated (" << why << ")");
    }
  }
  if (!cmyk) {
    img.pixels = std::move(decoded);
    return img;
  }
  img.pixels = pixelBuffer(static_cast<size_t>(pixels * 3), name);
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* in = decoded.data() + 4 * i;
    for (int c = 0; c < 3; ++c) img.pixels[3 * i + c] = cmykChannel(in[c], in[3]);
  }
  return img;
}

// ---- PNG ----------------------------------------------------------------------------------------

struct SpngContext {
  spng_ctx* ctx = spng_ctx_new(0);
  ~SpngContext() {
    if (ctx) spng_ctx_free(ctx);
  }
};

void spngCheck(int rc, const std::string& name, const char* step) {
  SINGA_CHECK(rc != SPNG_ECHUNK_LIMITS, IoError,
              "image '" << name << "': a PNG metadata chunk (text, ICC profile, EXIF) is larger than the "
                        << (kPngChunkLimit >> 20) << " MiB (" << (kPngChunkCacheLimit >> 20)
                        << " MiB in all) this reader accepts; strip the metadata or re-save the image");
  SINGA_CHECK(rc == 0, IoError,
              "image '" << name << "': the PNG data is corrupt or truncated (" << step << ": " << spng_strerror(rc) << ")");
}

Image decodePng(const uint8_t* data, size_t size, const std::string& name, const DecodeLimits& limits) {
  SpngContext png;
  SINGA_CHECK(png.ctx, MemoryError, "image '" << name << "': libspng could not create a decoder");
  const uint32_t sideLimit = static_cast<uint32_t>(std::min<int64_t>(limits.maxPixels, 0x7FFFFFFF));
  spngCheck(spng_set_image_limits(png.ctx, std::max<uint32_t>(sideLimit, 1), std::max<uint32_t>(sideLimit, 1)),
            name, "image limits");
  spngCheck(spng_set_chunk_limits(png.ctx, kPngChunkLimit, kPngChunkCacheLimit), name, "chunk limits");
  spngCheck(spng_set_png_buffer(png.ctx, data, size), name, "buffer");
  spng_ihdr ihdr{};
  spngCheck(spng_get_ihdr(png.ctx, &ihdr), name, "header");
  checkDims(ihdr.width, ihdr.height, name, "PNG", limits);

  Image img;
  img.height = ihdr.height;
  img.width = ihdr.width;
  const bool grayType = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  img.channels = grayType ? 1 : 3;
  const int64_t pixels = img.height * img.width;  // <= maxPixels, checked above
  // 8-bit (or lower) gray, RGB and palette images decode straight into the result; 16-bit ones
  // and gray+alpha decode in the file's own layout (big-endian samples), whose high bytes are kept.
  // (libspng has already refused a palette deeper than 8 bits.)
  const bool direct = ihdr.bit_depth <= 8 && ihdr.color_type != SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  const int fmt = direct ? (grayType ? SPNG_FMT_G8 : SPNG_FMT_RGB8) : SPNG_FMT_RAW;
  int64_t samples = img.channels;
  if (!direct) {
    samples = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1
              : ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2
              : ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3 : 4;
  }
  const int64_t bytesPerSample = direct ? 1 : ihdr.bit_depth / 8;
  size_t decodedSize = 0;
  spngCheck(spng_decoded_image_size(png.ctx, fmt, &decodedSize), name, "image size");
  const int64_t expected = pixels * samples * bytesPerSample;  // <= 2^28 * 8
  SINGA_CHECK(decodedSize == static_cast<size_t>(expected), IoError,
              "image '" << name << "': libspng reports " << decodedSize << " bytes for a " << img.width << "x"
                        << img.height << " PNG, expected " << expected << " (an unsupported layout)");
  std::vector<uint8_t> decoded = pixelBuffer(decodedSize, name);
  spngCheck(spng_decode_image(png.ctx, decoded.data(), decodedSize, fmt, 0), name, "image data");
  if (direct) {
    img.pixels = std::move(decoded);
    return img;
  }
  img.pixels = pixelBuffer(static_cast<size_t>(pixels * img.channels), name);
  const int64_t stride = samples * bytesPerSample;
  for (int64_t i = 0; i < pixels; ++i) {
    for (int64_t c = 0; c < img.channels; ++c) {
      img.pixels[i * img.channels + c] = decoded[i * stride + c * bytesPerSample];
    }
  }
  return img;
}

}  // namespace

Image decodeImage(const uint8_t* data, size_t size, const std::string& name, const DecodeLimits& limits) {
  SINGA_CHECK(limits.maxPixels > 0 && limits.maxFileBytes > 0, ValueError,
              "DecodeLimits: maxPixels and maxFileBytes must be positive");
  SINGA_CHECK(size <= static_cast<uint64_t>(limits.maxFileBytes), IoError,
              "image '" << name << "' has " << size << " bytes, more than the limit of " << limits.maxFileBytes
                        << " (DecodeLimits::maxFileBytes)");
  if (isPng(data, size)) return decodePng(data, size, name, limits);
  if (isJpeg(data, size)) return decodeJpeg(data, size, name, limits);
  SINGA_THROW(IoError, "image '" << name << "' is not a JPEG or PNG file (" << (size == 0 ? "it is empty" : "unknown signature")
                                 << "); remove it from the data set or convert it");
}

Image readImageFile(const std::string& path, const DecodeLimits& limits) {
  const std::string bytes = readRegularFile(path, "image", limits.maxFileBytes);
  return decodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path, limits);
}

bool hasImageExtension(const std::string& filename) {
  const size_t dot = filename.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = filename.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

}  // namespace singa
