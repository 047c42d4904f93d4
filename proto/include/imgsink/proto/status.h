// Status: the outcome of an operation, with a stable machine-readable code.
//
// The code's wire name (ErrorCodeName) is part of the protocol (proto/PROTOCOL.md):
// never renumber or rename a code, only add new ones.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imgsink {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kBadMessage,          // header is not valid msgpack, wrong frame count, trailing bytes
  kUnsupportedVersion,  // protocol version this peer does not speak
  kBadRequest,          // well-formed msgpack, but a field is missing, unknown or mistyped
  kBadDtype,            // unknown dtype, or a dtype the requested output cannot take
  kBadShape,            // rank/layout mismatch, zero or negative dims, unsupported channels
  kSizeMismatch,        // payload byte count != product(shape) * itemsize
  kTooLarge,            // over a configured limit (pixels per image, bytes per request)
  kBadPath,             // absolute, '..', NUL, escapes the output root, bad template
  kBadFormat,           // unknown format or extension; format cannot hold the image (RGBA JPEG)
  kBadOption,           // out-of-range option (nrow < 1, quality > 100, ...)
  kEncodeFailed,        // libpng/TurboJPEG reported an error
  kWriteFailed,         // the output file could not be written (ENOSPC, EACCES, EIO, ...)
  kBusy,                // over budget; try again later
  kShuttingDown,        // the daemon is draining and accepts no new work
  kInternal,            // a bug: an invariant did not hold
  kTimeout,             // client side: a wait ran out
  kDisconnected,        // client side: no daemon reachable / connection closed
  kJournalFailed,       // the journal could not persist the job
  kNoCredit,            // a save larger than the client's remaining credit (flow control)
  kCount_               // not a code: the number of codes
};

// Returns the stable wire name of `code`, e.g. "bad_shape".
std::string_view ErrorCodeName(ErrorCode code);

// Returns true iff `name` is the wire name of a known code; sets *code then.
bool ErrorCodeFromName(std::string_view name, ErrorCode* code);

class Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

}  // namespace imgsink
