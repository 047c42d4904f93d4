// PngEncoder: round trips through two libpng read paths, every option, text chunks, errors,
// and pngcheck on the produced files.
#include <zlib.h>

#include <algorithm>
#include <catch.hpp>
#include <cstring>
#include <map>
#include <set>

#include "daemon/encode/png_encoder.h"
#include "encode_test_util.h"
#include "png_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::DecodedPng;
using testing::DecodeOrFail;
using testing::EncodeOrFail;
using testing::MakeNaturalImage;
using testing::RowFilters;
using testing::Text;

PngOptions Bits(int bit_depth) {
  PngOptions opts;
  opts.bit_depth = bit_depth;
  return opts;
}

TEST_CASE("PNG round-trips every channel count and bit depth exactly", "[png]") {
  for (int bits : {8, 16}) {
    for (int channels = 1; channels <= 4; ++channels) {
      for (auto [w, h] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{64, 48}}) {
        const Image image = MakeNaturalImage(w, h, channels, bits, uint32_t(w * 10 + channels));
        const auto png = EncodeOrFail(image, Bits(bits));
        CAPTURE(bits, channels, w, h);
        const DecodedPng decoded = DecodeOrFail(png);
        CHECK(decoded.image.width == w);
        CHECK(decoded.image.height == h);
        CHECK(decoded.image.channels == channels);
        CHECK(decoded.image.bit_depth == bits);
        CHECK(decoded.image.pixels == image.pixels);
        CHECK(decoded.text.empty());
        if (bits == 8) {
          Image simple;
          std::string error;
          if (!testing::DecodePngSimplified(png, channels, &simple, &error)) FAIL(error);
          CHECK(simple.pixels == image.pixels);
        }
      }
    }
  }
}

TEST_CASE("PNG 16-bit samples are stored big-endian as PNG requires", "[png]") {
  Image image;
  image.width = 2, image.height = 1, image.channels = 1, image.bit_depth = 16;
  const uint16_t samples[2] = {0x1234, 0xABCD};
  image.pixels.resize(4);
  std::memcpy(image.pixels.data(), samples, 4);
  PngOptions opts = Bits(16);
  opts.filter = PngFilter::kNone;
  opts.compress_level = 0;
  const auto png = EncodeOrFail(image, opts);
  // Level 0 stores the filtered row verbatim: filter byte 0 then the samples, big-endian.
  const uint8_t row[5] = {0, 0x12, 0x34, 0xAB, 0xCD};
  CHECK(std::search(png.begin(), png.end(), row, row + 5) != png.end());
}

TEST_CASE("PNG defaults are the fast preset; Pil() is PIL's settings", "[png]") {
  const PngOptions fast;
  CHECK(fast.compress_level == 1);
  CHECK(fast.filter == PngFilter::kPaeth);
  CHECK(fast.strategy == PngStrategy::kRle);
  CHECK(fast.bit_depth == 8);
  const PngOptions pil = PngOptions::Pil();
  CHECK(pil.compress_level == 6);
  CHECK(pil.filter == PngFilter::kAll);
  CHECK(pil.strategy == PngStrategy::kDefault);
  CHECK(pil.bit_depth == 8);
  // Same pixels; on natural-looking content the fast file is at most 10 % larger (issue 6).
  const Image image = MakeNaturalImage(256, 256, 3, 8);
  const auto fast_png = EncodeOrFail(image, fast);
  const auto pil_png = EncodeOrFail(image, pil);
  CHECK(DecodeOrFail(fast_png).image.pixels == image.pixels);
  CHECK(DecodeOrFail(pil_png).image.pixels == image.pixels);
  CHECK(double(fast_png.size()) <= 1.10 * double(pil_png.size()));
}

