#include "daemon/encode/text_metadata.h"

#include <cstdint>

#include "imgsink/proto/paths.h"  // QuoteForMessage

namespace imgsink::daemon {

namespace {

// Decodes one code point at s[*i]; advances *i.  Returns false on malformed UTF-8.
bool NextCodePoint(std::string_view s, size_t* i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(*i);
  int extra;
  uint32_t min;
  if (b0 < 0x80) {
    *cp = b0;
    *i += 1;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    extra = 1, min = 0x80, *cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, min = 0x800, *cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return false;
  }
  if (s.size() - *i <= size_t(extra)) return false;
  for (int k = 1; k <= extra; ++k) {
    const uint8_t b = byte(*i + k);
    if ((b & 0xC0) != 0x80) return false;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return false;
  *i += 1 + extra;
  return true;
}

bool IsLatin1Printable(uint32_t cp) { return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xFF); }

Status BadKey(std::string_view key, const char* why) {
  return Status(ErrorCode::kBadOption, "metadata key " + QuoteForMessage(key) + " is not a valid PNG keyword: " + why);
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    if (!NextCodePoint(s, &i, &cp)) return false;
  }
  return true;
}

bool Utf8ToLatin1(std::string_view utf8, std::string* latin1) {
  std::string result;
  result.reserve(utf8.size());
  uint32_t cp;
  for (size_t i = 0; i < utf8.size();) {
    if (!NextCodePoint(utf8, &i, &cp) || cp > 0xFF) return false;
    result.push_back(static_cast<char>(cp));
  }
  *latin1 = std::move(result);
  return true;
}

Status CheckTextKey(std::string_view key, std::string* latin1) {
  std::string bytes;
  if (!Utf8ToLatin1(key, &bytes)) return BadKey(key, "characters must be Latin-1 (U+0000..U+00FF)");
  if (bytes.empty() || bytes.size() > 79) return BadKey(key, "length must be 1..79 characters");
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(bytes[i]);
    if (!IsLatin1Printable(c)) return BadKey(key, "control and non-printable characters are not allowed");
    if (c == '=') return BadKey(key, "'=' is reserved (JPEG comments are key=value)");
    if (c == ' ' && (i == 0 || i + 1 == bytes.size() || bytes[i - 1] == ' ')) {
      return BadKey(key, "no leading, trailing or consecutive spaces");
    }
  }
  *latin1 = std::move(bytes);
  return Status::OK();
}

Status CheckTextValue(std::string_view key, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    return Status(ErrorCode::kBadOption, "metadata value for key " + QuoteForMessage(key) + " contains NUL");
  }
  if (!IsValidUtf8(value)) {
    return Status(ErrorCode::kBadOption,
                  "metadata value for key " + QuoteForMessage(key) + " is not valid UTF-8");
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
