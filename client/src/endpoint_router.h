// EndpointRouter: chooses the endpoint (daemon) for each save of a Client with several
// endpoints, by ClientOptions::endpoint_policy (PROTOCOL.md, "Several daemons").  Pure logic:
// the Client passes in what its I/O loops report, so the rule is testable without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "imgsink/client.h"
#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

// What one endpoint's I/O loop reports about itself.
struct EndpointLoad {
  bool connected = false;      // a ZMTP handshake succeeded and that connection is up
  uint64_t pending_bytes = 0;  // tensor bytes queued, waiting for credit, or sent and not ended
};

// Thread-safety: Pick may be called from any thread, concurrently.
class EndpointRouter {
 public:
  static constexpr size_t kNone = SIZE_MAX;

  explicit EndpointRouter(EndpointPolicy policy) : policy_(policy) {}
  EndpointRouter(const EndpointRouter&) = delete;
  EndpointRouter& operator=(const EndpointRouter&) = delete;

  // Returns the index in `loads` of the endpoint for the next save, or kNone iff none is
  // connected.  kFailover: the first connected one.  kSpread: the connected one with the fewest
  // pending bytes; ties go round robin (the search starts after the last pick), so equal
  // daemons get equal shares.
  size_t Pick(const std::vector<EndpointLoad>& loads);

 private:
  const EndpointPolicy policy_;
  Mutex mu_;
  size_t next_ GUARDED_BY(mu_) = 0;  // kSpread: where the next tie-break search starts
};

}  // namespace internal
}  // namespace imgsink
