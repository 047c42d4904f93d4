// Helpers shared by the journal tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/journal/journal.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon::journal::testing {

using TempDir = imgsink::testutil::TempDir;

// Journal options over `dir`: segments of `segment_bytes`, recovery `mode`.
JournalOptions Options(const std::string& dir, uint64_t segment_bytes = uint64_t{64} << 20,
                       JournalOptions::Recovery mode = JournalOptions::Recovery::kStrict);

// Deterministic payload bytes for a job: `size` bytes derived from (job_id, salt).
std::vector<uint8_t> PayloadFor(uint64_t job_id, size_t size, uint32_t salt = 0);

// AppendAccepted and wait for its callback; returns the callback's status.
Status AcceptAndWait(Journal* j, uint64_t job_id, const std::vector<uint8_t>& payload);
// AppendDone and wait for its callback.
Status DoneAndWait(Journal* j, uint64_t job_id, const Status& outcome = Status::OK());

// Journal::Open with the given env and options; REQUIREs success inside Catch.
struct Opened {
  std::unique_ptr<Journal> journal;
  std::vector<RecoveredJob> pending;
  RecoveryReport report;
  Status status;
};
Opened OpenJournal(Env* env, const JournalOptions& options);

std::vector<uint64_t> PendingIds(const std::vector<RecoveredJob>& pending);
std::vector<uint8_t> PayloadOf(const RecoveredJob& job);

// Segment files in `dir`, sorted (full paths).
std::vector<std::string> SegmentFiles(const std::string& dir);
std::vector<uint8_t> ReadBytes(const std::string& path);
void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes);
// Copies every regular file of `from` into `to` (which must exist).
void CopyDir(const std::string& from, const std::string& to);
// Returns the offset of the first occurrence of `needle` in `hay`, or npos.
size_t Find(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle);

// The largest single operator new request since ResetMaxAllocation() (alloc_tracker.cc).
size_t MaxAllocation();
void ResetMaxAllocation();
// Bytes allocated with operator new and not yet freed, and their peak since
// ResetPeakLiveBytes() (which starts it at LiveBytes()), all threads together.
size_t LiveBytes();
size_t PeakLiveBytes();
void ResetPeakLiveBytes();

}  // namespace imgsink::daemon::journal::testing
