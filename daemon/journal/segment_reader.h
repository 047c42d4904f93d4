// SegmentReader: verifies and walks the records of one segment held in memory.
// It only classifies bytes; recovery.cc decides what a damaged record means.
// Thread-safety: not thread-safe; const methods may run concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/journal/record_format.h"

namespace imgsink::daemon::journal {

struct Record {
  RecordType type = RecordType::kAccepted;
  uint64_t job_id = 0;
  uint64_t offset = 0;  // of the record header within the segment
  const uint8_t* payload = nullptr;
  uint32_t size = 0;  // payload bytes
};

class SegmentReader {
 public:
  // `data` must outlive the reader.  The reader starts after the segment header.
  SegmentReader(const uint8_t* data, uint64_t size);

  enum class Result { kRecord, kEnd, kDamage };
  // kRecord: *rec is the valid record at offset() and the reader moves past it.
  // kEnd: offset() == size.
  // kDamage: the bytes at offset() are not a valid record (*why says how); the reader stays.
  // A record is valid iff its header fits, its length is <= kMaxRecordPayload and fits in the
  // rest of the file (checked before anything is read or allocated), its CRC matches, its type
  // is known and BATCH/SEGMENT_END carry no payload.
  Result Next(Record* rec, std::string* why);

  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  // REQUIRES: kSegmentHeaderSize <= offset <= size().
  void Seek(uint64_t offset) { offset_ = offset; }

  // Returns true iff a valid record starts at `offset`.
  bool ValidRecordAt(uint64_t offset) const;
  // Returns the end of the record at `offset` if its length field is plausible (<= the max and
  // fits in the file), otherwise 0.  Says nothing about its CRC.
  uint64_t PlausibleEnd(uint64_t offset) const;
  // Returns the offset of the first valid BATCH record at or after `from` whose batch number is
  // greater than `after_batch`, or size() if there is none.  Scans byte by byte, checking the
  // CRC only where the fixed bytes of a BATCH header (length 0, type 3) match, so random data
  // passes with probability about 2^-72 per offset.
  uint64_t FindBatchAfter(uint64_t from, uint64_t after_batch) const;

 private:
  bool Check(uint64_t offset, Record* rec, std::string* why) const;

  const uint8_t* data_;
  uint64_t size_;
  uint64_t offset_;
};

}  // namespace imgsink::daemon::journal
