// Value types of the journal's public API (journal.h): options, recovery results, counters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/util/bytes.h"

namespace imgsink::daemon::journal {

struct JournalOptions {
  // Directory holding the segment files and LOCK; created (with parents) if missing.
  std::string dir;
  // A segment is sealed and a new one started once it holds at least this many bytes.
  // It is also the most payload bytes one group commit takes (a bigger record goes alone).
  uint64_t segment_bytes = uint64_t{64} << 20;
  enum class Recovery {
    kStrict,       // any damage outside the newest segment's torn tail fails Open
    kSkipCorrupt,  // damaged records are skipped, counted and listed in RecoveryReport
  };
  Recovery recovery = Recovery::kStrict;
  // TEST ONLY: acknowledge a batch after write() but before fdatasync().  This is the bug the
  // crash test must catch; never set it in the daemon.
  bool unsafe_ack_before_sync_for_tests = false;
};

// The smallest journal budget the daemon takes (--journal-budget): four of the smallest
// segments (see SegmentBytesForBudget).
inline constexpr uint64_t kMinJournalBudget = uint64_t{1} << 20;

// The segment size for a journal budget: a quarter of it, within 256 KiB..64 MiB.  Only a
// sealed segment can be deleted, so an idle journal still holds its active segment (up to
// segment_bytes of records already done) plus a batch: with a quarter, an idle daemon always
// has room to grant credit again, never answering busy forever (issue 12, row 7).
inline uint64_t SegmentBytesForBudget(uint64_t journal_budget) {
  const uint64_t quarter = journal_budget / 4;
  const uint64_t lo = uint64_t{256} << 10, hi = uint64_t{64} << 20;
  return quarter < lo ? lo : quarter > hi ? hi : quarter;
}

// The smallest journal budget that suits segments of `segment_bytes`: four of them, what
// SegmentBytesForBudget leaves every budget it is given (budget >= 4 x its segment size for any
// budget >= kMinJournalBudget).  The segment size is fixed when the journal opens, so a reload
// (SIGHUP) that lowers the budget below this would bring back row 7's busy-forever daemon.
inline uint64_t MinJournalBudgetForSegments(uint64_t segment_bytes) { return 4 * segment_bytes; }

// A job journaled as ACCEPTED with no DONE after it: the daemon must run it again.
struct RecoveredJob {
  uint64_t job_id = 0;
  // Exactly the bytes given to AppendAccepted (its pieces concatenated), in a buffer of their
  // own (recovery keeps no segment in memory): drop it once the job is rescheduled.
  Bytes payload;
};

// What Journal::Open found and did.  Anything non-zero in skipped_corrupt, truncated_bytes or
// problems deserves a log line at warning level or above; `problems` says what and where.
struct RecoveryReport {
  size_t segments = 0;         // segment files read
  size_t records = 0;          // valid ACCEPTED and DONE records read
  size_t accepted = 0;         // ... of which ACCEPTED
  size_t done = 0;             // ... of which DONE
  size_t replayed = 0;         // jobs returned in `pending` (ACCEPTED without DONE)
  size_t skipped_corrupt = 0;  // damaged regions skipped (kSkipCorrupt only)
  uint64_t skipped_bytes = 0;  // bytes in those regions
  uint64_t truncated_bytes = 0;  // torn tail cut from the newest segment (or a torn new segment removed)
  size_t segments_deleted = 0;   // fully done segments removed at Open
  uint64_t next_job_id = 1;      // see Journal::next_job_id()
  // The most bytes one segment's reading held at once (its window plus the record being
  // verified): bounded by the largest record, never by the file (JOURNAL_FORMAT.md "Memory").
  uint64_t peak_read_buffer_bytes = 0;
  std::vector<std::string> problems;  // one line each: file, byte offset, what was done

  // One line for a log: the counts, then each problem.
  std::string ToString() const;
};

// A snapshot of the journal's counters (for the daemon's status reply).
struct JournalCounters {
  uint64_t records_written = 0;   // ACCEPTED + DONE records made durable
  uint64_t batches = 0;           // group commits (one write + one fdatasync each)
  uint64_t syncs = 0;             // fdatasync/fsync calls of any kind (batches, headers, dirs)
  uint64_t bytes_written = 0;     // bytes appended to segment files
  uint64_t segments_created = 0;
  uint64_t segments_deleted = 0;
  uint64_t bytes_on_disk = 0;     // sum of the segment files' sizes
  uint64_t live_jobs = 0;         // durable ACCEPTED without durable DONE
  uint64_t queued_records = 0;    // appended, not yet durable
  bool failed = false;            // !health().ok()
};

}  // namespace imgsink::daemon::journal
