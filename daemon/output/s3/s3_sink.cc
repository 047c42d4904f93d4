#include "daemon/output/s3/s3_sink.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "daemon/log/log.h"
#include "daemon/output/s3/multipart_log.h"
#include "daemon/output/s3/s3_client.h"
#include "daemon/output/s3/s3_manifest.h"
#include "daemon/output/s3/s3_signing.h"
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

std::string XmlField(const std::string& xml, const std::string& tag) {
  const size_t a = xml.find("<" + tag + ">");
  if (a == std::string::npos) return std::string();
  const size_t from = a + tag.size() + 2;
  const size_t b = xml.find("</" + tag + ">", from);
  return b == std::string::npos ? std::string() : xml.substr(from, b - from);
}

std::string XmlUnescape(std::string s) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : kEntities) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += std::strlen(to)) {
      s.replace(at, std::strlen(from), to);
    }
  }
  return s;
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
        log_(std::move(log)),
        open_(std::move(open)) {
    if (manifest) {
      manifest_ = std::make_unique<S3Manifest>(client_.get(), where_.prefix, MakeRunId(),
                                               settings_.manifest_lines_per_object,
                                               settings_.manifest_flush_ms);
    }
  }

  const std::string& location() const override { return location_; }
  Status Recover(size_t* cleaned) override;
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
  Status PutMultipart(const Staged& object);
  Status Abort(const std::string& key, const std::string& upload_id);
  // Aborts every upload of exactly `key` the server lists (ListMultipartUploads); adds how
  // many to *aborted.
  Status AbortAllOf(const std::string& key, size_t* aborted);

  const std::vector<std::string> roots_;  // the output roots (SinkOptions::paths.roots)
  const std::string location_;
  const S3Location where_;
  const S3Settings settings_;
  const std::unique_ptr<S3Client> client_;
  const std::unique_ptr<MultipartLog> log_;  // null: no state_dir
  std::vector<OpenUpload> open_;  // left by the last run, for Recover
  std::unique_ptr<S3Manifest> manifest_;  // destroyed before client_ (declared after it)
  std::atomic<uint64_t> objects_{0};
  std::atomic<uint64_t> multipart_{0};
  std::atomic<uint64_t> aborted_{0};
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
    Status s = PutMultipart(*o);
    if (s.ok()) objects_.fetch_add(1, std::memory_order_relaxed);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status S3Sink::PutMultipart(const Staged& o) {
  multipart_.fetch_add(1, std::memory_order_relaxed);
  std::vector<S3Response> a;
  S3Request create;
  create.method = "POST";
  create.key = o.key;
  create.query = "uploads=";
  create.content_type = ContentTypeOf(o.key);
  if (log_ != nullptr) {  // a crash between the create and its record leaves an id only the
    Status s = log_->Creating(o.key);  // server knows: Recover then looks the key up
    if (!s.ok()) return s;
  }
  client_->Run({create}, &a);
  const std::string id = a[0].status.ok() ? XmlField(a[0].body, "UploadId") : std::string();
  if (id.empty()) {
    // No upload, or one we cannot name: the next start's Recover lists the key's uploads.
    if (log_ != nullptr && !a[0].status.ok() && a[0].http_status >= 400) log_->Drop(o.key);
    return a[0].status.ok()
               ? Status(ErrorCode::kWriteFailed, "S3 " + o.key + ": no UploadId in the answer")
               : a[0].status;
  }
  // Recorded before any part is stored: a crash from here on leaves an id Recover aborts.
  if (log_ != nullptr) {
    Status s = log_->Begin(id, o.key);
    if (!s.ok()) {
      Abort(o.key, id);
      return s;
    }
  }
  std::vector<S3Request> parts;
  const std::string uid = UriEncodeQueryValue(id);
  for (size_t off = 0, n = 1; off < o.size; off += settings_.part_size, ++n) {
    S3Request r;
    r.key = o.key;
    r.query = "partNumber=" + std::to_string(n) + "&uploadId=" + uid;
    r.body = o.data + off;
    r.body_size = std::min<size_t>(settings_.part_size, o.size - off);
    parts.push_back(std::move(r));
  }
  client_->Run(parts, &a);
  std::string xml = "<CompleteMultipartUpload>";
  Status s;
  for (size_t i = 0; i < a.size() && s.ok(); ++i) {
    if (!a[i].status.ok()) s = a[i].status;
    else if (a[i].etag.empty()) s = Status(ErrorCode::kWriteFailed, "S3 " + o.key + ": a part has no ETag");
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + a[i].etag +
           "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  if (s.ok()) {
    S3Request complete;
    complete.method = "POST";
    complete.key = o.key;
    complete.query = "uploadId=" + uid;
    complete.body = reinterpret_cast<const uint8_t*>(xml.data());
    complete.body_size = xml.size();
    complete.content_type = "application/xml";
    client_->Run({complete}, &a);
    s = a[0].status;
  }
  if (!s.ok()) {
    Abort(o.key, id);
    return s;
  }
  return log_ != nullptr ? log_->End(id) : Status::OK();
}

