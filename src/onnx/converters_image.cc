// ImageDecoder (ai.onnx opset 20): decodes an encoded image (a 1-D uint8 tensor holding the file's
// bytes) into uint8 pixels [H, W, C]. JPEG and PNG go to the project's decoders (src/image/image.h:
// libjpeg-turbo and libspng); the uncompressed formats are read here: BMP (24/32-bit BI_RGB and
// 8-bit palette), binary PNM (P5 gray, P6 RGB, maxval 255) and baseline TIFF (uncompressed 8-bit
// gray / RGB strips). Every header is validated against the data's length and the dimensions are
// bounded before pixel memory is allocated. RGB and BGR give 3 channels, Grayscale 1 (colour
// reduced with the ITU-R 601 luma weights in 16-bit fixed point, as PIL's convert("L") does, which
// the ONNX reference uses). WebP and JPEG 2000 are refused with an error naming the format.
#include <algorithm>
#include <cctype>
#include <map>

#include "singa/core/shape.h"
#include "singa/image/image.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/converters_ml.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// Bounds-checked little / big endian reads from the encoded bytes.
struct ByteReader {
  const std::vector<uint8_t>& d;
  const ConvertContext& ctx;
  const char* format;
  bool bigEndian = false;

  uint32_t u(size_t at, int bytes) const {
    ctx.check(at + static_cast<size_t>(bytes) <= d.size() && at + static_cast<size_t>(bytes) >= at,
              std::string("the ") + format + " data is truncated (a header field lies past its end)");
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      const uint32_t b = d[at + static_cast<size_t>(i)];
      v |= bigEndian ? b << (8 * (bytes - 1 - i)) : b << (8 * i);
    }
    return v;
  }
  void checkDims(int64_t w, int64_t h) const {
    ctx.check(w > 0 && h > 0 && w <= kMaxImagePixels / h,
              std::string("the ") + format + " image's dimensions " + std::to_string(w) + "x" + std::to_string(h) +
                  " are empty or exceed " + std::to_string(kMaxImagePixels) + " pixels");
  }
  void checkRange(uint64_t at, uint64_t bytes) const {
    ctx.check(at <= d.size() && bytes <= d.size() - at, std::string("the ") + format + " pixel data is truncated");
  }
};

Image decodeBmp(const ConvertContext& ctx, const std::vector<uint8_t>& d) {
  ByteReader rd{d, ctx, "BMP"};
  const uint32_t dataAt = rd.u(10, 4), dibSize = rd.u(14, 4);
  ctx.check(dibSize >= 40, "only BMP files with a BITMAPINFOHEADER (or later) header are supported");
  const auto width = static_cast<int32_t>(rd.u(18, 4)), rawHeight = static_cast<int32_t>(rd.u(22, 4));
  const uint32_t bpp = rd.u(28, 2), compression = rd.u(30, 4);
  ctx.check(compression == 0 && (bpp == 24 || bpp == 32 || bpp == 8),
            "only uncompressed (BI_RGB) 8-bit palette, 24-bit and 32-bit BMP files are supported, got " +
                std::to_string(bpp) + "-bit with compression " + std::to_string(compression));
  const bool topDown = rawHeight < 0;
  const int64_t w = width, h = topDown ? -static_cast<int64_t>(rawHeight) : rawHeight;
  rd.checkDims(w, h);
  const uint64_t stride = (static_cast<uint64_t>(w) * bpp / 8 + 3) / 4 * 4;
  rd.checkRange(dataAt, stride * static_cast<uint64_t>(h));
  std::vector<uint8_t> palette;
  if (bpp == 8) {
    const uint32_t used = rd.u(46, 4);
    const uint32_t colors = used == 0 ? 256 : std::min<uint32_t>(used, 256);
    rd.checkRange(14 + static_cast<uint64_t>(dibSize), uint64_t{4} * colors);
    palette.assign(d.begin() + 14 + dibSize, d.begin() + 14 + dibSize + 4 * colors);
  }
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(w * h * 3));
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = d.data() + dataAt + stride * static_cast<uint64_t>(topDown ? y : h - 1 - y);
    uint8_t* dst = img.pixels.data() + y * w * 3;
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* px = row + x * (bpp / 8);
      if (bpp == 8) {
        ctx.check(size_t{4} * px[0] + 2 < palette.size(), "a BMP pixel names a colour past the palette");
        px = palette.data() + 4 * px[0];
      }
      dst[x * 3] = px[2];  // stored as B, G, R
      dst[x * 3 + 1] = px[1];
      dst[x * 3 + 2] = px[0];
    }
  }
  return img;
}

