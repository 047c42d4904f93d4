#include "daemon/service/listen_fds.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstddef>
#include <cstring>

#include "daemon/env/io_error.h"

namespace imgsink::daemon {

std::string EndpointOfSocket(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
    const size_t path_length = length - offsetof(sockaddr_un, sun_path);
    if (path_length == 0 || un->sun_path[0] == '\0') return "";  // unnamed or abstract
    return "ipc://" + std::string(un->sun_path, strnlen(un->sun_path, path_length));
  }
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) == nullptr) return "";
    return "tcp://" + std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == nullptr) return "";
    return "tcp://[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "";
}

Status TakeInheritedSockets(std::vector<InheritedSocket>* sockets) {
  sockets->clear();
  const int count = sd_listen_fds(/*unset_environment=*/1);
  if (count < 0) {
    return IoError(ErrorCode::kBadOption, "socket activation", -count);
  }
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
    const std::string name = "socket activation: inherited fd " + std::to_string(fd);
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, /*listening=*/1) <= 0) {
      return Status(ErrorCode::kBadOption,
                    name + " is not a listening stream socket (use ListenStream=)");
    }
    InheritedSocket socket{fd, EndpointOfSocket(fd)};
    if (socket.endpoint.empty()) {
      return Status(ErrorCode::kBadOption,
                    name + " has no address ZeroMQ can bind (a unix socket path, or IPv4/IPv6)");
    }
    sockets->push_back(std::move(socket));
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
