// Endpoints a client connects to.  The daemon's default endpoint (DefaultSocketPath(),
// DefaultEndpoint()) is the protocol's rule, declared in imgsink/proto/endpoint.h (shared with
// imgsinkd) and available through this header.  No ZeroMQ dependency.
#pragma once

#include <string>
#include <vector>

#include "imgsink/proto/endpoint.h"

namespace imgsink {

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