Image decodePnm(const ConvertContext& ctx, const std::vector<uint8_t>& d) {
  ctx.check(d[1] == '5' || d[1] == '6', "only binary PNM files (P5 gray, P6 RGB) are supported, got P" + std::string(1, static_cast<char>(d[1])));
  size_t at = 2;
  auto number = [&]() {
    while (at < d.size() && (std::isspace(d[at]) || d[at] == '#')) {
      if (d[at] == '#') {
        while (at < d.size() && d[at] != '\n') ++at;
      } else {
        ++at;
      }
    }
    int64_t v = 0;
    const size_t begin = at;
    while (at < d.size() && std::isdigit(d[at]) && v < kMaxImagePixels) v = v * 10 + (d[at++] - '0');
    ctx.check(at > begin, "the PNM header is malformed (a number is missing)");
    return v;
  };
  const int64_t w = number(), h = number(), maxval = number();
  ctx.check(at < d.size() && std::isspace(d[at]), "the PNM header is malformed");
  ++at;
  ctx.check(maxval == 255, "only PNM files with maxval 255 are supported, got " + std::to_string(maxval));
  ByteReader rd{d, ctx, "PNM"};
  rd.checkDims(w, h);
  Image img;
  img.width = w;
  img.height = h;
  img.channels = d[1] == '6' ? 3 : 1;
  const auto bytes = static_cast<uint64_t>(w * h * img.channels);
  rd.checkRange(at, bytes);
  img.pixels.assign(d.begin() + static_cast<std::ptrdiff_t>(at), d.begin() + static_cast<std::ptrdiff_t>(at + bytes));
  return img;
}

Image decodeTiff(const ConvertContext& ctx, const std::vector<uint8_t>& d) {
  ByteReader rd{d, ctx, "TIFF", d[0] == 'M'};
  const uint32_t ifd = rd.u(4, 4);
  const uint32_t entries = rd.u(ifd, 2);
  std::map<uint32_t, std::vector<uint32_t>> tags;
  for (uint32_t e = 0; e < entries; ++e) {
    const size_t at = ifd + 2 + size_t{12} * e;
    const uint32_t tag = rd.u(at, 2), type = rd.u(at + 2, 2), count = rd.u(at + 4, 4);
    const int size = type == 3 ? 2 : type == 4 ? 4 : type == 1 ? 1 : 0;
    if (size == 0) continue;  // rationals, ASCII: not needed to read the pixels
    ctx.check(count <= d.size(), "a TIFF tag's count exceeds the data");
    const size_t base = static_cast<uint64_t>(count) * static_cast<uint64_t>(size) <= 4 ? at + 8 : rd.u(at + 8, 4);
    std::vector<uint32_t> values;
    for (uint32_t i = 0; i < count; ++i) values.push_back(rd.u(base + size_t{i} * static_cast<size_t>(size), size));
    tags[tag] = std::move(values);
  }
  auto tag = [&](uint32_t id, uint32_t dflt) { return tags.count(id) && !tags[id].empty() ? tags[id][0] : dflt; };
  const int64_t w = tag(256, 0), h = tag(257, 0);
  const uint32_t spp = tag(277, 1), compression = tag(259, 1), photometric = tag(262, 1), planar = tag(284, 1);
  for (uint32_t bits : tags.count(258) ? tags[258] : std::vector<uint32_t>{1}) {
    ctx.check(bits == 8, "only 8-bit TIFF samples are supported");
  }
  ctx.check(compression == 1 && planar == 1 && ((photometric == 2 && spp >= 3) || (photometric <= 1 && spp >= 1)),
            "only uncompressed, interleaved 8-bit grayscale or RGB TIFF files are supported");
  rd.checkDims(w, h);
  const std::vector<uint32_t> offsets = tags[273], counts = tags[279];
  ctx.check(!offsets.empty() && offsets.size() == counts.size(), "the TIFF strip offsets / byte counts are missing or differ in length");
  std::vector<uint8_t> raw;
  const uint64_t want = static_cast<uint64_t>(w * h) * spp;
  for (size_t s = 0; s < offsets.size() && raw.size() < want; ++s) {
    rd.checkRange(offsets[s], counts[s]);
    const uint64_t take = std::min<uint64_t>(counts[s], want - raw.size());
    raw.insert(raw.end(), d.begin() + offsets[s], d.begin() + static_cast<std::ptrdiff_t>(offsets[s] + take));
  }
  ctx.check(raw.size() == want, "the TIFF strips hold fewer bytes than the image needs");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = photometric == 2 ? 3 : 1;
  img.pixels.resize(static_cast<size_t>(w * h * img.channels));
  for (int64_t p = 0; p < w * h; ++p) {
    for (int64_t c = 0; c < img.channels; ++c) {
      uint8_t v = raw[static_cast<size_t>(p * spp + c)];
      if (photometric == 0) v = static_cast<uint8_t>(255 - v);  // WhiteIsZero
      img.pixels[static_cast<size_t>(p * img.channels + c)] = v;
    }
  }
  return img;
}

