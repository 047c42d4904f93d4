#include "daemon/output/s3/s3_sink.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include "daemon/output/s3/multipart_log.h"
#include "daemon/output/s3/s3_client.h"
#include "daemon/output/s3/s3_manifest.h"
#include "daemon/output/s3/s3_multipart.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
namespace {

constexpr size_t kMaxKeyBytes = 1024;            // S3's limit

std::string ContentTypeOf(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".png")) return "image/png";
  if (ends(".jpg") || ends(".jpeg")) return "image/jpeg";
  if (ends(".webp")) return "image/webp";
  return "application/octet-stream";
}

// "<host>-<pid>-<start time, ns, hex>": no two runs share one, so manifest objects of two
// daemons (or two runs) never overwrite each other.
std::string MakeRunId() {
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  for (char* p = host; *p != '\0'; ++p) {
    if (*p == '/' || *p == ' ') *p = '_';
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s-%d-%llx", host, int(getpid()),
                static_cast<unsigned long long>(
                    std::chrono::system_clock::now().time_since_epoch().count()));
  return buf;
}

struct Staged {
  std::string key;
  const uint8_t* data = nullptr;  // copy.data(), or the caller's buffer (the batch's last file)
  size_t size = 0;
  std::vector<uint8_t> copy;  // the caller's encode buffer is reused for the next file
};

class S3Sink;

class S3Batch : public SinkBatch {
 public:
  explicit S3Batch(S3Sink* sink) : sink_(sink) {}
  size_t size() const override { return staged_.size(); }
  bool full() const override { return borrowed_ || staged_.size() >= kMaxBatchFiles; }
  Status Add(std::string_view rel_path, const void* data, size_t size) override;
  Status Commit() override;
  void Discard() override {
    staged_.clear();
    copied_ = 0;
    borrowed_ = false;
  }
  void AllowCopies(uint64_t bytes) override { allowance_ = std::min(bytes, kMaxCopyRoomBytes); }

 private:
  S3Sink* const sink_;
  std::vector<Staged> staged_;
  // Invariant: copied_ <= allowance_, the room the job was charged for (memory budget); a file
  // past it is the caller's buffer, held until Commit (borrowed_, and full()).
  uint64_t allowance_ = 0;
  uint64_t copied_ = 0;
  bool borrowed_ = false;
};

class S3Sink : public OutputSink {
 public:
  S3Sink(std::string location, S3Location where, S3Settings settings,
         std::unique_ptr<S3Client> client, std::unique_ptr<MultipartLog> log,
         std::vector<OpenUpload> open, bool manifest, std::vector<std::string> roots)
      : roots_(std::move(roots)),
        location_(std::move(location)),
        where_(std::move(where)),
        settings_(std::move(settings)),
        client_(std::move(client)),
        multipart_(client_.get(), where_.bucket, settings_.part_size, std::move(log),
                   std::move(open)) {
    if (manifest) {
      manifest_ = std::make_unique<S3Manifest>(client_.get(), where_.prefix, MakeRunId(),
                                               settings_.manifest_lines_per_object,
                                               settings_.manifest_flush_ms);
    }
  }

  const std::string& location() const override { return location_; }
  Status Recover(size_t* cleaned) override { return multipart_.Recover(cleaned); }
  std::unique_ptr<SinkBatch> NewBatch() override { return std::make_unique<S3Batch>(this); }
  bool IsRetryable(const Status& s) const override { return s.code() == ErrorCode::kWriteFailed; }
  bool has_manifest() const override { return manifest_ != nullptr; }
  void AppendManifest(std::string lines, Callback done) override {
    manifest_->Append(std::move(lines), std::move(done));
  }
  void AddCounters(std::map<std::string, uint64_t>* c) const override;
  uint32_t copies_in_ram() const override { return 1; }

  const std::string& prefix() const { return where_.prefix; }
  // Returns true iff the absolute `path` lies beneath one of the output roots (validation made
  // it so); sets *rel to the part below that root, the object's key beneath the prefix.
  bool BeneathARoot(std::string_view path, std::string_view* rel) const {
    for (const std::string& root : roots_) {
      if (IsBeneath(root, path, rel) && !rel->empty()) return true;
    }
    return false;
  }
  // Puts every object (the small ones concurrently, each large one in parts) and waits for
  // the server's answers.  Returns OK iff every object is confirmed; else the first error.
  Status Upload(const std::vector<Staged>& objects);

 private:
  const std::vector<std::string> roots_;  // the output roots (SinkOptions::paths.roots)
  const std::string location_;
  const S3Location where_;
  const S3Settings settings_;
  const std::unique_ptr<S3Client> client_;
  S3Multipart multipart_;  // the large objects, and Recover; destroyed before client_
  std::unique_ptr<S3Manifest> manifest_;  // destroyed before client_ (declared after it)
  std::atomic<uint64_t> objects_{0};
};

