#include "daemon/journal/recovery.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "daemon/journal/record_format.h"
#include "daemon/journal/segment_reader.h"

namespace imgsink::daemon::journal {
namespace {

// The largest job id a journal can hold: ids count up from 1, one per accepted job, so one
// beyond 2^62 is damage or forgery, never real (and next_job_id must never wrap).
constexpr uint64_t kMaxJobId = uint64_t{1} << 62;

// The largest segment file the writer makes: it seals a segment once it reaches segment_bytes
// (at most 64 MiB), after a batch of at most that much, or of one bigger record alone.
constexpr uint64_t kMaxSegmentFileBytes =
    kSegmentHeaderSize + (uint64_t{64} << 20) + kMaxRecordPayload + (uint64_t{1} << 20);

struct AcceptedJob {
  RecoveredJob job;
  uint64_t seq = 0;
  bool done = false;
};

class Recoverer {
 public:
  Recoverer(Env* env, std::string dir, JournalOptions::Recovery mode, RecoveryReport* report)
      : env_(env), dir_(std::move(dir)), mode_(mode), report_(report) {}

  Status Run(RecoveryResult* result);

 private:
  Status ListSegments(std::vector<uint64_t>* seqs);
  Status ReadSegment(uint64_t seq, bool newest, RecoveryResult* result);
  Status RemoveTornSegment(const std::string& path, uint64_t size);
  Status TruncateTornTail(const std::string& path, uint64_t at, uint64_t size,
                          const std::string& why);
  // Fails in kStrict mode; otherwise counts the damage and returns OK.
  Status Corrupt(const std::string& path, uint64_t offset, const std::string& why);
  // Fails in kStrict mode for an impossible record (see Corrupt).
  Status Apply(const Record& rec, uint64_t seq, const std::string& path);
  // Walks the records after the header, applying each; repairs a torn tail of the newest.
  Status ReadRecords(SegmentReader* reader, const std::string& path, uint64_t seq, bool newest,
                     RecoveredSegment* seg);

