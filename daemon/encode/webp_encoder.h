// WebpEncoder: Image -> WebP file bytes in memory, through libwebp's advanced API.
//
// The settings are PIL's WebP plugin's (WebPConfigPreset(DEFAULT, quality), method 4, alpha
// quality 100), so a lossy file is the one PIL writes for the same pixels and options.
// Lossless also sets `exact`: every pixel decodes to what was rendered, the RGB under fully
// transparent pixels included (PIL leaves `exact` off and may change those).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/encoder.h"
#include "daemon/render/image.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Thread-safety: thread-compatible.  Keep one per worker thread (it reuses a scratch buffer).
class WebpEncoder final : public Encoder {
 public:
  // Replaces *out with the WebP encoding of `image` (keeping out's capacity).
  // 3 channels -> RGB, 4 -> RGBA.  WebP has no gray: 1 channel is written as RGB (R=G=B) and
  // 2 (gray+alpha) as RGBA; decoders give the 3- or 4-channel image back.
  // opts.lossless: VP8L, pixels exact; else VP8 (+ ALPH) at opts.quality.
  // `text` entries are checked (text_metadata.h) but not stored: WebP has no text chunk.
  // Errors: kBadFormat (16-bit images), kBadShape (dims < 1 or over the table's max_dimension,
  // 16383; channels not 1..4), kInternal (pixel buffer size disagrees with the image's fields),
  // kBadOption (quality not 0..100, bad text entry), kEncodeFailed (libwebp error or out of
  // memory).  On error *out is unspecified.
  Status Encode(const Image& image, const WebpOptions& opts,
                const std::vector<std::pair<std::string, std::string>>& text,
                std::vector<uint8_t>* out);

  // Encoder: the WebP options of `request` (webp_lossless, webp_quality).
  OutputFormat format() const override { return OutputFormat::kWebp; }
  Status Encode(const Image& image, const SaveRequest& request, const TextEntries& text,
                std::vector<uint8_t>* out) override {
    return Encode(image, request.webp, text, out);
  }

 private:
  std::vector<uint8_t> expanded_;  // gray -> RGB, gray+alpha -> RGBA; reused across calls
};

}  // namespace imgsink::daemon
