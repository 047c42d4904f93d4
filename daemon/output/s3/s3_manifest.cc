#include "daemon/output/s3/s3_manifest.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "daemon/log/log.h"

namespace imgsink::daemon {

S3Manifest::S3Manifest(S3Client* client, std::string prefix, std::string run_id,
                       unsigned lines_per_object, uint64_t flush_ms)
    : client_(client),
      prefix_(std::move(prefix)),
      run_id_(std::move(run_id)),
      lines_per_object_(std::max(1u, lines_per_object)),
      flush_ms_(flush_ms) {
  thread_ = std::thread([this] { Loop(); });
}

S3Manifest::~S3Manifest() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void S3Manifest::Append(std::string lines, Callback done) {
  MutexLock lock(&mu_);
  const bool first = callbacks_.empty();  // the loop waits for a first line, then for a full object
  pending_lines_ += size_t(std::count(lines.begin(), lines.end(), '\n'));
  pending_ += lines;
  callbacks_.push_back(std::move(done));
  if (first || pending_lines_ >= lines_per_object_) cv_.NotifyAll();
}

Status S3Manifest::Put(const std::string& text, uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "-%08llu.jsonl", static_cast<unsigned long long>(seq));
  S3Request r;
  r.key = (prefix_.empty() ? "" : prefix_ + "/") + ".imgsink/manifest/" + run_id_ + name;
  r.body = reinterpret_cast<const uint8_t*>(text.data());
  r.body_size = text.size();
  r.content_type = "application/x-ndjson";
  std::vector<S3Response> answers;
  client_->Run({r}, &answers);
  return answers[0].status;
}

void S3Manifest::Loop() {
  uint64_t seq = 0;
  for (;;) {
    std::string text;
    std::vector<Callback> callbacks;
    bool stopping = false;
    {
      MutexLock lock(&mu_);
      // Wait for a first line, then up to flush_ms for the object to fill.
      cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return stop_ || !callbacks_.empty(); });
      cv_.WaitFor(&mu_, std::chrono::milliseconds(flush_ms_), [this]() REQUIRES(mu_) {
        return stop_ || pending_lines_ >= lines_per_object_;
      });
      stopping = stop_;
      if (callbacks_.empty()) return;  // stopping with nothing left
      text.swap(pending_);
      callbacks.swap(callbacks_);
      pending_lines_ = 0;
    }
    Status s;
    for (int attempt = 0;; ++attempt) {
      s = Put(text, seq);
      if (s.ok() || stopping) break;
      LogWarning("manifest object not written, trying again: " + s.ToString());
      MutexLock lock(&mu_);
      cv_.WaitFor(&mu_, std::chrono::seconds(std::min(attempt + 1, 10)),
                  [this]() REQUIRES(mu_) { return stop_; });
      stopping = stop_;
    }
    if (s.ok()) {
      ++seq;
      objects_.fetch_add(1, std::memory_order_relaxed);
    }
    for (Callback& done : callbacks) done(s);
  }
}

}  // namespace imgsink::daemon
