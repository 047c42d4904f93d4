// What an S3 request needs besides libcurl's own SigV4 signing (CURLOPT_AWS_SIGV4): the payload
// digests (OpenSSL) and the escaping of keys into URL paths.
//
// libcurl 7.88 signs the canonical request itself but does not hash an uploaded body: it takes
// the payload hash from the request's x-amz-content-sha256 header, which must therefore carry
// Sha256Hex(body).  Content-MD5 makes the server refuse a body corrupted on the way (BadDigest).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace imgsink::daemon {

// Lower-case hex SHA-256 of the bytes (x-amz-content-sha256).
std::string Sha256Hex(const void* data, size_t size);

// Base64 of the MD5 of the bytes (Content-MD5).
std::string Md5Base64(const void* data, size_t size);

// `key` escaped for the URL path as SigV4 canonicalizes S3 paths: every byte but A-Z a-z 0-9
// '-' '.' '_' '~' and '/' becomes %XX (upper-case hex).  Curl sends and signs the path as given,
// so the signature matches what the server recomputes.
std::string UriEncodeKey(std::string_view key);

// The same for one query value (also escapes '/').
std::string UriEncodeQueryValue(std::string_view value);

// CURLOPT_AWS_SIGV4's value for S3 in `region`: "aws:amz:<region>:s3".
std::string SigV4Provider(const std::string& region);

}  // namespace imgsink::daemon
