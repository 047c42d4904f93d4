#include "daemon/journal/segment_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "daemon/journal/crc32c.h"

namespace imgsink::daemon::journal {

SegmentReader::SegmentReader(const RandomAccessFile* file, std::string path, uint64_t size)
    : file_(file),
      path_(std::move(path)),
      size_(size),
      offset_(size < kSegmentHeaderSize ? size : kSegmentHeaderSize) {}

Status SegmentReader::ReadHeader(HeaderCheck* check, SegmentHeader* h, uint32_t* version) {
  uint8_t buf[kSegmentHeaderSize];
  const size_t n = size_t(std::min<uint64_t>(kSegmentHeaderSize, size_));
  Status s = ReadExactly(0, n, buf);
  if (!s.ok()) return s;
  *check = DecodeSegmentHeader(buf, n, h, version);
  return Status::OK();
}

Status SegmentReader::Next(Result* result, Record* rec, std::string* why) {
  if (offset_ == size_) {
    *result = Result::kEnd;
    return Status::OK();
  }
  bool valid = false;
  Status s = Check(offset_, /*keep_payload=*/true, &valid, rec, why);
  if (!s.ok()) return s;
  if (!valid) {
    *result = Result::kDamage;
    return Status::OK();
  }
  offset_ += kRecordHeaderSize + rec->size;
  *result = Result::kRecord;
  return Status::OK();
}

Status SegmentReader::ValidRecordAt(uint64_t offset, bool* valid) {
  Record rec;
  std::string why;
  return Check(offset, /*keep_payload=*/false, valid, &rec, &why);
}

Status SegmentReader::PlausibleEnd(uint64_t offset, uint64_t* end) {
  *end = 0;
  if (size_ - offset < kRecordHeaderSize) return Status::OK();
  const uint8_t* p = nullptr;
  Status s = Fetch(offset, kRecordHeaderSize, &p);
  if (!s.ok()) return s;
  const uint32_t length = GetU32(p);
  if (length <= kMaxRecordPayload && length <= size_ - offset - kRecordHeaderSize) {
    *end = offset + kRecordHeaderSize + length;
  }
  return Status::OK();
}

Status SegmentReader::FindBatchAfter(uint64_t from, uint64_t after_batch, uint64_t* found) {
  *found = size_;
  uint64_t at = from;
  while (at + kRecordHeaderSize <= size_) {
    const size_t n = size_t(std::min<uint64_t>(kWindowBytes, size_ - at));
    const uint8_t* p = nullptr;
    Status s = Fetch(at, n, &p);
    if (!s.ok()) return s;
    // Candidates are the offsets at + i, i in [0, last]: every one whose header fits here.  The
    // next window starts at at + last + 1, so no offset is skipped or looked at twice.
    const size_t last = n - kRecordHeaderSize;
    size_t i = 0;
    while (i <= last) {
      // The type byte (header offset 8) is the rarest fixed byte: memchr finds it fast in
      // zero-filled or random regions.
      const void* hit = std::memchr(p + i + 8, uint8_t(RecordType::kBatch), last - i + 1);
      if (hit == nullptr) break;
      i = size_t(static_cast<const uint8_t*>(hit) - p) - 8;
      if (p[0 + i] == 0 && p[1 + i] == 0 && p[2 + i] == 0 && p[3 + i] == 0) {
        // A BATCH record: length 0, no payload, so header and CRC are all in the window.
        const RecordHeader h = DecodeRecordHeader(p + i);
        if (UnmaskCrc(h.masked_crc) == RecordCrc(h.type, h.job_id, nullptr, 0) &&
            h.job_id > after_batch) {
          *found = at + i;
          return Status::OK();
        }
      }
      ++i;
    }
    at += last + 1;
  }
  return Status::OK();
}

Status SegmentReader::Check(uint64_t offset, bool keep_payload, bool* valid, Record* rec,
                            std::string* why) {
  *valid = false;
  const uint64_t left = size_ - offset;
  if (left < kRecordHeaderSize) {
    *why = "record header cut short (" + std::to_string(left) + " of " +
           std::to_string(kRecordHeaderSize) + " bytes)";
    return Status::OK();
  }
  const uint8_t* p = nullptr;
  Status s = Fetch(offset, kRecordHeaderSize, &p);
  if (!s.ok()) return s;
  const RecordHeader h = DecodeRecordHeader(p);
  // Check the length before touching the payload: a garbage length must cost nothing.
  if (h.length > kMaxRecordPayload) {
    *why = "impossible record length " + std::to_string(h.length);
    return Status::OK();
  }
  if (h.length > left - kRecordHeaderSize) {
    *why = "record length " + std::to_string(h.length) + " runs past the end of the file (" +
           std::to_string(left - kRecordHeaderSize) + " bytes left)";
    return Status::OK();
  }
  const uint64_t payload_at = offset + kRecordHeaderSize;
  Bytes payload;
  Crc32c crc;
  uint8_t fixed[9];
  fixed[0] = h.type;
  PutU64(fixed + 1, h.job_id);
  crc.Update(fixed, sizeof fixed);
  if (keep_payload && h.type == uint8_t(RecordType::kAccepted) && h.length > 0) {
    // Read once into a buffer of its own: if the record is valid, that buffer is the job's
    // payload, so recovery keeps exactly the pending jobs' bytes and no segment whole.
    std::vector<uint8_t> buf(h.length);
    NoteHeld(h.length);
    if (h.length <= kWindowBytes) {
      s = Fetch(payload_at, h.length, &p);
      if (s.ok()) std::memcpy(buf.data(), p, h.length);
    } else {
      s = ReadExactly(payload_at, h.length, buf.data());
    }
    if (!s.ok()) return s;
    crc.Update(buf.data(), buf.size());
    payload = Bytes::Own(std::move(buf));
  } else {
    // Verify through the window, keeping nothing: a garbage length costs no allocation.
    for (uint64_t at = payload_at, end = payload_at + h.length; at < end;) {
      const size_t n = size_t(std::min<uint64_t>(kWindowBytes, end - at));
      s = Fetch(at, n, &p);
      if (!s.ok()) return s;
      crc.Update(p, n);
      at += n;
    }
  }
  if (UnmaskCrc(h.masked_crc) != crc.Value()) {
    *why = "checksum mismatch";
    return Status::OK();
  }
  if (!IsKnownRecordType(h.type)) {
    *why = "unknown record type " + std::to_string(h.type);
    return Status::OK();
  }
  const RecordType type = RecordType(h.type);
  if ((type == RecordType::kBatch || type == RecordType::kSegmentEnd) && h.length != 0) {
    *why = std::string(RecordTypeName(type)) + " record with a payload";
    return Status::OK();
  }
  *valid = true;
  rec->type = type;
  rec->job_id = h.job_id;
  rec->offset = offset;
  rec->size = h.length;
  rec->payload = std::move(payload);
  return Status::OK();
}

Status SegmentReader::Fetch(uint64_t offset, size_t n, const uint8_t** p) {
  if (offset >= window_start_ && offset + n <= window_start_ + window_len_) {
    *p = window_.data() + (offset - window_start_);
    return Status::OK();
  }
  if (window_.empty()) {
    window_.resize(size_t(std::min<uint64_t>(kWindowBytes, size_)));
    NoteHeld(0);
  }
  const size_t len = size_t(std::min<uint64_t>(window_.size(), size_ - offset));
  window_len_ = 0;
  Status s = ReadExactly(offset, len, window_.data());
  if (!s.ok()) return s;
  window_start_ = offset;
  window_len_ = len;
  *p = window_.data();
  return Status::OK();
}

Status SegmentReader::ReadExactly(uint64_t offset, size_t n, uint8_t* out) {
  size_t got = 0;
  Status s = file_->Read(offset, n, out, &got);
  if (!s.ok()) return s;
  if (got != n) {
    return Status(ErrorCode::kWriteFailed, "read " + path_ + ": file changed size while read (" +
                                               std::to_string(got) + " of " + std::to_string(n) +
                                               " bytes at offset " + std::to_string(offset) + ")");
  }
  return Status::OK();
}

void SegmentReader::NoteHeld(uint64_t extra) {
  peak_buffer_bytes_ = std::max<uint64_t>(peak_buffer_bytes_, window_.size() + extra);
}

}  // namespace imgsink::daemon::journal
