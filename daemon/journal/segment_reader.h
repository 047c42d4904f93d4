// SegmentReader: verifies and walks the records of one segment file, reading it through a
// bounded window so that memory never grows with the file (issue 12, row 11: a 3 GiB sparse
// segment read whole cost 3 GiB).  It holds at most its window (kWindowBytes) plus the payload
// of the one record it is verifying (<= kMaxRecordPayload, and never more than the bytes left
// in the file).  It only classifies bytes; recovery.cc decides what a damaged record means.
//
// Every method returns a non-OK Status only when the file cannot be read (an I/O error, or the
// file shrank while read): never for damage, which must not be mistaken for a torn tail.
// Thread-safety: not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/journal/record_format.h"
#include "daemon/util/bytes.h"

namespace imgsink::daemon::journal {

struct Record {
  RecordType type = RecordType::kAccepted;
  uint64_t job_id = 0;
  uint64_t offset = 0;  // of the record header within the segment
  uint32_t size = 0;    // payload bytes
  // An ACCEPTED record's payload, in a buffer of its own (exactly `size` bytes); empty for the
  // other types, whose payloads are verified but not kept.
  Bytes payload;
};

class SegmentReader {
 public:
  // The window: how much of the file is read at once while walking small records or scanning.
  static constexpr size_t kWindowBytes = size_t{1} << 20;

  // Reads the first `size` bytes of `file` (any beyond are ignored); `path` names it in errors.
  // `file` must outlive the reader.  The reader starts after the segment header.
  SegmentReader(const RandomAccessFile* file, std::string path, uint64_t size);

  // Reads and decodes the segment header (see DecodeSegmentHeader) into *check, *h, *version.
  Status ReadHeader(HeaderCheck* check, SegmentHeader* h, uint32_t* version);

  enum class Result { kRecord, kEnd, kDamage };
  // kRecord: *rec is the valid record at offset() and the reader moves past it.
  // kEnd: offset() == size.
  // kDamage: the bytes at offset() are not a valid record (*why says how); the reader stays.
  // A record is valid iff its header fits, its length is <= kMaxRecordPayload and fits in the
  // rest of the file (checked before anything is read or allocated), its CRC matches, its type
  // is known and BATCH/SEGMENT_END carry no payload.
  Status Next(Result* result, Record* rec, std::string* why);

  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  // REQUIRES: kSegmentHeaderSize <= offset <= size().  Moves without reading anything.
  void Seek(uint64_t offset) { offset_ = offset; }

  // Sets *valid iff a valid record starts at `offset`.  Keeps no payload.
  Status ValidRecordAt(uint64_t offset, bool* valid);
  // Sets *end to the end of the record at `offset` if its length field is plausible (<= the
  // max and fits in the file), otherwise 0.  Says nothing about its CRC.
  Status PlausibleEnd(uint64_t offset, uint64_t* end);
  // Sets *found to the offset of the first valid BATCH record at or after `from` whose batch
  // number is greater than `after_batch`, or size() if there is none.  Scans byte by byte
  // through the window, checking the CRC only where the fixed bytes of a BATCH header (length
  // 0, type 3) match, so random data passes with probability about 2^-72 per offset.
  Status FindBatchAfter(uint64_t from, uint64_t after_batch, uint64_t* found);

  // The most bytes this reader has held at once (window plus the record being verified), for
  // tests and reports: at most kWindowBytes + kMaxRecordPayload whatever the file holds.
  uint64_t peak_buffer_bytes() const { return peak_buffer_bytes_; }

 private:
  // Sets *valid iff a valid record starts at `offset` (*rec then describes it, with its payload
  // iff `keep_payload` and it is an ACCEPTED record), else *why says what is wrong.
  Status Check(uint64_t offset, bool keep_payload, bool* valid, Record* rec, std::string* why);
  // Points *p at the n bytes at `offset`, refilling the window if they are not all in it.
  // REQUIRES: n <= kWindowBytes and offset + n <= size_.
  Status Fetch(uint64_t offset, size_t n, const uint8_t** p);
  // Reads exactly n bytes at `offset` into out (the file shrinking meanwhile is an error).
  Status ReadExactly(uint64_t offset, size_t n, uint8_t* out);
  void NoteHeld(uint64_t extra);

  const RandomAccessFile* file_;
  std::string path_;
  uint64_t size_;
  uint64_t offset_;
  // window_[0, window_len_) holds the file's bytes at window_start_; allocated once, on first
  // use, to min(kWindowBytes, size_).
  std::vector<uint8_t> window_;
  uint64_t window_start_ = 0;
  size_t window_len_ = 0;
  uint64_t peak_buffer_bytes_ = 0;
};

}  // namespace imgsink::daemon::journal
