// Image files (JPEG, PNG) decoded into 8-bit pixels for image-folder data sets. The decoders are
// libjpeg-turbo's TurboJPEG API and libspng, both of which report errors by return code; the
// format is chosen by the file's signature, never by its extension. Every file is treated as
// hostile: its dimensions are checked against DecodeLimits before any pixel memory is allocated,
// and a truncated or corrupt file is an IoError naming it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace singa {

/// A decoded 8-bit image, interleaved (HWC), 1 channel (grayscale) or 3 (RGB).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

/// Bounds on what one image file may ask for.
struct DecodeLimits {
  /// width * height above this is refused (IoError naming the file, its dimensions and the limit).
  int64_t maxPixels = int64_t{1} << 28;
  /// Files larger than this are refused before they are read.
  int64_t maxFileBytes = int64_t{1} << 30;
};

/// Decodes JPEG or PNG bytes, chosen by signature (not extension). Grayscale (and gray+alpha)
/// becomes 1 channel; RGB, RGBA, palette and CMYK/YCCK JPEG become 3 channels RGB (alpha dropped,
/// as PIL's convert("RGB") does); 16-bit PNG samples keep their high byte. The pixels equal what
/// PIL (Pillow) decodes, except 16-bit grayscale, which PIL clips instead of scaling.
/// Throws IoError naming `name` for data that is not an image (unknown signature), truncated or
/// corrupt data, and dimensions over `limits`.
Image decodeImage(const uint8_t* data, size_t size, const std::string& name, const DecodeLimits& limits = {});

/// Reads the regular file `path` (at most limits.maxFileBytes; IoError naming the path when it is
/// missing, not a regular file, too large or unreadable) and decodes it.
Image readImageFile(const std::string& path, const DecodeLimits& limits = {});

/// True for names ending in .jpg, .jpeg or .png (any case).
bool hasImageExtension(const std::string& filename);

}  // namespace singa
