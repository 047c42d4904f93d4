// Recovery from damaged journals: torn tails, zero-filled tails, bit flips, impossible lengths,
// missing or cut segments.  Record offsets are found independently: from the fixed layout
// (32-byte segment header, 17-byte record headers) or by searching for a job's payload bytes.
// Records that frame and checksum correctly but say what no writer does (hostile journals) are
// in recovery_hostile_test.cc.
#include <catch.hpp>

#include <filesystem>
#include <random>

#include "daemon/journal/crc32c.h"
#include "daemon/journal/journal.h"
#include "daemon/journal/record_format.h"
#include "test_util.h"

namespace imgsink::daemon::journal::testing {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPayload = 40;
// Layout of the one-segment fixture: three jobs, each in its own batch.
// [header 32][BATCH 17][A1 57][BATCH 17][A2 57][BATCH 17][A3 57]: A1 at 49, batch 2 at 106, and
constexpr uint64_t kA2 = 123, kB3 = 180, kA3 = 197, kEnd = 254;

std::string Seg(const std::string& dir, uint64_t seq) {
  return (fs::path(dir) / SegmentFileName(seq)).string();
}

// The bytes of segment 1 after journaling jobs 1..3 in three batches.
std::vector<uint8_t> ThreeJobSegment() {
  TempDir dir;
  {
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    for (uint64_t id = 1; id <= 3; ++id) {
      REQUIRE(AcceptAndWait(o.journal.get(), id, PayloadFor(id, kPayload)).ok());
    }
  }
  std::vector<uint8_t> bytes = ReadBytes(Seg(dir.path(), 1));
  REQUIRE(bytes.size() == kEnd);
  return bytes;
}

// A journal of jobs 1..12 (100-byte payloads, one batch each) over segments of 512 bytes:
// segment 1 holds jobs 1-4, segment 2 jobs 5-8, segment 3 jobs 9-12, segment 4 is empty.
void TwelveJobJournal(const std::string& dir) {
  Opened o = OpenJournal(DefaultEnv(), Options(dir, 512));
  REQUIRE(o.status.ok());
  for (uint64_t id = 1; id <= 12; ++id) {
    REQUIRE(AcceptAndWait(o.journal.get(), id, PayloadFor(id, 100)).ok());
  }
  REQUIRE(o.journal->Close().ok());
  REQUIRE(SegmentFiles(dir).size() == 4);
  for (uint64_t id = 5; id <= 8; ++id) {
    REQUIRE(Find(ReadBytes(Seg(dir, 2)), PayloadFor(id, 100)) != std::string::npos);
  }
}

// Offset of job `id`'s record header in `file` (its payload is unique).
uint64_t RecordOffset(const std::string& file, uint64_t id, size_t payload_size) {
  size_t at = Find(ReadBytes(file), PayloadFor(id, payload_size));
  REQUIRE(at != std::string::npos);
  return at - kRecordHeaderSize;
}

std::vector<uint64_t> Range(uint64_t from, uint64_t to, uint64_t except = 0) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i <= to; ++i) {
    if (i != except) v.push_back(i);
  }
  return v;
}

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST_CASE("recovery: a torn tail at every byte offset of the last batch is truncated") {
  const std::vector<uint8_t> full = ThreeJobSegment();
  for (uint64_t len = kB3; len <= kEnd; ++len) {
    CAPTURE(len);
    TempDir dir;
    WriteBytes(Seg(dir.path(), 1), std::vector<uint8_t>(full.begin(), full.begin() + len));
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    const uint64_t cut = len == kEnd ? kEnd : (len < kA3 ? kB3 : kA3);
    CHECK(o.report.truncated_bytes == len - cut);
    CHECK(o.report.skipped_corrupt == 0);
    CHECK(PendingIds(o.pending) == (len == kEnd ? Range(1, 3) : Range(1, 2)));
    for (const RecoveredJob& job : o.pending) CHECK(PayloadOf(job) == PayloadFor(job.job_id, kPayload));
    // The torn bytes are gone and the segment is sealed: BATCH (type 3) then SEGMENT_END (4).
    std::vector<uint8_t> after = ReadBytes(Seg(dir.path(), 1));
    REQUIRE(after.size() == cut + 2 * kRecordHeaderSize);
    CHECK(std::equal(full.begin(), full.begin() + cut, after.begin()));
    CHECK(after[cut + 8] == 3);
    CHECK(after[cut + kRecordHeaderSize + 8] == 4);
    CHECK(fs::file_size(Seg(dir.path(), 2)) == kSegmentHeaderSize);
    o.journal.reset();
    // Recovery is idempotent.
    Opened again = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(again.status.ok());
    CHECK(again.report.truncated_bytes == 0);
    CHECK(PendingIds(again.pending) == PendingIds(o.pending));
  }
}

