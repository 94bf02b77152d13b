// ImageDecoder (ai.onnx opset 20): decodes an encoded image (a 1-D uint8 tensor holding the file's
// bytes) into uint8 pixels [H, W, C] with the project's JPEG / PNG decoders (src/data/image.h:
// libjpeg-turbo and libspng, dimensions bounded before any pixel memory is allocated). RGB and
// BGR give 3 channels, Grayscale 1 (colour reduced with the ITU-R 601 luma weights in 16-bit
// fixed point, as PIL's convert("L") does, which the ONNX reference uses). Other formats (BMP,
// PNM, TIFF, WebP, JPEG 2000) are refused with an error naming the format. Inference only.
#include "singa/data/image.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/converters_ml.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// The name of a container format recognised by its signature but not decoded here ("" if none).
std::string unsupportedFormat(const std::vector<uint8_t>& d) {
  auto starts = [&](std::initializer_list<int> sig) {
    size_t i = 0;
    for (int b : sig) {
      if (i >= d.size() || d[i++] != b) return false;
    }
    return true;
  };
  if (starts({'B', 'M'})) return "BMP";
  if (d.size() >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PNM";
  if (starts({'I', 'I', 42, 0}) || starts({'M', 'M', 0, 42})) return "TIFF";
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
                            " images are not supported; singa decodes JPEG and PNG (convert the image first)");
  }
  const Image img = decodeImage(bytes.data(), bytes.size(), "ImageDecoder node '" + ctx.nodeName + "' input");
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
