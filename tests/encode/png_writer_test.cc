// PngWriter, the non-libpng path of PngEncoder for single-filter presets: exact round trips for
// every filter x bit depth x channel count on odd sizes, the filter byte of every row, text
// chunks byte-identical to libpng's, IDAT splitting, pngcheck, and which path PngEncoder takes.
#include <zlib.h>

#include <catch.hpp>
#include <cstring>
#include <random>

#include "daemon/encode/png_encoder.h"
#include "daemon/encode/png_writer.h"
#include "encode_test_util.h"
#include "png_test_util.h"

namespace imgsink {
namespace {

using testing::Chunk;
using testing::Chunks;
using testing::DecodedPng;
using testing::DecodeOrFail;
using testing::EncodeOrFail;
using testing::MakeNaturalImage;
using testing::RowFilters;
using testing::Text;

// The IDAT payload sizes, in file order.
std::vector<size_t> IdatSizes(const std::vector<uint8_t>& png) {
  std::vector<size_t> sizes;
  for (const Chunk& c : Chunks(png))
    if (c.type == "IDAT") sizes.push_back(c.bytes.size() - 12);
  return sizes;
}

const std::pair<PngFilter, int> kWriterFilters[] = {
    {PngFilter::kNone, 0}, {PngFilter::kSub, 1}, {PngFilter::kUp, 2}, {PngFilter::kPaeth, 4}};

TEST_CASE("PNG writer round-trips every filter, depth, channel count and odd size exactly", "[png][writer]") {
  for (auto [filter, code] : kWriterFilters) {
    for (int bits : {8, 16}) {
      for (int channels = 1; channels <= 4; ++channels) {
        for (auto [w, h] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{75, 33}, std::pair{256, 256}}) {
          const Image image = MakeNaturalImage(w, h, channels, bits, uint32_t(w + 7 * channels + bits));
          PngOptions opts;
          opts.bit_depth = bits;
          opts.filter = filter;
          CAPTURE(code, bits, channels, w, h);
          const auto png = EncodeOrFail(image, opts);
          const DecodedPng decoded = DecodeOrFail(png);
          CHECK(decoded.image.width == w);
          CHECK(decoded.image.height == h);
          CHECK(decoded.image.channels == channels);
          CHECK(decoded.image.bit_depth == bits);
          CHECK(decoded.image.pixels == image.pixels);
          CHECK(RowFilters(png, image) == std::vector<int>(h, code));  // row 0 included
        }
      }
    }
  }
}

TEST_CASE("PNG writer text and header chunks are byte-identical to libpng's, in its order", "[png][writer]") {
  const Text text = {{"step", "1200"},
                     {"caf\xC3\xA9", "na\xC3\xAFve"},              // Latin-1: tEXt
                     {"prompt", "\xE7\x8C\xAB \xF0\x9F\x90\x88"},  // CJK + emoji: iTXt
                     {"empty", ""},
                     {"note", ""}};
  for (int bits : {8, 16}) {
    for (int channels = 1; channels <= 4; ++channels) {
      const Image image = MakeNaturalImage(9, 5, channels, bits);
      PngOptions libpng_opts = PngOptions::Pil();  // filter `all`: the libpng path
      libpng_opts.bit_depth = bits;
      PngOptions writer_opts;  // paeth: PngWriter
      writer_opts.bit_depth = bits;
      const std::vector<Chunk> old_chunks = Chunks(EncodeOrFail(image, libpng_opts, text));
      const auto png = EncodeOrFail(image, writer_opts, text);
      const std::vector<Chunk> new_chunks = Chunks(png);
      CAPTURE(bits, channels);
      // Both hold one IDAT here; every other chunk must match byte for byte.
      REQUIRE(old_chunks.size() == new_chunks.size());
      for (size_t i = 0; i < old_chunks.size(); ++i) {
        CHECK(old_chunks[i].type == new_chunks[i].type);
        if (new_chunks[i].type != "IDAT") CHECK(old_chunks[i].bytes == new_chunks[i].bytes);
      }
      const DecodedPng decoded = DecodeOrFail(png);
      CHECK(decoded.text_kind == std::vector<std::string>{"tEXt", "tEXt", "iTXt", "tEXt", "tEXt"});
      CHECK(decoded.image.pixels == image.pixels);
    }
  }
}

Image Noise(int width, int height, int channels) {
  Image image;
  image.width = width, image.height = height, image.channels = channels, image.bit_depth = 8;
  image.pixels.resize(image.row_bytes() * size_t(height));
  std::mt19937 rng(5);
  for (uint8_t& p : image.pixels) p = uint8_t(rng());
  return image;
}

TEST_CASE("PNG writer splits IDAT chunks at max_idat_bytes and they decode", "[png][writer]") {
  const Image image = MakeNaturalImage(75, 33, 3, 16);
  PngWriter writer;
  writer.set_max_idat_bytes(100);
  std::vector<uint8_t> png;
  REQUIRE(writer.Write(image, PngRowFilter::kPaeth, 6, Z_DEFAULT_STRATEGY, {{"k", "v", false}}, &png).ok());
  const std::vector<size_t> sizes = IdatSizes(png);
  CHECK(sizes.size() > 10);
  for (size_t s : sizes) CHECK((s >= 1 && s <= 100));
  CHECK(DecodeOrFail(png).image.pixels == image.pixels);

  // The default 1 MiB limit, through the encoder: ~1.5 MiB of stored noise needs two chunks.
  const Image noise = Noise(1024, 512, 3);
  PngOptions opts;
  opts.compress_level = 0;
  const auto big = EncodeOrFail(noise, opts);
  const std::vector<size_t> big_sizes = IdatSizes(big);
  REQUIRE(big_sizes.size() == 2);
  CHECK(big_sizes[0] == PngWriter::kDefaultMaxIdatBytes);
  CHECK(DecodeOrFail(big).image.pixels == noise.pixels);

  testing::TempDir dir;
  testing::WriteFile(dir.path() + "/small.png", png.data(), png.size());
  testing::WriteFile(dir.path() + "/big.png", big.data(), big.size());
  std::string output;
  const int rc = testing::RunCommand("pngcheck -q " + dir.path() + "/small.png " + dir.path() + "/big.png", &output);
  INFO(output);
  CHECK(rc == 0);
  CHECK(output.empty());
}

TEST_CASE("PNG encoder: none/sub/up/paeth take PngWriter, all and avg keep libpng", "[png][writer]") {
  const Image image = MakeNaturalImage(256, 256, 3, 8);
  const Text text = {{"step", "3"}};
  const std::vector<PngTextChunk> chunks = {{"step", "3", false}};
  PngWriter writer;
  std::vector<uint8_t> direct;
  for (auto [filter, code] : kWriterFilters) {
    PngOptions opts;
    opts.filter = filter;
    REQUIRE(writer.Write(image, PngRowFilter(code), opts.compress_level, Z_RLE, chunks, &direct).ok());
    CAPTURE(code);
    CHECK(EncodeOrFail(image, opts, text) == direct);
  }
  // libpng flushes its 8 KiB zlib buffer as one IDAT each; PngWriter writes one IDAT up to 1 MiB.
  for (PngFilter filter : {PngFilter::kAll, PngFilter::kAvg}) {
    PngOptions opts = PngOptions::Pil();
    opts.filter = filter;
    const std::vector<size_t> sizes = IdatSizes(EncodeOrFail(image, opts, text));
    REQUIRE(sizes.size() > 1);
    CHECK(sizes[0] == 8192);
  }
}

}  // namespace
}  // namespace imgsink
