// Compiled with -ftree-vectorize -fvect-cost-model=dynamic (daemon/CMakeLists.txt): GCC 12 at
// -O2 leaves the filter loops scalar otherwise.  Keep them branch-free and on int16 so they stay
// vectorizable: abs is max(x, -x), the predictor choice is a select.
#include "daemon/encode/png_writer.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>

namespace imgsink::daemon {

namespace {

void FilterSub(const uint8_t* __restrict cur, size_t n, size_t bpp, uint8_t* __restrict dst) {
  for (size_t i = 0; i < bpp; ++i) dst[i] = cur[i];
  for (size_t i = bpp; i < n; ++i) dst[i] = uint8_t(cur[i] - cur[i - bpp]);
}

void FilterUp(const uint8_t* __restrict cur, const uint8_t* __restrict prev, size_t n, uint8_t* __restrict dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = uint8_t(cur[i] - prev[i]);
}

void FilterPaeth(const uint8_t* __restrict cur, const uint8_t* __restrict prev, size_t n, size_t bpp,
                 uint8_t* __restrict dst) {
  // First pixel: left and upper-left are 0, so the predictor is the byte above.
  for (size_t i = 0; i < bpp; ++i) dst[i] = uint8_t(cur[i] - prev[i]);
  for (size_t i = bpp; i < n; ++i) {
    const int16_t a = cur[i - bpp], b = prev[i], c = prev[i - bpp];
    int16_t pa = int16_t(b - c), pb = int16_t(a - c), pc = int16_t(a + b - 2 * c);
    pa = std::max<int16_t>(pa, int16_t(-pa));
    pb = std::max<int16_t>(pb, int16_t(-pb));
    pc = std::max<int16_t>(pc, int16_t(-pc));
    const int16_t predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
    dst[i] = uint8_t(cur[i] - predictor);
  }
}

void Put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}

// Appends one chunk: length, type, the concatenation of `parts`, CRC over type and data.
void AppendChunk(std::vector<uint8_t>* out, const char type[4], std::initializer_list<std::string_view> parts) {
  size_t length = 0;
  for (std::string_view part : parts) length += part.size();
  const size_t start = out->size();
  out->resize(start + 12 + length);
  uint8_t* p = out->data() + start;
  Put32(p, uint32_t(length));
  std::memcpy(p + 4, type, 4);
  uint8_t* data = p + 8;
  for (std::string_view part : parts) {
    if (!part.empty()) std::memcpy(data, part.data(), part.size());
    data += part.size();
  }
  Put32(data, uint32_t(crc32(0, p + 4, uInt(4 + length))));
}

uint8_t ColorType(int channels) {
  static const uint8_t kTypes[5] = {0, 0 /* gray */, 4 /* gray+alpha */, 2 /* RGB */, 6 /* RGBA */};
  return kTypes[channels];
}

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

}  // namespace

void FilterPngRow(PngRowFilter filter, const uint8_t* cur, const uint8_t* prev, size_t n, size_t bpp,
                  uint8_t* dst) {
  switch (filter) {
    case PngRowFilter::kNone: std::memcpy(dst, cur, n); return;
    case PngRowFilter::kSub: FilterSub(cur, n, bpp, dst); return;
    case PngRowFilter::kUp: FilterUp(cur, prev, n, dst); return;
    case PngRowFilter::kPaeth: FilterPaeth(cur, prev, n, bpp, dst); return;
  }
}

PngRowFilter ChoosePngRowFilter(const Image& image) {
  if (image.bit_depth != 8 || image.height < 2) return PngRowFilter::kPaeth;
  const size_t row_bytes = image.row_bytes(), bpp = size_t(image.channels);
  std::vector<uint8_t> filtered(row_bytes);
  static const PngRowFilter kCandidates[] = {PngRowFilter::kPaeth, PngRowFilter::kNone, PngRowFilter::kSub,
                                             PngRowFilter::kUp};
  PngRowFilter best = PngRowFilter::kPaeth;
  uint64_t best_sum = UINT64_MAX;
  for (PngRowFilter filter : kCandidates) {
    uint64_t sum = 0;
    for (int y = 1; y < image.height; y += 8) {
      const uint8_t* cur = image.pixels.data() + size_t(y) * row_bytes;
      FilterPngRow(filter, cur, cur - row_bytes, row_bytes, bpp, filtered.data());
      for (size_t i = 0; i < row_bytes; ++i) {
        const int8_t v = int8_t(filtered[i]);
        sum += uint64_t(v < 0 ? -v : v);
      }
    }
    if (sum < best_sum) best_sum = sum, best = filter;  // ties keep the earlier (paeth first)
  }
  return best;
}

void PngWriter::WriteHeader(const Image& image, const std::vector<PngTextChunk>& text, std::vector<uint8_t>* out) {
  static const uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  out->resize(8);  // not clear()+insert(): GCC 12 flags that with a false stringop-overflow
  std::memcpy(out->data(), kSignature, 8);
  uint8_t ihdr[13];
  Put32(ihdr, uint32_t(image.width));
  Put32(ihdr + 4, uint32_t(image.height));
  ihdr[8] = uint8_t(image.bit_depth);
  ihdr[9] = ColorType(image.channels);
  ihdr[10] = ihdr[11] = ihdr[12] = 0;  // deflate, adaptive-filter method 0, no interlace
  AppendChunk(out, "IHDR", {std::string_view(reinterpret_cast<const char*>(ihdr), 13)});
  static const char kNul[1] = {0};
  // After an iTXt keyword, as libpng writes it: NUL, compression flag 0 (uncompressed),
  // method 0, empty language tag + NUL, empty translated keyword + NUL.
  static const char kItxtHeader[5] = {0, 0, 0, 0, 0};
  for (const PngTextChunk& chunk : text) {
    if (chunk.utf8) {
      AppendChunk(out, "iTXt", {chunk.keyword, std::string_view(kItxtHeader, 5), chunk.text});
    } else {
      AppendChunk(out, "tEXt", {chunk.keyword, std::string_view(kNul, 1), chunk.text});
    }
  }
}

