// DealerHandles: the ZeroMQ context, DEALER socket and socket monitor of one Client, plus the
// eventfd that wakes its I/O thread, created and configured in one place.
#pragma once

#include <string>

#include "imgsink/client.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace internal {

// Move-only; closes whatever it holds on destruction.  Thread-compatible: after Open, only
// the I/O thread uses the sockets (handing them over at thread start is safe).
struct DealerHandles {
  void* ctx = nullptr;
  void* socket = nullptr;   // DEALER, connected to the daemon
  void* monitor = nullptr;  // PAIR end of the socket monitor (connect / disconnect events)
  int wake_fd = -1;         // eventfd

  DealerHandles() = default;
  DealerHandles(DealerHandles&& other) noexcept;  // leaves `other` empty
  DealerHandles& operator=(DealerHandles&&) = delete;
  ~DealerHandles();

  // Closes the sockets, then terminates the context (waits up to ZMQ_LINGER).  The eventfd
  // stays open until destruction, so a late wake-up never writes to a reused fd.
  void CloseZmq();
};

// Creates and configures everything and connects (asynchronously) to `endpoint`.
// Returns OK, or kBadOption for a malformed endpoint, kInternal for other failures.
Status OpenDealer(const std::string& endpoint, const ClientOptions& options,
                  DealerHandles* handles);

// "<what>: <zmq_strerror(zmq_errno())>".
std::string ZmqError(const char* what);

}  // namespace internal
}  // namespace imgsink