TEST_CASE("recovery: zero-filled tails are truncated") {
  const std::vector<uint8_t> full = ThreeJobSegment();
  TempDir dir;
  std::vector<uint8_t> bytes = full;
  uint64_t truncated = 0;
  std::vector<uint64_t> expected;
  SECTION("zeros after the last record (preallocated blocks)") {
    bytes.resize(full.size() + 4096, 0);
    truncated = 4096;
    expected = Range(1, 3);
  }
  SECTION("the last record's blocks read as zeros") {
    std::fill(bytes.begin() + kA3, bytes.end(), 0);
    truncated = kEnd - kA3;
    expected = Range(1, 2);
  }
  SECTION("zeros from inside the last batch's record to well past the end") {
    std::fill(bytes.begin() + kA3 + 20, bytes.end(), 0);
    bytes.resize(bytes.size() + 8192, 0);
    truncated = bytes.size() - kA3;
    expected = Range(1, 2);
  }
  SECTION("zeros spanning two batches: no later batch survives, so the tail is torn") {
    std::fill(bytes.begin() + kA2 + 30, bytes.end(), 0);
    truncated = kEnd - kA2;
    expected = Range(1, 1);
  }
  WriteBytes(Seg(dir.path(), 1), bytes);
  Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
  REQUIRE(o.status.ok());
  CHECK(o.report.truncated_bytes == truncated);
  CHECK(PendingIds(o.pending) == expected);
}

TEST_CASE("recovery: a garbage tail is truncated") {
  std::vector<uint8_t> bytes = ThreeJobSegment();
  std::mt19937 rng(42);
  for (int i = 0; i < 1000; ++i) bytes.push_back(uint8_t(rng()));
  TempDir dir;
  WriteBytes(Seg(dir.path(), 1), bytes);
  Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
  REQUIRE(o.status.ok());
  CHECK(o.report.truncated_bytes == 1000);
  CHECK(PendingIds(o.pending) == Range(1, 3));
}

TEST_CASE("recovery: damage before the newest segment's last batch is corruption, not a tail") {
  std::vector<uint8_t> bytes = ThreeJobSegment();
  bytes[kA2 + kRecordHeaderSize + 5] ^= 0x10;  // a payload bit of job 2; batch 3 follows
  TempDir dir;
  WriteBytes(Seg(dir.path(), 1), bytes);
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path()));
  REQUIRE(!strict.status.ok());
  CHECK(strict.status.code() == ErrorCode::kJournalFailed);
  CHECK(Contains(strict.status.message(), "journal-0000000000000001.log at byte offset 123"));
  CHECK(Contains(strict.status.message(), "checksum mismatch"));
  CHECK(ReadBytes(Seg(dir.path(), 1)) == bytes);  // nothing was cut

  Opened skip = OpenJournal(DefaultEnv(), Options(dir.path(), uint64_t{64} << 20,
                                                  JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skip.status.ok());
  CHECK(PendingIds(skip.pending) == std::vector<uint64_t>{1, 3});
  CHECK(skip.report.skipped_corrupt == 1);
  CHECK(skip.report.skipped_bytes == kB3 - kA2);
  REQUIRE(skip.report.problems.size() == 1);
  CHECK(Contains(skip.report.problems[0], "at byte offset 123"));
}