Status PngWriter::Write(const Image& image, PngRowFilter filter, int zlib_level, int zlib_strategy,
                        const std::vector<PngTextChunk>& text, std::vector<uint8_t>* out) {
  try {
    Status status = stream_.Start(DeflateStream::Engine::kZlib, zlib_level, zlib_strategy);
    if (!status.ok()) return status;
    WriteHeader(image, text, out);
    status = DeflateAll(image, filter, out);
    if (!status.ok()) return status;
    AppendChunk(out, "IEND", {});
    return Status::OK();
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kEncodeFailed, "png writer: out of memory");
  }
}

Status PngWriter::WriteFast(const Image& image, PngRowFilter filter, const std::vector<PngTextChunk>& text,
                            std::vector<uint8_t>* out) {
  try {
    Status status = stream_.Start(DeflateStream::Engine::kIsal, kIsalLevel, kIsalHistBits);
    if (!status.ok()) return status;
    WriteHeader(image, text, out);
    const size_t idat_begin = out->size();
    status = DeflateAll(image, filter, out);
    if (!status.ok()) return status;
    const size_t isal_bytes = out->size() - idat_begin;
    const size_t filtered_bytes = (image.row_bytes() + 1) * size_t(image.height);
    if (double(isal_bytes) < kZlibRetryRatio * double(filtered_bytes)) {
      status = stream_.Start(DeflateStream::Engine::kZlib, kZlibRetryLevel, Z_DEFAULT_STRATEGY);
      if (!status.ok()) return status;
      retry_.clear();
      status = DeflateAll(image, filter, &retry_);
      if (!status.ok()) return status;
      if (retry_.size() < isal_bytes) {
        out->resize(idat_begin);
        out->insert(out->end(), retry_.begin(), retry_.end());
      }
    }
    AppendChunk(out, "IEND", {});
    return Status::OK();
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kEncodeFailed, "png writer: out of memory");
  }
}

Status PngWriter::DeflateAll(const Image& image, PngRowFilter filter, std::vector<uint8_t>* out) {
  const size_t row_bytes = image.row_bytes();
  const size_t bpp = size_t(image.channels) * size_t(image.bit_depth / 8);
  const size_t stride = row_bytes + 1;
  // ~64 KiB strips: big enough that per-call deflate overhead vanishes, small enough for L2.
  const size_t strip_rows = std::max<size_t>(1, (size_t(64) << 10) / stride);
  strip_.resize(strip_rows * stride);
  zeros_.assign(row_bytes, 0);
  const bool swap16 = image.bit_depth == 16 && kLittleEndian;
  if (swap16) rows_.resize(2 * row_bytes);
  idat_cap_ = std::min<size_t>(max_idat_bytes_, stream_.Bound(stride * size_t(image.height)));
  OpenIdat(out);
  const uint8_t* prev = zeros_.data();
  for (int y = 0; y < image.height;) {
    size_t filled = 0;
    for (size_t r = 0; r < strip_rows && y < image.height; ++r, ++y) {
      const uint8_t* cur = image.pixels.data() + size_t(y) * row_bytes;
      if (swap16) {
        uint8_t* be = rows_.data() + (y % 2) * row_bytes;
        for (size_t i = 0; i < row_bytes; i += 2) be[i] = cur[i + 1], be[i + 1] = cur[i];
        cur = be;
      }
      uint8_t* dst = strip_.data() + filled;
      dst[0] = uint8_t(filter);
      FilterPngRow(filter, cur, prev, row_bytes, bpp, dst + 1);
      filled += stride;
      prev = cur;
    }
    stream_.SetInput(strip_.data(), filled);
    const Status status = Deflate(y == image.height, out);
    if (!status.ok()) return status;
  }
  CloseIdat(out);
  return Status::OK();
}

// Feeds the stream's pending input to deflate, rotating IDAT chunks as they fill.
Status PngWriter::Deflate(bool finish, std::vector<uint8_t>* out) {
  for (;;) {
    if (stream_.avail_out() == 0) {
      CloseIdat(out);
      OpenIdat(out);
    }
    bool done = false;
    const Status status = stream_.Compress(finish, &done);
    if (!status.ok()) return status;
    if (done || (!finish && stream_.avail_in() == 0)) return Status::OK();
  }
}

// Reserves an IDAT header and idat_cap_ payload bytes at the end of *out for deflate to fill.
void PngWriter::OpenIdat(std::vector<uint8_t>* out) {
  idat_start_ = out->size();
  out->resize(idat_start_ + 8 + idat_cap_);
  stream_.SetOutput(out->data() + idat_start_ + 8, idat_cap_);
}

// Finishes the open IDAT chunk (length, CRC) trimmed to what deflate wrote; drops it if empty.
void PngWriter::CloseIdat(std::vector<uint8_t>* out) {
  const size_t length = idat_cap_ - stream_.avail_out();
  stream_.SetOutput(nullptr, 0);
  if (length == 0) {
    out->resize(idat_start_);
    return;
  }
  out->resize(idat_start_ + 12 + length);
  uint8_t* p = out->data() + idat_start_;
  Put32(p, uint32_t(length));
  std::memcpy(p + 4, "IDAT", 4);
  Put32(p + 8 + length, uint32_t(crc32(0, p + 4, uInt(4 + length))));
}

}  // namespace imgsink::daemon
