// S3Manifest: the manifest of an S3 sink, written as objects.  Lines appended are gathered and
// put as one object <prefix>/.imgsink/manifest/<run id>-<seq, 8 digits>.jsonl per
// `lines_per_object` lines or `flush_ms`, whichever comes first; each Append's callback runs
// (on the manifest's thread) once the object holding its lines is confirmed.  A failed upload
// is tried again (the client's backoff, then a pause) until it succeeds or the manifest is
// destroyed, which tries once more and then fails the remaining callbacks.
// Thread-safety: Append may be called from many threads at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/output/s3/s3_client.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

class S3Manifest {
 public:
  using Callback = std::function<void(const Status&)>;

  // REQUIRES: `client` outlives the manifest.  `run_id` is unique to this daemon run.
  S3Manifest(S3Client* client, std::string prefix, std::string run_id, unsigned lines_per_object,
             uint64_t flush_ms);
  ~S3Manifest();

  void Append(std::string lines, Callback done) EXCLUDES(mu_);

  // Objects put so far.
  uint64_t objects() const { return objects_.load(std::memory_order_relaxed); }

 private:
  void Loop() EXCLUDES(mu_);
  Status Put(const std::string& text, uint64_t seq);

  S3Client* const client_;
  const std::string prefix_;
  const std::string run_id_;
  const unsigned lines_per_object_;
  const uint64_t flush_ms_;
  Mutex mu_;
  CondVar cv_;
  std::string pending_ GUARDED_BY(mu_);
  size_t pending_lines_ GUARDED_BY(mu_) = 0;
  std::vector<Callback> callbacks_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> objects_{0};
  std::thread thread_;
};

}  // namespace imgsink::daemon
