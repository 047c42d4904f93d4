// The journal's on-disk encoding (JOURNAL_FORMAT.md is the spec; keep both in step):
// segment file names, the segment header, record headers and the DONE payload.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/util/bytes.h"
#include "daemon/util/little_endian.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon::journal {

inline constexpr char kSegmentMagic[8] = {'I', 'M', 'G', 'S', 'J', 'R', 'N', 'L'};
inline constexpr uint32_t kFormatVersion = 1;
// magic[8] | version u32 | seq u64 | next_job_id_floor u64 | masked crc32c u32 (over bytes 0..27)
inline constexpr size_t kSegmentHeaderSize = 32;
// length u32 | masked crc32c u32 (over type, job_id, payload) | type u8 | job_id u64
inline constexpr size_t kRecordHeaderSize = 17;
// The largest payload a record may declare.  Lengths above it are corruption, never allocated.
inline constexpr uint32_t kMaxRecordPayload = uint32_t{1} << 30;

// Type 0 is never written, so zero-filled bytes never parse as a record.
enum class RecordType : uint8_t {
  kAccepted = 1,    // job_id = the job; payload = the caller's opaque bytes
  kDone = 2,        // job_id = the job; payload = EncodeDonePayload(outcome)
  kBatch = 3,       // job_id field = batch number within the segment (1, 2, ...); no payload
  kSegmentEnd = 4,  // last record of a sealed segment; job_id field 0; no payload
};

// Returns true iff `t` is one of the RecordType values.
bool IsKnownRecordType(uint8_t t);
const char* RecordTypeName(RecordType t);

struct SegmentHeader {
  uint64_t seq = 0;
  // Every job id the journal had seen or handed out when the segment was created is below it.
  uint64_t next_job_id_floor = 1;
};

// "journal-<16 lowercase hex digits>.log"
std::string SegmentFileName(uint64_t seq);
// Returns true iff `name` is exactly a SegmentFileName(); sets *seq then.
bool ParseSegmentFileName(std::string_view name, uint64_t* seq);

void EncodeSegmentHeader(const SegmentHeader& h, uint8_t out[kSegmentHeaderSize]);

enum class HeaderCheck { kOk, kCorrupt, kBadVersion };
// Decodes the header at the start of `data`.  kBadVersion: magic and CRC are good but the
// version is not kFormatVersion (*version says which).  kCorrupt: anything else wrong,
// including size < kSegmentHeaderSize.
HeaderCheck DecodeSegmentHeader(const uint8_t* data, uint64_t size, SegmentHeader* h,
                                uint32_t* version);

struct RecordHeader {
  uint32_t length = 0;      // payload bytes after the 17-byte header
  uint32_t masked_crc = 0;  // MaskCrc(CRC32C(type, job_id LE, payload))
  uint8_t type = 0;         // raw, may be unknown
  uint64_t job_id = 0;
};

// Returns the unmasked CRC32C of type | job_id (u64 LE) | pieces[0..n).
uint32_t RecordCrc(uint8_t type, uint64_t job_id, const ByteSpan* pieces, size_t n);

// Writes the 17-byte header of a record whose payload is pieces[0..n), computing its CRC.
// REQUIRES: total payload size <= kMaxRecordPayload.
void EncodeRecordHeader(RecordType type, uint64_t job_id, const ByteSpan* pieces, size_t n,
                        uint8_t out[kRecordHeaderSize]);
// REQUIRES: p points at kRecordHeaderSize readable bytes.
RecordHeader DecodeRecordHeader(const uint8_t* p);

// DONE payload: status code u8 | message bytes (the rest of the payload, not terminated).
std::string EncodeDonePayload(const Status& outcome);
// Returns false iff the payload is empty or the code byte is not a known ErrorCode.
bool DecodeDonePayload(const uint8_t* p, size_t n, Status* outcome);

// Little-endian loads and stores (daemon/util/little_endian.h).
using daemon::GetU32;
using daemon::GetU64;
using daemon::PutU32;
using daemon::PutU64;

}  // namespace imgsink::daemon::journal
