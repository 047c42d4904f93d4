// daemon/socket/shm_registry + imgsink/proto/shm.h: the side socket's hello (sealed memfd
// accepted, anything else refused with a reason), Resolve's bounds, and the segment's lifetime
// (forgotten when the side connection ends, unmapped when the last view goes).
#include "daemon/socket/shm_registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch.hpp>
#include <cstring>
#include <fstream>
#include <future>
#include <string>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/shm.h"
#include "socket/socket_test_util.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using namespace sockettest;
using testutil::TempDir;

// Mappings of our memfds in this process ("/memfd:imgsink-shm (deleted)" in /proc/self/maps).
int MappedSegments() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:imgsink-shm") != std::string::npos) ++n;
  }
  return n;
}

// A socket thread with a registry listening next to its ipc endpoint.
struct Daemon {
  TempDir dir{"shm-test"};
  zmq::context_t context;
  Inbox inbox;
  SocketThread* self = nullptr;
  std::unique_ptr<ShmRegistry> registry;
  std::unique_ptr<SocketThread> thread;
  std::string endpoint = dir.Endpoint("run/d.sock");

  explicit Daemon(ShmRegistry::Options options = {}) {
    SocketOptions so;
    so.endpoints = {endpoint};
    thread = std::make_unique<SocketThread>(&context, so, Recorder(&inbox, &self));
    self = thread.get();
    registry = std::make_unique<ShmRegistry>(thread.get(), options);
    REQUIRE(thread->Start().ok());
    REQUIRE(registry->Listen({endpoint}).ok());
  }
  ~Daemon() { thread->Stop(); }

  // Runs `fn` on the socket thread and returns its result.
  template <typename F>
  auto OnSocket(F fn) -> decltype(fn()) {
    std::promise<decltype(fn())> done;
    thread->Post([&] { done.set_value(fn()); });
    return done.get_future().get();
  }
  Status Resolve(uint64_t token, uint64_t offset, uint64_t size, Bytes* out) {
    return OnSocket([&] { return registry->Resolve(token, offset, size, out); });
  }
  size_t Segments() {
    return OnSocket([&] { return registry->segments(); });
  }
};

TEST_CASE("ShmSocketPath: the ipc socket file plus .shm; none for tcp and abstract", "[shm]") {
  CHECK(ShmSocketPath("ipc:///run/imgsink/d.sock") == "/run/imgsink/d.sock.shm");
  CHECK(ShmSocketPath("ipc://rel/d.sock") == "rel/d.sock.shm");
  CHECK(ShmSocketPath("ipc://@abstract").empty());
  CHECK(ShmSocketPath("tcp://127.0.0.1:5555").empty());
  CHECK(ShmSocketPath("ipc://").empty());
}

TEST_CASE("WithShm appends shm to an encoded save: the canonical encoding with shm set",
          "[shm]") {
  SaveRequest r;
  r.request_id = 9;
  r.shape = {1, 3, 4, 4};
  r.path = "a.png";
  for (int extra : {0, 8, 12}) {  // 7 keys (fixmap), 15 -> 16 (map16), 19
    INFO(extra << " optional keys");
    if (extra >= 8) {
      r.render.nrow = 3, r.render.padding = 0, r.render.pad_value = 0.5;
      r.render.normalize = true, r.render.scale_each = true, r.render.keep_gray = true;
      r.png.compress_level = 0, r.jpeg.quality = 9;
    }
    if (extra >= 12) r.metadata = {{"k", "v"}}, r.policy = BusyPolicy::kDrop,
                     r.block_timeout_ms = 1, r.webp.quality = 1;
    for (const ShmRef ref : {ShmRef{1, 0}, ShmRef{300, 70000}, ShmRef{UINT64_MAX, 1u << 31}}) {
      SaveRequest with = r;
      with.shm = ref;
      CHECK(WithShm(EncodeClientMessage(r), ref.segment, ref.offset) ==
            EncodeClientMessage(with));
    }
  }
  CHECK(WithShm("", 1, 2).empty());
  CHECK(WithShm("\x93\x01\x02\x03", 1, 2).empty());  // an array, not a map
}

