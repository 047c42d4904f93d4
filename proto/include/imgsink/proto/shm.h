// The shared-memory hand-off's side channel (PROTOCOL.md "Shared-memory hand-off"), shared by
// the daemon and the C++ clients:
//
//   - a client creates a sealed memfd (ShmSegment) and maps it read-write;
//   - it connects to the daemon's side socket next to its ipc:// socket file (ShmSocketPath),
//     sends a hello with the memfd attached (SCM_RIGHTS) and reads the reply: the segment's
//     token (ShmHello);
//   - saves then carry `shm` = [token, offset] and an empty tensor frame; ZeroMQ stays the
//     control channel.  The side connection stays open: its end tells the daemon the client is
//     gone (and the client that the daemon is), and each side then drops its mapping.
//
// Nothing here has a name in a file system: a memfd lives exactly as long as some process holds
// its fd or a mapping of it, so a kill -9 on either side cannot leak a segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "imgsink/proto/status.h"

namespace imgsink {

// The side socket of a daemon listening on `endpoint`: the ipc:// socket file's path plus
// ".shm".  Returns "" for any other endpoint (tcp://, abstract ipc://@name), which have none.
std::string ShmSocketPath(const std::string& endpoint);

// Wire format of the side socket (SOCK_SEQPACKET, one message each way).
//   hello (client -> daemon): "ISHM", version (1 byte, 1), 3 zero bytes; one fd (SCM_RIGHTS).
//   reply (daemon -> client): "ISHM", version, status (0 ok, 1 refused), 2 zero bytes, the
//     token (uint64 little-endian), the segment size the daemon mapped (uint64 LE); when
//     refused, a UTF-8 reason follows.
constexpr char kShmMagic[4] = {'I', 'S', 'H', 'M'};
constexpr uint8_t kShmVersion = 1;
constexpr size_t kShmHelloBytes = 8;
constexpr size_t kShmReplyBytes = 24;

// A memfd of fixed size, sealed against shrinking and growing (so the daemon may map it without
// risking SIGBUS), mapped read-write.  Move-only; unmaps and closes on destruction.
class ShmSegment {
 public:
  ShmSegment() = default;
  ~ShmSegment();
  ShmSegment(ShmSegment&& other) noexcept;
  ShmSegment& operator=(ShmSegment&& other) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // Creates a segment of `bytes` (> 0).  Pages are allocated when first written.
  static Status Create(size_t bytes, ShmSegment* out);

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_; }
  bool valid() const { return data_ != nullptr; }

 private:
  void Reset();
  int fd_ = -1;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Returns the canonical save header `header` (EncodeClientMessage of a save without `shm`) with
// `shm` = [segment, offset] added: `shm` is the last key in canonical order, so it is appended
// and only the map's entry count changes.  Returns "" if `header` is not a msgpack map.
std::string WithShm(const std::string& header, uint64_t segment, uint64_t offset);

// Connects to the side socket at `socket_path`, registers `segment_fd` and returns the token in
// *token and the connection (to keep open for as long as the segment is used) in *conn.  Waits
// at most `timeout_ms` for the reply.  Errors: kDisconnected (no side socket: an older daemon,
// shm off, or not the same host), kBadOption (the daemon refused the segment, with its reason),
// kTimeout.
Status ShmHello(const std::string& socket_path, int segment_fd, int timeout_ms, int* conn,
                uint64_t* token);

}  // namespace imgsink
