#include "imgsink/proto/shm.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace imgsink {
namespace {

Status Errno(ErrorCode code, const std::string& what, int err) {
  return Status(code, what + ": " + std::strerror(err));
}

}  // namespace

std::string ShmSocketPath(const std::string& endpoint) {
  static const char kIpc[] = "ipc://";
  if (endpoint.rfind(kIpc, 0) != 0) return "";
  const std::string path = endpoint.substr(sizeof kIpc - 1);
  if (path.empty() || path[0] == '@') return "";
  return path + ".shm";
}

std::string WithShm(const std::string& header, uint64_t segment, uint64_t offset) {
  if (header.empty()) return "";
  const uint8_t first = uint8_t(header[0]);
  size_t n, skip;
  if (first >= 0x80 && first <= 0x8f) {
    n = first & 0x0f;
    skip = 1;
  } else if (first == 0xde && header.size() >= 3) {
    n = size_t(uint8_t(header[1])) << 8 | uint8_t(header[2]);
    skip = 3;
  } else {
    return "";
  }
  ++n;
  std::string out;
  if (n < 16) {
    out += char(0x80 | n);
  } else {
    out += char(0xde);
    out += char(n >> 8);
    out += char(n & 0xff);
  }
  out.append(header, skip, std::string::npos);
  out += "\xa3shm\x92";
  for (uint64_t v : {segment, offset}) {  // msgpack's shortest unsigned encoding
    if (v < 0x80) {
      out += char(v);
      continue;
    }
    int bytes;
    if (v <= 0xff) {
      out += char(0xcc), bytes = 1;
    } else if (v <= 0xffff) {
      out += char(0xcd), bytes = 2;
    } else if (v <= 0xffffffff) {
      out += char(0xce), bytes = 4;
    } else {
      out += char(0xcf), bytes = 8;
    }
    for (int i = bytes - 1; i >= 0; --i) out += char(v >> (8 * i));
  }
  return out;
}

ShmSegment::~ShmSegment() { Reset(); }

ShmSegment::ShmSegment(ShmSegment&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void ShmSegment::Reset() {
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  data_ = nullptr;
  size_ = 0;
}

Status ShmSegment::Create(size_t bytes, ShmSegment* out) {
  if (bytes == 0) return Status(ErrorCode::kBadOption, "a shared-memory segment needs a size");
  ShmSegment s;
  s.fd_ = ::memfd_create("imgsink-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (s.fd_ < 0) return Errno(ErrorCode::kInternal, "memfd_create", errno);
  if (::ftruncate(s.fd_, off_t(bytes)) != 0) return Errno(ErrorCode::kInternal, "ftruncate", errno);
  // The daemon maps the whole segment: a shrink would turn its reads into SIGBUS.
  if (::fcntl(s.fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return Errno(ErrorCode::kInternal, "sealing the memfd", errno);
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd_, 0);
  if (p == MAP_FAILED) return Errno(ErrorCode::kInternal, "mmap of the memfd", errno);
  s.data_ = static_cast<uint8_t*>(p);
  s.size_ = bytes;
  *out = std::move(s);
  return Status::OK();
}

Status ShmHello(const std::string& socket_path, int segment_fd, int timeout_ms, int* conn,
                uint64_t* token) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return Status(ErrorCode::kDisconnected, "no shared-memory side socket for this endpoint");
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(ErrorCode::kInternal, "socket", errno);
  auto fail = [fd](Status s) {
    ::close(fd);
    return s;
  };
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(Errno(ErrorCode::kDisconnected, "connect " + socket_path, errno));
  }
  char hello[kShmHelloBytes] = {kShmMagic[0], kShmMagic[1], kShmMagic[2], kShmMagic[3],
                                char(kShmVersion), 0, 0, 0};
  iovec iov{hello, sizeof hello};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &segment_fd, sizeof(int));
  if (::sendmsg(fd, &msg, MSG_NOSIGNAL) != ssize_t(sizeof hello)) {
    return fail(Errno(ErrorCode::kDisconnected, "sending the shared-memory hello", errno));
  }
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, timeout_ms);
  if (ready == 0) return fail(Status(ErrorCode::kTimeout, "no shared-memory reply in time"));
  char reply[kShmReplyBytes + 1024];
  const ssize_t n = ready < 0 ? -1 : ::recv(fd, reply, sizeof reply, 0);
  if (n < ssize_t(kShmReplyBytes) || std::memcmp(reply, kShmMagic, 4) != 0 ||
      uint8_t(reply[4]) != kShmVersion) {
    return fail(Status(ErrorCode::kDisconnected, "no valid shared-memory reply"));
  }
  if (reply[5] != 0) {
    return fail(Status(ErrorCode::kBadOption,
                       "the daemon refused the shared-memory segment: " +
                           std::string(reply + kShmReplyBytes, size_t(n) - kShmReplyBytes)));
  }
  uint64_t t = 0;
  for (int i = 7; i >= 0; --i) t = (t << 8) | uint8_t(reply[8 + i]);
  *token = t;
  *conn = fd;
  return Status::OK();
}

}  // namespace imgsink