TEST_CASE("PNG files hold only IHDR, IDAT and IEND, as PIL writes them", "[png]") {
  const PngOptions opts = PngOptions::Pil();
  // Only IHDR, IDAT and IEND, as PIL writes without pnginfo/dpi.
  const auto png = EncodeOrFail(MakeNaturalImage(32, 32, 3, 8), opts);
  std::vector<std::string> chunks;
  for (size_t pos = 8; pos + 8 <= png.size();) {
    const uint32_t length = (uint32_t(png[pos]) << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
    chunks.emplace_back(reinterpret_cast<const char*>(&png[pos + 4]), 4);
    pos += 12 + length;
  }
  REQUIRE(chunks.size() >= 3);
  CHECK(chunks.front() == "IHDR");
  CHECK(chunks.back() == "IEND");
  for (size_t i = 1; i + 1 < chunks.size(); ++i) CHECK(chunks[i] == "IDAT");
}

TEST_CASE("PNG filter option selects the row filter", "[png]") {
  const Image image = MakeNaturalImage(40, 30, 3, 8);
  const std::pair<PngFilter, int> cases[] = {{PngFilter::kNone, 0}, {PngFilter::kSub, 1},
                                             {PngFilter::kUp, 2},   {PngFilter::kAvg, 3},
                                             {PngFilter::kPaeth, 4}};
  for (auto [filter, code] : cases) {
    PngOptions opts;
    opts.filter = filter;
    // Not level 1 + rle, where paeth means the per-image choice (png_writer_test.cc).
    opts.strategy = PngStrategy::kDefault;
    const auto png = EncodeOrFail(image, opts);
    CHECK(DecodeOrFail(png).image.pixels == image.pixels);
    const std::vector<int> filters = RowFilters(png, image);
    CAPTURE(code, filters);
    // libpng may use a cheaper equivalent on row 0 (no previous row); every other row is exact.
    for (size_t y = 1; y < filters.size(); ++y) CHECK(filters[y] == code);
  }
  PngOptions all;
  const std::vector<int> adaptive = RowFilters(EncodeOrFail(image, all), image);
  CHECK(std::set<int>(adaptive.begin(), adaptive.end()).size() >= 1);
}

TEST_CASE("PNG compression level and strategy stay lossless", "[png]") {
  const Image image = MakeNaturalImage(128, 96, 3, 8);
  for (int level = 0; level <= 9; ++level) {
    for (PngStrategy strategy : {PngStrategy::kDefault, PngStrategy::kFiltered, PngStrategy::kHuffman,
                                 PngStrategy::kRle}) {
      PngOptions opts;
      opts.compress_level = level;
      opts.strategy = strategy;
      CAPTURE(level, int(strategy));
      CHECK(DecodeOrFail(EncodeOrFail(image, opts)).image.pixels == image.pixels);
    }
  }
}

// Size of a 256x256 gray PNG (no row filter) of pixel(x, y) = f(x, y).
size_t PngSize(int level, PngStrategy strategy, uint8_t (*f)(int, int)) {
  Image image;
  image.width = image.height = 256;
  image.channels = 1;
  image.pixels.resize(256 * 256);
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x) image.pixels[y * 256 + x] = f(x, y);
  PngOptions opts;
  opts.compress_level = level;
  opts.strategy = strategy;
  opts.filter = PngFilter::kNone;
  return EncodeOrFail(image, opts).size();
}

TEST_CASE("PNG level and strategy reach zlib", "[png]") {
  constexpr size_t kRaw = 256 * 257;  // pixels plus one filter byte per row
  // Constant: any string matching wins big; Huffman-only needs >= 1 bit per byte.
  auto constant = [](int, int) -> uint8_t { return 77; };
  // Period 97 with no two neighbours equal: LZ77 matches at distance 97, Z_RLE (distance 1
  // only) finds nothing.
  auto periodic = [](int x, int y) -> uint8_t { return uint8_t(((y * 256 + x) % 97) * 2 + 1); };
  CHECK(PngSize(0, PngStrategy::kDefault, constant) > kRaw);  // stored blocks
  CHECK(PngSize(6, PngStrategy::kDefault, constant) < kRaw / 50);
  CHECK(PngSize(6, PngStrategy::kRle, constant) < kRaw / 50);
  CHECK(PngSize(6, PngStrategy::kHuffman, constant) > kRaw / 8);
  CHECK(PngSize(6, PngStrategy::kDefault, periodic) < kRaw / 50);
  CHECK(PngSize(6, PngStrategy::kFiltered, periodic) < kRaw / 50);
  CHECK(PngSize(6, PngStrategy::kRle, periodic) > kRaw / 2);
  CHECK(PngSize(9, PngStrategy::kDefault, periodic) <= PngSize(1, PngStrategy::kDefault, periodic));
}

TEST_CASE("PNG text: tEXt for Latin-1 values, iTXt for the rest, in order", "[png]") {
  const Text text = {{"step", "1200"},
                     {"Comment", "caf\xC3\xA9 au lait"},          // Latin-1 after all
                     {"caf\xC3\xA9", "na\xC3\xAFve"},             // Latin-1 key, Latin-1 value
                     {"prompt", "\xE7\x8C\xAB \xF0\x9F\x90\x88"},  // CJK + emoji: iTXt
                     {"empty", ""},
                     {"step", "dup keys are allowed"}};
  const auto png = EncodeOrFail(MakeNaturalImage(8, 8, 3, 8), PngOptions(), text);
  const DecodedPng decoded = DecodeOrFail(png);
  REQUIRE(decoded.text.size() == text.size());
  const Text expected = {{"step", "1200"},
                         {"Comment", "caf\xE9 au lait"},
                         {"caf\xE9", "na\xEFve"},
                         {"prompt", "\xE7\x8C\xAB \xF0\x9F\x90\x88"},
                         {"empty", ""},
                         {"step", "dup keys are allowed"}};
  CHECK(decoded.text == expected);
  CHECK(decoded.text_kind == std::vector<std::string>{"tEXt", "tEXt", "tEXt", "iTXt", "tEXt", "tEXt"});
}