Status S3Batch::Add(std::string_view path, const void* data, size_t size) {
  // An absolute path lies beneath one of the output roots (--paths roots): the key is the part
  // below it, as for a relative path below the first root (PROTOCOL.md "Paths").
  std::string_view rel_path = path;
  if (!path.empty() && path.front() == '/' && !sink_->BeneathARoot(path, &rel_path)) {
    return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(path) +
                                           " lies beneath no output root: it has no S3 key");
  }
  Status s = CheckRelativePath(rel_path);
  if (!s.ok()) return s;
  std::string key = S3KeyFor(sink_->prefix(), rel_path);
  if (key.size() > kMaxKeyBytes) {
    return Status(ErrorCode::kBadPath, "S3 key of " + std::string(rel_path) + " is over " +
                                           std::to_string(kMaxKeyBytes) + " bytes");
  }
  Staged staged;
  staged.key = std::move(key);
  staged.data = static_cast<const uint8_t*>(data);
  staged.size = size;
  if (copied_ + size <= allowance_) {
    staged.copy.assign(staged.data, staged.data + size);
    staged.data = staged.copy.data();
    copied_ += size;
  } else {
    borrowed_ = true;  // the caller's buffer: full() now, so it stays unchanged until Commit
  }
  staged_.push_back(std::move(staged));
  return Status::OK();
}

Status S3Batch::Commit() {
  Status s = sink_->Upload(staged_);
  Discard();
  return s;
}

Status S3Sink::Upload(const std::vector<Staged>& objects) {
  std::vector<S3Request> puts;
  std::vector<const Staged*> large;
  for (const Staged& o : objects) {
    if (o.size >= settings_.multipart_threshold) {
      large.push_back(&o);
      continue;
    }
    S3Request r;
    r.key = o.key;
    r.body = o.data;
    r.body_size = o.size;
    r.content_type = ContentTypeOf(o.key);
    puts.push_back(std::move(r));
  }
  std::vector<S3Response> answers;
  client_->Run(puts, &answers);
  Status first;
  for (const S3Response& a : answers) {
    if (a.status.ok()) objects_.fetch_add(1, std::memory_order_relaxed);
    if (!a.status.ok() && first.ok()) first = a.status;
  }
  for (const Staged* o : large) {
    Status s = multipart_.Put(o->key, o->data, o->size, ContentTypeOf(o->key));
    if (s.ok()) objects_.fetch_add(1, std::memory_order_relaxed);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

void S3Sink::AddCounters(std::map<std::string, uint64_t>* c) const {
  const S3ClientStats& st = client_->stats();
  (*c)["s3_objects"] += objects_.load(std::memory_order_relaxed);
  (*c)["s3_multipart_uploads"] += multipart_.uploads();
  (*c)["s3_multipart_aborted"] += multipart_.aborted();
  (*c)["s3_requests"] += st.requests.load(std::memory_order_relaxed);
  (*c)["s3_request_failures"] += st.failures.load(std::memory_order_relaxed);
  (*c)["s3_retries"] += st.retries.load(std::memory_order_relaxed);
  (*c)["s3_bytes_uploaded"] += st.bytes_uploaded.load(std::memory_order_relaxed);
  (*c)["s3_request_latency_us"] += st.latency_us.load(std::memory_order_relaxed);
  (*c)["s3_in_flight_bytes"] += st.in_flight_bytes.load(std::memory_order_relaxed);
  (*c)["s3_backlog_requests"] += st.queued.load(std::memory_order_relaxed);
  if (manifest_ != nullptr) (*c)["s3_manifest_objects"] += manifest_->objects();
}

}  // namespace

std::string S3KeyFor(const std::string& prefix, std::string_view rel_path) {
  return prefix.empty() ? std::string(rel_path) : prefix + "/" + std::string(rel_path);
}

Status OpenS3Sink(const SinkOptions& options, std::unique_ptr<OutputSink>* out) {
  S3Location where;
  Status s = ParseS3Url(options.root, &where);
  if (!s.ok()) return s;
  S3Settings settings = options.s3;
  s = ResolveS3Settings(&settings);
  if (!s.ok()) return s;
  std::unique_ptr<MultipartLog> log;
  std::vector<OpenUpload> open;
  if (!settings.state_dir.empty()) {
    Env* env = options.env != nullptr ? options.env : DefaultEnv();
    s = MultipartLog::Open(env, settings.state_dir, where.bucket, where.prefix, &open, &log);
    if (!s.ok()) {
      return Status(ErrorCode::kWriteFailed, "S3 multipart record in " + settings.state_dir +
                                                 ": " + s.message());
    }
  }
  std::unique_ptr<S3Client> client;
  s = S3Client::Open(settings, where.bucket, &client);
  if (!s.ok()) return s;
  std::string location = "s3://" + where.bucket + (where.prefix.empty() ? "" : "/" + where.prefix) +
                         " at " + settings.endpoint;
  *out = std::make_unique<S3Sink>(std::move(location), std::move(where), std::move(settings),
                                  std::move(client), std::move(log), std::move(open),
                                  options.manifest, options.paths.roots);
  return Status::OK();
}

}  // namespace imgsink::daemon
