// JpegEncoder: Image -> JPEG (JFIF) file bytes in memory, through TurboJPEG.
//
// TurboJPEG with libjpeg's defaults (accurate integer DCT, standard Huffman tables, baseline) and
// the quality/subsampling PIL would use gives the file PIL's JPEG plugin writes for the same
// pixels, so decoded pixels match save_image's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/encoder.h"
#include "daemon/render/image.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Thread-safety: thread-compatible.  Keep one per worker thread (each owns a TurboJPEG handle).
class JpegEncoder final : public Encoder {
 public:
  JpegEncoder();
  ~JpegEncoder() override;
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;

  // Replaces *out with the JPEG encoding of `image` (keeping out's capacity).
  // 1 channel -> grayscale JPEG (subsampling ignored); 3 channels -> YCbCr with opts.subsampling.
  // Each `text` entry becomes one COM marker "key=value" (UTF-8 bytes), in order, right after
  // the JFIF APP0 segment; keys and values follow text_metadata.h.
  // Errors: kBadFormat (2 or 4 channels: JPEG cannot hold alpha; 16-bit images),
  // kBadShape (dims < 1 or over the table's max_dimension, 65500; channels not 1..4), kTooLarge (over 2 GiB of
  // worst-case JPEG), kInternal (pixel buffer size disagrees
  // with the image's fields), kBadOption (quality not 1..100, bad text entry, a "key=value"
  // over 65533 bytes), kEncodeFailed (TurboJPEG error or out of memory).
  // On error *out is unspecified.
  Status Encode(const Image& image, const JpegOptions& opts,
                const std::vector<std::pair<std::string, std::string>>& text,
                std::vector<uint8_t>* out);

  // Encoder: the JPEG options of `request` (jpeg_quality, jpeg_subsampling).
  OutputFormat format() const override { return OutputFormat::kJpeg; }
  Status Encode(const Image& image, const SaveRequest& request, const TextEntries& text,
                std::vector<uint8_t>* out) override {
    return Encode(image, request.jpeg, text, out);
  }

 private:
  struct Handle;  // RAII for the tjhandle
  std::unique_ptr<Handle> handle_;
  // TurboJPEG's output buffer, grown to tjBufSize() and reused.  Invariant: allocated by tjAlloc.
  unsigned char* buffer_ = nullptr;
  unsigned long buffer_capacity_ = 0;
};

}  // namespace imgsink::daemon
