#include "daemon/env/io_error.h"

#include <system_error>

namespace imgsink::daemon {

Status IoError(ErrorCode code, const std::string& context, int err) {
  return Status(code, context + ": " + std::error_code(err, std::generic_category()).message());
}

}  // namespace imgsink::daemon
