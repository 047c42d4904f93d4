// Journal: the durable record of accepted save jobs (JOURNAL_FORMAT.md is the on-disk spec).
//
// The daemon acknowledges a save only once AppendAccepted's on_durable reports OK, and journals
// DONE when the job has ended.  Open returns every job ACCEPTED without DONE, to run again.
//
// Group commit: one writer thread owns the segment files.  It takes everything queued (up to
// segment_bytes of records), writes it with one writev, issues ONE fdatasync, and only then
// calls each on_durable(OK).  A failed write or sync is never retried (an fsync failure may
// have dropped the dirty pages): the journal fails every queued and future append with
// kJournalFailed and health() reports why until the daemon restarts.
//
// Compaction: a segment is deleted once it and every older segment hold no ACCEPTED job
// without a durable DONE (only a prefix of the oldest segments goes; see JOURNAL_FORMAT.md).
//
// Thread-safety: every public method may be called from any thread, concurrently, except
// Close() and the destructor, which must not run on a callback (they join the writer thread).
// Callbacks run on the writer thread, one at a time, with no journal lock held: keep them
// short; they may call Append* and the accessors.  When the journal has failed or is closed,
// Append* call their callback on the caller's thread before returning.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/util/bytes.h"
#include "daemon/journal/journal_types.h"
#include "daemon/journal/record_format.h"
#include "daemon/journal/segment_writer.h"
#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon::journal {

struct RecoveryResult;

class Journal {
 public:
  using DurableCallback = std::function<void(const Status&)>;

  // Locks options.dir (creating it), recovers it (see RecoverSegments), seals the newest
  // segment, starts a new one, deletes fully done segments, and starts the writer thread.
  // On success *pending holds the jobs to run again (in journal order) and *journal is open.
  // Fails with kJournalFailed (naming file and byte offset for corruption) and leaves
  // *journal empty; *report says how far recovery got.
  static Status Open(Env* env, const JournalOptions& options, std::vector<RecoveredJob>* pending,
                     RecoveryReport* report, std::unique_ptr<Journal>* journal);

  // Close()s.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues an ACCEPTED record for `job_id` whose payload is the concatenation of `payload`'s
  // pieces (their owners are kept until the record is written).  on_durable (may be null) is
  // called exactly once: OK once the record is durable (after its batch's fdatasync), or an
  // error: kJournalFailed (journal failed), kShuttingDown (closed), kTooLarge (payload over
  // kMaxRecordPayload).  The CRC is computed here, on the caller's thread (O(payload size)).
  // REQUIRES: job_id was not journaled before (use AllocateJobId()).
  void AppendAccepted(uint64_t job_id, std::vector<Bytes> payload, DurableCallback on_durable);

  // Queues a DONE record for `job_id` with the job's outcome; batched like AppendAccepted.
  // on_durable (optional) is called exactly once, as for AppendAccepted.
  // REQUIRES: AppendAccepted(job_id, ...) returned before this call (so DONE is written after it).
  void AppendDone(uint64_t job_id, const Status& outcome, DurableCallback on_durable = nullptr);

  // Blocks until every record queued before the call is durable (or failed) and the writer
  // has finished the segment roll and compaction that followed.  Returns health() (or
  // kShuttingDown once closed).  Writes nothing itself.  REQUIRES: not called from a callback.
  Status Flush();

  // Stops taking appends (later ones get kShuttingDown), writes and syncs everything queued,
  // calls every pending callback, joins the writer thread and closes the files and the lock.
  // Returns health().  Idempotent.
  Status Close();

  // OK, or the first write/sync/create/delete error; once bad it stays bad.
  Status health() const;

  // An id greater than every job id recovered, allocated or appended so far.
  uint64_t next_job_id() const { return next_job_id_.load(); }
  // Returns a fresh job id (> every id recovered, allocated or appended so far).
  uint64_t AllocateJobId() { return next_job_id_.fetch_add(1); }

  // Sum of the sizes of the segment files (including bytes written but not yet synced).
  uint64_t bytes_on_disk() const { return bytes_on_disk_.load(); }
  JournalCounters counters() const;
  const JournalOptions& options() const { return options_; }

 private:
  struct Entry {
    bool barrier = false;  // Flush(): no record, answered after the batch's follow-up work
    uint8_t header[kRecordHeaderSize];
    RecordType type = RecordType::kAccepted;
    uint64_t job_id = 0;
    std::vector<Bytes> payload;
    DurableCallback on_durable;
    bool answered = false;  // on_durable was called
    uint64_t bytes() const { return barrier ? 0 : kRecordHeaderSize + TotalSize(payload); }
  };
  struct SegmentInfo {
    uint64_t size = 0;
    uint64_t live = 0;  // durable ACCEPTED in it without durable DONE
  };

  Journal(Env* env, JournalOptions options, std::unique_ptr<FileLock> lock);
  // Open, its Env failures not yet re-coded as kJournalFailed.
  static Status OpenUncoded(Env* env, const JournalOptions& options, std::vector<RecoveredJob>* pending,
                            RecoveryReport* report, std::unique_ptr<Journal>* journal);
  // Seals the recovered newest segment, creates the first new one, compacts.  Before the thread.
  Status Start(RecoveryResult* recovered, RecoveryReport* report);
  void Enqueue(Entry entry);
  void NoteJobId(uint64_t job_id);
  void WriterLoop();
  void TakeBatchLocked(std::vector<Entry>* batch) REQUIRES(mu_);
  void CommitBatch(std::vector<Entry>* batch);
  // Writes the batch's records with one writev and syncs once; sets *sealed if it sealed the
  // active segment.
  Status WriteBatch(std::vector<Entry>* batch, bool* sealed);
  void ApplyDurable(const Entry& e);
  static void Answer(Entry* e, const Status& s);
  // Marks the journal failed with `cause`; answers every unanswered entry of *batch and
  // everything queued with the failure.
  void Fail(const Status& cause, std::vector<Entry>* batch);
  Status RollSegment();
  Status DeleteDonePrefix(size_t* deleted);

  Env* const env_;
  const JournalOptions options_;
  std::unique_ptr<FileLock> lock_;

  mutable Mutex mu_;
  CondVar work_cv_;
  std::deque<Entry> queue_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  Status health_ GUARDED_BY(mu_);
  Mutex close_mu_;  // serializes Close()
  std::thread writer_;

  // Owned by the writer thread (by Open before it starts).
  std::unique_ptr<SegmentWriter> active_;
  std::map<uint64_t, SegmentInfo> segments_;     // by seq, oldest first
  std::unordered_map<uint64_t, uint64_t> live_;  // job id -> seq of its ACCEPTED's segment
  std::vector<ByteSpan> pieces_;                 // scratch

  std::atomic<uint64_t> next_job_id_{1};
  std::atomic<uint64_t> records_written_{0}, batches_{0}, syncs_{0}, bytes_written_{0};
  std::atomic<uint64_t> segments_created_{0}, segments_deleted_{0}, bytes_on_disk_{0};
  std::atomic<uint64_t> live_jobs_{0};
};

}  // namespace imgsink::daemon::journal
