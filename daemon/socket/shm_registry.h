// ShmRegistry: the daemon's half of the shared-memory hand-off (PROTOCOL.md "Shared-memory
// hand-off"; the wire format is imgsink/proto/shm.h).
//
// It listens on a side socket next to each ipc:// socket file, takes each client's sealed memfd
// from its hello, maps it read-only once and answers with a random token; a save that names the
// token gets its tensor as a view into that mapping (Resolve), read in place by the render -- the
// daemon's one copy of the tensor bytes, into the rendered canvas that the journal then writes.
//
// Lifetime: a segment stays registered while its side connection is open.  When the client goes
// (closes it, exits, or is killed: the kernel closes the connection either way) the token is
// forgotten; jobs that still view the segment keep the mapping alive (the Bytes' owner), and the
// last of them unmaps it, which frees the memfd's pages once the client's own fd and mapping are
// gone too.  The daemon closes the memfd right after mapping it, so it holds no fd per segment.
//
// Threading: socket thread only (SocketThread::Watch calls it there), like the ROUTER sockets.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/socket/socket_thread.h"
#include "daemon/util/bytes.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

class ShmRegistry {
 public:
  struct Options {
    uint64_t max_segment_bytes = uint64_t{64} << 30;  // a larger segment is refused
    size_t max_clients = 1024;                        // side connections held at once
    int ipc_mode = -1;                                // as SocketOptions (chmod of the socket files)
    std::string ipc_group;
  };

  // REQUIRES: socket outlives this registry.
  ShmRegistry(SocketThread* socket, Options options);
  ~ShmRegistry();  // closes every socket; mappings live on in the jobs that view them
  ShmRegistry(const ShmRegistry&) = delete;
  ShmRegistry& operator=(const ShmRegistry&) = delete;

  // Binds a side socket for every ipc:// endpoint in `endpoints` (ShmSocketPath; a stale socket
  // file left by a killed daemon is replaced) and watches them on the socket thread.  Call
  // once, from the owner, after SocketThread::Start (which creates the ipc directories).
  Status Listen(const std::vector<std::string>& endpoints);

  // Returns the side socket files bound (for logs and tests).
  const std::vector<std::string>& paths() const { return paths_; }

  // --- Socket thread only ---

  // Sets *out to a view of [offset, offset + size) of the segment named `token`, which keeps the
  // mapping alive.  Errors: kBadOption (unknown token: the side connection ended, or another
  // daemon's token), kBadOption (range outside the segment).
  Status Resolve(uint64_t token, uint64_t offset, uint64_t size, Bytes* out) const;

  // Segments registered now.
  size_t segments() const { return fd_by_token_.size(); }

 private:
  struct Mapping;  // munmaps on destruction
  struct Conn {
    uint64_t token = 0;
    std::shared_ptr<const Mapping> mapping;  // null until the hello
  };

  void OnAcceptable(int listen_fd);
  void OnReadable(int fd);
  void Drop(int fd);
  // Answers a hello on `fd` (with `memfd` attached, or -1); returns false iff the connection
  // must be dropped.
  bool Register(int fd, const char* hello, ssize_t n, int memfd);
  void Reply(int fd, bool ok, uint64_t token, uint64_t size, const std::string& reason);

  SocketThread* const socket_;
  const Options options_;
  std::vector<int> listen_fds_;
  std::vector<std::string> paths_;
  std::map<int, Conn> conns_;                 // by side-connection fd
  std::map<uint64_t, int> fd_by_token_;  // tokens: getrandom(2), not guessable by other clients
};

}  // namespace imgsink::daemon
