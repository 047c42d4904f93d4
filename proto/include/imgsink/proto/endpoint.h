// Where the daemon listens by default (proto/PROTOCOL.md, "Transport"): the one rule imgsinkd
// binds and the clients connect to.  No ZeroMQ dependency.  The C++ client re-exports these in
// its public imgsink/endpoint.h.
#pragma once

#include <string>

namespace imgsink {

// Returns the filesystem path of the daemon's default ipc socket:
//   "$XDG_RUNTIME_DIR/imgsink/imgsinkd.sock" when XDG_RUNTIME_DIR is set and non-empty,
//   "/tmp/imgsink-$UID/imgsinkd.sock" otherwise ($UID = the real user id, getuid()).
// The parent directory is the daemon's to create (mode 0700).
// Thread-safety: safe from any thread as long as nobody calls setenv() concurrently.
std::string DefaultSocketPath();

// Returns "ipc://" + DefaultSocketPath().
std::string DefaultEndpoint();

}  // namespace imgsink
