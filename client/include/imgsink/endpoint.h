// Where the daemon listens by default.  Shared by the client and imgsinkd so both apply the same
// rule (proto/PROTOCOL.md, "Transport").  No ZeroMQ dependency: the daemon links the tiny
// imgsink_endpoint library only.
#pragma once

#include <string>
#include <vector>

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
// the Python client does), else DefaultEndpoint().  May be a comma-separated list.
std::string ClientDefaultEndpoint();

// Endpoint lists (several daemons; PROTOCOL.md, "Several daemons"): "a,b" names a and b;
// whitespace around each item is trimmed.  The same rule as the Python client's.
// Returns true and sets *endpoints to the trimmed items, in order, iff there is at least one
// item and no item is empty or repeated; else returns false and sets *error to a message naming
// the bad item.  REQUIRES: endpoints, error non-null.  Thread-safe.
bool SplitEndpointList(const std::string& list, std::vector<std::string>* endpoints,
                       std::string* error);
// The same checks for a list given item by item: trims each item in place (an item is never
// split at commas).
bool CheckEndpointList(std::vector<std::string>* endpoints, std::string* error);

}  // namespace imgsink
