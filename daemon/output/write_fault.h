// Fault injection for OutputRoot's write path (leveldb-style test seam).  Production code never
// sets an injector; tests use it to make one step fail as a full disk or a dying disk would.
#pragma once

#include <functional>
#include <string_view>

namespace imgsink {

// The steps of a write (OutputRoot::WriteAtomic, WriteGroup), in order.  A group runs kMkdir,
// kOpenTemp and kWrite per file as it is added; at Commit kSyncData for all (OutputSync::kFile:
// fsync of each temp file; kFilesystem: syncfs once per filesystem), then kLink (O_TMPFILE only)
// and kRename per file, then kSyncDir for all (fsync once per directory, or syncfs once per
// filesystem).
enum class WriteStep { kMkdir, kOpenTemp, kWrite, kSyncData, kLink, kRename, kSyncDir };

// Called before `step` for the file `rel_path` (a sync covering several files names the first
// of them); returns 0 to let the step run, or an errno value to make the step fail with it
// instead (e.g. ENOSPC).
using FaultInjector = std::function<int(WriteStep step, std::string_view rel_path)>;

}  // namespace imgsink
