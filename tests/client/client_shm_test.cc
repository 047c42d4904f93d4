// The C++ client's shared-memory hand-off (PROTOCOL.md "Shared-memory hand-off"): against a
// stub side socket and the FakeDaemon, a kCopy save goes as `shm` = [token, offset] with an
// empty frame and the bytes in the registered memfd; the region stays lent until the done event;
// kBorrow, shared_memory = false and a daemon without a side socket use the frames.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch.hpp>
#include <cstring>
#include <thread>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "imgsink/proto/shm.h"
#include "test_util.h"

namespace imgsink {
namespace {

using test::FakeDaemon;
using test::kLong;
using test::ReceivedRequest;
using test::TempDir;
using test::Uint8Image;

constexpr uint64_t kToken = 0x1122334455667788;

// The daemon's half of the side socket, for one client: takes the memfd, maps it, answers
// with kToken, and keeps the connection until destroyed.
class SideSocketStub {
 public:
  explicit SideSocketStub(const std::string& path) {
    listen_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    REQUIRE(::bind(listen_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_, 4) == 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SideSocketStub() {
    ::shutdown(listen_, SHUT_RDWR);
    thread_.join();
    if (conn_ >= 0) ::close(conn_);
    ::close(listen_);
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  // Returns the mapped segment once a hello arrived (null after kLong without one).
  const uint8_t* WaitForSegment() {
    for (int i = 0; i < 20000 && !ready_; ++i) usleep(1000);
    return ready_ ? static_cast<const uint8_t*>(data_) : nullptr;
  }
  int seals() const { return seals_; }

 private:
  void Serve() {
    pollfd p{listen_, POLLIN, 0};
    if (::poll(&p, 1, 20000) <= 0 || !(p.revents & POLLIN)) return;
    conn_ = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_ < 0) return;
    char hello[8];
    iovec iov{hello, sizeof hello};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(conn_, &msg, 0) != 8) return;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    if (cm == nullptr || cm->cmsg_type != SCM_RIGHTS) return;
    int fd;
    std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    seals_ = ::fcntl(fd, F_GET_SEALS);
    struct stat st;
    ::fstat(fd, &st);
    size_ = size_t(st.st_size);
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    std::string reply(kShmReplyBytes, '\0');
    std::memcpy(&reply[0], kShmMagic, 4);
    reply[4] = char(kShmVersion);
    for (int i = 0; i < 8; ++i) reply[8 + i] = char(kToken >> (8 * i));
    ::send(conn_, reply.data(), reply.size(), MSG_NOSIGNAL);
    ready_ = true;
  }

  int listen_ = -1, conn_ = -1;
  void* data_ = nullptr;
  size_t size_ = 0;
  int seals_ = 0;
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

const SaveRequest& SaveOf(const ReceivedRequest& r) { return std::get<SaveRequest>(r.message); }

TEST_CASE("kCopy saves go as shared-memory regions, lent until their done event", "[client][shm]") {
  TempDir dir;
  const std::string endpoint = dir.Endpoint();
  SideSocketStub side(ShmSocketPath(endpoint));
  FakeDaemon daemon(endpoint, FakeDaemon::AcceptAndHold);
  auto client = test::OpenClient(endpoint, ClientOptions());
  Uint8Image a(64, 64, 1), b(64, 64, 2);
  Job ja = client->save_image(a.view, "a.png");
  Job jb = client->save_image(b.view, "b.png");
  REQUIRE(daemon.WaitForRequests(2, kLong));
  const uint8_t* segment = side.WaitForSegment();
  REQUIRE(segment != nullptr);
  CHECK((side.seals() & F_SEAL_SHRINK) != 0);
  std::vector<ReceivedRequest> got = daemon.received();
  REQUIRE(got.size() == 2);
  uint64_t offsets[2];
  const Uint8Image* images[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    INFO("save " << i);
    REQUIRE(got[i].decode_status.ok());
    CHECK(got[i].frames == 2);
    CHECK(got[i].payload.empty());  // only the header crossed the socket
    const SaveRequest& save = SaveOf(got[i]);
    REQUIRE(save.shm.has_value());
    CHECK(save.shm->segment == kToken);
    offsets[i] = save.shm->offset;
    CHECK(std::memcmp(segment + offsets[i], images[i]->bytes.data(), images[i]->bytes.size()) == 0);
  }
  CHECK(offsets[0] != offsets[1]);  // both lent at once
  daemon.ReleaseHeld();
  REQUIRE(ja.wait(kLong).ok());
  REQUIRE(jb.wait(kLong).ok());
  // Both regions came back at their done events: the next copy reuses the first one.
  Uint8Image c(64, 64, 3);
  Job jc = client->save_image(c.view, "c.png");
  REQUIRE(daemon.WaitForRequests(3, kLong));
  got = daemon.received();
  REQUIRE(SaveOf(got[2]).shm.has_value());
  CHECK(SaveOf(got[2]).shm->offset == std::min(offsets[0], offsets[1]));
  daemon.ReleaseHeld();
  CHECK(jc.wait(kLong).ok());
}

TEST_CASE("a save sent later (socket full, EAGAIN) carries shm once", "[client][shm]") {
  TempDir dir;
  const std::string endpoint = dir.Endpoint();
  SideSocketStub side(ShmSocketPath(endpoint));
  FakeDaemon daemon(endpoint);
  ClientOptions options;
  options.send_hwm = 1;  // most sends find the pipe full and are tried again
  auto client = test::OpenClient(endpoint, options);
  Uint8Image a(32, 32, 1);
  std::vector<Job> jobs;
  for (int i = 0; i < 40; ++i) jobs.push_back(client->save_image(a.view, "a.png"));
  for (Job& job : jobs) CHECK(job.wait(kLong).ok());
  for (const ReceivedRequest& r : daemon.received()) {
    REQUIRE(r.decode_status.ok());  // a duplicated shm key would be bad_request
    CHECK(SaveOf(r).shm.has_value());
  }
}

TEST_CASE("kBorrow, shared_memory = false and a daemon without side socket use the frames",
          "[client][shm]") {
  TempDir dir;
  const std::string endpoint = dir.Endpoint();
  FakeDaemon daemon(endpoint);
  Uint8Image a(8, 8, 1);
  std::vector<Job> jobs;
  {
    auto client = test::OpenClient(endpoint, ClientOptions());  // no side socket here
    jobs.push_back(client->save_image(a.view, "a.png"));
    REQUIRE(jobs.back().wait(kLong).ok());
  }
  SideSocketStub side(ShmSocketPath(endpoint));
  {
    ClientOptions off;
    off.shared_memory = false;
    auto client = test::OpenClient(endpoint, off);
    jobs.push_back(client->save_image(a.view, "b.png"));
    REQUIRE(jobs.back().wait(kLong).ok());
  }
  {
    auto client = test::OpenClient(endpoint, ClientOptions());
    SaveOptions borrow;
    borrow.ownership = Ownership::kBorrow;
    jobs.push_back(client->save_image(a.view, "c.png", borrow));
    REQUIRE(jobs.back().wait(kLong).ok());
  }
  const std::vector<ReceivedRequest> got = daemon.received();
  REQUIRE(got.size() == 3);
  for (const ReceivedRequest& r : got) {
    CHECK_FALSE(SaveOf(r).shm.has_value());
    CHECK(r.payload == a.AsString());
  }
}

}  // namespace
}  // namespace imgsink
