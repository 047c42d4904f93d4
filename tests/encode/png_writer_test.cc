// PngWriter, the non-libpng path of PngEncoder for single-filter presets: exact round trips for
// every filter x bit depth x channel count on odd sizes through both deflate engines (igzip for
// the fast preset, zlib otherwise), the filter byte of every row, the fast preset's per-image
// filter choice and zlib retry, its size against PIL's settings, text chunks byte-identical to
// libpng's, IDAT splitting, pngcheck, and which path PngEncoder takes.
#include <zlib.h>

#include <algorithm>
#include <catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "daemon/encode/png_encoder.h"
#include "daemon/encode/png_writer.h"
#include "encode_test_util.h"
#include "png_test_util.h"

namespace imgsink::daemon {
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

// The first two bytes of the zlib stream (the first IDAT's payload): 78 01 from igzip (it
// writes FLEVEL 0), 78 9C from zlib level 6, 78 01 from zlib levels 0-1 too.
std::pair<int, int> ZlibHeader(const std::vector<uint8_t>& png) {
  for (const Chunk& c : Chunks(png))
    if (c.type == "IDAT") return {c.bytes[8], c.bytes[9]};
  return {-1, -1};
}

TEST_CASE("PNG writer round-trips every filter, depth, channel count and odd size exactly", "[png][writer]") {
  PngOptions zlib_path;  // level 2: zlib (PngWriter::Write)
  zlib_path.compress_level = 2;
  for (const PngOptions& base : {PngOptions::Fast(), zlib_path}) {
    for (auto [filter, code] : kWriterFilters) {
      for (int bits : {8, 16}) {
        for (int channels = 1; channels <= 4; ++channels) {
          for (auto [w, h] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{75, 33}, std::pair{256, 256}}) {
            const Image image = MakeNaturalImage(w, h, channels, bits, uint32_t(w + 7 * channels + bits));
            PngOptions opts = base;
            opts.bit_depth = bits;
            opts.filter = filter;
            // The fast preset's paeth is the per-image choice (ChoosePngRowFilter).
            const bool chosen = base.compress_level == 1 && filter == PngFilter::kPaeth;
            const int expected = chosen ? int(ChoosePngRowFilter(image)) : code;
            CAPTURE(base.compress_level, code, bits, channels, w, h);
            const auto png = EncodeOrFail(image, opts);
            const DecodedPng decoded = DecodeOrFail(png);
            CHECK(decoded.image.width == w);
            CHECK(decoded.image.height == h);
            CHECK(decoded.image.channels == channels);
            CHECK(decoded.image.bit_depth == bits);
            CHECK(decoded.image.pixels == image.pixels);
            // RowFilters inflates with zlib's uncompress, which also checks the Adler-32 trailer.
            CHECK(RowFilters(png, image) == std::vector<int>(h, expected));  // row 0 included
          }
        }
      }
    }
  }
}

// MNIST-like: 28x28 tiles of black with a bright anti-aliased ring, in a padded 8x8 grid.
Image DigitGrid(int channels) {
  Image image;
  image.width = image.height = 8 * 30 + 2;
  image.channels = channels, image.bit_depth = 8;
  image.pixels.assign(image.row_bytes() * size_t(image.height), 0);
  for (int tile = 0; tile < 64; ++tile) {
    const int x0 = 2 + 30 * (tile % 8), y0 = 2 + 30 * (tile / 8);
    const double radius = 5.0 + tile % 5, cx = 13.5 + tile % 3, cy = 13.5 - tile % 4;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const double d = std::abs(std::hypot(x - cx, y - cy) - radius);
        const uint8_t v = uint8_t(255.0 * std::clamp(2.0 - d, 0.0, 1.0));
        for (int c = 0; c < channels; ++c) image.pixels[(size_t(y0 + y) * image.width + x0 + x) * channels + c] = v;
      }
    }
  }
  return image;
}

// A noise-free render: smooth waves and a hard-edged box, as natural_batch(noise=0).
Image CleanRender(int channels) {
  Image image;
  image.width = image.height = 256;
  image.channels = channels, image.bit_depth = 8;
  image.pixels.resize(image.row_bytes() * size_t(image.height));
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      const double u = x / 256.0, v = y / 256.0;
      for (int c = 0; c < channels; ++c) {
        double value = 0.5 + 0.2 * std::sin(6.0 * u + 3.0 * v + c) + 0.15 * std::cos(9.0 * v - 2.0 * u);
        if (u > 0.3 && u < 0.6 && v > 0.2 && v < 0.5) value = 0.8 - 0.2 * c + 0.3 * (v - 0.2);
        image.pixels[(size_t(y) * 256 + x) * channels + c] = uint8_t(std::lround(255.0 * value));
      }
    }
  }
  return image;
}

