// Image decoding: every PNG layout and the JPEG kinds a data set holds, compared with what Pillow
// decodes from the same files (written by tests/data/gen_images.py at build time), and damaged or
// crafted files, each refused with an IoError naming the file.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "data/image_samples.h"
#include "singa/core/durable_io.h"
#include "singa/core/error.h"
#include "singa/image/image.h"
#include "tests/data/scratch_dir.h"

namespace singa {
namespace {

namespace fs = std::filesystem;

class ImageFiles : public test::ScratchDirTest {
 protected:
  // The IoError message of decoding `bytes` written to `name` ("(no error)" when it decodes).
  std::string errorOf(const std::string& name, const std::string& bytes, const DecodeLimits& limits = {}) {
    const std::string path = write(name, bytes);
    try {
      readImageFile(path, limits);
    } catch (const IoError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << "the message must name the file: " << what;
      return what;
    }
    return "(no error)";
  }
};

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  return s;
}

// A PNG chunk with its CRC.
std::string pngChunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  return be32(static_cast<uint32_t>(data.size())) + body + be32(crc32Of(body.data(), body.size()));
}

const std::string kPngSignature = "\x89PNG\r\n\x1a\n";

std::string pngHeader(uint32_t width, uint32_t height) {
  return kPngSignature + pngChunk("IHDR", be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5));
}

// The offset just past the (first) IDAT chunk's data.
size_t idatEnd(const std::string& png) {
  const size_t at = png.find("IDAT");
  const uint32_t len = (uint32_t(uint8_t(png[at - 4])) << 24) | (uint32_t(uint8_t(png[at - 3])) << 16) |
                       (uint32_t(uint8_t(png[at - 2])) << 8) | uint8_t(png[at - 1]);
  return at + 4 + len;
}

void expectContains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "expected '" << part << "' in: " << message;
}

TEST(ImageDecode, MatchesPillow) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  int cases = 0;
  for (const SampleCase& c : set.cases) {
    if (c.kind != "decode") continue;
    SCOPED_TRACE(c.file);
    const Image img = readImageFile(set.dir + "/" + c.file);
    ASSERT_EQ(img.height, c.height);
    ASSERT_EQ(img.width, c.width);
    ASSERT_EQ(img.channels, c.channels);
    const std::string want = readFile(set.dir + "/" + c.ref);
    ASSERT_EQ(img.pixels.size(), want.size());
    int64_t differ = 0;
    for (size_t i = 0; i < want.size(); ++i) differ += img.pixels[i] != static_cast<uint8_t>(want[i]);
    EXPECT_EQ(differ, 0) << "bytes that differ from Pillow's decode";
    ++cases;
  }
  EXPECT_GE(cases, 18);
}

TEST(ImageDecode, SignatureNotExtensionChoosesTheDecoder) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  const std::string png = readFile(set.dir + "/rgb.png");
  const Image a = decodeImage(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "named_like.jpg");
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.width, 13);
}

TEST(ImageDecode, ImageExtensions) {
  for (const char* yes : {"a.jpg", "b.JPEG", "dir.x/c.Png", "d.jpeg", ".png"}) EXPECT_TRUE(hasImageExtension(yes)) << yes;
  for (const char* no : {"a.gif", "jpg", "a.jpg.txt", "a.pn", "a", "a.", "png.bmp"}) EXPECT_FALSE(hasImageExtension(no)) << no;
}

TEST_F(ImageFiles, DamagedFilesAreRefusedNamingTheFile) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  const std::string png = readFile(set.dir + "/rgb.png");
  const std::string jpg = readFile(set.dir + "/rgb.jpg");
  const std::string progressive = readFile(set.dir + "/progressive.jpg");

  expectContains(errorOf("half.png", png.substr(0, png.size() / 2)), "corrupt or truncated");
  // Complete image data without the IEND chunk after it decodes, as in Pillow.
  EXPECT_EQ(errorOf("no_iend.png", png.substr(0, png.size() - 12)), "(no error)");
  expectContains(errorOf("cut_in_idat.png", png.substr(0, idatEnd(png) - 9)), "corrupt or truncated");
  expectContains(errorOf("header_only.png", png.substr(0, 20)), "corrupt or truncated");
  expectContains(errorOf("half.jpg", jpg.substr(0, jpg.size() / 2)), "corrupt or truncated");
  expectContains(errorOf("half_progressive.jpg", progressive.substr(0, progressive.size() * 2 / 3)), "truncated");
  expectContains(errorOf("soi_only.jpg", jpg.substr(0, 4)), "JPEG");

  // The IHDR CRC (bytes 29..32) and, with a valid CRC, damaged compressed data.
  std::string badCrc = png;
  badCrc[30] = static_cast<char>(badCrc[30] ^ 0x55);
  expectContains(errorOf("bad_crc.png", badCrc), "corrupt");
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  const size_t idatLen = idatEnd(png) - idat - 4;
  std::string data = png.substr(idat + 4, idatLen);
  for (size_t i = 2; i < data.size(); i += 3) data[i] = static_cast<char>(data[i] ^ 0xA5);
  const std::string badZlib = png.substr(0, idat - 4) + pngChunk("IDAT", data) + png.substr(idat + 4 + idatLen + 4);
  expectContains(errorOf("bad_zlib.png", badZlib), "corrupt");

  // A JPEG whose frame header is damaged (its length field zeroed).
  const size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  std::string badSof = jpg;
  badSof[sof + 2] = 0;
  badSof[sof + 3] = 0;
  EXPECT_NE(errorOf("bad_sof.jpg", badSof), "(no error)");

  expectContains(errorOf("text.png", "hello, this is not an image\n"), "not a JPEG or PNG");
  expectContains(errorOf("empty.jpg", ""), "empty");
  expectContains(errorOf("gif.png", "GIF89a\x01\x00\x01\x00"), "unknown signature");
  try {
    readImageFile((dir_ / "missing.png").string());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    expectContains(e.what(), "missing.png");
  }
  EXPECT_THROW(readImageFile(dir_.string()), IoError);  // a directory
}

