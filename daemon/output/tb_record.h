// TensorBoard event-file records (TB_EVENT_FORMAT.md): TFRecord framing and the few protobuf
// fields of an Event that image summaries need, written by hand.
//
// Framing (tensorflow/core/lib/io/record_writer.cc): uint64 little-endian length, masked
// CRC-32C of those 8 bytes (uint32 LE), the data, masked CRC-32C of the data (uint32 LE); the
// mask is leveldb's (journal/crc32c.h MaskCrc, the same constant TensorFlow uses).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "imgsink/proto/messages.h"

namespace imgsink::daemon::tb {

// Bytes a record adds around its data.
inline constexpr size_t kRecordOverhead = 8 + 4 + 4;
// The largest record data we write or accept when scanning (protobuf's 2 GiB message limit
// is far above any PNG we make; this bounds what a corrupt length can make us read).
inline constexpr uint64_t kMaxRecordData = uint64_t{1} << 31;
// Event.file_version of the first record of every event file.
inline constexpr std::string_view kFileVersion = "brain.Event:2";

// Appends the framed record of `data` to *out.
void AppendRecord(std::string_view data, std::string* out);

// Walks the records of [data, data + size) from the start, calling each(record data, size) for
// every complete record whose two CRCs are valid.  Stops at the first record that is short
// (a torn tail), has a bad CRC or an impossible length.  Returns the offset just past the last
// good record: size iff every byte belongs to a good record.
size_t ScanRecords(const uint8_t* data, size_t size,
                   const std::function<void(const uint8_t*, size_t)>& each);

// Event{wall_time, file_version: "brain.Event:2"}: the first record of an event file.
std::string EncodeVersionEvent(double wall_time);

// Event{wall_time, step, summary: Summary{value: [Value{tag, image: Image{height, width,
// colorspace, encoded_image_string: png}}]}} -- what torch's SummaryWriter.add_image writes.
// Zero-valued scalars are left out, as protobuf's serializer leaves them out.
std::string EncodeImageEvent(const TensorBoardImage& image, int height, int width, int colorspace,
                             const uint8_t* png, size_t png_size);

}  // namespace imgsink::daemon::tb
