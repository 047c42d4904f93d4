// Recovery that cannot be fooled (issue 12 row 11): journals a hostile writer or a damaged disk
// could leave, whose records frame and checksum correctly but say what no writer does (an
// impossible job id, a DONE before its ACCEPTED, a segment past the writer's size).  Strict
// recovery refuses each; skip-corrupt recovery skips it without wrapping the next job id,
// bringing a finished job back or reading the segment whole.  The damaged-journal cases (torn
// tails, bit flips, missing segments) are in recovery_test.cc.
#include <catch.hpp>

#include <filesystem>

#include "daemon/journal/journal.h"
#include "daemon/journal/segment_reader.h"
#include "test_util.h"

namespace imgsink::daemon::journal::testing {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPayload = 40;

// Issue 12 row 11: recovery that cannot be fooled.  A record with job id 2^64-1 made the next
// job id wrap; a DONE moved before its ACCEPTED brought a finished job back.
TEST_CASE("recovery: an impossible job id fails strict recovery and never wraps the next id") {
  TempDir dir;
  {
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    REQUIRE(AcceptAndWait(o.journal.get(), 1, PayloadFor(1, kPayload)).ok());
    REQUIRE(AcceptAndWait(o.journal.get(), UINT64_MAX, PayloadFor(2, kPayload)).ok());
    REQUIRE(AcceptAndWait(o.journal.get(), 3, PayloadFor(3, kPayload)).ok());
  }
  TempDir copy;
  CopyDir(dir.path(), copy.path());
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path()));
  CHECK(strict.status.code() == ErrorCode::kJournalFailed);
  CHECK_THAT(strict.status.message(), Catch::Contains("impossible job id 18446744073709551615"));

  Opened skipping = OpenJournal(DefaultEnv(), Options(copy.path(), uint64_t{64} << 20,
                                                      JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skipping.status.ok());
  CHECK(PendingIds(skipping.pending) == std::vector<uint64_t>{1, 3});
  CHECK(skipping.report.skipped_corrupt == 1);
  CHECK(skipping.journal->next_job_id() == 4);
}

TEST_CASE("recovery: a DONE before its ACCEPTED fails strict recovery; skipping, the job stays done") {
  TempDir dir;
  {
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    REQUIRE(AcceptAndWait(o.journal.get(), 1, PayloadFor(1, kPayload)).ok());
    REQUIRE(DoneAndWait(o.journal.get(), 2).ok());  // as if moved before its ACCEPTED
    REQUIRE(AcceptAndWait(o.journal.get(), 2, PayloadFor(2, kPayload)).ok());
  }
  TempDir copy;
  CopyDir(dir.path(), copy.path());
  Opened strict = OpenJournal(DefaultEnv(), Options(dir.path()));
  CHECK(strict.status.code() == ErrorCode::kJournalFailed);
  CHECK_THAT(strict.status.message(), Catch::Contains("after its DONE"));

  Opened skipping = OpenJournal(DefaultEnv(), Options(copy.path(), uint64_t{64} << 20,
                                                      JournalOptions::Recovery::kSkipCorrupt));
  REQUIRE(skipping.status.ok());
  CHECK(PendingIds(skipping.pending) == std::vector<uint64_t>{1});  // job 2 does not come back
}

// A 3 GiB sparse segment was read whole (3.15 GB RSS).  No segment can be that big: strict
// recovery refuses it without reading it; skip-corrupt recovery walks only what a segment can
// hold, through the reader's bounded window, so in both modes recovery holds about one window
// (plus the largest record it meets), never the file.
TEST_CASE("recovery: a segment larger than any the writer makes is not read whole") {
  TempDir dir;
  {
    Opened o = OpenJournal(DefaultEnv(), Options(dir.path()));
    REQUIRE(o.status.ok());
    REQUIRE(AcceptAndWait(o.journal.get(), 1, PayloadFor(1, kPayload)).ok());
  }
  const std::vector<std::string> segments = SegmentFiles(dir.path());
  REQUIRE(!segments.empty());
  const uint64_t records_end = fs::file_size(segments.back());
  fs::resize_file(segments.back(), uint64_t{3} << 30);  // sparse: no blocks on disk
  // What recovery may hold beyond what it returns: the window, the largest record here (40
  // bytes) and a small constant for the journal's own structures.  Before, skip-corrupt mode
  // held 1.06 GiB of the file (and, earlier still, all 3 GiB).
  constexpr size_t kBound = size_t{4} << 20;
  static_assert(SegmentReader::kWindowBytes <= kBound / 2, "the window is a small constant");

  ResetMaxAllocation();
  ResetPeakLiveBytes();
  size_t before = LiveBytes();
  {
    Opened strict = OpenJournal(DefaultEnv(), Options(dir.path()));
    CHECK(strict.status.code() == ErrorCode::kJournalFailed);
    CHECK_THAT(strict.status.message(), Catch::Contains("more than the"));
  }
  CHECK(MaxAllocation() < (size_t{64} << 20));
  CHECK(PeakLiveBytes() - before < kBound);

  ResetMaxAllocation();
  ResetPeakLiveBytes();
  before = LiveBytes();
  Opened skipping = OpenJournal(DefaultEnv(), Options(dir.path(), uint64_t{64} << 20,
                                                      JournalOptions::Recovery::kSkipCorrupt));
  const size_t peak = PeakLiveBytes() - before;
  INFO("peak heap growth " << peak << ", read buffer " << skipping.report.peak_read_buffer_bytes);
  REQUIRE(skipping.status.ok());
  CHECK(peak < kBound);
  CHECK(MaxAllocation() <= SegmentReader::kWindowBytes);
  CHECK(skipping.report.peak_read_buffer_bytes <= SegmentReader::kWindowBytes + kPayload);
  // The job acknowledged before the file grew comes back; the zeros are cut off as a torn tail
  // (no batch follows them) and what lies beyond any segment's size counts as skipped.
  CHECK(PendingIds(skipping.pending) == std::vector<uint64_t>{1});
  CHECK(skipping.report.skipped_corrupt == 1);
  CHECK(skipping.report.skipped_bytes > (uint64_t{3} << 30) - (uint64_t{2} << 30));
  CHECK(skipping.report.truncated_bytes > 0);
  CHECK(fs::file_size(segments.back()) < records_end + (uint64_t{1} << 20));
}

}  // namespace
}  // namespace imgsink::daemon::journal::testing
