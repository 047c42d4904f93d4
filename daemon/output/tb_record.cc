#include "daemon/output/tb_record.h"

#include <cstring>

#include "daemon/journal/crc32c.h"
#include "daemon/util/little_endian.h"

namespace imgsink::daemon::tb {
namespace {

using journal::Crc32cOf;
using journal::MaskCrc;

// --- protobuf wire format (developers.google.com/protocol-buffers/docs/encoding) ---

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out->push_back(char(uint8_t(v)));
}

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

void PutTag(uint32_t field, WireType type, std::string* out) { PutVarint((field << 3) | type, out); }

// int32/int64 fields are varints of the two's complement (a negative one takes 10 bytes).
void PutIntField(uint32_t field, int64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(uint64_t(v), out);
}

void PutDoubleField(uint32_t field, double v, std::string* out) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if (bits == 0) return;  // +0.0 is the default; -0.0 is written, as protobuf does
  PutTag(field, kFixed64, out);
  AppendU64(bits, out);
}

void PutBytesField(uint32_t field, const void* data, size_t size, std::string* out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(size, out);
  out->append(static_cast<const char*>(data), size);
}

void PutBytesField(uint32_t field, std::string_view s, std::string* out) {
  PutBytesField(field, s.data(), s.size(), out);
}

// Field numbers: tensorboard/compat/proto/event.proto and summary.proto.
constexpr uint32_t kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
constexpr uint32_t kSummaryValue = 1;
constexpr uint32_t kValueTag = 1, kValueImage = 4;
constexpr uint32_t kImageHeight = 1, kImageWidth = 2, kImageColorspace = 3, kImageEncoded = 4;

}  // namespace

void AppendRecord(std::string_view data, std::string* out) {
  std::string header;
  AppendU64(data.size(), &header);
  out->append(header);
  AppendU32(MaskCrc(Crc32cOf(header.data(), header.size())), out);
  out->append(data.data(), data.size());
  AppendU32(MaskCrc(Crc32cOf(data.data(), data.size())), out);
}

size_t ScanRecords(const uint8_t* data, size_t size,
                   const std::function<void(const uint8_t*, size_t)>& each) {
  size_t pos = 0;
  while (size - pos >= kRecordOverhead) {
    const uint8_t* p = data + pos;
    const uint64_t length = GetU64(p);
    if (MaskCrc(Crc32cOf(p, 8)) != GetU32(p + 8)) break;
    if (length > kMaxRecordData || length > size - pos - kRecordOverhead) break;
    const uint8_t* body = p + 12;
    if (MaskCrc(Crc32cOf(body, size_t(length))) != GetU32(body + length)) break;
    if (each) each(body, size_t(length));
    pos += kRecordOverhead + size_t(length);
  }
  return pos;
}

std::string EncodeVersionEvent(double wall_time) {
  std::string event;
  PutDoubleField(kEventWallTime, wall_time, &event);
  PutBytesField(kEventFileVersion, kFileVersion, &event);
  return event;
}

std::string EncodeImageEvent(const TensorBoardImage& image, int height, int width, int colorspace,
                             const uint8_t* png, size_t png_size) {
  std::string img;
  PutIntField(kImageHeight, height, &img);
  PutIntField(kImageWidth, width, &img);
  PutIntField(kImageColorspace, colorspace, &img);
  PutBytesField(kImageEncoded, png, png_size, &img);
  std::string value;
  PutBytesField(kValueTag, image.tag, &value);
  PutBytesField(kValueImage, img, &value);
  std::string summary;
  PutBytesField(kSummaryValue, value, &summary);
  std::string event;
  event.reserve(summary.size() + 32);
  PutDoubleField(kEventWallTime, image.wall_time, &event);
  PutIntField(kEventStep, image.step, &event);
  PutBytesField(kEventSummary, summary, &event);
  return event;
}

}  // namespace imgsink::daemon::tb
