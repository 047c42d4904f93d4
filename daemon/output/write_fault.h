// Fault injection for OutputRoot's write path (leveldb-style test seam).  Production code never
// sets an injector; tests use it to make one step fail as a full disk or a dying disk would.
#pragma once

#include <functional>
#include <string_view>

namespace imgsink {

// The steps of OutputRoot::WriteAtomic, in order.
enum class WriteStep { kMkdir, kOpenTemp, kWrite, kFsyncFile, kLink, kRename, kFsyncDir };

// Called before `step` for the file `rel_path`; returns 0 to let the step run, or an errno value
// to make the step fail with it instead (e.g. ENOSPC).
using FaultInjector = std::function<int(WriteStep step, std::string_view rel_path)>;

}  // namespace imgsink
