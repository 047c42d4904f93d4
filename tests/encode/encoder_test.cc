// encoder.h: the factory gives each format of the table its encoder, the interface encodes with
// the request's options for that format, and the encoders' limits are the table's.
#include "daemon/encode/encoder.h"

#include <catch.hpp>
#include <cstring>

#include "encode_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::MakeNaturalImage;

// Returns true iff `bytes` starts with the file signature of `format`.
bool HasSignature(OutputFormat format, const std::vector<uint8_t>& bytes) {
  switch (format) {
    case OutputFormat::kPng:
      return bytes.size() > 8 && bytes[0] == 0x89 && bytes[1] == 'P' && bytes[2] == 'N' &&
             bytes[3] == 'G';
    case OutputFormat::kJpeg:
      return bytes.size() > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
    case OutputFormat::kWebp:  // RIFF....WEBP
      return bytes.size() > 12 && std::memcmp(bytes.data(), "RIFF", 4) == 0 &&
             std::memcmp(bytes.data() + 8, "WEBP", 4) == 0;
  }
  return false;
}

TEST_CASE("encoder: every format of the table has an encoder that writes it", "[encode]") {
  SaveRequest request;
  const TextEntries text = {{"step", "5"}};
  for (const FormatInfo& f : kFormatTable) {
    INFO("format " << f.name);
    const std::unique_ptr<Encoder> encoder = NewEncoder(f.format);
    REQUIRE(encoder != nullptr);
    CHECK(encoder->format() == f.format);
    CHECK(OutputBitDepth(f.format, request) == 8);
    std::vector<uint8_t> out;
    REQUIRE(encoder->Encode(MakeNaturalImage(9, 7, 3, 8), request, text, &out).ok());
    CHECK(HasSignature(f.format, out));
    // Alpha as the table says.
    const Status alpha = encoder->Encode(MakeNaturalImage(9, 7, 4, 8), request, {}, &out);
    CHECK(alpha.ok() == f.alpha);
    if (!f.alpha) CHECK(alpha.code() == ErrorCode::kBadFormat);
  }
}

TEST_CASE("encoder: each reads its own options of the request", "[encode]") {
  const Image image = MakeNaturalImage(32, 24, 3, 8);
  std::vector<uint8_t> a, b;
  SaveRequest request;
  request.png.compress_level = 0;  // stored, much larger than level 1
  const std::unique_ptr<Encoder> png = NewEncoder(OutputFormat::kPng);
  REQUIRE(png->Encode(image, SaveRequest(), {}, &a).ok());
  REQUIRE(png->Encode(image, request, {}, &b).ok());
  CHECK(b.size() > a.size());
  const std::unique_ptr<Encoder> jpeg = NewEncoder(OutputFormat::kJpeg);
  std::vector<uint8_t> c, d;
  REQUIRE(jpeg->Encode(image, request, {}, &c).ok());  // png options do not matter to JPEG
  REQUIRE(jpeg->Encode(image, SaveRequest(), {}, &d).ok());
  CHECK(c == d);
  request.jpeg.quality = 100;
  REQUIRE(jpeg->Encode(image, request, {}, &d).ok());
  CHECK(d.size() > c.size());
  const std::unique_ptr<Encoder> webp = NewEncoder(OutputFormat::kWebp);
  std::vector<uint8_t> e, g;
  REQUIRE(webp->Encode(image, request, {}, &e).ok());  // png, jpeg options do not matter to WebP
  REQUIRE(webp->Encode(image, SaveRequest(), {}, &g).ok());
  CHECK(e == g);
  request.webp.lossless = true;
  REQUIRE(webp->Encode(image, request, {}, &g).ok());
  CHECK(e != g);
  CHECK(std::memcmp(g.data() + 12, "VP8L", 4) == 0);  // the lossless bitstream
  // 16-bit output is what png_bits asks for, and PNG's alone.
  request.png.bit_depth = 16;
  CHECK(OutputBitDepth(OutputFormat::kPng, request) == 16);
  CHECK(OutputBitDepth(OutputFormat::kJpeg, request) == 8);
  CHECK(OutputBitDepth(OutputFormat::kWebp, request) == 8);
  REQUIRE(png->Encode(MakeNaturalImage(5, 4, 3, 16), request, {}, &a).ok());
  CHECK(a[24] == 16);  // IHDR bit depth
}

TEST_CASE("encoder: the JPEG encoder's size limit is the table's", "[encode]") {
  const int64_t max = FormatInfoOf(OutputFormat::kJpeg).max_dimension;
  const std::unique_ptr<Encoder> jpeg = NewEncoder(OutputFormat::kJpeg);
  std::vector<uint8_t> out;
  Image strip = MakeNaturalImage(int(max), 1, 1, 8);
  CHECK(jpeg->Encode(strip, SaveRequest(), {}, &out).ok());
  strip = MakeNaturalImage(int(max) + 1, 1, 1, 8);
  CHECK(jpeg->Encode(strip, SaveRequest(), {}, &out).code() == ErrorCode::kBadShape);
}

TEST_CASE("encoder: the WebP encoder's size limit is the table's", "[encode]") {
  const int64_t max = FormatInfoOf(OutputFormat::kWebp).max_dimension;
  const std::unique_ptr<Encoder> webp = NewEncoder(OutputFormat::kWebp);
  std::vector<uint8_t> out;
  Image strip = MakeNaturalImage(1, int(max), 3, 8);
  CHECK(webp->Encode(strip, SaveRequest(), {}, &out).ok());
  strip = MakeNaturalImage(1, int(max) + 1, 3, 8);
  CHECK(webp->Encode(strip, SaveRequest(), {}, &out).code() == ErrorCode::kBadShape);
}

}  // namespace
}  // namespace imgsink::daemon