  Env* env_;
  std::string dir_;
  JournalOptions::Recovery mode_;
  RecoveryReport* report_;
  std::vector<AcceptedJob> accepted_;                  // in journal order
  std::unordered_map<uint64_t, size_t> live_index_;    // job id -> index in accepted_
  // Ids of DONE records seen with no ACCEPTED before them (that one was in a segment already
  // deleted): an ACCEPTED for one of them later is out of order.
  std::unordered_set<uint64_t> done_without_accepted_;
  uint64_t max_job_id_ = 0;
  uint64_t floor_ = 1;
};

Status Recoverer::Corrupt(const std::string& path, uint64_t offset, const std::string& why) {
  std::string msg = "journal corrupt: " + path + " at byte offset " + std::to_string(offset) +
                    ": " + why;
  if (mode_ == JournalOptions::Recovery::kStrict) {
    return Status(ErrorCode::kJournalFailed,
                  msg + " (open with recovery skip-corrupt to skip damaged records; jobs "
                        "journaled in them are lost)");
  }
  ++report_->skipped_corrupt;
  report_->problems.push_back("skipped: " + msg);
  return Status::OK();
}

Status Recoverer::ListSegments(std::vector<uint64_t>* seqs) {
  std::vector<std::string> names;
  Status s = env_->GetChildren(dir_, &names);
  if (!s.ok()) return s;
  for (const std::string& name : names) {
    uint64_t seq;
    if (ParseSegmentFileName(name, &seq)) seqs->push_back(seq);
  }
  std::sort(seqs->begin(), seqs->end());
  // Segments are created with consecutive numbers and removed oldest first, so a hole means
  // a file was lost or deleted by hand.
  for (size_t i = 1; i < seqs->size(); ++i) {
    uint64_t a = (*seqs)[i - 1], b = (*seqs)[i];
    if (b != a + 1) {
      s = Corrupt(JoinPath(dir_, SegmentFileName(a + 1)), 0,
                  "missing segment file(s): " + std::to_string(b - a - 1) + " between " +
                      SegmentFileName(a) + " and " + SegmentFileName(b));
      if (!s.ok()) return s;
    }
  }
  return Status::OK();
}

Status Recoverer::RemoveTornSegment(const std::string& path, uint64_t size) {
  Status s = env_->RemoveFile(path);
  if (s.ok()) s = env_->SyncDir(dir_);
  if (!s.ok()) return s;
  report_->truncated_bytes += size;
  report_->problems.push_back("removed " + path + " (" + std::to_string(size) +
                              " bytes): its header never became durable (crash while creating it)");
  return Status::OK();
}

Status Recoverer::TruncateTornTail(const std::string& path, uint64_t at, uint64_t size,
                                   const std::string& why) {
  Status s = env_->TruncateFile(path, at);
  std::unique_ptr<WritableFile> file;
  if (s.ok()) s = env_->NewAppendableFile(path, &file);
  if (s.ok()) s = file->Sync();  // make the new size durable before anything is appended
  if (s.ok()) s = file->Close();
  if (!s.ok()) return s;
  report_->truncated_bytes += size - at;
  report_->problems.push_back("truncated torn tail of " + path + " at byte offset " +
                              std::to_string(at) + " (" + std::to_string(size - at) +
                              " bytes; " + why + ")");
  return Status::OK();
}

Status Recoverer::Apply(const Record& rec, uint64_t seq, const std::string& path) {
  if (rec.type != RecordType::kAccepted && rec.type != RecordType::kDone) return Status::OK();
  if (rec.job_id == 0 || rec.job_id > kMaxJobId) {
    return Corrupt(path, rec.offset, "impossible job id " + std::to_string(rec.job_id) +
                                         " (ids run from 1 to 2^62)");
  }
  ++report_->records;
  max_job_id_ = std::max(max_job_id_, rec.job_id);
  if (rec.type == RecordType::kDone) {
    ++report_->done;
    auto it = live_index_.find(rec.job_id);
    if (it == live_index_.end()) {  // its ACCEPTED was in a segment already removed, or is damage
      done_without_accepted_.insert(rec.job_id);
      return Status::OK();
    }
    accepted_[it->second].done = true;
    accepted_[it->second].job.payload = Bytes();  // a finished job's bytes are not kept
    live_index_.erase(it);
    return Status::OK();
  }
  ++report_->accepted;
  if (done_without_accepted_.count(rec.job_id) != 0) {
    // A DONE is journaled only after its ACCEPTED is durable: this order is damage, and
    // replaying the job would bring a finished job back.
    Status s = Corrupt(path, rec.offset, "ACCEPTED for job " + std::to_string(rec.job_id) +
                                             " after its DONE (records out of order)");
    if (!s.ok()) return s;
    report_->problems.push_back("job " + std::to_string(rec.job_id) + " counted done, not replayed");
    return Status::OK();
  }
  if (live_index_.count(rec.job_id) != 0) {
    report_->problems.push_back("duplicate ACCEPTED for live job " + std::to_string(rec.job_id) +
                                " in " + path + " at byte offset " + std::to_string(rec.offset) +
                                "; kept the first");
    return Status::OK();
  }
  live_index_[rec.job_id] = accepted_.size();
  accepted_.push_back(AcceptedJob{RecoveredJob{rec.job_id, rec.payload}, seq});
  return Status::OK();
}

Status Recoverer::ReadSegment(uint64_t seq, bool newest, RecoveryResult* result) {
  const std::string path = JoinPath(dir_, SegmentFileName(seq));
  uint64_t size = 0;
  Status s = env_->GetFileSize(path, &size);
  if (!s.ok()) return s;
  if (size > kMaxSegmentFileBytes) {
    // No segment is this big: walk only what one can hold (a 3 GiB sparse file would
    // otherwise cost 3 GiB of reading and scanning for nothing).
    s = Corrupt(path, kMaxSegmentFileBytes,
                "segment file is " + std::to_string(size) + " bytes, more than the " +
                    std::to_string(kMaxSegmentFileBytes) + " any segment can have; the rest is skipped");
    if (!s.ok()) return s;
    report_->skipped_bytes += size - kMaxSegmentFileBytes;
    size = kMaxSegmentFileBytes;
  }
  std::unique_ptr<RandomAccessFile> file;
  s = env_->NewRandomAccessFile(path, &file);
  if (!s.ok()) return s;
  ++report_->segments;
  SegmentReader reader(file.get(), path, size);
  RecoveredSegment seg;
  seg.seq = seq;

  SegmentHeader header;
  uint32_t version = 0;
  HeaderCheck check = HeaderCheck::kCorrupt;
  s = reader.ReadHeader(&check, &header, &version);
  if (!s.ok()) return s;
  if (check == HeaderCheck::kBadVersion) {
    return Status(ErrorCode::kJournalFailed,
                  path + ": journal format version " + std::to_string(version) +
                      ", this build reads version " + std::to_string(kFormatVersion));
  }
  if (check == HeaderCheck::kOk && header.seq != seq) check = HeaderCheck::kCorrupt;
  if (check == HeaderCheck::kCorrupt) {
    // The header is synced before the first batch is written, so a BATCH record after it
    // proves the header was once durable: then this is damage, not an interrupted creation.
    uint64_t marker = 0;
    s = reader.FindBatchAfter(0, 0, &marker);
    if (!s.ok()) return s;
    if (newest && marker == size) return RemoveTornSegment(path, size);
    s = Corrupt(path, 0, "bad segment header");
    if (!s.ok()) return s;
    report_->skipped_bytes += marker;
    reader.Seek(marker);
  } else if (header.next_job_id_floor > kMaxJobId + 1) {
    s = Corrupt(path, 0, "impossible next job id floor " + std::to_string(header.next_job_id_floor));
    if (!s.ok()) return s;
  } else {
    floor_ = std::max(floor_, header.next_job_id_floor);
  }

  s = ReadRecords(&reader, path, seq, newest, &seg);
  report_->peak_read_buffer_bytes =
      std::max(report_->peak_read_buffer_bytes, reader.peak_buffer_bytes());
  if (!s.ok()) return s;
  result->segments.push_back(seg);
  return Status::OK();
}

Status Recoverer::ReadRecords(SegmentReader* reader, const std::string& path, uint64_t seq,
                              bool newest, RecoveredSegment* seg) {
  const uint64_t size = reader->size();
  Status s;
  for (;;) {
    Record rec;
    std::string why;
    SegmentReader::Result r = SegmentReader::Result::kEnd;
    s = reader->Next(&r, &rec, &why);
    if (!s.ok()) return s;
    if (r == SegmentReader::Result::kEnd) break;
    if (r == SegmentReader::Result::kRecord) {
      if (seg->sealed) {
        s = Corrupt(path, rec.offset, "record after SEGMENT_END");
        if (!s.ok()) return s;
        continue;
      }
      if (rec.type == RecordType::kBatch) seg->last_batch = rec.job_id;
      if (rec.type == RecordType::kSegmentEnd) seg->sealed = true;
      s = Apply(rec, seq, path);
      if (!s.ok()) return s;
      continue;
    }
    // Damage at `at`.  Only the last batch of the newest segment can be unsynced (the writer
    // starts batch n+1 only after batch n's fdatasync returned), so damage followed by a later
    // BATCH record is corruption of acknowledged data; otherwise it is a torn tail.
    const uint64_t at = reader->offset();
    uint64_t later = size;
    s = reader->FindBatchAfter(at + 1, seg->last_batch, &later);
    if (!s.ok()) return s;
    if (newest && later == size) {
      s = TruncateTornTail(path, at, size, why);
      if (!s.ok()) return s;
      break;
    }
    s = Corrupt(path, at, why);
    if (!s.ok()) return s;
    // Skip just this record when its length still frames the next one; else resynchronize
    // at the next batch (the records between are lost).
    uint64_t end = 0;
    s = reader->PlausibleEnd(at, &end);
    bool frames = end != 0 && end == size;
    if (s.ok() && end != 0 && end != size) s = reader->ValidRecordAt(end, &frames);
    if (!s.ok()) return s;
    const uint64_t next = frames ? end : later;
    report_->skipped_bytes += next - at;
    reader->Seek(next);
  }
  seg->size = std::min(size, reader->offset());
  if (!newest && !seg->sealed) {
    s = Corrupt(path, size, "segment ends without SEGMENT_END (cut short?)");
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status Recoverer::Run(RecoveryResult* result) {
  std::vector<uint64_t> seqs;
  Status s = ListSegments(&seqs);
  if (!s.ok()) return s;
  for (size_t i = 0; i < seqs.size(); ++i) {
    s = ReadSegment(seqs[i], i + 1 == seqs.size(), result);
    if (!s.ok()) return s;
  }
  std::unordered_map<uint64_t, RecoveredSegment*> by_seq;
  for (RecoveredSegment& seg : result->segments) by_seq[seg.seq] = &seg;
  for (AcceptedJob& a : accepted_) {
    if (a.done) continue;
    by_seq[a.seq]->live++;
    result->pending.push_back(std::move(a.job));
    result->pending_seq.push_back(a.seq);
  }
  result->next_job_id = std::max(floor_, max_job_id_ + 1);
  report_->replayed = result->pending.size();
  report_->next_job_id = result->next_job_id;
  return Status::OK();
}

}  // namespace

Status RecoverSegments(Env* env, const std::string& dir, JournalOptions::Recovery mode,
                       RecoveryResult* result, RecoveryReport* report) {
  *result = RecoveryResult();
  return Recoverer(env, dir, mode, report).Run(result);
}

std::string RecoveryReport::ToString() const {
  std::string s = "journal recovery: " + std::to_string(segments) + " segments, " +
                  std::to_string(records) + " records (" + std::to_string(accepted) +
                  " accepted, " + std::to_string(done) + " done), " + std::to_string(replayed) +
                  " to replay, next job id " + std::to_string(next_job_id) + ", " +
                  std::to_string(skipped_corrupt) + " corrupt regions skipped (" +
                  std::to_string(skipped_bytes) + " bytes), " + std::to_string(truncated_bytes) +
                  " torn bytes truncated, " + std::to_string(segments_deleted) +
                  " done segments deleted";
  for (const std::string& p : problems) s += "; " + p;
  return s;
}

}  // namespace imgsink::daemon::journal