Status S3Sink::Abort(const std::string& key, const std::string& upload_id) {
  S3Request r;
  r.method = "DELETE";
  r.key = key;
  r.query = "uploadId=" + UriEncodeQueryValue(upload_id);
  std::vector<S3Response> a;
  client_->Run({r}, &a);
  // 404 NoSuchUpload: completed or aborted already (the crash came after the server's answer).
  const bool gone = a[0].status.ok() || a[0].http_status == 404;
  if (!gone) return a[0].status;
  aborted_.fetch_add(1, std::memory_order_relaxed);
  return log_ != nullptr ? log_->End(upload_id) : Status::OK();
}

Status S3Sink::AbortAllOf(const std::string& key, size_t* aborted) {
  S3Request list;
  list.method = "GET";
  list.query = "prefix=" + UriEncodeQueryValue(key) + "&uploads=";  // sorted, as SigV4 wants
  std::vector<S3Response> a;
  client_->Run({list}, &a);
  if (!a[0].status.ok()) {
    if (a[0].http_status == 501 || a[0].http_status == 405) {  // a store without the listing
      LogWarning("cannot list the multipart uploads of s3://" + where_.bucket + "/" + key +
                 " (" + a[0].status.message() + "): one may be left for a lifecycle rule");
      return log_->Drop(key);
    }
    return a[0].status;
  }
  const std::string& xml = a[0].body;
  for (size_t at = xml.find("<Upload>"); at != std::string::npos; at = xml.find("<Upload>", at + 1)) {
    const std::string upload = xml.substr(at, xml.find("</Upload>", at) - at);
    if (XmlUnescape(XmlField(upload, "Key")) != key) continue;  // a longer key with this prefix
    Status s = Abort(key, XmlUnescape(XmlField(upload, "UploadId")));
    if (!s.ok()) return s;
    ++*aborted;
  }
  return log_->Drop(key);
}

Status S3Sink::Recover(size_t* cleaned) {
  Status first;
  std::vector<OpenUpload> still;
  for (const OpenUpload& u : open_) {
    size_t n = 0;
    Status s = u.upload_id.empty() ? AbortAllOf(u.key, &n) : Abort(u.key, u.upload_id);
    if (!u.upload_id.empty() && s.ok()) n = 1;
    if (s.ok()) {
      *cleaned += n;
      if (n > 0) {
        LogNotice("aborted " + std::to_string(n) + " multipart upload(s) of s3://" + where_.bucket +
                  "/" + u.key + " a crash left open (its job is uploaded again from the journal)");
      }
    } else {
      still.push_back(u);
      if (first.ok()) first = s;
    }
  }
  open_ = std::move(still);  // still recorded: the next start tries again
  return first;
}

void S3Sink::AddCounters(std::map<std::string, uint64_t>* c) const {
  const S3ClientStats& st = client_->stats();
  (*c)["s3_objects"] += objects_.load(std::memory_order_relaxed);
  (*c)["s3_multipart_uploads"] += multipart_.load(std::memory_order_relaxed);
  (*c)["s3_multipart_aborted"] += aborted_.load(std::memory_order_relaxed);
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