TEST_CASE("a sealed memfd is registered and read in place through its token", "[shm]") {
  Daemon d;
  REQUIRE(d.registry->paths() == std::vector<std::string>{d.dir.File("run/d.sock.shm")});
  ShmSegment seg;
  REQUIRE(ShmSegment::Create(1 << 20, &seg).ok());
  for (size_t i = 0; i < seg.size(); ++i) seg.data()[i] = uint8_t(i * 7);
  int conn = -1;
  uint64_t token = 0;
  const Status s = ShmHello(ShmSocketPath(d.endpoint), seg.fd(), 5000, &conn, &token);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(token != 0);
  CHECK(d.Segments() == 1);

  Bytes view;
  REQUIRE(d.Resolve(token, 4096, 1000, &view).ok());
  REQUIRE(view.size == 1000);
  CHECK(std::memcmp(view.data, seg.data() + 4096, 1000) == 0);
  // Read in place: a write by the client is what the daemon sees (no copy was made).
  seg.data()[4096] ^= 0xff;
  CHECK(view.data[0] == seg.data()[4096]);

  Bytes whole;
  CHECK(d.Resolve(token, 0, seg.size(), &whole).ok());
  CHECK(d.Resolve(token, 1, seg.size(), &whole).code() == ErrorCode::kBadOption);
  CHECK(d.Resolve(token, seg.size() + 1, 0, &whole).code() == ErrorCode::kBadOption);
  CHECK(d.Resolve(token, UINT64_MAX, 2, &whole).code() == ErrorCode::kBadOption);
  CHECK(d.Resolve(token + 1, 0, 1, &whole).code() == ErrorCode::kBadOption);
  ::close(conn);
}

TEST_CASE("the segment is forgotten when the side connection ends and unmapped with its last "
          "view", "[shm]") {
  Daemon d;
  const int before = MappedSegments();
  Bytes view;
  uint64_t token = 0;
  {
    ShmSegment seg;
    REQUIRE(ShmSegment::Create(64 << 10, &seg).ok());
    std::memset(seg.data(), 0x5a, seg.size());
    int conn = -1;
    REQUIRE(ShmHello(ShmSocketPath(d.endpoint), seg.fd(), 5000, &conn, &token).ok());
    REQUIRE(d.Resolve(token, 0, 100, &view).ok());
    CHECK(MappedSegments() == before + 2);  // ours and the registry's
    ::close(conn);  // what a kill -9 of the client does too
  }
  // The registry notices the end of file on its next poll.
  for (int i = 0; i < 2000 && d.Segments() != 0; ++i) usleep(1000);
  CHECK(d.Segments() == 0);
  Bytes again;
  CHECK(d.Resolve(token, 0, 100, &again).code() == ErrorCode::kBadOption);
  // A job still viewing it keeps the bytes readable after the client unmapped and closed.
  CHECK(MappedSegments() == before + 1);
  CHECK(view.data[99] == 0x5a);
  view = Bytes();
  CHECK(MappedSegments() == before);
}

TEST_CASE("hellos without a memfd sealed against shrinking are refused with a reason", "[shm]") {
  Daemon d;
  int conn = -1;
  uint64_t token = 0;
  SECTION("an unsealed memfd") {
    const int fd = ::memfd_create("imgsink-test", MFD_CLOEXEC);
    REQUIRE(::ftruncate(fd, 4096) == 0);
    const Status s = ShmHello(ShmSocketPath(d.endpoint), fd, 5000, &conn, &token);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find("F_SEAL_SHRINK") != std::string::npos);
    ::close(fd);
  }
  SECTION("a pipe") {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    const Status s = ShmHello(ShmSocketPath(d.endpoint), p[0], 5000, &conn, &token);
    CHECK(s.code() == ErrorCode::kBadOption);
    ::close(p[0]);
    ::close(p[1]);
  }
  SECTION("a segment over the size limit") {
    Daemon small(ShmRegistry::Options{8192, 16, -1, ""});
    ShmSegment seg;
    REQUIRE(ShmSegment::Create(16384, &seg).ok());
    const Status s = ShmHello(ShmSocketPath(small.endpoint), seg.fd(), 5000, &conn, &token);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find("larger than 8192") != std::string::npos);
  }
  CHECK(d.Segments() == 0);
}

TEST_CASE("no side socket: ShmHello says disconnected (the client then uses the frames)",
          "[shm]") {
  TempDir dir("shm-test");
  ShmSegment seg;
  REQUIRE(ShmSegment::Create(4096, &seg).ok());
  int conn = -1;
  uint64_t token = 0;
  CHECK(ShmHello(dir.File("none.sock.shm"), seg.fd(), 1000, &conn, &token).code() ==
        ErrorCode::kDisconnected);
  CHECK(ShmHello("", seg.fd(), 1000, &conn, &token).code() == ErrorCode::kDisconnected);
}

}  // namespace
}  // namespace imgsink::daemon
