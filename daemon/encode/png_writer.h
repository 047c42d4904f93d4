// PngWriter: Image -> PNG file bytes with one fixed row filter, without libpng.
//
// Rows are filtered by our own loops (compiled for the vectorizer: libpng's scalar paeth alone
// cost ~40 % of a default-preset encode), deflated (deflate.h: zlib, or ISA-L's igzip for
// WriteFast) in row strips, and framed as IHDR, text chunks, IDAT chunks of at most
// max_idat_bytes(), IEND -- the chunk order libpng writes.  Memory beyond *out stays bounded by
// one strip of filtered rows (plus one compressed copy when WriteFast retries with zlib).
// PngEncoder uses it for the single-filter presets; adaptive filtering stays with libpng.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "daemon/encode/deflate.h"
#include "daemon/render/image.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// PNG filter type codes (PNG spec 9.2) that PngWriter implements.
enum class PngRowFilter : uint8_t { kNone = 0, kSub = 1, kUp = 2, kPaeth = 4 };

// One text chunk, already checked against text_metadata.h.
struct PngTextChunk {
  std::string_view keyword;  // Latin-1, 1..79 bytes
  std::string_view text;     // Latin-1 when !utf8 (tEXt); UTF-8 when utf8 (uncompressed iTXt)
  bool utf8 = false;
};

// Writes the filtered bytes of one row to dst[0..n): `cur` filtered against `prev` (the previous
// unfiltered row, all zeros for the first row) with `bpp` bytes per pixel.
// REQUIRES: n >= bpp >= 1; dst overlaps neither cur nor prev.  Thread-safe (pure).
// Exposed for encode_bench, which times it to show the loops are vectorized.
void FilterPngRow(PngRowFilter filter, const uint8_t* cur, const uint8_t* prev, size_t n, size_t bpp,
                  uint8_t* dst);

// The single filter (none, sub, up or paeth) whose output has the smallest sum of absolute
// values (bytes read as signed) over every 8th row of `image` -- libpng's per-row heuristic,
// applied once per image on a sample.  Flat and synthetic content (MNIST-like digits on black)
// gets `none` or `sub`, natural and photographic content `paeth`.  Costs about half of one
// filter pass.  16-bit images: always kPaeth.
// REQUIRES: image valid as for PngWriter::Write.  Thread-safe (pure).
PngRowFilter ChoosePngRowFilter(const Image& image);

// Thread-safety: thread-compatible.  Keep one per worker thread (it reuses deflate streams).
class PngWriter {
 public:
  static constexpr size_t kDefaultMaxIdatBytes = size_t(1) << 20;

  PngWriter() = default;
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;

  // Replaces *out with the PNG encoding of `image`, every row filtered with `filter`.
  // Color type from image.channels (gray, gray+alpha, RGB, RGBA), bit depth image.bit_depth
  // (16-bit host-order samples are stored big-endian).  zlib_level 0..9 and zlib_strategy
  // (Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE) go to deflateInit2 unchanged.
  // REQUIRES: image has 1..4 channels, bit depth 8 or 16, dims >= 1 and pixels.size() matching
  // (PngEncoder checks all of this before calling).
  // Errors: kEncodeFailed (zlib error or out of memory); *out is unspecified then.
  Status Write(const Image& image, PngRowFilter filter, int zlib_level, int zlib_strategy,
               const std::vector<PngTextChunk>& text, std::vector<uint8_t>* out);

  // Like Write, compressed by ISA-L igzip level 1 with a 256-byte match window (kIsalHistBits):
  // on noisy rows the short far matches of a full window cost more than the literals they
  // replace, and 32 KiB made natural images 6 % larger than PIL's default instead of 1 %.
  // When igzip's output is under kZlibRetryRatio of the filtered bytes (noise-free renders,
  // flat backgrounds: where igzip's one-probe match finder loses up to 30 % to zlib's chains),
  // the rows are compressed again by zlib level 6 and the smaller stream is kept.
  // Same REQUIRES and errors as Write.
  Status WriteFast(const Image& image, PngRowFilter filter, const std::vector<PngTextChunk>& text,
                   std::vector<uint8_t>* out);

  static constexpr int kIsalLevel = 1;
  static constexpr int kIsalHistBits = 8;
  static constexpr double kZlibRetryRatio = 0.30;
  static constexpr int kZlibRetryLevel = 6;

  // Largest IDAT payload written; tests lower it to get several IDAT chunks from a small image.
  // REQUIRES: bytes >= 1 and < 2^31.
  void set_max_idat_bytes(size_t bytes) { max_idat_bytes_ = bytes; }
  size_t max_idat_bytes() const { return max_idat_bytes_; }

 private:
  void WriteHeader(const Image& image, const std::vector<PngTextChunk>& text, std::vector<uint8_t>* out);
  // Appends the IDAT chunks of `image` filtered with `filter` and compressed by stream_, which
  // Start() has begun.
  Status DeflateAll(const Image& image, PngRowFilter filter, std::vector<uint8_t>* out);
  Status Deflate(bool finish, std::vector<uint8_t>* out);
  void OpenIdat(std::vector<uint8_t>* out);
  void CloseIdat(std::vector<uint8_t>* out);

  size_t max_idat_bytes_ = kDefaultMaxIdatBytes;
  DeflateStream stream_;
  std::vector<uint8_t> retry_;  // WriteFast: the zlib IDAT chunks, compared with igzip's
  size_t idat_start_ = 0;  // offset in *out of the open IDAT chunk's length field
  size_t idat_cap_ = 0;    // payload bytes reserved for the open IDAT chunk
  std::vector<uint8_t> strip_;  // filtered rows (filter byte + row) awaiting deflate
  std::vector<uint8_t> rows_;   // 16-bit only: current and previous row, big-endian
  std::vector<uint8_t> zeros_;  // the "previous row" of row 0
};

}  // namespace imgsink::daemon