TEST_F(ImageFiles, HugeDimensionsAreRefusedBeforeAllocating) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  // 10^10 pixels (30 GB as RGB) declared by 57 bytes.
  std::string msg = errorOf("huge.png", pngHeader(100000, 100000) + pngChunk("IEND", ""));
  expectContains(msg, "100000x100000");
  expectContains(msg, "limit");
  // The largest PNG dimensions there are.
  expectContains(errorOf("widest.png", pngHeader(0x7FFFFFFF, 0x7FFFFFFF) + pngChunk("IEND", "")), "corrupt");
  expectContains(errorOf("zero.png", pngHeader(0, 5) + pngChunk("IEND", "")), "corrupt");

  // A JPEG frame header claiming 65000x65000.
  std::string jpg = readFile(set.dir + "/rgb.jpg");
  const size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {
    jpg[at] = static_cast<char>(0xFD);
    jpg[at + 1] = static_cast<char>(0xE8);
  }
  msg = errorOf("huge.jpg", jpg);
  expectContains(msg, "65000x65000");
  expectContains(msg, "limit");

  // Limits given by the caller.
  DecodeLimits small;
  small.maxPixels = 98;  // gray.png is 11x9 = 99 pixels
  expectContains(errorOf("limit.png", readFile(set.dir + "/gray.png"), small), "11x9");
  small.maxPixels = 99;
  EXPECT_EQ(errorOf("fits.png", readFile(set.dir + "/gray.png"), small), "(no error)");
  small.maxFileBytes = 10;
  EXPECT_NE(errorOf("big_file.png", readFile(set.dir + "/gray.png"), small), "(no error)");
}

TEST_F(ImageFiles, HugeChunkLengthsAreRefused) {
  const std::string head = pngHeader(8, 8);
  // An ancillary chunk claiming 2 GiB, an IDAT claiming 4 GiB - 1 (past PNG's 2^31 - 1), and a
  // text chunk whose compressed text would inflate past the chunk limit.
  expectContains(errorOf("big_text.png", head + be32(0x7FFFFFF0) + "tEXtabc"), "corrupt");
  expectContains(errorOf("big_idat.png", head + be32(0xFFFFFFFF) + "IDATxyz"), "corrupt");
  expectContains(errorOf("big_exif.png", head + be32(0x7FFFFFFF) + "eXIf" + std::string(64, 'M')), "metadata chunk");
  // An ICC profile chunk inflating to 32 MiB (libspng inflates it while reading the chunks).
  std::vector<uint8_t> zeros(size_t{32} << 20, 0);
  uLongf packedLen = compressBound(static_cast<uLong>(zeros.size()));
  std::string packed(packedLen, '\0');
  ASSERT_EQ(compress(reinterpret_cast<Bytef*>(packed.data()), &packedLen, zeros.data(), static_cast<uLong>(zeros.size())), Z_OK);
  packed.resize(packedLen);
  const std::string iccp = pngChunk("iCCP", std::string("icc\0\0", 5) + packed);
  expectContains(errorOf("icc_bomb.png", head + iccp + pngChunk("IEND", "")), "metadata chunk");
  expectContains(errorOf("idat_missing.png", head + pngChunk("IEND", "")), "corrupt");
}

TEST_F(ImageFiles, JpegWithThousandsOfScansIsRefused) {
  const SampleSet set = loadSamples();
  if (!set.skipReason.empty()) GTEST_SKIP() << set.skipReason;
  const std::string jpg = readFile(set.dir + "/progressive.jpg");
  // A comment segment right after SOI holding 1500 start-of-scan marker bytes.
  std::string comment;
  for (int i = 0; i < 1500; ++i) comment += "\xFF\xDA";
  const uint16_t len = static_cast<uint16_t>(comment.size() + 2);
  const std::string segment = std::string("\xFF\xFE", 2) + static_cast<char>(len >> 8) + static_cast<char>(len & 0xFF) + comment;
  expectContains(errorOf("scans.jpg", jpg.substr(0, 2) + segment + jpg.substr(2)), "scans");
}

}  // namespace
}  // namespace singa