TEST_CASE("recovery: a bit flip in the newest segment's last batch reads as a torn tail") {
  // Documented ambiguity: the last batch may never have been synced, so it cannot be told apart.
  std::vector<uint8_t> bytes = ThreeJobSegment();
  bytes[kA3 + kRecordHeaderSize + 5] ^= 0x01;
  TempDir dir;
  WriteBytes(Seg(dir.path(), 1), bytes);
  Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
  REQUIRE(o.status.ok());
  CHECK(PendingIds(o.pending) == Range(1, 2));
  CHECK(o.report.truncated_bytes == kEnd - kA3);
}

TEST_CASE("recovery: bit flips in a middle segment") {
  TempDir dir;
  TwelveJobJournal(dir.path());
  const std::string seg2 = Seg(dir.path(), 2);
  const uint64_t at = RecordOffset(seg2, 6, 100);
  std::vector<uint8_t> bytes = ReadBytes(seg2);
  std::string why;
  SECTION("in a payload") {
    bytes[at + kRecordHeaderSize + 50] ^= 0x80;
    why = "checksum mismatch";
  }
  SECTION("in the job id") {
    bytes[at + 9] ^= 0x02;
    why = "checksum mismatch";
  }
  SECTION("in the length: the record no longer frames the next one") {
    bytes[at + 1] ^= 0x01;  // 100 -> 356 bytes, still inside the file
    why = "checksum mismatch";
  }
  SECTION("an impossible length") {
    PutU32(bytes.data() + at, 0xFFFFFFF0u);
    why = "impossible record length 4294967280";
  }
  WriteBytes(seg2, bytes);

  ResetMaxAllocation();
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path(), 512));
  CHECK(MaxAllocation() < (1u << 20));  // the garbage length was never allocated
  REQUIRE(!strict.status.ok());
  CHECK(strict.status.code() == ErrorCode::kJournalFailed);
  CHECK(Contains(strict.status.message(),
                 "journal-0000000000000002.log at byte offset " + std::to_string(at)));
  CHECK(Contains(strict.status.message(), why));

  Opened skip = OpenJournal(
      DefaultEnv(), Options(dir.path(), 512, JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skip.status.ok());
  CHECK(PendingIds(skip.pending) == Range(1, 12, /*except=*/6));
  for (const RecoveredJob& job : skip.pending) CHECK(PayloadOf(job) == PayloadFor(job.job_id, 100));
  CHECK(skip.report.skipped_corrupt == 1);
  // Either the record alone or up to the next batch: 117 bytes both ways here.
  CHECK(skip.report.skipped_bytes == kRecordHeaderSize + 100);
  REQUIRE(skip.report.problems.size() == 1);
  CHECK(Contains(skip.report.problems[0], "journal-0000000000000002.log"));
}

TEST_CASE("recovery: an impossible length in the newest segment's last record is a torn tail") {
  std::vector<uint8_t> bytes = ThreeJobSegment();
  PutU32(bytes.data() + kA3, 0xFFFFFFF0u);
  TempDir dir;
  WriteBytes(Seg(dir.path(), 1), bytes);
  ResetMaxAllocation();
  Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
  CHECK(MaxAllocation() < (1u << 20));
  REQUIRE(o.status.ok());
  CHECK(PendingIds(o.pending) == Range(1, 2));
  CHECK(o.report.truncated_bytes == kEnd - kA3);
}

TEST_CASE("recovery: a damaged middle segment header") {
  TempDir dir;
  TwelveJobJournal(dir.path());
  std::vector<uint8_t> bytes = ReadBytes(Seg(dir.path(), 2));
  bytes[3] ^= 0xFF;  // magic
  WriteBytes(Seg(dir.path(), 2), bytes);
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path(), 512));
  REQUIRE(!strict.status.ok());
  CHECK(Contains(strict.status.message(), "journal-0000000000000002.log at byte offset 0"));
  CHECK(Contains(strict.status.message(), "bad segment header"));
  Opened skip = OpenJournal(
      DefaultEnv(), Options(dir.path(), 512, JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skip.status.ok());
  CHECK(PendingIds(skip.pending) == Range(1, 12));  // its records still verify
  CHECK(skip.report.skipped_corrupt == 1);
}

