#include "daemon/output/s3/s3_settings.h"

#include <cstdlib>

namespace imgsink::daemon {
namespace {

// S3's bucket naming rules: 3-63 characters of a-z, 0-9, '.', '-', beginning and ending with
// a letter or digit.
bool ValidBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(b.front()) && alnum(b.back());
}

void FromEnv(std::string* field, const char* name) {
  if (!field->empty()) return;
  const char* v = std::getenv(name);
  if (v != nullptr) *field = v;
}

}  // namespace

Status ParseS3Url(const std::string& url, S3Location* out) {
  const std::string scheme = "s3://";
  if (url.rfind(scheme, 0) != 0) {
    return Status(ErrorCode::kBadOption, "output " + url + ": not an s3://bucket/prefix URL");
  }
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  S3Location loc;
  loc.bucket = rest.substr(0, slash);
  if (!ValidBucket(loc.bucket)) {
    return Status(ErrorCode::kBadOption, "output " + url + ": \"" + loc.bucket +
                                             "\" is not a valid S3 bucket name");
  }
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  // Each segment must be a plain name: keys are paths, and "a//b" or ".." would make two
  // spellings of one object (or none a local sink could mirror).
  size_t start = 0;
  while (!prefix.empty() && start <= prefix.size()) {
    const size_t end = std::min(prefix.find('/', start), prefix.size());
    const std::string seg = prefix.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == ".." || seg.find('\0') != std::string::npos) {
      return Status(ErrorCode::kBadOption,
                    "output " + url + ": the prefix must be plain names joined by '/'");
    }
    start = end + 1;
  }
  loc.prefix = prefix;
  *out = loc;
  return Status::OK();
}

Status ResolveS3Settings(S3Settings* s) {
  FromEnv(&s->endpoint, "AWS_ENDPOINT_URL_S3");
  FromEnv(&s->endpoint, "AWS_ENDPOINT_URL");
  FromEnv(&s->region, "AWS_REGION");
  FromEnv(&s->region, "AWS_DEFAULT_REGION");
  // The key pair comes from one place: never an id from the file and a secret from the
  // environment.
  if (s->access_key_id.empty() && s->secret_access_key.empty()) {
    FromEnv(&s->access_key_id, "AWS_ACCESS_KEY_ID");
    FromEnv(&s->secret_access_key, "AWS_SECRET_ACCESS_KEY");
    FromEnv(&s->session_token, "AWS_SESSION_TOKEN");
  }
  if (s->region.empty()) s->region = "us-east-1";
  if (s->endpoint.empty()) s->endpoint = "https://s3." + s->region + ".amazonaws.com";
  while (!s->endpoint.empty() && s->endpoint.back() == '/') s->endpoint.pop_back();
  const bool http = s->endpoint.rfind("http://", 0) == 0;
  const bool https = s->endpoint.rfind("https://", 0) == 0;
  const std::string host = http ? s->endpoint.substr(7) : https ? s->endpoint.substr(8) : "";
  if ((!http && !https) || host.empty() || host.find('/') != std::string::npos ||
      host.find('@') != std::string::npos) {
    return Status(ErrorCode::kBadOption, "S3 endpoint " + s->endpoint +
                                             ": expected http(s)://host[:port] with no path");
  }
  for (char c : s->region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Status(ErrorCode::kBadOption, "S3 region \"" + s->region + "\" is not a region name");
    }
  }
  if (s->access_key_id.empty() || s->secret_access_key.empty()) {
    return Status(ErrorCode::kBadOption,
                  "S3 output needs credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                  "s3_access_key_id and s3_secret_access_key in the config file");
  }
  if (s->access_key_id.find(':') != std::string::npos) {
    return Status(ErrorCode::kBadOption, "S3 access key id must not contain ':'");
  }
  if (s->part_size < (uint64_t{5} << 20)) {
    return Status(ErrorCode::kBadOption, "--s3-part-size must be at least 5 MiB (S3's minimum part)");
  }
  if (s->multipart_threshold < s->part_size) {
    return Status(ErrorCode::kBadOption, "--s3-multipart-threshold must be at least --s3-part-size");
  }
  if (s->max_connections == 0 || s->tries < 1) {
    return Status(ErrorCode::kBadOption, "--s3-connections and --s3-tries must be positive");
  }
  return Status::OK();
}

bool UsesPathStyle(const S3Settings& s) {
  switch (s.addressing) {
    case S3Addressing::kPath: return true;
    case S3Addressing::kVirtualHost: return false;
    case S3Addressing::kAuto: break;
  }
  return s.endpoint.find(".amazonaws.com") == std::string::npos;
}

Status ParseS3Addressing(const std::string& text, S3Addressing* out) {
  if (text == "auto") *out = S3Addressing::kAuto;
  else if (text == "path") *out = S3Addressing::kPath;
  else if (text == "virtual") *out = S3Addressing::kVirtualHost;
  else return Status(ErrorCode::kBadOption, "--s3-addressing must be auto, path or virtual");
  return Status::OK();
}

}  // namespace imgsink::daemon
