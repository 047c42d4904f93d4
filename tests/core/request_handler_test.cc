// RequestHandler over a real SocketThread (inproc endpoint) and Pipeline (temp output root, no
// journal), driven by a DEALER client as the client library would: the credit rules as the
// handler applies them, the replies it sends, and its socket-thread assertion.
#include "daemon/core/request_handler.h"

#include <catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "imgsink/proto/codec.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::atomic<int> fixture_count{0};

class Fixture {
 public:
  explicit Fixture(std::chrono::milliseconds credit_ttl = 30000ms)
      : endpoint_("inproc://request-handler-test-" + std::to_string(fixture_count++)) {
    std::string dir = (fs::temp_directory_path() / "imgsink-handler-XXXXXX").string();
    REQUIRE(mkdtemp(dir.data()) != nullptr);
    dir_ = dir;
    SinkOptions sink_options;
    sink_options.root = dir_;
    sink_options.manifest = false;
    REQUIRE(OpenOutputSink(sink_options, &sink_).ok());
    Pipeline::Callbacks callbacks;  // as Server wires them: hand off to the socket thread
    callbacks.on_durable = [this](const std::shared_ptr<Job>& job) {
      socket_->Post([this, job] { handler_->Accepted(job); });
    };
    callbacks.on_held_changed = [this](const std::shared_ptr<Job>&, int64_t delta) {
      socket_->Post([this, delta] { handler_->AdjustHeld(delta); });
    };
    callbacks.on_done = [this](const std::shared_ptr<Job>& job, const Status& status) {
      socket_->Post([this, job, status] { handler_->Done(job, status); });
    };
    callbacks.on_journal_failed = [](const Status&) {};
    pipeline_ = std::make_unique<Pipeline>(Pipeline::Options(), sink_.get(), nullptr,
                                           &stats_, std::move(callbacks));
    SocketOptions socket_options;
    socket_options.endpoints = {endpoint_};
    socket_ = std::make_unique<SocketThread>(
        &context_, socket_options,
        [this](IncomingMessage&& msg) { handler_->OnMessage(std::move(msg)); },
        [this](SocketThread::Clock::time_point now) { return handler_->OnTimer(now); });
    RequestHandler::Options options;
    options.budgets.memory_bytes = 1000;
    options.budgets.credit_ttl = credit_ttl;
    RequestHandler::Parts parts;
    parts.socket = socket_.get();
    parts.pipeline = pipeline_.get();
    parts.stats = &stats_;
    parts.counters = [] { return std::map<std::string, uint64_t>{{"from_server", 7}}; };
    handler_ = std::make_unique<RequestHandler>(options, std::move(parts));
    REQUIRE(socket_->Start().ok());
    client_.connect(endpoint_);
  }