// The name of a container format recognised by its signature but not decoded here ("" if none).
std::string unsupportedFormat(const std::vector<uint8_t>& d) {
  auto starts = [&](std::initializer_list<int> sig) {
    size_t i = 0;
    for (int b : sig) {
      if (i >= d.size() || d[i++] != b) return false;
    }
    return true;
  };
  if (starts({'R', 'I', 'F', 'F'}) && d.size() >= 12 && d[8] == 'W' && d[9] == 'E' && d[10] == 'B' && d[11] == 'P')
    return "WebP";
  if (starts({0, 0, 0, 12, 'j', 'P'}) || starts({0xFF, 0x4F, 0xFF, 0x51})) return "JPEG 2000";
  return "";
}

Tensors convertImageDecoder(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& encoded = requireInput(ctx, in, 0, "encoded_stream");
  ctx.check(encoded.dtype() == DType::kUInt8 && encoded.ndim() == 1,
            "encoded_stream must be a 1-D uint8 tensor (the image file's bytes)");
  const std::string format = ctx.attrs.getString("pixel_format", "RGB");
  ctx.check(format == "RGB" || format == "BGR" || format == "Grayscale",
            "pixel_format must be RGB, BGR or Grayscale, got '" + format + "'");
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(encoded.numel()));
  for (int64_t b : intsOf(encoded)) bytes.push_back(static_cast<uint8_t>(b));
  const std::string other = unsupportedFormat(bytes);
  if (!other.empty()) {
    throw NotSupportedError(other +
                            " images are not supported; singa decodes JPEG, PNG, BMP, binary PNM and uncompressed TIFF (convert the image first)");
  }
  auto starts = [&](const char* sig, size_t n) { return bytes.size() >= n && std::equal(sig, sig + n, bytes.begin()); };
  const Image img = starts("BM", 2)                                         ? decodeBmp(ctx, bytes)
                    : starts("P", 1) && bytes.size() > 2 && std::isdigit(bytes[1]) ? decodePnm(ctx, bytes)
                    : starts("II*\0", 4) || starts("MM\0*", 4)                  ? decodeTiff(ctx, bytes)
                    : decodeImage(bytes.data(), bytes.size(), "ImageDecoder node '" + ctx.nodeName + "' input");
  const int64_t pixels = img.height * img.width;
  const int64_t channels = format == "Grayscale" ? 1 : 3;
  checkHostBuffer(ctx, checkedMul(pixels, channels, "ImageDecoder output"), sizeof(int64_t), "the decoded image");
  std::vector<int64_t> out(static_cast<size_t>(pixels * channels));
  for (int64_t p = 0; p < pixels; ++p) {
    const uint8_t* src = img.pixels.data() + p * img.channels;
    const int r = src[0], g = img.channels == 3 ? src[1] : src[0], b = img.channels == 3 ? src[2] : src[0];
    int64_t* dst = out.data() + p * channels;
    if (channels == 1) {
      dst[0] = img.channels == 1 ? r : (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    } else {
      dst[0] = format == "RGB" ? r : b;
      dst[1] = g;
      dst[2] = format == "RGB" ? b : r;
    }
  }
  return one(fromInts(out, {img.height, img.width, channels}, DType::kUInt8, encoded.device()));
}

}  // namespace

void registerImageDecoderConverter(ConverterRegistry& r) { r.add("ImageDecoder", 20, convertImageDecoder, false); }

}  // namespace singa::onnxio
