// PngEncoder: Image -> PNG file bytes in memory.  Single-filter presets (none/sub/up/paeth) go
// through PngWriter (own vectorized filters + zlib; level 1 + rle: PngWriter::WriteFast, ISA-L
// igzip with the filter chosen per image for paeth); `all` and `avg` through libpng.
//
// Output matches what PIL's PNG plugin stores for the same pixels (IHDR, IDAT, IEND; no gamma,
// sRGB or pHYs chunks); PngOptions::Pil() gives PIL's settings (level 6, all adaptive filters,
// default zlib strategy), the defaults the faster preset (see PngOptions).  Files need not be
// byte-identical to PIL's, the pixels are.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/encoder.h"
#include "daemon/encode/png_writer.h"
#include "daemon/render/image.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Thread-safety: thread-compatible.  Keep one per worker thread.
class PngEncoder final : public Encoder {
 public:
  PngEncoder() = default;
  PngEncoder(const PngEncoder&) = delete;
  PngEncoder& operator=(const PngEncoder&) = delete;

  // Replaces *out with the PNG encoding of `image` (keeping out's capacity, so a caller that
  // reuses one vector stops allocating once it is big enough).
  // `text` becomes one chunk per entry, in order: tEXt when the value is Latin-1, iTXt (UTF-8,
  // uncompressed) otherwise; keys and values follow text_metadata.h.
  // Errors: kBadShape (dims < 1, channels not 1..4), kInternal (pixels.size() or bit depth
  // disagree with the image's own fields, or image.bit_depth != opts.bit_depth),
  // kBadOption (compress_level not 0..9, bit_depth not 8/16, bad text entry),
  // kEncodeFailed (libpng or zlib error, or out of memory).  On error *out is unspecified.
  Status Encode(const Image& image, const PngOptions& opts,
                const std::vector<std::pair<std::string, std::string>>& text,
                std::vector<uint8_t>* out);

  // Encoder: the PNG options of `request` (png_level, png_bits, png_filter, png_strategy).
  OutputFormat format() const override { return OutputFormat::kPng; }
  Status Encode(const Image& image, const SaveRequest& request, const TextEntries& text,
                std::vector<uint8_t>* out) override {
    return Encode(image, request.png, text, out);
  }

 private:
  // Scratch reused across calls: the Latin-1 / UTF-8 strings the text chunks point into.
  std::vector<std::string> text_keys_;
  std::vector<std::string> text_values_;
  std::vector<PngTextChunk> writer_text_;
  PngWriter writer_;
};

}  // namespace imgsink::daemon
