// daemon/socket/socket_thread: binding (ipc directories and permissions, tcp port resolution,
// errors), delivery to the handler on the socket thread, Send/Post from other threads, Stop's
// final flush, the timer, and the frame-size limit.
#include "daemon/socket/socket_thread.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "socket/socket_test_util.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using namespace sockettest;
using namespace std::chrono_literals;
using testutil::TempDir;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

// A started SocketThread recording into `inbox`.
struct Started {
  Inbox inbox;
  SocketThread* self = nullptr;
  SocketThread thread;
  Started(zmq::context_t* context, SocketOptions options,
          SocketThread::TimerHandler timer = nullptr)
      : thread(context, std::move(options), Recorder(&inbox, &self), std::move(timer)) {
    self = &thread;
    const Status s = thread.Start();
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
};

TEST_CASE("Start binds ipc endpoints, creating their directories private", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint("a/b/d.sock")};
  Started s(&context, options);
  CHECK(s.thread.bound_endpoints() == std::vector<std::string>{dir.Endpoint("a/b/d.sock")});
  CHECK((ModeOf(dir.File("a")) & 07777) == 0700);
  CHECK((ModeOf(dir.File("a/b")) & 07777) == 0700);
  CHECK(S_ISSOCK(ModeOf(dir.File("a/b/d.sock"))));
}

TEST_CASE("ipc_mode sets the socket file's mode and lets that group search the directories",
          "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint("run/d.sock")};
  options.ipc_mode = 0660;
  Started s(&context, options);
  CHECK((ModeOf(dir.File("run/d.sock")) & 07777) == 0660);
  CHECK((ModeOf(dir.File("run")) & 07777) == 0750);
}

// Issue 12 row 6: /tmp/imgsink-$UID pre-created 0777 by another user let that user swap the
// socket and receive a client's frames.
TEST_CASE("Start refuses an ipc directory others may write or another user owns", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint("shared/d.sock")};
  REQUIRE(::mkdir(dir.File("shared").c_str(), 0700) == 0);
  REQUIRE(::chmod(dir.File("shared").c_str(), 0777) == 0);  // as another user would leave it
  {
    SocketThread thread(&context, options, [](IncomingMessage&&) {});
    const Status s = thread.Start();
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK_THAT(s.message(), Catch::Contains("writable by others (mode 0777)"));
    CHECK(::access(dir.File("shared/d.sock").c_str(), F_OK) != 0);  // never bound
  }
  REQUIRE(::chmod(dir.File("shared").c_str(), 01777) == 0);  // sticky, as /tmp: others cannot swap
  {
    Started s(&context, options);
    CHECK(S_ISSOCK(ModeOf(dir.File("shared/d.sock"))));
  }
  if (::geteuid() == 0) {  // only root can give a directory away
    REQUIRE(::mkdir(dir.File("theirs").c_str(), 0755) == 0);
    REQUIRE(::chown(dir.File("theirs").c_str(), 65534, 65534) == 0);
    options.endpoints = {dir.Endpoint("theirs/d.sock")};
    SocketThread thread(&context, options, [](IncomingMessage&&) {});
    const Status s = thread.Start();
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK_THAT(s.message(), Catch::Contains("belongs to uid 65534"));
  }
}

TEST_CASE("tcp://127.0.0.1:* is reported with the port it got", "[socket]") {
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {"tcp://127.0.0.1:*"};
  Started s(&context, options);
  REQUIRE(s.thread.bound_endpoints().size() == 1);
  const std::string bound = s.thread.bound_endpoints()[0];
  const std::string prefix = "tcp://127.0.0.1:";
  REQUIRE(bound.rfind(prefix, 0) == 0);
  CHECK(std::stoi(bound.substr(prefix.size())) > 0);
  zmq::socket_t peer = Dealer(&context, bound, "tcp-peer");
  SendFrames(&peer, {"over tcp"});
  REQUIRE(s.inbox.WaitFor(1));
  CHECK(s.inbox.Get()[0].frames == std::vector<std::string>{"over tcp"});
}

TEST_CASE("Start reports bind failures", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SECTION("an endpoint ZeroMQ cannot bind") {
    SocketOptions options;
    options.endpoints = {"nosuchtransport://x"};
    SocketThread thread(&context, options, [](IncomingMessage&&) {});
    const Status s = thread.Start();
    CHECK(s.code() == ErrorCode::kInternal);
    CHECK(s.message().find("cannot listen") != std::string::npos);
  }
  SECTION("an ipc group that does not exist") {
    SocketOptions options;
    options.endpoints = {dir.Endpoint()};
    options.ipc_group = "imgsink-no-such-group";
    SocketThread thread(&context, options, [](IncomingMessage&&) {});
    const Status s = thread.Start();
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find("imgsink-no-such-group") != std::string::npos);
  }
}

