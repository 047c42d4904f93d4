#include "daemon/journal/record_format.h"

#include <cstdio>
#include <cstring>

#include "daemon/journal/crc32c.h"

namespace imgsink::daemon::journal {


bool IsKnownRecordType(uint8_t t) { return t >= 1 && t <= 4; }

const char* RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kAccepted: return "ACCEPTED";
    case RecordType::kDone: return "DONE";
    case RecordType::kBatch: return "BATCH";
    case RecordType::kSegmentEnd: return "SEGMENT_END";
  }
  return "?";
}

std::string SegmentFileName(uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "journal-%016llx.log", static_cast<unsigned long long>(seq));
  return buf;
}

bool ParseSegmentFileName(std::string_view name, uint64_t* seq) {
  constexpr std::string_view kPrefix = "journal-", kSuffix = ".log";
  if (name.size() != kPrefix.size() + 16 + kSuffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (name.substr(kPrefix.size() + 16) != kSuffix) return false;
  uint64_t v = 0;
  for (char c : name.substr(kPrefix.size(), 16)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;  // upper case is not a name we write
    }
    v = (v << 4) | uint64_t(d);
  }
  *seq = v;
  return true;
}

void EncodeSegmentHeader(const SegmentHeader& h, uint8_t out[kSegmentHeaderSize]) {
  std::memcpy(out, kSegmentMagic, 8);
  PutU32(out + 8, kFormatVersion);
  PutU64(out + 12, h.seq);
  PutU64(out + 20, h.next_job_id_floor);
  PutU32(out + 28, MaskCrc(Crc32cOf(out, 28)));
}

HeaderCheck DecodeSegmentHeader(const uint8_t* data, uint64_t size, SegmentHeader* h,
                                uint32_t* version) {
  if (size < kSegmentHeaderSize) return HeaderCheck::kCorrupt;
  if (std::memcmp(data, kSegmentMagic, 8) != 0) return HeaderCheck::kCorrupt;
  if (UnmaskCrc(GetU32(data + 28)) != Crc32cOf(data, 28)) return HeaderCheck::kCorrupt;
  *version = GetU32(data + 8);
  if (*version != kFormatVersion) return HeaderCheck::kBadVersion;
  h->seq = GetU64(data + 12);
  h->next_job_id_floor = GetU64(data + 20);
  return HeaderCheck::kOk;
}

uint32_t RecordCrc(uint8_t type, uint64_t job_id, const ByteSpan* pieces, size_t n) {
  uint8_t fixed[9];
  fixed[0] = type;
  PutU64(fixed + 1, job_id);
  Crc32c crc;
  crc.Update(fixed, sizeof fixed);
  for (size_t i = 0; i < n; ++i) crc.Update(pieces[i].data, pieces[i].size);
  return crc.Value();
}

void EncodeRecordHeader(RecordType type, uint64_t job_id, const ByteSpan* pieces, size_t n,
                        uint8_t out[kRecordHeaderSize]) {
  uint64_t length = 0;
  for (size_t i = 0; i < n; ++i) length += pieces[i].size;
  PutU32(out, uint32_t(length));
  PutU32(out + 4, MaskCrc(RecordCrc(uint8_t(type), job_id, pieces, n)));
  out[8] = uint8_t(type);
  PutU64(out + 9, job_id);
}

RecordHeader DecodeRecordHeader(const uint8_t* p) {
  RecordHeader h;
  h.length = GetU32(p);
  h.masked_crc = GetU32(p + 4);
  h.type = p[8];
  h.job_id = GetU64(p + 9);
  return h;
}

std::string EncodeDonePayload(const Status& outcome) {
  std::string out;
  out.reserve(1 + outcome.message().size());
  out.push_back(char(outcome.code()));
  out += outcome.message();
  return out;
}

bool DecodeDonePayload(const uint8_t* p, size_t n, Status* outcome) {
  if (n == 0 || p[0] >= uint8_t(ErrorCode::kCount_)) return false;
  std::string message(reinterpret_cast<const char*>(p + 1), n - 1);
  *outcome = Status(ErrorCode(p[0]), std::move(message));
  return true;
}

}  // namespace imgsink::daemon::journal
