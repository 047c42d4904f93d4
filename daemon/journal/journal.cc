#include "daemon/journal/journal.h"

#include <future>
#include <utility>

#include "daemon/journal/recovery.h"

namespace imgsink::daemon::journal {

namespace {

// An Env failure (kWriteFailed) reported as the journal's: every journal error is kJournalFailed.
Status AsJournalFailure(const Status& s) {
  return s.ok() || s.code() == ErrorCode::kJournalFailed ? s : Status(ErrorCode::kJournalFailed, s.message());
}

}  // namespace

Status Journal::Open(Env* env, const JournalOptions& options, std::vector<RecoveredJob>* pending,
                     RecoveryReport* report, std::unique_ptr<Journal>* journal) {
  return AsJournalFailure(OpenUncoded(env, options, pending, report, journal));
}

Status Journal::OpenUncoded(Env* env, const JournalOptions& options, std::vector<RecoveredJob>* pending,
                            RecoveryReport* report, std::unique_ptr<Journal>* journal) {
  pending->clear();
  *report = RecoveryReport();
  journal->reset();
  if (options.dir.empty()) return Status(ErrorCode::kJournalFailed, "journal dir is not set");
  if (options.segment_bytes < kSegmentHeaderSize + 3 * kRecordHeaderSize) {
    return Status(ErrorCode::kJournalFailed, "journal segment_bytes is too small");
  }
  Status s = env->CreateDir(options.dir);
  std::unique_ptr<FileLock> lock;
  if (s.ok()) s = env->LockFile(JoinPath(options.dir, "LOCK"), &lock);
  RecoveryResult recovered;
  if (s.ok()) s = RecoverSegments(env, options.dir, options.recovery, &recovered, report);
  if (!s.ok()) return s;
  std::unique_ptr<Journal> j(new Journal(env, options, std::move(lock)));
  s = j->Start(&recovered, report);
  if (!s.ok()) return s;
  *pending = std::move(recovered.pending);
  *journal = std::move(j);
  return Status::OK();
}

Journal::Journal(Env* env, JournalOptions options, std::unique_ptr<FileLock> lock)
    : env_(env), options_(std::move(options)), lock_(std::move(lock)) {}

Journal::~Journal() { Close(); }

Status Journal::Start(RecoveryResult* recovered, RecoveryReport* report) {
  for (const RecoveredSegment& seg : recovered->segments) {
    segments_[seg.seq] = SegmentInfo{seg.size, seg.live};
    bytes_on_disk_ += seg.size;
  }
  for (size_t i = 0; i < recovered->pending.size(); ++i) {
    live_[recovered->pending[i].job_id] = recovered->pending_seq[i];
  }
  live_jobs_ = live_.size();
  next_job_id_ = recovered->next_job_id;

  uint64_t next_seq = 1;
  uint64_t syncs = 0;
  Status s;
  if (!recovered->segments.empty()) {
    const RecoveredSegment& newest = recovered->segments.back();
    next_seq = newest.seq + 1;
    if (!newest.sealed) {
      // Seal it so that "every segment but the newest ends with SEGMENT_END" keeps holding.
      std::unique_ptr<SegmentWriter> w;
      s = SegmentWriter::Reopen(env_, options_.dir, newest.seq, newest.size, newest.last_batch,
                                &w);
      if (s.ok()) s = w->AppendBatch({}, /*seal=*/true);
      if (s.ok()) {
        ++syncs;
        s = w->Sync();
      }
      if (s.ok()) s = w->Close();
      if (!s.ok()) return s;
      bytes_written_ += w->size() - newest.size;
      bytes_on_disk_ += w->size() - newest.size;
      segments_[newest.seq].size = w->size();
    }
  }
  s = SegmentWriter::Create(env_, options_.dir, next_seq, next_job_id_.load(), &active_, &syncs);
  syncs_ += syncs;
  if (!s.ok()) return s;
  segments_[next_seq] = SegmentInfo{active_->size(), 0};
  bytes_on_disk_ += active_->size();
  ++segments_created_;
  s = DeleteDonePrefix(&report->segments_deleted);
  if (!s.ok()) return s;
  writer_ = std::thread(&Journal::WriterLoop, this);
  return Status::OK();
}

void Journal::NoteJobId(uint64_t job_id) {
  uint64_t want = job_id + 1;
  uint64_t cur = next_job_id_.load();
  while (cur < want && !next_job_id_.compare_exchange_weak(cur, want)) {
  }
}

void Journal::AppendAccepted(uint64_t job_id, std::vector<Bytes> payload,
                             DurableCallback on_durable) {
  uint64_t size = TotalSize(payload);
  if (size > kMaxRecordPayload) {
    if (on_durable) {
      on_durable(Status(ErrorCode::kTooLarge,
                        "job payload of " + std::to_string(size) +
                            " bytes exceeds the journal's record limit of " +
                            std::to_string(kMaxRecordPayload)));
    }
    return;
  }
  Entry e;
  e.type = RecordType::kAccepted;
  e.job_id = job_id;
  std::vector<ByteSpan> spans;
  spans.reserve(payload.size());
  for (const Bytes& b : payload) spans.push_back(b.span());
  EncodeRecordHeader(e.type, job_id, spans.data(), spans.size(), e.header);
  e.payload = std::move(payload);
  e.on_durable = std::move(on_durable);
  Enqueue(std::move(e));
}

void Journal::AppendDone(uint64_t job_id, const Status& outcome, DurableCallback on_durable) {
  Entry e;
  e.type = RecordType::kDone;
  e.job_id = job_id;
  e.payload.push_back(Bytes::Own(EncodeDonePayload(outcome)));
  ByteSpan span = e.payload[0].span();
  EncodeRecordHeader(e.type, job_id, &span, 1, e.header);
  e.on_durable = std::move(on_durable);
  Enqueue(std::move(e));
}

void Journal::Enqueue(Entry entry) {
  if (!entry.barrier) NoteJobId(entry.job_id);
  Status refused;
  {
    MutexLock l(&mu_);
    if (!health_.ok()) {
      refused = health_;
    } else if (closing_) {
      refused = Status(ErrorCode::kShuttingDown, "the journal is closed");
    } else {
      queue_.push_back(std::move(entry));
      work_cv_.NotifyOne();
      return;
    }
  }
  if (entry.on_durable) entry.on_durable(refused);
}

Status Journal::Flush() {
  std::promise<Status> flushed;
  std::future<Status> result = flushed.get_future();
  Entry e;
  e.barrier = true;
  e.on_durable = [&flushed](const Status& s) { flushed.set_value(s); };
  Enqueue(std::move(e));
  return result.get();
}

void Journal::WriterLoop() {
  std::vector<Entry> batch;
  for (;;) {
    {
      MutexLock l(&mu_);
      work_cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // closing, and everything queued is done
      TakeBatchLocked(&batch);
    }
    CommitBatch(&batch);
    batch.clear();  // drops the payloads' owners now, not at the next batch
  }
}

void Journal::TakeBatchLocked(std::vector<Entry>* batch) {
  uint64_t bytes = 0;
  while (!queue_.empty()) {
    uint64_t next = queue_.front().bytes();
    if (!batch->empty() && bytes + next > options_.segment_bytes) break;
    bytes += next;
    batch->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void Journal::Answer(Entry* e, const Status& s) {
  if (e->answered) return;
  e->answered = true;
  if (e->on_durable) e->on_durable(s);
}

Status Journal::WriteBatch(std::vector<Entry>* batch, bool* sealed) {
  pieces_.clear();
  uint64_t bytes = 0;
  for (const Entry& e : *batch) {
    if (e.barrier) continue;
    pieces_.push_back(ByteSpan{e.header, kRecordHeaderSize});
    bytes += kRecordHeaderSize;
    for (const Bytes& b : e.payload) {
      pieces_.push_back(b.span());
      bytes += b.size;
    }
  }
  *sealed = active_->size() + bytes + SegmentWriter::BatchOverhead(true) >=
            options_.segment_bytes;
  const uint64_t before = active_->size();
  Status s = active_->AppendBatch(pieces_, *sealed);
  bytes_written_ += active_->size() - before;
  bytes_on_disk_ += active_->size() - before;
  if (!s.ok()) return s;
  if (options_.unsafe_ack_before_sync_for_tests) {
    for (Entry& e : *batch) {
      if (!e.barrier) Answer(&e, Status::OK());  // THE BUG the crash test must catch
    }
  }
  ++syncs_;
  return active_->Sync();
}

void Journal::CommitBatch(std::vector<Entry>* batch) {
  size_t records = 0;
  for (const Entry& e : *batch) records += e.barrier ? 0 : 1;
  bool sealed = false;
  if (records > 0) {
    Status s = WriteBatch(batch, &sealed);
    if (!s.ok()) {
      Fail(s, batch);
      return;
    }
    ++batches_;
    records_written_ += records;
    segments_[active_->seq()].size = active_->size();
    for (const Entry& e : *batch) {
      if (!e.barrier) ApplyDurable(e);
    }
    live_jobs_ = live_.size();
    // Acknowledge now, before the roll and compaction below: they do not affect these records.
    for (Entry& e : *batch) {
      if (!e.barrier) Answer(&e, Status::OK());
    }
  }
  size_t deleted = 0;
  Status s = sealed ? RollSegment() : Status::OK();
  if (s.ok()) s = DeleteDonePrefix(&deleted);
  if (!s.ok()) {
    Fail(s, batch);
    return;
  }
  for (Entry& e : *batch) Answer(&e, Status::OK());  // the barriers
}

void Journal::ApplyDurable(const Entry& e) {
  if (e.type == RecordType::kAccepted) {
    live_[e.job_id] = active_->seq();
    segments_[active_->seq()].live++;
    return;
  }
  auto it = live_.find(e.job_id);
  if (it == live_.end()) return;
  segments_[it->second].live--;
  live_.erase(it);
}

void Journal::Fail(const Status& cause, std::vector<Entry>* batch) {
  Status failure(ErrorCode::kJournalFailed,
                 "journal failed (no job can be made durable until restart): " + cause.message());
  std::deque<Entry> queued;
  {
    MutexLock l(&mu_);
    if (health_.ok()) {
      health_ = failure;
    } else {
      failure = health_;
    }
    queued.swap(queue_);
  }
  for (Entry& e : *batch) Answer(&e, failure);
  for (Entry& e : queued) Answer(&e, failure);
}

Status Journal::RollSegment() {
  Status s = active_->Close();
  if (!s.ok()) return s;
  const uint64_t seq = active_->seq() + 1;
  uint64_t syncs = 0;
  s = SegmentWriter::Create(env_, options_.dir, seq, next_job_id_.load(), &active_, &syncs);
  syncs_ += syncs;
  if (!s.ok()) return s;
  segments_[seq] = SegmentInfo{active_->size(), 0};
  bytes_on_disk_ += active_->size();
  ++segments_created_;
  return Status::OK();
}

Status Journal::DeleteDonePrefix(size_t* deleted) {
  // Only the oldest segments go: a DONE always lies in the same or a later segment than its
  // ACCEPTED, so removing a prefix never strands an ACCEPTED whose DONE was removed.
  while (segments_.size() > 1) {
    auto oldest = segments_.begin();
    if (oldest->second.live != 0 || oldest->first == active_->seq()) break;
    Status s = env_->RemoveFile(JoinPath(options_.dir, SegmentFileName(oldest->first)));
    if (s.ok()) {
      // One at a time, each durable, so that the files left are always a contiguous range.
      ++syncs_;
      s = env_->SyncDir(options_.dir);
    }
    if (!s.ok()) return s;
    bytes_on_disk_ -= oldest->second.size;
    ++segments_deleted_;
    ++*deleted;
    segments_.erase(oldest);
  }
  return Status::OK();
}

Status Journal::Close() {
  MutexLock close_lock(&close_mu_);
  {
    MutexLock l(&mu_);
    closing_ = true;
  }
  work_cv_.NotifyAll();
  if (writer_.joinable()) writer_.join();
  if (active_ != nullptr) {
    Status s = active_->Close();  // everything was synced per batch; this only frees the fd
    (void)s;
    active_.reset();
  }
  lock_.reset();
  return health();
}

Status Journal::health() const {
  MutexLock l(&mu_);
  return health_;
}

JournalCounters Journal::counters() const {
  JournalCounters c;
  c.records_written = records_written_.load();
  c.batches = batches_.load();
  c.syncs = syncs_.load();
  c.bytes_written = bytes_written_.load();
  c.segments_created = segments_created_.load();
  c.segments_deleted = segments_deleted_.load();
  c.bytes_on_disk = bytes_on_disk_.load();
  c.live_jobs = live_jobs_.load();
  MutexLock l(&mu_);
  c.queued_records = queue_.size();
  c.failed = !health_.ok();
  return c;
}

}  // namespace imgsink::daemon::journal
