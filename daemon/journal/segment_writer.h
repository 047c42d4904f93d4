// SegmentWriter: appends group-committed batches to one segment file.
// Thread-safety: not thread-safe; owned by the journal's writer thread (or Open before it starts).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/journal/record_format.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon::journal {

class SegmentWriter {
 public:
  // Creates segment `seq` in `dir`: writes its header, fdatasyncs the file and fsyncs the
  // directory, so that the file exists durably before any record in it is acknowledged.
  // Adds the syncs done to *syncs.
  static Status Create(Env* env, const std::string& dir, uint64_t seq, uint64_t next_job_id_floor,
                       std::unique_ptr<SegmentWriter>* out, uint64_t* syncs);
  // Opens recovered segment `seq`, `size` bytes long, whose last BATCH is number `last_batch`,
  // to append after it (used to seal it).
  static Status Reopen(Env* env, const std::string& dir, uint64_t seq, uint64_t size,
                       uint64_t last_batch, std::unique_ptr<SegmentWriter>* out);

  // Appends one batch: a BATCH record, `records` (framed records: each header followed by its
  // payload pieces), and a SEGMENT_END record iff `seal`.  Does not sync.
  // REQUIRES: not sealed yet.
  Status AppendBatch(const std::vector<ByteSpan>& records, bool seal);
  // fdatasync.  Never call again after it failed.
  Status Sync() { return file_->Sync(); }
  Status Close() { return file_->Close(); }

  // Bytes a batch adds on top of its records: the BATCH record, and SEGMENT_END if sealing.
  static uint64_t BatchOverhead(bool seal) { return kRecordHeaderSize * (seal ? 2 : 1); }

  uint64_t seq() const { return seq_; }
  uint64_t size() const { return size_; }  // bytes appended (written or not yet synced)
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(std::unique_ptr<WritableFile> file, std::string path, uint64_t seq,
                uint64_t size, uint64_t next_batch)
      : file_(std::move(file)), path_(std::move(path)), seq_(seq), size_(size),
        next_batch_(next_batch) {}

  std::unique_ptr<WritableFile> file_;
  std::string path_;
  uint64_t seq_;
  uint64_t size_;
  uint64_t next_batch_;
  std::vector<ByteSpan> pieces_;  // scratch, reused across batches
  uint8_t batch_header_[kRecordHeaderSize];
  uint8_t end_header_[kRecordHeaderSize];
};

}  // namespace imgsink::daemon::journal
