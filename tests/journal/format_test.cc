// The on-disk encoding against independent references (CRC32C test vectors from RFC 3720,
// hand-computed layouts).
#include <catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "daemon/journal/crc32c.h"
#include "daemon/journal/record_format.h"
#include "daemon/journal/segment_reader.h"

namespace imgsink::daemon::journal::testing {
namespace {

// A segment held in memory, read as the reader reads a file.  Counts the bytes read.
class MemoryFile : public RandomAccessFile {
 public:
  explicit MemoryFile(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Status Read(uint64_t offset, size_t n, uint8_t* scratch, size_t* got) const override {
    *got = offset >= bytes_.size() ? 0 : size_t(std::min<uint64_t>(n, bytes_.size() - offset));
    if (*got > 0) std::memcpy(scratch, bytes_.data() + offset, *got);
    largest_read_ = std::max(largest_read_, n);
    return Status::OK();
  }
  uint64_t size() const { return bytes_.size(); }
  size_t largest_read() const { return largest_read_; }

 private:
  std::vector<uint8_t> bytes_;
  mutable size_t largest_read_ = 0;
};

// Appends a record of `type` carrying `payload` to *seg; returns its offset.
uint64_t AppendRecord(std::vector<uint8_t>* seg, RecordType type, uint64_t job_id,
                      const std::vector<uint8_t>& payload) {
  const uint64_t at = seg->size();
  ByteSpan span{payload.data(), payload.size()};
  uint8_t h[kRecordHeaderSize];
  EncodeRecordHeader(type, job_id, &span, 1, h);
  seg->insert(seg->end(), h, h + kRecordHeaderSize);
  seg->insert(seg->end(), payload.begin(), payload.end());
  return at;
}

TEST_CASE("format: CRC32C matches the published check values") {
  const char* check = "123456789";
  CHECK(Crc32cOf(check, 9) == 0xE3069283u);
  uint8_t zeros[32] = {};
  CHECK(Crc32cOf(zeros, 32) == 0x8A9136AAu);  // RFC 3720 B.4
  uint8_t ones[32];
  std::memset(ones, 0xFF, sizeof ones);
  CHECK(Crc32cOf(ones, 32) == 0x62A8AB43u);
  uint8_t inc[32];
  for (int i = 0; i < 32; ++i) inc[i] = uint8_t(i);
  CHECK(Crc32cOf(inc, 32) == 0x46DD794Eu);
  // Incremental updates equal one pass.
  Crc32c c;
  c.Update(check, 4);
  c.Update(check + 4, 5);
  CHECK(c.Value() == 0xE3069283u);
}

TEST_CASE("format: CRC masking round-trips and changes the value") {
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    CHECK(UnmaskCrc(MaskCrc(crc)) == crc);
    CHECK(MaskCrc(crc) != crc);
  }
}

TEST_CASE("format: segment file names") {
  CHECK(SegmentFileName(1) == "journal-0000000000000001.log");
  CHECK(SegmentFileName(0xABCDEF0123456789ull) == "journal-abcdef0123456789.log");
  uint64_t seq = 0;
  CHECK(ParseSegmentFileName("journal-00000000000000ff.log", &seq));
  CHECK(seq == 255);
  CHECK(!ParseSegmentFileName("journal-00000000000000FF.log", &seq));
  CHECK(!ParseSegmentFileName("journal-0000000000000001.log.tmp", &seq));
  CHECK(!ParseSegmentFileName("journal-001.log", &seq));
  CHECK(!ParseSegmentFileName("LOCK", &seq));
}

TEST_CASE("format: the segment header layout") {
  REQUIRE(kSegmentHeaderSize == 32);
  uint8_t h[kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{0x0102030405060708ull, 77}, h);
  CHECK(std::memcmp(h, "IMGSJRNL", 8) == 0);
  CHECK((h[8] == 1 && h[9] == 0 && h[10] == 0 && h[11] == 0));  // version 1, LE
  CHECK((h[12] == 0x08 && h[19] == 0x01));                       // seq, LE
  CHECK(h[20] == 77);
  CHECK(UnmaskCrc(GetU32(h + 28)) == Crc32cOf(h, 28));
  SegmentHeader back;
  uint32_t version = 0;
  REQUIRE(DecodeSegmentHeader(h, sizeof h, &back, &version) == HeaderCheck::kOk);
  CHECK(back.seq == 0x0102030405060708ull);
  CHECK(back.next_job_id_floor == 77);
  CHECK(DecodeSegmentHeader(h, 31, &back, &version) == HeaderCheck::kCorrupt);
  h[13] ^= 1;
  CHECK(DecodeSegmentHeader(h, sizeof h, &back, &version) == HeaderCheck::kCorrupt);
}

TEST_CASE("format: the record header layout and CRC coverage") {
  REQUIRE(kRecordHeaderSize == 17);
  const uint8_t payload[3] = {'a', 'b', 'c'};
  ByteSpan span{payload, 3};
  uint8_t h[kRecordHeaderSize];
  EncodeRecordHeader(RecordType::kAccepted, 0x1122334455667788ull, &span, 1, h);
  CHECK(GetU32(h) == 3);
  CHECK(h[8] == 1);
  CHECK(GetU64(h + 9) == 0x1122334455667788ull);
  // The CRC covers type | job_id LE | payload, computed here independently.
  uint8_t covered[12] = {1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 'a', 'b', 'c'};
  CHECK(UnmaskCrc(GetU32(h + 4)) == Crc32cOf(covered, sizeof covered));
  // Split pieces give the same header.
  ByteSpan pieces[2] = {{payload, 1}, {payload + 1, 2}};
  uint8_t h2[kRecordHeaderSize];
  EncodeRecordHeader(RecordType::kAccepted, 0x1122334455667788ull, pieces, 2, h2);
  CHECK(std::memcmp(h, h2, sizeof h) == 0);
}

TEST_CASE("format: zero-filled bytes never parse as a record") {
  std::vector<uint8_t> seg(kSegmentHeaderSize + 64, 0);
  EncodeSegmentHeader(SegmentHeader{1, 1}, seg.data());
  MemoryFile file(seg);
  SegmentReader reader(&file, "seg", file.size());
  Record rec;
  std::string why;
  SegmentReader::Result r = SegmentReader::Result::kRecord;
  REQUIRE(reader.Next(&r, &rec, &why).ok());
  CHECK(r == SegmentReader::Result::kDamage);
  CHECK(reader.offset() == kSegmentHeaderSize);
  uint64_t found = 0;
  REQUIRE(reader.FindBatchAfter(0, 0, &found).ok());
  CHECK(found == seg.size());
}

// The reader walks a file through a window of kWindowBytes: records, headers and BATCH
// markers that straddle a window's end, and a payload bigger than the window, read the same.
TEST_CASE("format: the segment reader reads records across its window's ends") {
  constexpr size_t kWin = SegmentReader::kWindowBytes;
  std::vector<uint8_t> seg(kSegmentHeaderSize);
  EncodeSegmentHeader(SegmentHeader{1, 1}, seg.data());
  std::vector<uint64_t> batch_at;  // batch_at[k - 1]: offset of BATCH k
  std::vector<std::vector<uint8_t>> payloads;
  uint64_t job = 0;
  auto batch = [&] { batch_at.push_back(AppendRecord(&seg, RecordType::kBatch, batch_at.size() + 1, {})); };
  auto accepted = [&](size_t n) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = uint8_t(i * 131 + job);
    payloads.push_back(p);
    AppendRecord(&seg, RecordType::kAccepted, ++job, p);
  };
  batch();
  // Fill up to 10 bytes before the first scan window's end (the scan from offset 32 looks at
  // candidates up to 32 + kWin - 17): the next BATCH header straddles it.
  accepted(kSegmentHeaderSize + kWin - 10 - seg.size() - kRecordHeaderSize);
  batch();
  accepted(kWin + kWin / 2);  // bigger than the window
  batch();
  for (int i = 0; i < 3000; ++i) accepted(size_t(i % 997));  // small records over many windows
  batch();
  REQUIRE(batch_at[1] + kRecordHeaderSize > kSegmentHeaderSize + kWin);
  REQUIRE(batch_at[1] < kSegmentHeaderSize + kWin);
  MemoryFile file(seg);

