// S3Settings: where an S3 sink uploads and how (endpoint, credentials, addressing, limits), and
// the parsing of "s3://bucket/prefix".  Filled from the daemon's options, which take each unset
// value from the standard AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
// Invariant kept by every user: the secret key and session token are never logged or printed.
#pragma once

#include <cstdint>
#include <string>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

enum class S3Addressing {
  kAuto,         // path-style for a custom endpoint (MinIO, Ceph, s3rver), virtual-host for AWS
  kPath,         // http://endpoint/bucket/key
  kVirtualHost,  // http://bucket.endpoint/key
};

struct S3Settings {
  std::string endpoint;  // "http://127.0.0.1:9000"; empty: https://s3.<region>.amazonaws.com
  std::string region;    // empty: us-east-1
  std::string access_key_id;
  std::string secret_access_key;  // never logged
  std::string session_token;      // optional (temporary credentials); never logged
  S3Addressing addressing = S3Addressing::kAuto;

  unsigned max_connections = 16;     // uploads in flight at once (curl multi), per sink
  uint64_t connect_timeout_ms = 5000;
  // A request fails (and is retried) if it moves under 1 KiB/s for this long; there is no
  // overall limit, so a large part on a slow link still finishes.
  uint64_t stall_timeout_ms = 30000;
  int tries = 4;                   // per request, before the job's write fails (and is retried later)
  uint64_t first_retry_ms = 100;   // backoff: doubles each try, full jitter, capped at max_retry_ms
  uint64_t max_retry_ms = 5000;

  uint64_t multipart_threshold = uint64_t{64} << 20;  // objects this large go up in parts
  uint64_t part_size = uint64_t{16} << 20;            // >= 5 MiB (S3's minimum but the last)

  unsigned manifest_lines_per_object = 1000;  // manifest: an object per this many lines...
  uint64_t manifest_flush_ms = 1000;          // ...or per this long, whichever comes first

  // Directory for the record of multipart uploads in progress (the journal directory); empty:
  // none is kept (a crash may then leave an upload for the bucket's lifecycle rule to abort).
  std::string state_dir;

  // Tests only: sign every request with this x-amz-date (e.g. "20260101T000000Z").
  std::string fixed_date;
};

// Where an "s3://bucket/prefix" URL puts objects.  `prefix` has no leading or trailing '/'
// (empty: the bucket's root).
struct S3Location {
  std::string bucket;
  std::string prefix;
};

// Parses "s3://bucket[/prefix]".  Errors: kBadOption naming the URL (no bucket, a bucket name
// S3 does not allow, '//' or '.'/'..' segments in the prefix).
Status ParseS3Url(const std::string& url, S3Location* out);

// Fills every empty field of *settings from the environment (AWS_ENDPOINT_URL, AWS_REGION or
// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the
// defaults (region us-east-1, the AWS endpoint of the region).  Errors: kBadOption when no
// credentials are found or the endpoint is not http(s)://host[:port].
Status ResolveS3Settings(S3Settings* settings);

// Returns true iff requests go to http://endpoint/bucket/... (else http://bucket.endpoint/...).
bool UsesPathStyle(const S3Settings& settings);

// Parses "auto" | "path" | "virtual".  Errors: kBadOption.
Status ParseS3Addressing(const std::string& text, S3Addressing* out);

}  // namespace imgsink::daemon
