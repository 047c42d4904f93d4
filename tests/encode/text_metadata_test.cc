#include "daemon/encode/text_metadata.h"

#include <catch.hpp>

namespace imgsink::daemon {
namespace {

TEST_CASE("IsValidUtf8 accepts well-formed and refuses malformed UTF-8", "[text]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("\xC3\xA9\xE7\x8C\xAB\xF0\x9F\x90\x88"));
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xC3"));         // truncated
  CHECK_FALSE(IsValidUtf8("\xC3\x28"));     // bad continuation
  CHECK_FALSE(IsValidUtf8("\xC0\xAF"));     // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xE0\x80\xAF"));  // overlong
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80"));  // surrogate
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xFF"));
  CHECK_FALSE(IsValidUtf8("\x80"));
}

TEST_CASE("Utf8ToLatin1 maps code points <= U+00FF to bytes", "[text]") {
  std::string latin1 = "unchanged";
  CHECK(Utf8ToLatin1("caf\xC3\xA9 \xC2\xA0", &latin1));
  CHECK(latin1 == "caf\xE9 \xA0");
  latin1 = "unchanged";
  CHECK_FALSE(Utf8ToLatin1("\xC4\x80", &latin1));  // U+0100
  CHECK(latin1 == "unchanged");
  CHECK_FALSE(Utf8ToLatin1("\xE9", &latin1));  // Latin-1 byte, not UTF-8
}

TEST_CASE("CheckTextKey enforces PNG keyword rules plus no '='", "[text]") {
  std::string latin1;
  CHECK(CheckTextKey("Software", &latin1).ok());
  CHECK(CheckTextKey("a b c", &latin1).ok());
  CHECK(CheckTextKey("\xC3\xA9t\xC3\xA9", &latin1).ok());
  CHECK(latin1 == "\xE9t\xE9");
  CHECK(CheckTextKey(std::string(79, 'x'), &latin1).ok());
  // 79 characters that are 158 UTF-8 bytes still fit: the limit is on Latin-1 characters.
  std::string accented;
  for (int i = 0; i < 79; ++i) accented += "\xC3\xA9";
  CHECK(CheckTextKey(accented, &latin1).ok());
  const std::string bad[] = {"", std::string(80, 'x'), " x", "x ", "x  y", "k=v", "\x7F",
                             "nbsp\xC2\xA0", "\xC2\x85", "line\nbreak", "\xE2\x82\xAC"};
  for (const std::string& key : bad) {
    CAPTURE(key);
    const Status status = CheckTextKey(key, &latin1);
    CHECK(status.code() == ErrorCode::kBadOption);
  }
  const Status status = CheckTextKey("x\x01y", &latin1);
  CHECK(status.message().find("\"x\\x01y\"") != std::string::npos);  // quoted, control escaped
}

TEST_CASE("CheckTextValue refuses NUL and malformed UTF-8 only", "[text]") {
  CHECK(CheckTextValue("k", "").ok());
  CHECK(CheckTextValue("k", "multi\nline \xE7\x8C\xAB\ttab").ok());
  CHECK(CheckTextValue("k", std::string("a\0", 2)).code() == ErrorCode::kBadOption);
  CHECK(CheckTextValue("k", "\xFE").code() == ErrorCode::kBadOption);
}

}  // namespace
}  // namespace imgsink::daemon
