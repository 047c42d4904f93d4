#include "daemon/journal/segment_writer.h"

namespace imgsink::daemon::journal {

Status SegmentWriter::Create(Env* env, const std::string& dir, uint64_t seq,
                             uint64_t next_job_id_floor, std::unique_ptr<SegmentWriter>* out,
                             uint64_t* syncs) {
  std::string path = JoinPath(dir, SegmentFileName(seq));
  std::unique_ptr<WritableFile> file;
  Status s = env->NewWritableFile(path, &file);
  if (!s.ok()) return s;
  uint8_t header[kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{seq, next_job_id_floor}, header);
  s = file->Append(ByteSpan{header, sizeof header});
  if (s.ok()) {
    ++*syncs;
    s = file->Sync();
  }
  if (s.ok()) {
    ++*syncs;
    s = env->SyncDir(dir);
  }
  if (!s.ok()) return s;
  out->reset(new SegmentWriter(std::move(file), std::move(path), seq, kSegmentHeaderSize, 1));
  return Status::OK();
}

Status SegmentWriter::Reopen(Env* env, const std::string& dir, uint64_t seq, uint64_t size,
                             uint64_t last_batch, std::unique_ptr<SegmentWriter>* out) {
  std::string path = JoinPath(dir, SegmentFileName(seq));
  std::unique_ptr<WritableFile> file;
  Status s = env->NewAppendableFile(path, &file);
  if (!s.ok()) return s;
  out->reset(new SegmentWriter(std::move(file), std::move(path), seq, size, last_batch + 1));
  return Status::OK();
}

Status SegmentWriter::AppendBatch(const std::vector<ByteSpan>& records, bool seal) {
  EncodeRecordHeader(RecordType::kBatch, next_batch_++, nullptr, 0, batch_header_);
  pieces_.clear();
  pieces_.reserve(records.size() + 2);
  pieces_.push_back(ByteSpan{batch_header_, kRecordHeaderSize});
  pieces_.insert(pieces_.end(), records.begin(), records.end());
  if (seal) {
    EncodeRecordHeader(RecordType::kSegmentEnd, 0, nullptr, 0, end_header_);
    pieces_.push_back(ByteSpan{end_header_, kRecordHeaderSize});
  }
  for (const ByteSpan& p : pieces_) size_ += p.size;
  return file_->Append(pieces_.data(), pieces_.size());
}

}  // namespace imgsink::daemon::journal
