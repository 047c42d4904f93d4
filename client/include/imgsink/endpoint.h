// Where the daemon listens by default.  Shared by the client and imgsinkd so both apply the same
// rule (proto/PROTOCOL.md, "Transport").  No ZeroMQ dependency: the daemon links the tiny
// imgsink_endpoint library only.
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

// The endpoint a client uses when none is given: $IMGSINK_ENDPOINT when set and non-empty (as
// the Python client does), else DefaultEndpoint().
std::string ClientDefaultEndpoint();

}  // namespace imgsink
