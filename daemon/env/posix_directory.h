// The POSIX Directory (posix_directory.cc), shared by the POSIX Env (posix_env.cc).  Internal to
// daemon/env/: everyone else reaches it through Env::OpenDirectory.
#pragma once

#include <memory>
#include <string>

#include "daemon/env/env.h"

namespace imgsink::daemon {

// Env::OpenDirectory of the POSIX Env.
Status OpenPosixDirectory(const std::string& dir, std::unique_ptr<Directory>* out);

// A WritableFile on `fd` (owned), named `path` in messages.
std::unique_ptr<WritableFile> NewPosixWritableFile(std::string path, int fd);

}  // namespace imgsink::daemon
