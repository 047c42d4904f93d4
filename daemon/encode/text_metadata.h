// Text metadata (the request's `meta` tags) as the encoders store it: PNG tEXt/iTXt chunks and
// JPEG COM markers.  One rule set for both formats, so a tag valid for one is valid for the other.
//
// Keys and values arrive as UTF-8.  A key must be a PNG keyword (PNG spec 11.3.4.2) and we
// additionally forbid '=' because JPEG comments are stored as "key=value":
//   1..79 characters, each Latin-1 printable (U+0020..U+007E, U+00A1..U+00FF), no leading,
//   trailing or consecutive spaces, no '='.
// A value must be valid UTF-8 without NUL.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Returns true iff `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Returns true iff `utf8` is valid UTF-8 whose code points are all <= U+00FF; sets *latin1 to
// those code points as bytes then.
bool Utf8ToLatin1(std::string_view utf8, std::string* latin1);

// Returns OK iff `key` follows the key rules above; sets *latin1 to the key's Latin-1 bytes then.
// Otherwise kBadOption naming the key and the broken rule.
Status CheckTextKey(std::string_view key, std::string* latin1);

// Returns OK iff `value` follows the value rules above, else kBadOption naming `key`.
Status CheckTextValue(std::string_view key, std::string_view value);

}  // namespace imgsink::daemon
