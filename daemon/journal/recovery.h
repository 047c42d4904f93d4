// Recovery: reads every segment of a journal directory, verifies every record, repairs the
// torn tail a crash can leave, and works out which jobs must run again.
// The rules are JOURNAL_FORMAT.md's "Recovery"; Journal::Open is the only caller.
// Thread-safety: single-threaded; nothing else may use the directory meanwhile (LOCK).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/journal/journal_types.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon::journal {

struct RecoveredSegment {
  uint64_t seq = 0;
  uint64_t size = 0;        // bytes on disk after recovery
  uint64_t live = 0;        // pending jobs whose ACCEPTED is in this segment
  bool sealed = false;      // ends with SEGMENT_END
  uint64_t last_batch = 0;  // number of its last BATCH record (0: none)
};

struct RecoveryResult {
  std::vector<RecoveredSegment> segments;  // the segment files left, oldest first
  std::vector<RecoveredJob> pending;       // ACCEPTED without DONE, in journal order
  std::vector<uint64_t> pending_seq;       // pending_seq[i]: segment of pending[i]'s ACCEPTED
  uint64_t next_job_id = 1;                // > every job id seen and every header's floor
};

// Recovers the journal in `dir` (which must exist).  A torn tail of the newest segment is
// truncated (durably), and a newest segment whose header never became durable is removed.
// Other damage fails with kJournalFailed naming the file and byte offset, unless `mode` is
// kSkipCorrupt: then it is skipped and reported.  A segment of another format version always fails.
Status RecoverSegments(Env* env, const std::string& dir, JournalOptions::Recovery mode,
                       RecoveryResult* result, RecoveryReport* report);

}  // namespace imgsink::daemon::journal