TEST_CASE("recovery: a segment of another format version is refused even when skipping") {
  TempDir dir;
  TwelveJobJournal(dir.path());
  std::vector<uint8_t> bytes = ReadBytes(Seg(dir.path(), 2));
  PutU32(bytes.data() + 8, 2);
  PutU32(bytes.data() + 28, MaskCrc(Crc32cOf(bytes.data(), 28)));
  WriteBytes(Seg(dir.path(), 2), bytes);
  for (auto mode : {JournalOptions::Recovery::kStrict, JournalOptions::Recovery::kSkipCorrupt}) {
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path(), 512, mode));
    REQUIRE(!o.status.ok());
    CHECK(Contains(o.status.message(), "format version 2"));
  }
}

TEST_CASE("recovery: a missing middle segment") {
  TempDir dir;
  TwelveJobJournal(dir.path());
  fs::remove(Seg(dir.path(), 2));
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path(), 512));
  REQUIRE(!strict.status.ok());
  CHECK(Contains(strict.status.message(), "missing segment"));
  CHECK(Contains(strict.status.message(), "journal-0000000000000002.log"));
  Opened skip = OpenJournal(
      DefaultEnv(), Options(dir.path(), 512, JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skip.status.ok());
  std::vector<uint64_t> expected = Range(1, 4);
  for (uint64_t id = 9; id <= 12; ++id) expected.push_back(id);
  CHECK(PendingIds(skip.pending) == expected);
  CHECK(skip.report.skipped_corrupt == 1);
}

TEST_CASE("recovery: an older segment cut short is corruption, never a torn tail") {
  TempDir dir;
  TwelveJobJournal(dir.path());
  const std::string seg2 = Seg(dir.path(), 2);
  uint64_t size = fs::file_size(seg2);
  uint64_t expected_offset = 0;
  std::string why;
  SECTION("its SEGMENT_END is missing") {
    fs::resize_file(seg2, size - kRecordHeaderSize);
    expected_offset = size - kRecordHeaderSize;
    why = "without SEGMENT_END";
  }
  SECTION("cut inside its last record") {
    uint64_t at = RecordOffset(seg2, 8, 100);
    fs::resize_file(seg2, at + 60);
    expected_offset = at;
    why = "runs past the end of the file";
  }
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path(), 512));
  REQUIRE(!strict.status.ok());
  CHECK(Contains(strict.status.message(), "journal-0000000000000002.log at byte offset " +
                                              std::to_string(expected_offset)));
  CHECK(Contains(strict.status.message(), why));
}

TEST_CASE("recovery: a newest segment whose header never became durable is removed") {
  const std::vector<uint8_t> full = ThreeJobSegment();
  for (size_t len : {size_t(0), size_t(10), size_t(31)}) {
    CAPTURE(len);
    TempDir dir;
    WriteBytes(Seg(dir.path(), 1), full);
    {
      // Seals segment 1 and creates segment 2, as a rollover would.
      Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
      REQUIRE(o.status.ok());
    }
    const uint64_t sealed_size = kEnd + 2 * kRecordHeaderSize;
    REQUIRE(fs::file_size(Seg(dir.path(), 1)) == sealed_size);
    // A crash while creating segment 2 left part of its header.
    std::vector<uint8_t> header = ReadBytes(Seg(dir.path(), 2));
    REQUIRE(header.size() == kSegmentHeaderSize);
    header.resize(len);
    WriteBytes(Seg(dir.path(), 2), header);
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    CHECK(PendingIds(o.pending) == Range(1, 3));
    CHECK(o.report.truncated_bytes == len);
    CHECK(o.report.skipped_corrupt == 0);
    CHECK(fs::file_size(Seg(dir.path(), 1)) == sealed_size);         // untouched
    CHECK(fs::file_size(Seg(dir.path(), 2)) == kSegmentHeaderSize);  // created afresh
  }
}

}  // namespace
}  // namespace imgsink::daemon::journal::testing
