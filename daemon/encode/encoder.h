// Encoder: what every output format's encoder is to the pipeline, and the one factory that
// picks the encoder for a format (from kFormatTable's enum, imgsink/proto/formats.h).
//
// The pipeline holds Encoders only; it never asks which format it writes.  A new format is a
// new Encoder implementation in this folder plus its case in the exhaustive switches of
// encoder.cc (the compiler refuses the build until they exist).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/render/image.h"
#include "imgsink/proto/formats.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// The request's `meta` tags, in key order, as the encoders store them (text_metadata.h).
using TextEntries = std::vector<std::pair<std::string, std::string>>;

// Thread-safety: implementations are thread-compatible; keep one per worker thread (they reuse
// codec state and scratch buffers across calls).
class Encoder {
 public:
  virtual ~Encoder() = default;

  // The format this encoder writes.
  virtual OutputFormat format() const = 0;

  // Replaces *out with the file bytes of `image` in format() (keeping out's capacity, so a
  // caller that reuses one vector stops allocating).  Reads only the options of `request` that
  // belong to format() (png_*, jpeg_* or webp_*).  Each `text` entry is stored in the file
  // (WebP has no text chunk: its encoder checks the entries and stores none).
  // REQUIRES: image.bit_depth == OutputBitDepth(format(), request).
  // Errors: kBadShape, kBadFormat, kBadOption, kTooLarge (the image or options are outside
  // what the format or encoder can take; validation refuses those requests earlier),
  // kEncodeFailed (the codec library failed or memory ran out), kInternal (image fields
  // disagree).  On error *out is unspecified.
  virtual Status Encode(const Image& image, const SaveRequest& request, const TextEntries& text,
                        std::vector<uint8_t>* out) = 0;
};

// Returns a new encoder for `format`.  REQUIRES: IsOutputFormat(format).
std::unique_ptr<Encoder> NewEncoder(OutputFormat format);

// The bits per sample `format` stores for `request` (png: png_bits; jpeg, webp: 8): what render
// produces for the encoder and what validation checks a uint16 tensor against.
// REQUIRES: IsOutputFormat(format).
int OutputBitDepth(OutputFormat format, const SaveRequest& request);

}  // namespace imgsink::daemon
