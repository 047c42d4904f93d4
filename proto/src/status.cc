// Status and the wire names of error codes (proto/PROTOCOL.md, "Error codes").
#include "imgsink/proto/status.h"

#include <array>

namespace imgsink {
namespace {

// Indexed by ErrorCode; the static_assert below keeps the table and the enum in step.
constexpr std::array<std::string_view, static_cast<size_t>(ErrorCode::kCount_)> kNames = {
    "ok",         "bad_message",   "unsupported_version", "bad_request",    "bad_dtype",
    "bad_shape",  "size_mismatch", "too_large",           "bad_path",       "bad_format",
    "bad_option", "encode_failed", "write_failed",        "busy",           "shutting_down",
    "internal",   "timeout",       "disconnected",        "journal_failed", "no_credit",
};
static_assert(kNames.back() == "no_credit", "kNames must list every ErrorCode in order");

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  const auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

bool ErrorCodeFromName(std::string_view name, ErrorCode* code) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *code = static_cast<ErrorCode>(i);
      return true;
    }
  }
  return false;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(ErrorCodeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace imgsink