  SegmentReader reader(&file, "seg", file.size());
  size_t accepted_seen = 0, batches_seen = 0;
  for (;;) {
    Record rec;
    std::string why;
    SegmentReader::Result r = SegmentReader::Result::kDamage;
    REQUIRE(reader.Next(&r, &rec, &why).ok());
    INFO(why);
    REQUIRE(r != SegmentReader::Result::kDamage);
    if (r == SegmentReader::Result::kEnd) break;
    if (rec.type == RecordType::kBatch) {
      CHECK(rec.offset == batch_at[batches_seen]);
      ++batches_seen;
      continue;
    }
    REQUIRE(accepted_seen < payloads.size());
    const std::vector<uint8_t>& want = payloads[accepted_seen++];
    REQUIRE(rec.payload.size == want.size());
    CHECK(std::equal(want.begin(), want.end(), rec.payload.data));
  }
  CHECK(batches_seen == batch_at.size());
  CHECK(accepted_seen == payloads.size());
  // Only the big record's payload is ever read or held beyond the window.
  CHECK(file.largest_read() <= kWin + kWin / 2);
  CHECK(reader.peak_buffer_bytes() <= kWin + kWin + kWin / 2);

  for (size_t k = 0; k < batch_at.size(); ++k) {
    uint64_t found = 0;
    REQUIRE(reader.FindBatchAfter(kSegmentHeaderSize, k, &found).ok());
    CHECK(found == batch_at[k]);
  }
  uint64_t found = 0;
  REQUIRE(reader.FindBatchAfter(kSegmentHeaderSize, batch_at.size(), &found).ok());
  CHECK(found == seg.size());
}

// A file that shrinks while it is read is an I/O error, never damage (which could be taken
// for a torn tail and truncated).
TEST_CASE("format: the segment reader reports a file shorter than its size as an error") {
  std::vector<uint8_t> seg(kSegmentHeaderSize);
  EncodeSegmentHeader(SegmentHeader{1, 1}, seg.data());
  AppendRecord(&seg, RecordType::kBatch, 1, {});
  MemoryFile file(seg);
  SegmentReader reader(&file, "seg", file.size() + 100);
  Record rec;
  std::string why;
  SegmentReader::Result r = SegmentReader::Result::kDamage;
  Status s = reader.Next(&r, &rec, &why);
  CHECK(!s.ok());
  CHECK_THAT(s.message(), Catch::Contains("changed size"));
}

TEST_CASE("format: DONE payloads carry the outcome") {
  std::string p = EncodeDonePayload(Status(ErrorCode::kWriteFailed, "no space: a/b.png"));
  CHECK(uint8_t(p[0]) == uint8_t(ErrorCode::kWriteFailed));
  CHECK(p.substr(1) == "no space: a/b.png");
  Status back;
  REQUIRE(DecodeDonePayload(reinterpret_cast<const uint8_t*>(p.data()), p.size(), &back));
  CHECK(back.code() == ErrorCode::kWriteFailed);
  CHECK(back.message() == "no space: a/b.png");
  CHECK(!DecodeDonePayload(nullptr, 0, &back));
}

}  // namespace
}  // namespace imgsink::daemon::journal::testing
