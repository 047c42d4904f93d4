// Socket activation: listening sockets handed over by systemd (imgsinkd.socket) or any
// sd_listen_fds(3) launcher, turned into the endpoints the daemon binds with ZMQ_USE_FD.
//
// Why: with imgsinkd.socket the socket exists from boot, with systemd's owner and mode, and
// clients that connect while the daemon restarts queue in the kernel instead of failing.
#pragma once

#include <string>
#include <vector>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// A listening stream socket the daemon inherited.  `endpoint` is its address in ZeroMQ form
// ("ipc:///run/imgsink/imgsinkd.sock", "tcp://127.0.0.1:5555", "tcp://[::1]:5555").
struct InheritedSocket {
  int fd = -1;
  std::string endpoint;
};

// Takes the sockets passed by $LISTEN_FDS/$LISTEN_PID (and unsets them, so children do not
// inherit them).  Returns OK with *sockets empty when none were passed; kBadOption naming the
// fd when one is not a listening stream socket of AF_UNIX (with a path), AF_INET or AF_INET6.
// Call once, before any thread starts.  REQUIRES: sockets non-null.
Status TakeInheritedSockets(std::vector<InheritedSocket>* sockets);

// The ZeroMQ endpoint naming the local address of listening socket `fd`, or "" if it has none
// that ZeroMQ can name.  Exposed for tests.
std::string EndpointOfSocket(int fd);

}  // namespace imgsink::daemon