  ~Fixture() {
    client_.close();
    pipeline_->Drain();
    pipeline_->Join();
    socket_->Stop();  // runs the posted done events
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void Send(const ClientMessage& msg, const std::string* tensor = nullptr) {
    const std::string header = EncodeClientMessage(msg);
    client_.send(zmq::buffer(header), tensor ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (tensor) client_.send(zmq::buffer(*tensor), zmq::send_flags::none);
  }

  // The next message from the daemon (fails the test after 20 s).
  ServerMessage Receive() {
    zmq::pollitem_t item{client_.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, 20000ms) == 1);
    zmq::message_t frame;
    REQUIRE(client_.recv(frame, zmq::recv_flags::none));
    ServerMessage msg;
    REQUIRE(DecodeServerMessage(frame.data(), frame.size(), &msg).ok());
    return msg;
  }

  Reply ReceiveReply() {
    ServerMessage msg = Receive();
    REQUIRE(std::holds_alternative<Reply>(msg));
    return std::get<Reply>(std::move(msg));
  }

  Reply AskCredit(uint64_t request_id, uint64_t bytes) {
    CreditRequest req;
    req.request_id = request_id;
    req.bytes = bytes;
    req.policy = BusyPolicy::kError;
    Send(req);
    return ReceiveReply();
  }

  // Sends a save of a 2x2 uint8 image (4 tensor bytes) to `path`.
  void SendSave(uint64_t request_id, const std::string& path, std::string tensor = "\1\2\3\4") {
    SaveRequest req;
    req.request_id = request_id;
    req.dtype = DType::kUint8;
    req.layout = Layout::kHW;
    req.shape = {2, 2};
    req.path = path;
    Send(req, &tensor);
  }

  // Waits up to 20 s for the ledger's mirror in Stats to read `bytes`; returns true iff it did.
  bool WaitForMemoryBytes(uint64_t bytes) {
    for (int i = 0; i < 2000; ++i) {
      if (stats_.memory_bytes.load() == bytes) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  const Stats& stats() const { return stats_; }
  const Pipeline& pipeline() const { return *pipeline_; }
  RequestHandler& handler() { return *handler_; }
  SocketThread& socket() { return *socket_; }
  zmq::context_t& context() { return context_; }
  const std::string& endpoint() const { return endpoint_; }
  bool Exists(const std::string& rel) const { return fs::exists(dir_ + "/" + rel); }

 private:
  const std::string endpoint_;
  std::string dir_;
  zmq::context_t context_;
  std::unique_ptr<OutputSink> sink_;
  Stats stats_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<SocketThread> socket_;
  std::unique_ptr<RequestHandler> handler_;
  zmq::socket_t client_{context_, zmq::socket_type::dealer};
};

TEST_CASE("a save with credit is acked at once (no journal), written, and ends with a done event",
          "[core][request_handler]") {
  Fixture f;
  const Reply credit = f.AskCredit(1, 4);
  CHECK(credit.status.ok());
  CHECK(credit.credit == 4);
  CHECK(f.WaitForMemoryBytes(4));  // reserved
  f.SendSave(2, "a.png");
  const Reply ack = f.ReceiveReply();
  CHECK(ack.status.ok());
  CHECK(ack.request_id == 2);
  CHECK(ack.job_id == 1);
  ServerMessage done = f.Receive();
  REQUIRE(std::holds_alternative<DoneEvent>(done));
  CHECK(std::get<DoneEvent>(done).request_id == 2);
  CHECK(std::get<DoneEvent>(done).job_id == 1);
  CHECK(std::get<DoneEvent>(done).status.ok());
  CHECK(f.Exists("a.png"));
  CHECK(f.stats().accepted == 1);
  CHECK(f.WaitForMemoryBytes(0));  // the job ended: its bytes left the budget
}

TEST_CASE("a save without credit is refused with no_credit and never reaches the pipeline",
          "[core][request_handler]") {
  Fixture f;
  f.SendSave(1, "a.png");
  const Reply refused = f.ReceiveReply();
  CHECK(refused.request_id == 1);
  CHECK(refused.status.code() == ErrorCode::kNoCredit);
  // Credit for fewer bytes than the tensor does not let it through either, and is kept.
  REQUIRE(f.AskCredit(2, 3).credit == 3);
  f.SendSave(3, "a.png");
  CHECK(f.ReceiveReply().status.code() == ErrorCode::kNoCredit);
  CHECK(f.stats().memory_bytes == 3);
  CHECK(f.stats().accepted == 0);
  CHECK(f.pipeline().in_flight() == 0);
  CHECK(!f.Exists("a.png"));
}

TEST_CASE("credit over the budget is too large; credit the budget has no room for is busy",
          "[core][request_handler]") {
  Fixture f;  // a 1000-byte memory budget
  CHECK(f.AskCredit(1, 1001).status.code() == ErrorCode::kTooLarge);
  CHECK(f.AskCredit(2, 600).credit == 600);
  CHECK(f.AskCredit(3, 600).status.code() == ErrorCode::kBusy);
  CHECK(f.stats().busy == 1);
  CHECK(f.AskCredit(4, 400).credit == 400);
}

TEST_CASE("a save refused by validation uses up its credit and gives the bytes back to the budget",
          "[core][request_handler]") {
  Fixture f;
  REQUIRE(f.AskCredit(1, 4).credit == 4);
  f.SendSave(2, "../escape.png");
  const Reply refused = f.ReceiveReply();
  CHECK(refused.request_id == 2);
  CHECK(refused.status.code() == ErrorCode::kBadPath);
  CHECK(f.WaitForMemoryBytes(0));
  f.SendSave(3, "a.png");  // the credit was consumed by the refused save
  CHECK(f.ReceiveReply().status.code() == ErrorCode::kNoCredit);
  CHECK(f.stats().accepted == 0);
}

TEST_CASE("saves refused for lack of credit do not keep a client's unused credit alive",
          "[core][request_handler]") {
  Fixture f(200ms);  // unused credit goes back after 200 ms without the client using it
  REQUIRE(f.AskCredit(1, 4).credit == 4);
  // Keep sending saves too big for the credit, far more often than the TTL: were they counted
  // as activity, the credit would never expire.
  bool taken_back = false;
  const std::string too_big(5, '\0');
  for (uint64_t id = 2; id < 500 && !taken_back; ++id) {
    f.SendSave(id, "a.png", too_big);
    REQUIRE(f.ReceiveReply().status.code() == ErrorCode::kNoCredit);
    std::this_thread::sleep_for(20ms);
    taken_back = f.stats().memory_bytes == 0;
  }
  CHECK(taken_back);
  f.SendSave(1000, "a.png");
  CHECK(f.ReceiveReply().status.code() == ErrorCode::kNoCredit);
}

TEST_CASE("after StopAccepting, credit requests and saves are refused; a journal failure is named",
          "[core][request_handler]") {
  Fixture f;
  REQUIRE(f.AskCredit(1, 4).credit == 4);
  f.handler().StopAccepting(/*journal_failed=*/false);
  CHECK(f.AskCredit(2, 4).status.code() == ErrorCode::kShuttingDown);
  f.SendSave(3, "a.png");  // has credit, still refused
  CHECK(f.ReceiveReply().status.code() == ErrorCode::kShuttingDown);
  CHECK(f.WaitForMemoryBytes(0));
  f.handler().StopAccepting(/*journal_failed=*/true);
  CHECK(f.AskCredit(4, 4).status.code() == ErrorCode::kJournalFailed);
  f.handler().StopAccepting(/*journal_failed=*/false);  // a journal failure is not forgotten
  CHECK(f.AskCredit(5, 4).status.code() == ErrorCode::kJournalFailed);
  CHECK(f.stats().accepted == 0);
  CHECK(!f.Exists("a.png"));
}

TEST_CASE("a status reply has the server's counters", "[core][request_handler]") {
  Fixture f;
  StatusRequest req;
  req.request_id = 9;
  f.Send(req);
  const Reply reply = f.ReceiveReply();
  CHECK(reply.status.ok());
  CHECK(reply.request_id == 9);
  CHECK(reply.counters.at("from_server") == 7);
}

// Issue 12, row 8: 2000 clients with a job in flight made a 72 KB status reply, over the
// 64 KiB clients accept.  Row 13: status showed the first 8 bytes of every routing id.
TEST_CASE("a status reply stays small whatever the number of clients, and shows no routing id",
          "[core][request_handler]") {
  Fixture f;
  std::atomic<bool> added{false};
  f.socket().Post([&] {
    for (int i = 0; i < 2000; ++i) {
      f.handler().AddReplayed(std::string(1, '\0') + "secret-routing-id-" + std::to_string(i), 0);
    }
    added = true;
  });
  zmq::socket_t client(f.context(), zmq::socket_type::dealer);
  client.set(zmq::sockopt::routing_id, "ABCDEFGH");  // 8 bytes: once shown whole
  client.connect(f.endpoint());
  StatusRequest req;
  req.request_id = 1;
  const std::string header = EncodeClientMessage(req);
  while (!added) std::this_thread::sleep_for(1ms);
  client.send(zmq::buffer(header), zmq::send_flags::none);
  zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, 20000ms) == 1);
  zmq::message_t frame;
  REQUIRE(client.recv(frame, zmq::recv_flags::none));
  CHECK(frame.size() < 16 * 1024);  // clients accept 64 KiB
  ServerMessage msg;
  REQUIRE(DecodeServerMessage(frame.data(), frame.size(), &msg).ok());
  const Reply& reply = std::get<Reply>(msg);
  CHECK(f.stats().clients_in_flight == 2000);  // served with the daemon-wide counters
  CHECK(reply.counters.at("clients_not_shown") == 2000 - 64);
  size_t shown = 0;
  for (const auto& [key, value] : reply.counters) {
    if (key.rfind("client.p", 0) == 0) ++shown;
    CHECK(key.find("7365") == std::string::npos);  // "se" of "secret" in hex
    CHECK(key.find("4142") == std::string::npos);  // "AB"
    CHECK(key.find("secret") == std::string::npos);
  }
  CHECK(shown == 64);
  const std::string raw(static_cast<const char*>(frame.data()), frame.size());
  CHECK(raw.find("secret") == std::string::npos);
  CHECK(raw.find("ABCD") == std::string::npos);
}

// Issue 12, row 2: a DEALER sent 2 M status requests and never read; the daemon's RSS grew
// without bound (sndhwm 0).  Now its replies beyond the send HWM are dropped and counted.
TEST_CASE("a client that never reads gets its replies dropped, others are served",
          "[core][request_handler]") {
  Fixture f;
  zmq::socket_t flood(f.context(), zmq::socket_type::dealer);
  flood.set(zmq::sockopt::rcvhwm, 10);
  flood.connect(f.endpoint());
  StatusRequest req;
  const std::string header = EncodeClientMessage(req);
  for (int i = 0; i < 6000; ++i) flood.send(zmq::buffer(header), zmq::send_flags::none);
  bool dropped = false;
  for (int i = 0; i < 2000 && !dropped; ++i) {
    dropped = f.socket().replies_dropped() >= 6000 - 2 * 1000 - 10;  // send + receive HWMs
    if (!dropped) std::this_thread::sleep_for(10ms);
  }
  CHECK(dropped);
  CHECK(f.AskCredit(1, 4).credit == 4);  // the reading client is still answered
}

// Issue 12, row 1: 24 tensor bytes with padding 5000 rendered 450 MB canvases on 96 bytes of
// credit.  The save is charged its rendered size, refused when that can never fit.
TEST_CASE("a save is charged its rendered bytes; one that can never fit is too large",
          "[core][request_handler]") {
  Fixture f;  // a 1000-byte memory budget
  REQUIRE(f.AskCredit(1, 24).credit == 24);
  SaveRequest req;
  req.request_id = 2;
  req.dtype = DType::kUint8;
  req.layout = Layout::kNCHW;
  req.shape = {2, 3, 2, 2};
  req.path = "grid.png";
  req.render.padding = 5000;
  const std::string tensor(24, '\7');
  f.Send(req, &tensor);
  const Reply refused = f.ReceiveReply();
  CHECK(refused.status.code() == ErrorCode::kTooLarge);
  CHECK(refused.status.message().find("rendering this save needs") != std::string::npos);
  CHECK(f.WaitForMemoryBytes(0));
  CHECK(f.pipeline().in_flight() == 0);
  CHECK(!f.Exists("grid.png"));
  // With padding 2 the canvas (10 x 6 x 3 bytes, plus encode room) fits: charged while it runs.
  REQUIRE(f.AskCredit(3, 24).credit == 24);
  req.request_id = 4;
  req.render.padding = 2;
  f.Send(req, &tensor);
  CHECK(f.ReceiveReply().status.ok());
  CHECK(std::holds_alternative<DoneEvent>(f.Receive()));
  CHECK(f.Exists("grid.png"));
  CHECK(f.WaitForMemoryBytes(0));
}

TEST_CASE("a socket-thread method called from another thread aborts, naming the method",
          "[core][request_handler]") {
  Fixture f;
  CHECK_FALSE(f.socket().InSocketThread());
  int err[2];
  REQUIRE(pipe(err) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child: this (test) thread is not the socket thread
    signal(SIGABRT, SIG_DFL);  // not Catch's handler: die as the daemon would
    dup2(err[1], 2);
    f.handler().OnTimer(SocketThread::Clock::now());
    _exit(0);  // not reached unless the check is missing
  }
  close(err[1]);
  std::string message;
  char buf[256];
  for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;) message.append(buf, size_t(n));
  close(err[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(message.find("RequestHandler::OnTimer must run on the socket thread") != std::string::npos);
}

}  // namespace
}  // namespace imgsink::daemon
