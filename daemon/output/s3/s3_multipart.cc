#include "daemon/output/s3/s3_multipart.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "daemon/log/log.h"
#include "daemon/output/s3/s3_signing.h"

namespace imgsink::daemon {
namespace {

// The text between the first <tag> and its </tag> in `xml`, as it stands (entities kept); ""
// if there is none.  Enough for the flat answers of S3's multipart calls.
std::string XmlField(const std::string& xml, const std::string& tag) {
  const size_t a = xml.find("<" + tag + ">");
  if (a == std::string::npos) return std::string();
  const size_t from = a + tag.size() + 2;
  const size_t b = xml.find("</" + tag + ">", from);
  return b == std::string::npos ? std::string() : xml.substr(from, b - from);
}

// `s` with XML's five predefined entities replaced by their characters.
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

}  // namespace

S3Multipart::S3Multipart(S3Client* client, std::string bucket, uint64_t part_size,
                         std::unique_ptr<MultipartLog> log, std::vector<OpenUpload> open)
    : client_(client),
      bucket_(std::move(bucket)),
      part_size_(part_size),
      log_(std::move(log)),
      open_(std::move(open)) {}

Status S3Multipart::Put(const std::string& key, const uint8_t* data, size_t size,
                        const std::string& content_type) {
  uploads_.fetch_add(1, std::memory_order_relaxed);
  std::vector<S3Response> a;
  S3Request create;
  create.method = "POST";
  create.key = key;
  create.query = "uploads=";
  create.content_type = content_type;
  if (log_ != nullptr) {  // a crash between the create and its record leaves an id only the
    Status s = log_->Creating(key);  // server knows: Recover then looks the key up
    if (!s.ok()) return s;
  }
  client_->Run({create}, &a);
  const std::string id = a[0].status.ok() ? XmlField(a[0].body, "UploadId") : std::string();
  if (id.empty()) {
    // No upload, or one we cannot name: the next start's Recover lists the key's uploads.
    if (log_ != nullptr && !a[0].status.ok() && a[0].http_status >= 400) log_->Drop(key);
    return a[0].status.ok()
               ? Status(ErrorCode::kWriteFailed, "S3 " + key + ": no UploadId in the answer")
               : a[0].status;
  }
  // Recorded before any part is stored: a crash from here on leaves an id Recover aborts.
  if (log_ != nullptr) {
    Status s = log_->Begin(id, key);
    if (!s.ok()) {
      Abort(key, id);
      return s;
    }
  }
  std::vector<S3Request> parts;
  const std::string uid = UriEncodeQueryValue(id);
  for (size_t off = 0, n = 1; off < size; off += part_size_, ++n) {
    S3Request r;
    r.key = key;
    r.query = "partNumber=" + std::to_string(n) + "&uploadId=" + uid;
    r.body = data + off;
    r.body_size = std::min<size_t>(part_size_, size - off);
    parts.push_back(std::move(r));
  }
  client_->Run(parts, &a);
  std::string xml = "<CompleteMultipartUpload>";
  Status s;
  for (size_t i = 0; i < a.size() && s.ok(); ++i) {
    if (!a[i].status.ok()) s = a[i].status;
    else if (a[i].etag.empty()) s = Status(ErrorCode::kWriteFailed, "S3 " + key + ": a part has no ETag");
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + a[i].etag +
           "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  if (s.ok()) {
    S3Request complete;
    complete.method = "POST";
    complete.key = key;
    complete.query = "uploadId=" + uid;
    complete.body = reinterpret_cast<const uint8_t*>(xml.data());
    complete.body_size = xml.size();
    complete.content_type = "application/xml";
    client_->Run({complete}, &a);
    s = a[0].status;
  }
  if (!s.ok()) {
    Abort(key, id);
    return s;
  }
  return log_ != nullptr ? log_->End(id) : Status::OK();
}

Status S3Multipart::Abort(const std::string& key, const std::string& upload_id) {
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

Status S3Multipart::AbortAllOf(const std::string& key, size_t* aborted) {
  S3Request list;
  list.method = "GET";
  list.query = "prefix=" + UriEncodeQueryValue(key) + "&uploads=";  // sorted, as SigV4 wants
  std::vector<S3Response> a;
  client_->Run({list}, &a);
  if (!a[0].status.ok()) {
    if (a[0].http_status == 501 || a[0].http_status == 405) {  // a store without the listing
      LogWarning("cannot list the multipart uploads of s3://" + bucket_ + "/" + key +
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

Status S3Multipart::Recover(size_t* cleaned) {
  Status first;
  std::vector<OpenUpload> still;
  for (const OpenUpload& u : open_) {
    size_t n = 0;
    Status s = u.upload_id.empty() ? AbortAllOf(u.key, &n) : Abort(u.key, u.upload_id);
    if (!u.upload_id.empty() && s.ok()) n = 1;
    if (s.ok()) {
      *cleaned += n;
      if (n > 0) {
        LogNotice("aborted " + std::to_string(n) + " multipart upload(s) of s3://" + bucket_ +
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

}  // namespace imgsink::daemon
