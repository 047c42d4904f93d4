#include "daemon/encode/jpeg_encoder.h"

#include <turbojpeg.h>

#include <climits>
#include <cstring>
#include <new>

#include "daemon/encode/text_metadata.h"

namespace imgsink::daemon {

namespace {

constexpr size_t kMaxComPayload = 65533;  // the 2-byte segment length counts itself
constexpr int64_t kMaxSide = FormatInfoOf(OutputFormat::kJpeg).max_dimension;

int TjSubsampling(JpegSubsampling s) {
  switch (s) {
    case JpegSubsampling::k444: return TJSAMP_444;
    case JpegSubsampling::k422: return TJSAMP_422;
    case JpegSubsampling::k420: return TJSAMP_420;
  }
  return -1;
}

Status CheckImage(const Image& image, const JpegOptions& opts) {
  if (opts.quality < 1 || opts.quality > 100) {
    return Status(ErrorCode::kBadOption, "jpeg quality must be 1..100, got " + std::to_string(opts.quality));
  }
  if (TjSubsampling(opts.subsampling) < 0) return Status(ErrorCode::kBadOption, "unknown jpeg subsampling");
  if (image.channels == 2 || image.channels == 4) {
    return Status(ErrorCode::kBadFormat, std::string("JPEG cannot hold an alpha channel (") +
                                             (image.channels == 2 ? "LA" : "RGBA") + "); save as PNG");
  }
  if (image.width < 1 || image.height < 1 || image.width > kMaxSide || image.height > kMaxSide ||
      (image.channels != 1 && image.channels != 3)) {
    return Status(ErrorCode::kBadShape, "cannot encode a " + std::to_string(image.width) + "x" +
                                            std::to_string(image.height) + " image of " +
                                            std::to_string(image.channels) +
                                            " channels as JPEG (at most " + std::to_string(kMaxSide) + " a side)");
  }
  if (image.bit_depth != 8) {
    return Status(ErrorCode::kBadFormat, "JPEG holds 8-bit samples only, got " +
                                             std::to_string(image.bit_depth) + "-bit; save as PNG");
  }
  if (image.pixels.size() != image.row_bytes() * size_t(image.height)) {
    return Status(ErrorCode::kInternal, "image pixel buffer size does not match its shape");
  }
  return Status::OK();
}

// Returns the offset just past SOI and, when present right after it, the JFIF APP0 segment:
// where COM markers go.  Returns 0 if `jpeg` does not start with SOI.
size_t CommentOffset(const unsigned char* jpeg, size_t size) {
  if (size < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return 0;
  size_t pos = 2;
  if (size >= pos + 4 && jpeg[pos] == 0xFF && jpeg[pos + 1] == 0xE0) {
    const size_t length = (size_t(jpeg[pos + 2]) << 8) | jpeg[pos + 3];
    if (pos + 2 + length <= size) pos += 2 + length;
  }
  return pos;
}

}  // namespace

struct JpegEncoder::Handle {
  tjhandle tj = tjInitCompress();
  ~Handle() {
    if (tj != nullptr) tjDestroy(tj);
  }
};

JpegEncoder::JpegEncoder() : handle_(std::make_unique<Handle>()) {}

JpegEncoder::~JpegEncoder() {
  if (buffer_ != nullptr) tjFree(buffer_);
}

Status JpegEncoder::Encode(const Image& image, const JpegOptions& opts,
                           const std::vector<std::pair<std::string, std::string>>& text,
                           std::vector<uint8_t>* out) {
  Status status = CheckImage(image, opts);
  if (!status.ok()) return status;
  size_t comment_bytes = 0;
  std::string latin1_key;
  for (const auto& [key, value] : text) {
    status = CheckTextKey(key, &latin1_key);
    if (status.ok()) status = CheckTextValue(key, value);
    if (!status.ok()) return status;
    const size_t payload = key.size() + 1 + value.size();
    if (payload > kMaxComPayload) {
      return Status(ErrorCode::kBadOption, "metadata entry \"" + key + "=...\" is " +
                                               std::to_string(payload) + " bytes; a JPEG comment holds at most " +
                                               std::to_string(kMaxComPayload));
    }
    comment_bytes += 4 + payload;
  }
  if (handle_->tj == nullptr) return Status(ErrorCode::kEncodeFailed, "TurboJPEG: cannot initialize");

  const int subsampling = image.channels == 1 ? TJSAMP_GRAY : TjSubsampling(opts.subsampling);
  const unsigned long needed = tjBufSize(image.width, image.height, subsampling);
  if (needed == static_cast<unsigned long>(-1)) {
    return Status(ErrorCode::kEncodeFailed, std::string("TurboJPEG: ") + tjGetErrorStr2(handle_->tj));
  }
  if (needed > static_cast<unsigned long>(INT_MAX)) {  // tjAlloc takes an int
    return Status(ErrorCode::kTooLarge, "image too large for one TurboJPEG buffer");
  }
  if (needed > buffer_capacity_) {
    if (buffer_ != nullptr) tjFree(buffer_);
    buffer_capacity_ = 0;
    buffer_ = tjAlloc(static_cast<int>(needed));
    if (buffer_ == nullptr) return Status(ErrorCode::kEncodeFailed, "out of memory for the JPEG buffer");
    buffer_capacity_ = needed;
  }
  unsigned char* jpeg = buffer_;
  unsigned long jpeg_size = buffer_capacity_;
  const int pixel_format = image.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  // TurboJPEG compresses with the fast integer DCT unless told otherwise; PIL (libjpeg's
  // default) uses the accurate one, and the decoded pixels differ by a level or more without it.
  if (tjCompress2(handle_->tj, image.pixels.data(), image.width, static_cast<int>(image.row_bytes()),
                  image.height, pixel_format, &jpeg, &jpeg_size, subsampling, opts.quality,
                  TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT) != 0) {
    return Status(ErrorCode::kEncodeFailed, std::string("TurboJPEG: ") + tjGetErrorStr2(handle_->tj));
  }

  const size_t split = text.empty() ? 0 : CommentOffset(jpeg, jpeg_size);
  if (!text.empty() && split == 0) return Status(ErrorCode::kInternal, "TurboJPEG output lacks SOI");
  try {
    out->clear();
    out->reserve(jpeg_size + comment_bytes);
    out->insert(out->end(), jpeg, jpeg + split);
    for (const auto& [key, value] : text) {
      const size_t length = key.size() + 1 + value.size() + 2;
      const uint8_t marker[4] = {0xFF, 0xFE, uint8_t(length >> 8), uint8_t(length & 0xFF)};
      out->insert(out->end(), marker, marker + 4);
      out->insert(out->end(), key.begin(), key.end());
      out->push_back('=');
      out->insert(out->end(), value.begin(), value.end());
    }
    out->insert(out->end(), jpeg + split, jpeg + jpeg_size);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kEncodeFailed, "out of memory for the encoded file");
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
