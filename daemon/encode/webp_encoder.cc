#include "daemon/encode/webp_encoder.h"

#include <webp/encode.h>

#include <new>

#include "daemon/encode/text_metadata.h"

namespace imgsink::daemon {

namespace {

constexpr int64_t kMaxSide = FormatInfoOf(OutputFormat::kWebp).max_dimension;
static_assert(kMaxSide == WEBP_MAX_DIMENSION, "kFormatTable's WebP row is libwebp's limit");

Status CheckImage(const Image& image, const WebpOptions& opts) {
  if (opts.quality < 0 || opts.quality > 100) {
    return Status(ErrorCode::kBadOption,
                  "webp quality must be 0..100, got " + std::to_string(opts.quality));
  }
  if (image.width < 1 || image.height < 1 || image.width > kMaxSide || image.height > kMaxSide ||
      image.channels < 1 || image.channels > 4) {
    return Status(ErrorCode::kBadShape,
                  "cannot encode a " + std::to_string(image.width) + "x" +
                      std::to_string(image.height) + " image of " +
                      std::to_string(image.channels) + " channels as WebP (at most " +
                      std::to_string(kMaxSide) + " a side)");
  }
  if (image.bit_depth != 8) {
    return Status(ErrorCode::kBadFormat, "WebP holds 8-bit samples only, got " +
                                             std::to_string(image.bit_depth) +
                                             "-bit; save as PNG");
  }
  if (image.pixels.size() != image.row_bytes() * size_t(image.height)) {
    return Status(ErrorCode::kInternal, "image pixel buffer size does not match its shape");
  }
  return Status::OK();
}

// Owns a WebPPicture and the memory writer's buffer.
struct Picture {
  WebPPicture pic;
  WebPMemoryWriter writer;
  bool ok;
  Picture() : ok(WebPPictureInit(&pic) != 0) { WebPMemoryWriterInit(&writer); }
  ~Picture() {
    WebPPictureFree(&pic);
    WebPMemoryWriterClear(&writer);
  }
  Picture(const Picture&) = delete;
  Picture& operator=(const Picture&) = delete;
};

}  // namespace

Status WebpEncoder::Encode(const Image& image, const WebpOptions& opts,
                           const std::vector<std::pair<std::string, std::string>>& text,
                           std::vector<uint8_t>* out) {
  Status status = CheckImage(image, opts);
  if (!status.ok()) return status;
  std::string latin1_key;
  for (const auto& [key, value] : text) {
    status = CheckTextKey(key, &latin1_key);
    if (status.ok()) status = CheckTextValue(key, value);
    if (!status.ok()) return status;
  }

  // WebP stores RGB or RGBA: a gray sample g becomes (g, g, g).
  const uint8_t* pixels = image.pixels.data();
  int channels = image.channels;
  if (channels <= 2) {
    const size_t count = size_t(image.width) * size_t(image.height);
    const int alpha = channels == 2 ? 1 : 0;
    try {
      expanded_.resize(count * size_t(3 + alpha));
    } catch (const std::bad_alloc&) {
      return Status(ErrorCode::kEncodeFailed, "out of memory expanding gray to RGB");
    }
    uint8_t* dst = expanded_.data();
    for (size_t i = 0; i < count; ++i) {
      const uint8_t g = pixels[i * size_t(channels)];
      *dst++ = g;
      *dst++ = g;
      *dst++ = g;
      if (alpha) *dst++ = pixels[i * 2 + 1];
    }
    pixels = expanded_.data();
    channels = 3 + alpha;
  }

  WebPConfig config;
  if (!WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, float(opts.quality))) {
    return Status(ErrorCode::kEncodeFailed, "libwebp: version mismatch");
  }
  config.lossless = opts.lossless ? 1 : 0;
  config.method = 4;                     // PIL's default
  config.exact = opts.lossless ? 1 : 0;  // keep RGB under alpha 0: lossless means every pixel
  if (!WebPValidateConfig(&config)) return Status(ErrorCode::kBadOption, "libwebp: bad config");

  Picture p;
  if (!p.ok) return Status(ErrorCode::kEncodeFailed, "libwebp: version mismatch");
  p.pic.width = image.width;
  p.pic.height = image.height;
  // ARGB for lossless: importing into YUV would lose the exact RGB before VP8L sees it.
  p.pic.use_argb = opts.lossless ? 1 : 0;
  p.pic.writer = WebPMemoryWrite;
  p.pic.custom_ptr = &p.writer;
  const int stride = image.width * channels;
  const int imported = channels == 4 ? WebPPictureImportRGBA(&p.pic, pixels, stride)
                                     : WebPPictureImportRGB(&p.pic, pixels, stride);
  if (!imported) return Status(ErrorCode::kEncodeFailed, "libwebp: out of memory importing");
  if (!WebPEncode(&config, &p.pic)) {
    return Status(ErrorCode::kEncodeFailed,
                  "libwebp: encoding failed (error " + std::to_string(int(p.pic.error_code)) +
                      ")");
  }
  try {
    out->assign(p.writer.mem, p.writer.mem + p.writer.size);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kEncodeFailed, "out of memory for the encoded file");
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
