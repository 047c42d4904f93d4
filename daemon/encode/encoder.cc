// The format -> encoder choices.  Every switch here is exhaustive (no default): a new
// OutputFormat fails to compile (-Werror=switch) until it has its encoder and bit depth.
#include "daemon/encode/encoder.h"

#include "daemon/encode/jpeg_encoder.h"
#include "daemon/encode/png_encoder.h"
#include "daemon/encode/webp_encoder.h"

namespace imgsink::daemon {

std::unique_ptr<Encoder> NewEncoder(OutputFormat format) {
  switch (format) {
    case OutputFormat::kPng:
      return std::make_unique<PngEncoder>();
    case OutputFormat::kJpeg:
      return std::make_unique<JpegEncoder>();
    case OutputFormat::kWebp:
      return std::make_unique<WebpEncoder>();
  }
  return nullptr;  // not an OutputFormat (REQUIRES)
}

int OutputBitDepth(OutputFormat format, const SaveRequest& request) {
  switch (format) {
    case OutputFormat::kPng:
      return request.png.bit_depth;
    case OutputFormat::kJpeg:
    case OutputFormat::kWebp:
      return 8;
  }
  return 8;  // not an OutputFormat (REQUIRES)
}

}  // namespace imgsink::daemon
