// MultipartLog: the durable record of the multipart uploads an S3 sink has begun and not yet
// completed or aborted, so that after a crash none is left behind in the bucket (an open
// upload keeps its parts stored, and billed, until aborted).
//
// File: <state_dir>/s3-multipart-<bucket>-<fnv1a64(prefix) hex>.log, text lines (ids and keys
// URI-escaped)
//   create <key>\n               before CreateMultipartUpload is sent (synced): a crash before
//                                its answer is recorded leaves an upload whose id only the
//                                server knows; recovery lists the key's uploads and aborts them
//   begin <upload id> <key>\n    once the id is known, before the first part is sent (synced)
//   end <upload id>\n            after complete or abort succeeded
//   drop <key>\n                 the create got no upload, or recovery dealt with the key
// A last line without '\n' (a crash mid-append) is ignored.  daemon/journal/JOURNAL_FORMAT.md
// describes the file beside the journal's.
// Thread-safety: Begin/End may be called from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/env/env.h"
#include "imgsink/sync/mutex.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct OpenUpload {
  std::string upload_id;  // empty: a create whose answer was never recorded
  std::string key;
};

class MultipartLog {
 public:
  // Reads the file (if any) into *open: the uploads begun and not ended, in order.  Then
  // rewrites the file to hold just those and opens it for appending.  Errors: kWriteFailed.
  static Status Open(Env* env, const std::string& state_dir, const std::string& bucket,
                     const std::string& prefix, std::vector<OpenUpload>* open,
                     std::unique_ptr<MultipartLog>* out);

  // Durably records that an upload of `key` is about to be created.  Errors: kWriteFailed.
  Status Creating(const std::string& key) EXCLUDES(mu_);
  // Records that no upload of `key` is left from its last Creating.
  Status Drop(const std::string& key) EXCLUDES(mu_);
  // Durably records that `upload_id` for `key` has begun.  Errors: kWriteFailed.
  Status Begin(const std::string& upload_id, const std::string& key) EXCLUDES(mu_);
  // Records (durably) that `upload_id` is completed or aborted.
  Status End(const std::string& upload_id) EXCLUDES(mu_);

  const std::string& path() const { return path_; }

 private:
  MultipartLog(std::string path, std::unique_ptr<WritableFile> file)
      : path_(std::move(path)), file_(std::move(file)) {}
  Status AppendSynced(const std::string& line) EXCLUDES(mu_);

  const std::string path_;
  Mutex mu_;
  std::unique_ptr<WritableFile> file_ GUARDED_BY(mu_);
};

}  // namespace imgsink::daemon