TEST_CASE("Messages reach the handler on the socket thread, named by socket and routing id",
          "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  Started s(&context, options);
  CHECK_FALSE(s.thread.InSocketThread());
  zmq::socket_t peer = Dealer(&context, dir.Endpoint(), "peer-1");
  SendFrames(&peer, {"hello", "", "world"});
  REQUIRE(s.inbox.WaitFor(1));
  const Received got = s.inbox.Get()[0];
  CHECK(got.client == std::string(1, '\0') + "peer-1");  // socket 0: the plain ROUTER
  CHECK(got.frames == std::vector<std::string>{"hello", "", "world"});
  CHECK(got.on_socket_thread);
}

TEST_CASE("Send reaches only the client it names", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  Started s(&context, options);
  zmq::socket_t a = Dealer(&context, dir.Endpoint(), "a");
  zmq::socket_t b = Dealer(&context, dir.Endpoint(), "b");
  SendFrames(&a, {"from a"});
  SendFrames(&b, {"from b"});
  REQUIRE(s.inbox.WaitFor(2));
  std::string client_a;
  for (const Received& r : s.inbox.Get()) {
    if (r.frames[0] == "from a") client_a = r.client;
  }
  REQUIRE(client_a == std::string(1, '\0') + "a");
  // Frames for clients that are not there (or sockets that do not exist) are dropped.
  s.thread.Send(std::string(1, '\0') + "gone", "lost");
  s.thread.Send(std::string(1, '\5') + "a", "no socket 5");
  s.thread.Send("", "no client");
  s.thread.Send(client_a, "for a");
  std::string frame;
  REQUIRE(ReceiveOne(&a, &frame));
  CHECK(frame == "for a");
  CHECK_FALSE(ReceiveOne(&b, &frame, 300ms));
  CHECK_FALSE(ReceiveOne(&a, &frame, 100ms));
}

TEST_CASE("Post runs tasks on the socket thread, in order", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  Started s(&context, options);
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> off_thread{0};
  constexpr int kTasks = 100;
  std::thread poster([&] {
    for (int i = 0; i < kTasks; ++i) {
      s.thread.Post([&, i] {
        if (!s.thread.InSocketThread()) ++off_thread;
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      });
    }
  });
  poster.join();
  Inbox done;
  s.thread.Post([&] { done.Add(Received{}); });
  REQUIRE(done.WaitFor(1));
  std::vector<int> expected(kTasks);
  for (int i = 0; i < kTasks; ++i) expected[i] = i;
  std::lock_guard<std::mutex> lock(mu);
  CHECK(order == expected);
  CHECK(off_thread == 0);
}

TEST_CASE("Stop runs the queued tasks and delivers the frames they queue", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  zmq::socket_t peer = Dealer(&context, dir.Endpoint(), "p");
  std::string client;
  {
    Started s(&context, options);
    SendFrames(&peer, {"hi"});
    REQUIRE(s.inbox.WaitFor(1));
    client = s.inbox.Get()[0].client;
    bool ran = false;
    s.thread.Send(client, "queued before stop");
    s.thread.Post([&] {
      ran = true;
      s.thread.Send(client, "sent by a task during stop");
    });
    s.thread.Stop();
    CHECK(ran);
    s.thread.Stop();  // idempotent
  }
  std::string frame;
  REQUIRE(ReceiveOne(&peer, &frame));
  CHECK(frame == "queued before stop");
  REQUIRE(ReceiveOne(&peer, &frame));
  CHECK(frame == "sent by a task during stop");
}

TEST_CASE("The timer runs after a wake-up and again at the time it asked for", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  std::mutex mu;
  std::vector<SocketThread::Clock::time_point> calls;
  auto timer = [&](SocketThread::Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(now);
    // First call: come back in 100 ms; then: never.
    return calls.size() == 1 ? now + 100ms : SocketThread::Clock::time_point::max();
  };
  Started s(&context, options, timer);
  s.thread.Post([] {});  // the first wake-up
  const auto deadline = SocketThread::Clock::now() + kLong;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (calls.size() >= 2 || SocketThread::Clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(300ms);  // no third call: it asked for none and nothing arrived
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(calls.size() == 2);
  CHECK(calls[1] - calls[0] >= 100ms);
}

TEST_CASE("A frame over max_frame_bytes never reaches the handler", "[socket]") {
  TempDir dir("socket-test");
  zmq::context_t context;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  options.max_frame_bytes = 1024;
  Started s(&context, options);
  zmq::socket_t big = Dealer(&context, dir.Endpoint(), "big");
  zmq::socket_t small = Dealer(&context, dir.Endpoint(), "small");
  SendFrames(&big, {std::string(4096, 'x')});
  SendFrames(&small, {std::string(1024, 'y')});  // exactly the limit: allowed
  REQUIRE(s.inbox.WaitFor(1));
  std::this_thread::sleep_for(300ms);  // time for the big one to arrive, were it let through
  for (const Received& r : s.inbox.Get()) {
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0] == std::string(1024, 'y'));
  }
}

}  // namespace
}  // namespace imgsink::daemon
