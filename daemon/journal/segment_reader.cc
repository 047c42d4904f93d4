#include "daemon/journal/segment_reader.h"

#include "daemon/journal/crc32c.h"

namespace imgsink::daemon::journal {

SegmentReader::SegmentReader(const uint8_t* data, uint64_t size)
    : data_(data), size_(size), offset_(size < kSegmentHeaderSize ? size : kSegmentHeaderSize) {}

SegmentReader::Result SegmentReader::Next(Record* rec, std::string* why) {
  if (offset_ == size_) return Result::kEnd;
  if (!Check(offset_, rec, why)) return Result::kDamage;
  offset_ += kRecordHeaderSize + rec->size;
  return Result::kRecord;
}

bool SegmentReader::ValidRecordAt(uint64_t offset) const {
  Record rec;
  std::string why;
  return Check(offset, &rec, &why);
}

uint64_t SegmentReader::PlausibleEnd(uint64_t offset) const {
  if (size_ - offset < kRecordHeaderSize) return 0;
  uint32_t length = GetU32(data_ + offset);
  if (length > kMaxRecordPayload || length > size_ - offset - kRecordHeaderSize) return 0;
  return offset + kRecordHeaderSize + length;
}

uint64_t SegmentReader::FindBatchAfter(uint64_t from, uint64_t after_batch) const {
  if (size_ < kRecordHeaderSize) return size_;
  for (uint64_t at = from; at + kRecordHeaderSize <= size_; ++at) {
    const uint8_t* p = data_ + at;
    if (p[8] != uint8_t(RecordType::kBatch) || p[0] != 0 || p[1] != 0 || p[2] != 0 || p[3] != 0) {
      continue;
    }
    Record rec;
    std::string why;
    if (Check(at, &rec, &why) && rec.job_id > after_batch) return at;
  }
  return size_;
}

bool SegmentReader::Check(uint64_t offset, Record* rec, std::string* why) const {
  uint64_t left = size_ - offset;
  if (left < kRecordHeaderSize) {
    *why = "record header cut short (" + std::to_string(left) + " of " +
           std::to_string(kRecordHeaderSize) + " bytes)";
    return false;
  }
  RecordHeader h = DecodeRecordHeader(data_ + offset);
  // Check the length before touching the payload: a garbage length must cost nothing.
  if (h.length > kMaxRecordPayload) {
    *why = "impossible record length " + std::to_string(h.length);
    return false;
  }
  if (h.length > left - kRecordHeaderSize) {
    *why = "record length " + std::to_string(h.length) + " runs past the end of the file (" +
           std::to_string(left - kRecordHeaderSize) + " bytes left)";
    return false;
  }
  ByteSpan payload{data_ + offset + kRecordHeaderSize, h.length};
  if (UnmaskCrc(h.masked_crc) != RecordCrc(h.type, h.job_id, &payload, 1)) {
    *why = "checksum mismatch";
    return false;
  }
  if (!IsKnownRecordType(h.type)) {
    *why = "unknown record type " + std::to_string(h.type);
    return false;
  }
  RecordType type = RecordType(h.type);
  if ((type == RecordType::kBatch || type == RecordType::kSegmentEnd) && h.length != 0) {
    *why = std::string(RecordTypeName(type)) + " record with a payload";
    return false;
  }
  rec->type = type;
  rec->job_id = h.job_id;
  rec->offset = offset;
  rec->payload = payload.data;
  rec->size = h.length;
  return true;
}

}  // namespace imgsink::daemon::journal
