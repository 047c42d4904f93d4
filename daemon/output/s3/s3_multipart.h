// S3Multipart: the multipart uploads of one S3 sink.  Put sends an object in parts
// (CreateMultipartUpload, UploadPart, CompleteMultipartUpload) and aborts the upload when a
// step fails; with a MultipartLog, every upload is recorded before its first part (and its
// create before the create is sent), so Recover can abort each one a crash left open (an open
// upload keeps its parts stored, and billed, until aborted).  The sink's batches decide which
// objects go up in parts (S3Settings::multipart_threshold); s3_sink.h says what a commit means.
// Thread-safety: Put may be called from many threads at once (S3Client::Run and the log are
// thread-safe, the counters atomic); Recover only while no Put is in progress.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/output/s3/multipart_log.h"
#include "daemon/output/s3/s3_client.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

class S3Multipart {
 public:
  // REQUIRES: `client` outlives this; part_size > 0.  `log` is null without a state_dir (then
  // nothing is recorded and `open` is empty); `open` holds the uploads the last run left open
  // (MultipartLog::Open), for Recover.  `bucket` names the bucket in log messages.
  S3Multipart(S3Client* client, std::string bucket, uint64_t part_size,
              std::unique_ptr<MultipartLog> log, std::vector<OpenUpload> open);

  // Uploads the `size` bytes at `data` as the object `key` in parts of part_size bytes (the
  // last one shorter), with `content_type`.  Returns OK iff the server completed the upload
  // (and its end is recorded); else the first error, after aborting the upload it created.
  // A create whose answer names no upload is left to the next start's Recover.
  // REQUIRES: `data` stays unchanged until Put returns.
  Status Put(const std::string& key, const uint8_t* data, size_t size,
             const std::string& content_type);

  // Aborts every upload the last run left open: by its id, or, for a create whose answer was
  // never recorded, every upload of that exact key the server lists.  Adds the number aborted
  // to *cleaned.  Returns OK iff all were dealt with; else the first error, and those not dealt
  // with stay recorded for the next start.  REQUIRES: no Put in progress (OutputSink::Recover
  // runs at start-up).
  Status Recover(size_t* cleaned);

  // Multipart uploads begun (Put calls) and aborted (by Put or Recover) so far.
  uint64_t uploads() const { return uploads_.load(std::memory_order_relaxed); }
  uint64_t aborted() const { return aborted_.load(std::memory_order_relaxed); }

 private:
  Status Abort(const std::string& key, const std::string& upload_id);
  // Aborts every upload of exactly `key` the server lists (ListMultipartUploads); adds how
  // many to *aborted.  REQUIRES: log_ != nullptr.
  Status AbortAllOf(const std::string& key, size_t* aborted);

  S3Client* const client_;
  const std::string bucket_;
  const uint64_t part_size_;
  const std::unique_ptr<MultipartLog> log_;  // null: no state_dir
  std::vector<OpenUpload> open_;  // left by the last run, for Recover
  std::atomic<uint64_t> uploads_{0};
  std::atomic<uint64_t> aborted_{0};
};

}  // namespace imgsink::daemon
