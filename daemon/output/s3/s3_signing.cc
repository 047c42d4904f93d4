#include "daemon/output/s3/s3_signing.h"

#include <openssl/evp.h>

#include <memory>

namespace imgsink::daemon {
namespace {

// Digest of the bytes with `md` (EVP: the interface OpenSSL 3 keeps).
std::string Digest(const EVP_MD* md, const void* data, size_t size) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, size, out, &len, md, nullptr) != 1) return std::string();
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Escape(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string Sha256Hex(const void* data, size_t size) {
  static const char kHex[] = "0123456789abcdef";
  const std::string d = Digest(EVP_sha256(), data, size);
  std::string hex;
  for (unsigned char c : d) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

std::string Md5Base64(const void* data, size_t size) {
  const std::string d = Digest(EVP_md5(), data, size);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, reinterpret_cast<const unsigned char*>(d.data()), int(d.size()));
  return std::string(reinterpret_cast<const char*>(out), size_t(n < 0 ? 0 : n));
}

std::string UriEncodeKey(std::string_view key) { return Escape(key, true); }

std::string UriEncodeQueryValue(std::string_view value) { return Escape(value, false); }

std::string SigV4Provider(const std::string& region) { return "aws:amz:" + region + ":s3"; }

}  // namespace imgsink::daemon
