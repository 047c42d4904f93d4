// Helpers shared by the PNG tests (png_encoder_test.cc, png_writer_test.cc): encode or fail,
// decode or fail, the chunks of a file, and the filter byte of every row.
#pragma once

#include <zlib.h>

#include <catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/png_encoder.h"
#include "encode_test_util.h"

namespace imgsink::daemon::testing {

using Text = std::vector<std::pair<std::string, std::string>>;

inline std::vector<uint8_t> EncodeOrFail(const Image& image, const PngOptions& opts,
                                         const Text& text = {}) {
  PngEncoder encoder;
  std::vector<uint8_t> png;
  const Status status = encoder.Encode(image, opts, text, &png);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return png;
}

inline DecodedPng DecodeOrFail(const std::vector<uint8_t>& png) {
  DecodedPng decoded;
  std::string error;
  if (!DecodePngLowLevel(png, &decoded, &error)) FAIL("libpng read failed: " << error);
  return decoded;
}

struct Chunk {
  std::string type;
  std::vector<uint8_t> bytes;  // the whole chunk: length, type, data, CRC
};

inline std::vector<Chunk> Chunks(const std::vector<uint8_t>& png) {
  std::vector<Chunk> chunks;
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint32_t length =
        (uint32_t(png[pos]) << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
    REQUIRE(pos + 12 + length <= png.size());
    chunks.push_back({std::string(reinterpret_cast<const char*>(&png[pos + 4]), 4),
                      std::vector<uint8_t>(&png[pos], &png[pos + 12 + length])});
    pos += 12 + length;
  }
  return chunks;
}

// The filter type byte of every row, from the inflated IDAT stream.
inline std::vector<int> RowFilters(const std::vector<uint8_t>& png, const Image& image) {
  std::vector<uint8_t> idat;
  for (const Chunk& c : Chunks(png)) {
    if (c.type == "IDAT") idat.insert(idat.end(), c.bytes.begin() + 8, c.bytes.end() - 4);
  }
  const size_t stride = image.row_bytes() + 1;
  std::vector<uint8_t> raw(stride * image.height);
  uLongf raw_size = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_size, idat.data(), idat.size()) == Z_OK);
  REQUIRE(raw_size == raw.size());
  std::vector<int> filters;
  for (int y = 0; y < image.height; ++y) filters.push_back(raw[y * stride]);
  return filters;
}

}  // namespace imgsink::daemon::testing
