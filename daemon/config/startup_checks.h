// Start-up checks on the file-system layout the options name: what cannot work is refused
// before the daemon acknowledges anything (issue 12, "Refuse what cannot work").
// Thread-safety: pure functions of the file system; safe from any thread.
#pragma once

#include <string>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// The absolute form of `path` with every symbolic link resolved: realpath(3) of its longest
// existing prefix, the missing rest appended with "." and ".." applied lexically.  Relative
// paths are taken from the working directory.
std::string ResolvedPath(const std::string& path);

// Returns true iff `inner` is `outer` or lies beneath it (both resolved, absolute).
bool PathWithin(const std::string& inner, const std::string& outer);

// Returns OK iff the journal directory and the output root (a local directory: roots with a
// "scheme://" are not checked) are apart: neither is the other nor lies beneath it, after
// resolving symbolic links.  Otherwise kBadOption naming both: a save could replace the
// journal's LOCK or segments (a second daemon could then share the journal and delete the
// first one's segment), or the journal's files would show up among the outputs.
Status CheckJournalApart(const std::string& journal_dir, const std::string& output_root);

}  // namespace imgsink::daemon
