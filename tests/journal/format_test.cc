// The on-disk encoding against independent references (CRC32C test vectors from RFC 3720,
// hand-computed layouts).
#include <catch.hpp>

#include <cstring>
#include <string>

#include "daemon/journal/crc32c.h"
#include "daemon/journal/record_format.h"
#include "daemon/journal/segment_reader.h"

namespace imgsink::daemon::journal::testing {
namespace {

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
  SegmentReader reader(seg.data(), seg.size());
  Record rec;
  std::string why;
  CHECK(reader.Next(&rec, &why) == SegmentReader::Result::kDamage);
  CHECK(reader.offset() == kSegmentHeaderSize);
  CHECK(reader.FindBatchAfter(0, 0) == seg.size());
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
