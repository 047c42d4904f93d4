#include "daemon/socket/shm_registry.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/env/io_error.h"
#include "daemon/log/log.h"
#include "imgsink/proto/shm.h"

namespace imgsink::daemon {

struct ShmRegistry::Mapping {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data != nullptr) ::munmap(const_cast<uint8_t*>(data), size);
  }
};

ShmRegistry::ShmRegistry(SocketThread* socket, Options options)
    : socket_(socket), options_(std::move(options)) {}

ShmRegistry::~ShmRegistry() {
  for (const auto& [fd, conn] : conns_) ::close(fd);
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    ::close(listen_fds_[i]);
    ::unlink(paths_[i].c_str());
  }
}

Status ShmRegistry::Listen(const std::vector<std::string>& endpoints) {
  for (const std::string& endpoint : endpoints) {
    const std::string path = ShmSocketPath(endpoint);
    if (path.empty()) continue;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      LogWarning("no shared-memory hand-off for " + endpoint + ": the path is too long");
      continue;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return IoError(ErrorCode::kInternal, "socket", errno);
    // The ipc socket next to it was just bound by us (libzmq replaces a stale one the same way):
    // a side socket file left there is a killed daemon's.
    ::unlink(path.c_str());
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 64) != 0) {
      const int err = errno;
      ::close(fd);
      return IoError(ErrorCode::kInternal, "listen on " + path, err);
    }
    listen_fds_.push_back(fd);
    paths_.push_back(path);
    // Same access as the ipc socket: whoever may send saves may hand over segments.
    if (options_.ipc_mode >= 0) ::chmod(path.c_str(), mode_t(options_.ipc_mode));
    if (!options_.ipc_group.empty()) {
      if (struct group* g = ::getgrnam(options_.ipc_group.c_str())) {
        [[maybe_unused]] int r = ::chown(path.c_str(), uid_t(-1), g->gr_gid);
      }
    }
    // Watched from the socket thread (which may be running already): it owns the socket now.
    socket_->Post([this, fd] { socket_->Watch(fd, [this, fd] { OnAcceptable(fd); }); });
  }
  return Status::OK();
}

void ShmRegistry::OnAcceptable(int listen_fd) {
  socket_->AssertInSocketThread("ShmRegistry::OnAcceptable");
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a connection that went away already
    if (conns_.size() >= options_.max_clients) {
      Reply(fd, false, 0, 0, "too many shared-memory clients; use the frames");
      ::close(fd);
      continue;
    }
    conns_[fd] = Conn{};
    socket_->Watch(fd, [this, fd] { OnReadable(fd); });
  }
}

void ShmRegistry::OnReadable(int fd) {
  socket_->AssertInSocketThread("ShmRegistry::OnReadable");
  char hello[kShmHelloBytes + 8];
  iovec iov{hello, sizeof hello};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  // Every fd that came along is ours to close (a client may attach several).
  int memfd = -1;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int got;
      std::memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
      if (memfd < 0 && count == 1) {
        memfd = got;
      } else {
        ::close(got);
      }
    }
  }
  const bool keep = n > 0 && Register(fd, hello, n, memfd);
  if (memfd >= 0) ::close(memfd);  // the mapping (if any) keeps the segment
  if (!keep) Drop(fd);             // end of file (the client is gone), an error, a bad hello
}

bool ShmRegistry::Register(int fd, const char* hello, ssize_t n, int memfd) {
  Conn& conn = conns_[fd];
  auto refuse = [&](const std::string& reason) {
    LogInfo("shared-memory segment refused: " + reason);
    Reply(fd, false, 0, 0, reason);
    return false;
  };
  if (conn.mapping) return refuse("one hello per connection");
  if (n != ssize_t(kShmHelloBytes) || std::memcmp(hello, kShmMagic, 4) != 0) {
    return refuse("not a shared-memory hello");
  }
  if (uint8_t(hello[4]) != kShmVersion) return refuse("unsupported hello version");
  if (memfd < 0) return refuse("the hello carries no memfd (SCM_RIGHTS, exactly one fd)");
  // Only a memfd sealed against shrinking can be mapped safely: a shrink under our mapping
  // would turn the render's reads into SIGBUS.  F_GET_SEALS fails on anything but a memfd.
  const int seals = ::fcntl(memfd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    return refuse("the segment must be a memfd sealed with F_SEAL_SHRINK");
  }
  struct stat st;
  if (::fstat(memfd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
    return refuse("the segment is empty or not a memfd");
  }
  if (uint64_t(st.st_size) > options_.max_segment_bytes) {
    return refuse("the segment is larger than " + std::to_string(options_.max_segment_bytes) +
                  " bytes");
  }
  void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, memfd, 0);
  if (p == MAP_FAILED) return refuse(std::string("mmap: ") + std::strerror(errno));
  auto mapping = std::make_shared<Mapping>();
  mapping->data = static_cast<const uint8_t*>(p);
  mapping->size = size_t(st.st_size);
  uint64_t token = 0;
  while (token == 0 || fd_by_token_.count(token) != 0) {
    if (::getrandom(&token, sizeof token, 0) != ssize_t(sizeof token)) return refuse("getrandom");
  }
  conn.token = token;
  conn.mapping = std::move(mapping);
  fd_by_token_[token] = fd;
  Reply(fd, true, token, uint64_t(st.st_size), "");
  return true;
}

void ShmRegistry::Reply(int fd, bool ok, uint64_t token, uint64_t size,
                        const std::string& reason) {
  std::string reply(kShmReplyBytes, '\0');
  std::memcpy(&reply[0], kShmMagic, 4);
  reply[4] = char(kShmVersion);
  reply[5] = ok ? 0 : 1;
  for (int i = 0; i < 8; ++i) {
    reply[8 + i] = char(token >> (8 * i));
    reply[16 + i] = char(size >> (8 * i));
  }
  reply += reason.substr(0, 512);
  // One small datagram on a fresh connection: the socket buffer has room; a client that
  // does not read its reply only loses it.
  [[maybe_unused]] ssize_t sent = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void ShmRegistry::Drop(int fd) {
  const auto it = conns_.find(fd);
  if (it != conns_.end()) {
    if (it->second.token != 0) fd_by_token_.erase(it->second.token);
    conns_.erase(it);  // jobs still viewing the segment keep its mapping
  }
  socket_->Unwatch(fd);
  ::close(fd);
}

Status ShmRegistry::Resolve(uint64_t token, uint64_t offset, uint64_t size, Bytes* out) const {
  socket_->AssertInSocketThread("ShmRegistry::Resolve");
  const auto it = fd_by_token_.find(token);
  if (it == fd_by_token_.end()) {
    return Status(ErrorCode::kBadOption,
                  "shm: no shared-memory segment " + std::to_string(token) +
                      " (its side connection ended; send the tensor in the frame)");
  }
  const std::shared_ptr<const Mapping>& m = conns_.at(it->second).mapping;
  if (offset > m->size || size > m->size - offset) {
    return Status(ErrorCode::kBadOption, "shm: bytes [" + std::to_string(offset) + ", +" +
                                             std::to_string(size) + ") lie outside the " +
                                             std::to_string(m->size) + "-byte segment");
  }
  *out = Bytes{m->data + offset, size_t(size), m};
  return Status::OK();
}

}  // namespace imgsink::daemon