TEST_CASE("PNG text keys and values are checked", "[png]") {
  const Image image = MakeNaturalImage(4, 4, 1, 8);
  const std::string bad_keys[] = {"", std::string(80, 'k'), " lead", "trail ", "two  spaces",
                                  "a=b", "tab\there", "\xE7\x8C\xAB", "bad\xFFutf8", std::string("n\0ul", 4)};
  for (const std::string& key : bad_keys) {
    PngEncoder encoder;
    std::vector<uint8_t> out;
    CAPTURE(key);
    CHECK(encoder.Encode(image, PngOptions(), {{key, "v"}}, &out).code() == ErrorCode::kBadOption);
  }
  for (const std::string& value : {std::string("a\0b", 3), std::string("\xC3\x28"), std::string("\xED\xA0\x80")}) {
    PngEncoder encoder;
    std::vector<uint8_t> out;
    CHECK(encoder.Encode(image, PngOptions(), {{"k", value}}, &out).code() == ErrorCode::kBadOption);
  }
  PngEncoder encoder;
  std::vector<uint8_t> out;
  CHECK(encoder.Encode(image, PngOptions(), {{std::string(79, 'k'), "max length key"}}, &out).ok());
}

TEST_CASE("PNG bad images and options give the documented codes", "[png]") {
  PngEncoder encoder;
  std::vector<uint8_t> out;
  const Image good = MakeNaturalImage(4, 3, 3, 8);
  auto code = [&](const Image& image, const PngOptions& opts) { return encoder.Encode(image, opts, {}, &out).code(); };
  Image image = good;
  image.channels = 5;
  CHECK(code(image, PngOptions()) == ErrorCode::kBadShape);
  image = good;
  image.width = 0;
  CHECK(code(image, PngOptions()) == ErrorCode::kBadShape);
  image = good;
  image.pixels.pop_back();
  CHECK(code(image, PngOptions()) == ErrorCode::kInternal);
  CHECK(code(good, Bits(16)) == ErrorCode::kInternal);  // the image is 8-bit
  CHECK(code(good, Bits(12)) == ErrorCode::kBadOption);
  PngOptions opts;
  opts.compress_level = 10;
  CHECK(code(good, opts) == ErrorCode::kBadOption);
  opts.compress_level = -1;
  CHECK(code(good, opts) == ErrorCode::kBadOption);
  CHECK(code(good, PngOptions()) == ErrorCode::kOk);  // the encoder recovers after errors
}

TEST_CASE("PNG encoder and output vector are reusable", "[png]") {
  PngEncoder encoder;
  std::vector<uint8_t> out;
  const Image big = MakeNaturalImage(200, 100, 4, 16, 3);
  const Image small = MakeNaturalImage(5, 5, 1, 8, 4);
  REQUIRE(encoder.Encode(big, Bits(16), {{"a", "b"}}, &out).ok());
  REQUIRE(encoder.Encode(small, PngOptions(), {}, &out).ok());
  CHECK(out == EncodeOrFail(small, PngOptions()));
  CHECK(DecodeOrFail(out).image.pixels == small.pixels);
}

TEST_CASE("PNG wider than libpng's default user limit of 1e6 pixels", "[png]") {
  const Image image = MakeNaturalImage(1000001, 1, 1, 8);
  CHECK(DecodeOrFail(EncodeOrFail(image, PngOptions())).image.pixels == image.pixels);
}

TEST_CASE("pngcheck accepts every produced file and reads the text", "[png][tools]") {
  testing::TempDir dir;
  std::string files;
  int index = 0;
  for (int bits : {8, 16}) {
    for (int channels = 1; channels <= 4; ++channels) {
      for (PngFilter filter : {PngFilter::kAll, PngFilter::kPaeth}) {
        PngOptions opts = Bits(bits);
        opts.filter = filter;
        opts.strategy = index % 2 ? PngStrategy::kRle : PngStrategy::kDefault;
        const auto png = EncodeOrFail(MakeNaturalImage(33, 17, channels, bits), opts,
                                      {{"step", "7"}, {"note", "\xE2\x9C\x93 ok"}});
        const std::string path = dir.path() + "/f" + std::to_string(index++) + ".png";
        testing::WriteFile(path, png.data(), png.size());
        files += " " + path;
      }
    }
  }
  std::string output;
  const int rc = testing::RunCommand("pngcheck -q" + files, &output);
  INFO(output);
  CHECK(rc == 0);
  CHECK(output.empty());
  REQUIRE(testing::RunCommand("pngcheck -t " + dir.path() + "/f0.png", &output) == 0);
  INFO(output);
  CHECK(output.find("step:") != std::string::npos);
  CHECK(output.find("note:") != std::string::npos);
  CHECK(output.find("OK:") != std::string::npos);
}

}  // namespace
}  // namespace imgsink::daemon