TEST_CASE("PNG fast preset: igzip stream, filter chosen per image, zlib retry on flat content", "[png][writer]") {
  // Natural content: igzip's stream, a predicting filter (this image varies mostly along x:
  // `up` wins) on every row.
  const Image natural = MakeNaturalImage(256, 256, 3, 8);
  const PngRowFilter natural_filter = ChoosePngRowFilter(natural);
  CHECK(natural_filter != PngRowFilter::kNone);
  const auto natural_png = EncodeOrFail(natural, PngOptions::Fast());
  CHECK(ZlibHeader(natural_png) == std::pair{0x78, 0x01});
  CHECK(RowFilters(natural_png, natural) == std::vector<int>(256, int(natural_filter)));
  CHECK(DecodeOrFail(natural_png).image.pixels == natural.pixels);
  PngWriter writer;
  std::vector<uint8_t> zlib_png;
  REQUIRE(writer.Write(natural, natural_filter, 1, Z_RLE, {}, &zlib_png).ok());
  CHECK(natural_png != zlib_png);  // not zlib's bytes: the igzip path ran

  // Digits on black: a cheaper filter than paeth, and zlib level 6's stream when smaller.
  for (int channels : {1, 3}) {
    const Image digits = DigitGrid(channels);
    const PngRowFilter chosen = ChoosePngRowFilter(digits);
    CAPTURE(channels, int(chosen));
    CHECK(chosen != PngRowFilter::kPaeth);
    const auto png = EncodeOrFail(digits, PngOptions::Fast());
    CHECK(RowFilters(png, digits) == std::vector<int>(size_t(digits.height), int(chosen)));
    CHECK(DecodeOrFail(png).image.pixels == digits.pixels);
    std::vector<uint8_t> level6;
    REQUIRE(writer.Write(digits, chosen, PngWriter::kZlibRetryLevel, Z_DEFAULT_STRATEGY, {}, &level6).ok());
    std::vector<uint8_t> fast;
    REQUIRE(writer.WriteFast(digits, chosen, {}, &fast).ok());
    CHECK(fast == png);
    CHECK(fast.size() <= level6.size());
  }

  // A noise-free render compresses below kZlibRetryRatio: zlib level 6 wins the retry.
  const Image clean = CleanRender(3);
  const auto clean_png = EncodeOrFail(clean, PngOptions::Fast());
  CHECK(ZlibHeader(clean_png) == std::pair{0x78, 0x9C});
  CHECK(DecodeOrFail(clean_png).image.pixels == clean.pixels);

  // IDAT rotation inside igzip's stream (and the retry's): many small chunks, same pixels.
  for (const Image* image : {&natural, &clean}) {
    PngWriter small;
    small.set_max_idat_bytes(97);
    std::vector<uint8_t> png;
    REQUIRE(small.WriteFast(*image, PngRowFilter::kPaeth, {{"k", "v", false}}, &png).ok());
    const std::vector<size_t> sizes = IdatSizes(png);
    CHECK(sizes.size() > 10);
    for (size_t s : sizes) CHECK((s >= 1 && s <= 97));
    CHECK(DecodeOrFail(png).image.pixels == image->pixels);
  }
}

TEST_CASE("PNG fast preset stays within 5 % of PIL's settings on gray, RGB, RGBA, digits, clean", "[png][writer]") {
  std::vector<std::pair<std::string, Image>> images;
  for (int channels = 1; channels <= 4; ++channels) {
    images.emplace_back("natural " + std::to_string(channels), MakeNaturalImage(256, 256, channels, 8, 3));
  }
  images.emplace_back("digits gray", DigitGrid(1));
  images.emplace_back("digits rgb", DigitGrid(3));
  images.emplace_back("clean gray", CleanRender(1));
  images.emplace_back("clean rgb", CleanRender(3));
  for (const auto& [name, image] : images) {
    const auto fast = EncodeOrFail(image, PngOptions::Fast());
    const auto pil = EncodeOrFail(image, PngOptions::Pil());
    CAPTURE(name, fast.size(), pil.size());
    CHECK(double(fast.size()) <= 1.05 * double(pil.size()));
    CHECK(DecodeOrFail(fast).image.pixels == image.pixels);
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
    PngOptions opts;  // level 1 + rle: WriteFast, paeth chosen per image
    opts.filter = filter;
    const PngRowFilter fast_filter = filter == PngFilter::kPaeth ? ChoosePngRowFilter(image) : PngRowFilter(code);
    REQUIRE(writer.WriteFast(image, fast_filter, chunks, &direct).ok());
    CAPTURE(code);
    CHECK(EncodeOrFail(image, opts, text) == direct);
    opts.strategy = PngStrategy::kFiltered;  // any other level or strategy: Write (zlib)
    REQUIRE(writer.Write(image, PngRowFilter(code), opts.compress_level, Z_FILTERED, chunks, &direct).ok());
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
}  // namespace imgsink::daemon
