#include "daemon/env/io_error.h"

#include <system_error>

namespace imgsink::daemon {

Status IoError(ErrorCode code, const std::string& context, int err) {
  return Status(code, context + ": " + std::error_code(err, std::generic_category()).message());
}

int ErrnoOf(const Status& status) {
  const std::string& m = status.message();
  int best = 0;
  size_t best_length = 0;
  for (int err = 1; err < 134; ++err) {  // Linux errnos; the longest matching text wins
    const std::string text = ": " + std::error_code(err, std::generic_category()).message();
    if (text.size() > best_length && m.find(text) != std::string::npos) {
      best = err;
      best_length = text.size();
    }
  }
  return best;
}

}  // namespace imgsink::daemon
