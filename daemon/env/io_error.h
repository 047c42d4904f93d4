// IoError: the daemon's one errno -> Status mapper.
// Thread-safety: pure function; safe from any thread.
#pragma once

#include <string>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Returns Status(code, "<context>: <strerror(err)>"), the message the same on every thread
// (std::error_code, not strerror's static buffer).  `context` names the operation and the file.
Status IoError(ErrorCode code, const std::string& context, int err);

// Returns the errno whose text ends `status`'s message as IoError wrote it (through any
// prefixes added since), or 0 if there is none.  For reports (status counters), not control
// flow.
int ErrnoOf(const Status& status);

// IoError(ErrorCode::kWriteFailed, ...): what every Env operation returns on failure.
inline Status IoError(const std::string& context, int err) {
  return IoError(ErrorCode::kWriteFailed, context, err);
}

}  // namespace imgsink::daemon
