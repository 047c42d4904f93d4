// S3Client: signed HTTP requests to one bucket of an S3-compatible store, through libcurl.
//
// One I/O thread owns a curl multi handle (muduo's rule: one thread per socket set); callers on
// any thread hand it requests and wait.  The multi handle keeps connections open between
// requests and runs at most S3Settings::max_connections transfers at once; more wait their turn
// in order.  Every request is signed by libcurl (CURLOPT_AWS_SIGV4) and carries
// x-amz-content-sha256 and, with a body, Content-MD5 (daemon/output/s3/s3_signing.h).
//
// Retries: a connection error, a stalled transfer, HTTP 5xx, 429, 408 or an S3 error code
// SlowDown / RequestTimeout / InternalError / BadDigest is tried again after a backoff that
// doubles from first_retry_ms up to max_retry_ms with full jitter, up to `tries` times.
// Thread-safety: Run() may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/output/s3/s3_settings.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct S3Request {
  std::string method = "PUT";  // PUT, POST, GET, DELETE
  std::string key;             // object key, unescaped; empty: the bucket itself
  std::string query;           // escaped query without '?', e.g. "partNumber=1&uploadId=..."
  const uint8_t* body = nullptr;  // borrowed until Run returns
  size_t body_size = 0;
  std::string content_type;  // empty: none sent
};

struct S3Response {
  // OK iff the server answered 2xx without an <Error> document.  Else kWriteFailed ("S3 PUT
  // key: HTTP 503 SlowDown ..." or the curl error), with `retryable` telling whether trying
  // again later may help; kBadPath when the server refused the key itself (KeyTooLongError).
  Status status;
  bool retryable = false;
  long http_status = 0;  // 0: no answer (connection error)
  std::string body;      // the answer's body (XML), up to 1 MiB
  std::string etag;      // the ETag header, quotes included
  int tries = 0;
};

// Counters, read by status/metrics; relaxed atomics.
struct S3ClientStats {
  std::atomic<uint64_t> requests{0};        // requests finished (after their last try)
  std::atomic<uint64_t> failures{0};        // ... that failed
  std::atomic<uint64_t> retries{0};         // tries beyond the first
  std::atomic<uint64_t> bytes_uploaded{0};  // body bytes of successful requests
  std::atomic<uint64_t> latency_us{0};      // sum over finished requests, first try to last answer
  std::atomic<uint64_t> in_flight_bytes{0};  // body bytes of requests not finished yet
  std::atomic<uint64_t> queued{0};           // requests not finished yet
};

// Returns true iff a try that ended with curl result `curl_code` (a CURLcode), HTTP status
// `http` and body `body` may succeed if sent again.
bool IsRetryableS3Answer(int curl_code, long http, const std::string& body);

// The <Code> of an S3 error document, "" if none.
std::string S3ErrorCode(const std::string& body);

class S3Client {
 public:
  // Starts the I/O thread for `bucket`.  REQUIRES: `settings` resolved (ResolveS3Settings).
  // Errors: kInternal if libcurl cannot be set up.
  static Status Open(const S3Settings& settings, const std::string& bucket,
                     std::unique_ptr<S3Client>* out);
  ~S3Client();  // REQUIRES: no Run in progress
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends every request (concurrently, retrying as above) and waits until each is answered.
  // (*responses)[i] answers requests[i].
  void Run(const std::vector<S3Request>& requests, std::vector<S3Response>* responses);

  // The URL a request goes to (path-style or virtual-host).
  std::string UrlFor(const S3Request& request) const;

  const S3ClientStats& stats() const { return stats_; }
  const std::string& bucket() const { return bucket_; }

  struct Impl;

 private:
  S3Client(const S3Settings& settings, std::string bucket);

  const S3Settings settings_;
  const std::string bucket_;
  S3ClientStats stats_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgsink::daemon
