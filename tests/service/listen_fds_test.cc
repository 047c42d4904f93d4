// listen_fds: naming inherited listening sockets as ZeroMQ endpoints.  (Taking them from
// LISTEN_FDS end to end is tests/integration/test_service.py, with systemd-socket-activate.)
#include <catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/service/listen_fds.h"

namespace imgsink::daemon {
namespace {

// A socket closed at scope exit.
struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

TEST_CASE("EndpointOfSocket names unix, IPv4 and IPv6 listening sockets", "[listen_fds]") {
  char dir_template[] = "/tmp/imgsink-listen-fds-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/d.sock";
  {
    Fd s{::socket(AF_UNIX, SOCK_STREAM, 0)};
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strncpy(un.sun_path, path.c_str(), sizeof un.sun_path - 1);
    REQUIRE(::bind(s.fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
    CHECK(EndpointOfSocket(s.fd) == "ipc://" + path);
  }
  ::unlink(path.c_str());
  ::rmdir(dir_template);

  Fd v4{::socket(AF_INET, SOCK_STREAM, 0)};
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(v4.fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
  socklen_t length = sizeof in;
  REQUIRE(::getsockname(v4.fd, reinterpret_cast<sockaddr*>(&in), &length) == 0);
  CHECK(EndpointOfSocket(v4.fd) == "tcp://127.0.0.1:" + std::to_string(ntohs(in.sin_port)));

  Fd v6{::socket(AF_INET6, SOCK_STREAM, 0)};
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = in6addr_loopback;
  if (v6.fd >= 0 && ::bind(v6.fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6) == 0) {
    length = sizeof in6;
    REQUIRE(::getsockname(v6.fd, reinterpret_cast<sockaddr*>(&in6), &length) == 0);
    CHECK(EndpointOfSocket(v6.fd) == "tcp://[::1]:" + std::to_string(ntohs(in6.sin6_port)));
  }
}

TEST_CASE("EndpointOfSocket refuses what ZeroMQ cannot bind", "[listen_fds]") {
  Fd unnamed{::socket(AF_UNIX, SOCK_STREAM, 0)};
  CHECK(EndpointOfSocket(unnamed.fd).empty());
  Fd abstract{::socket(AF_UNIX, SOCK_STREAM, 0)};
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, "\0imgsink-test", 13);
  REQUIRE(::bind(abstract.fd, reinterpret_cast<sockaddr*>(&un),
                 socklen_t(offsetof(sockaddr_un, sun_path) + 13)) == 0);
  CHECK(EndpointOfSocket(abstract.fd).empty());
  CHECK(EndpointOfSocket(-1).empty());
}

TEST_CASE("TakeInheritedSockets without LISTEN_FDS takes nothing", "[listen_fds]") {
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  std::vector<InheritedSocket> sockets{{7, "stale"}};
  REQUIRE(TakeInheritedSockets(&sockets).ok());
  CHECK(sockets.empty());
}

TEST_CASE("TakeInheritedSockets refuses an fd that is not a listening stream socket",
          "[listen_fds]") {
  // Put a non-listening datagram socket at fd 3 (SD_LISTEN_FDS_START) for the duration.
  const int saved = ::dup(3);  // -1 if fd 3 was not open
  Fd dgram{::socket(AF_UNIX, SOCK_DGRAM, 0)};
  REQUIRE(::dup2(dgram.fd, 3) == 3);
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  std::vector<InheritedSocket> sockets;
  const Status s = TakeInheritedSockets(&sockets);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("inherited fd 3 is not a listening stream socket") != std::string::npos);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);  // unset for children
  if (saved >= 0) {
    ::dup2(saved, 3);
    ::close(saved);
  } else {
    ::close(3);
  }
}

}  // namespace
}  // namespace imgsink::daemon
