// Opening directories beneath a root directory without ever following a symbolic link.
//
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) does it in one call on Linux >= 5.6; elsewhere,
// and to create missing directories or name the offending component, we walk the path one
// component at a time with openat(O_NOFOLLOW | O_DIRECTORY).  Every step is relative to the fd
// of the previous one, so swapping a directory for a link mid-walk cannot redirect us.
// Thread-safety: safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "daemon/output/unique_fd.h"
#include "daemon/output/write_fault.h"
#include "imgsink/proto/status.h"

namespace imgsink {

// Returns true iff this kernel has openat2 (probed once, then cached).
bool HaveOpenat2();

// Opens the directory `rel_dir` beneath `root_fd` (O_RDONLY | O_DIRECTORY, close-on-exec) into
// *dir.  `rel_dir` is empty (the root itself) or passes CheckRelativePath.  Missing directories
// are created with mode 0755 (less umask) and their parent fsynced; a racing creator is fine.
// `rel_path` (the file being written) and `fault` (may be empty) serve messages and tests.
// Errors: kBadPath if any component is a symbolic link (even one pointing inside the root);
// kWriteFailed naming the component and errno for everything else (ENOTDIR, EACCES, ENOSPC...).
Status OpenDirBeneath(int root_fd, std::string_view rel_dir, std::string_view rel_path,
                      const FaultInjector& fault, UniqueFd* dir);

// "cannot write \"<rel_path>\": <what>: <strerror(err)>" as kWriteFailed.
Status WriteFailed(std::string_view rel_path, const std::string& what, int err);

}  // namespace imgsink
