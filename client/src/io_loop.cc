#include "io_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "imgsink/proto/codec.h"
#include "request_state.h"

namespace imgsink {
namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

// inproc names are per context, and each Client has its own context.
constexpr char kMonitorEndpoint[] = "inproc://imgsink-client-monitor";
constexpr int kMonitorEvents =
    ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED;
// Daemon frames are small maps; the decoder enforces the protocol's 64 KiB.  A larger bound
// here only stops a rogue peer from making libzmq allocate without limit.
constexpr int64_t kMaxIncomingFrameBytes = 1 << 20;
// ZMTP heartbeats notice a peer that vanished without closing the connection (tcp).
constexpr int kHeartbeatIvlMs = 1000;
constexpr int kHeartbeatTimeoutMs = 10000;

std::string ZmqError(const char* what) {
  return std::string(what) + ": " + zmq_strerror(zmq_errno());
}

Status SetOption(void* socket, int option, const void* value, size_t size, const char* name) {
  if (zmq_setsockopt(socket, option, value, size) != 0) {
    return Status(ErrorCode::kInternal, ZmqError(name));
  }
  return Status::OK();
}

Status ConfigureSocket(void* socket, const ClientOptions& options) {
  const int linger = static_cast<int>(
      std::min<int64_t>(options.linger.count(), std::numeric_limits<int>::max()));
  // IMMEDIATE: queue only on completed connections.  Without it libzmq accepts messages for an
  // endpoint nobody listens on and holds them (and borrowed buffers) indefinitely; with it a
  // send would block, so the loop keeps such messages itself and fails them after
  // connect_timeout, and messages of a lost connection are dropped instead of resent to a
  // daemon that may have restarted.
  const int immediate = 1;
  const int zero = 0;
  Status s = SetOption(socket, ZMQ_LINGER, &linger, sizeof linger, "ZMQ_LINGER");
  if (s.ok()) s = SetOption(socket, ZMQ_SNDHWM, &options.send_hwm, sizeof(int), "ZMQ_SNDHWM");
  if (s.ok()) s = SetOption(socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate, "ZMQ_IMMEDIATE");
  if (s.ok()) {
    s = SetOption(socket, ZMQ_MAXMSGSIZE, &kMaxIncomingFrameBytes, sizeof kMaxIncomingFrameBytes,
                  "ZMQ_MAXMSGSIZE");
  }
  if (s.ok()) {
    s = SetOption(socket, ZMQ_HEARTBEAT_IVL, &kHeartbeatIvlMs, sizeof(int), "ZMQ_HEARTBEAT_IVL");
  }
  if (s.ok()) {
    s = SetOption(socket, ZMQ_HEARTBEAT_TIMEOUT, &kHeartbeatTimeoutMs, sizeof(int),
                  "ZMQ_HEARTBEAT_TIMEOUT");
  }
  // Replies are never dropped for lack of room: the loop reads them as they come.
  if (s.ok()) s = SetOption(socket, ZMQ_RCVHWM, &zero, sizeof zero, "ZMQ_RCVHWM");
  return s;
}

}  // namespace

IoLoop::Handles::Handles(Handles&& other) noexcept
    : ctx(std::exchange(other.ctx, nullptr)),
      socket(std::exchange(other.socket, nullptr)),
      monitor(std::exchange(other.monitor, nullptr)),
      wake_fd(std::exchange(other.wake_fd, -1)) {}

IoLoop::Handles::~Handles() {
  CloseZmq();
  if (wake_fd >= 0) close(wake_fd);
}

void IoLoop::Handles::CloseZmq() {
  if (monitor != nullptr) zmq_close(monitor);
  if (socket != nullptr) zmq_close(socket);
  if (ctx != nullptr) {
    while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR) {
    }
  }
  monitor = socket = ctx = nullptr;
}

Status IoLoop::OpenHandles(const std::string& endpoint, const ClientOptions& options,
                           Handles* h) {
  h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->wake_fd < 0) return Status(ErrorCode::kInternal, std::string("eventfd: ") + strerror(errno));
  h->ctx = zmq_ctx_new();
  if (h->ctx == nullptr) return Status(ErrorCode::kInternal, ZmqError("zmq_ctx_new"));
  h->socket = zmq_socket(h->ctx, ZMQ_DEALER);
  if (h->socket == nullptr) return Status(ErrorCode::kInternal, ZmqError("zmq_socket"));
  Status s = ConfigureSocket(h->socket, options);
  if (!s.ok()) return s;
  // The monitor must exist before connect() so that no connection event is missed.
  if (zmq_socket_monitor(h->socket, kMonitorEndpoint, kMonitorEvents) != 0) {
    return Status(ErrorCode::kInternal, ZmqError("zmq_socket_monitor"));
  }
  h->monitor = zmq_socket(h->ctx, ZMQ_PAIR);
  const int zero = 0;
  if (h->monitor == nullptr ||
      zmq_setsockopt(h->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_connect(h->monitor, kMonitorEndpoint) != 0) {
    return Status(ErrorCode::kInternal, ZmqError("monitor socket"));
  }
  if (zmq_connect(h->socket, endpoint.c_str()) != 0) {
    return Status(ErrorCode::kBadOption,
                  "cannot connect to '" + endpoint + "': " + zmq_strerror(zmq_errno()));
  }
  return Status::OK();
}

Status IoLoop::Start(const std::string& endpoint, const ClientOptions& options,
                     std::unique_ptr<IoLoop>* loop) {
  Handles handles;
  Status s = OpenHandles(endpoint, options, &handles);
  if (!s.ok()) return s;
  // Handing the sockets to the new thread is safe: thread start is a full memory barrier.
  loop->reset(new IoLoop(endpoint, options, std::move(handles)));
  return Status::OK();
}

IoLoop::IoLoop(std::string endpoint, const ClientOptions& options, Handles&& handles)
    : endpoint_(std::move(endpoint)), options_(options), handles_(std::move(handles)),
      disconnected_since_(Clock::now()), thread_([this] { Run(); }) {}

IoLoop::~IoLoop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
}

void IoLoop::Submit(OutgoingMessage message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      submitted_.push_back(std::move(message));
      message.request = nullptr;
    }
  }
  if (message.request != nullptr) {
    message.request->Fail(Status(ErrorCode::kDisconnected, "the client is closing"));
    return;
  }
  Wake();
}

void IoLoop::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop is woken either way.
  if (write(handles_.wake_fd, &one, sizeof one) < 0) {
  }
}

void IoLoop::Run() {
  bool stopping = false;
  while (!stopping) {
    zmq_pollitem_t items[3] = {};
    items[0].socket = handles_.socket;
    items[0].events = static_cast<short>(ZMQ_POLLIN | (queue_.empty() ? 0 : ZMQ_POLLOUT));
    items[1].socket = handles_.monitor;
    items[1].events = ZMQ_POLLIN;
    items[2].fd = handles_.wake_fd;
    items[2].events = ZMQ_POLLIN;
    if (zmq_poll(items, 3, PollTimeoutMs(Clock::now())) < 0 && zmq_errno() != EINTR) break;
    if (items[2].revents != 0) {
      uint64_t count;
      if (read(handles_.wake_fd, &count, sizeof count) < 0) {
      }
      stopping = TakeSubmitted();
    }
    if (items[1].revents != 0) HandleMonitorEvents();
    if (items[0].revents & ZMQ_POLLIN) ReceiveAll();
    if (!stopping) {
      SendQueued();
      ExpireQueued(Clock::now());
    }
  }
  Shutdown();
}

bool IoLoop::TakeSubmitted() {
  std::vector<OutgoingMessage> taken;
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    taken.swap(submitted_);
    stopping = stopping_;
  }
  const auto now = Clock::now();
  for (OutgoingMessage& m : taken) {
    m.queued_at = now;
    queue_.push_back(std::move(m));
  }
  return stopping;
}

void IoLoop::SendQueued() {
  while (!queue_.empty()) {
    OutgoingMessage& m = queue_.front();
    const int more = m.has_payload ? ZMQ_SNDMORE : 0;
    if (zmq_send(handles_.socket, m.header.data(), m.header.size(), ZMQ_DONTWAIT | more) < 0) {
      if (zmq_errno() == EAGAIN) return;  // no connection or at the high-water mark
      m.request->Fail(Status(ErrorCode::kDisconnected, ZmqError("zmq_send")));
      queue_.pop_front();
      continue;
    }
    // libzmq takes the remaining parts of a started message without blocking.
    if (m.has_payload && zmq_msg_send(m.payload.get(), handles_.socket, ZMQ_DONTWAIT) < 0) {
      m.request->Fail(Status(ErrorCode::kInternal, ZmqError("zmq_msg_send (tensor frame)")));
      queue_.pop_front();
      continue;
    }
    connected_ = true;  // with ZMQ_IMMEDIATE, a send succeeds only on a live connection
    in_flight_[m.request->request_id()] = std::move(m.request);
    queue_.pop_front();
  }
}

void IoLoop::ReceiveAll() {
  while (true) {
    ZmqMessage frame;
    if (zmq_msg_recv(frame.get(), handles_.socket, ZMQ_DONTWAIT) < 0) return;
    if (zmq_msg_more(frame.get())) {
      // Daemon messages are one frame (PROTOCOL.md); drop a multipart message whole.
      do {
        if (zmq_msg_recv(frame.get(), handles_.socket, ZMQ_DONTWAIT) < 0) return;
      } while (zmq_msg_more(frame.get()));
      continue;
    }
    Dispatch(frame.data(), frame.size());
  }
}

void IoLoop::Dispatch(const void* data, size_t size) {
  ServerMessage message;
  if (!DecodeServerMessage(data, size, &message).ok()) return;  // nothing to match it to
  if (const Reply* reply = std::get_if<Reply>(&message)) {
    auto it = in_flight_.find(reply->request_id);
    if (it != in_flight_.end() && it->second->OnReply(*reply)) in_flight_.erase(it);
  } else if (const DoneEvent* done = std::get_if<DoneEvent>(&message)) {
    auto it = in_flight_.find(done->request_id);
    if (it != in_flight_.end()) {
      it->second->OnDone(*done);
      in_flight_.erase(it);
    }
  }
  // Ids we do not know belong to requests already failed (e.g. after a disconnection).
}

void IoLoop::HandleMonitorEvents() {
  while (true) {
    ZmqMessage head;
    if (zmq_msg_recv(head.get(), handles_.monitor, ZMQ_DONTWAIT) < 0) return;
    uint16_t event = 0;
    if (head.size() >= sizeof event) std::memcpy(&event, head.data(), sizeof event);
    while (zmq_msg_more(head.get())) {  // the endpoint frame
      if (zmq_msg_recv(head.get(), handles_.monitor, ZMQ_DONTWAIT) < 0) break;
    }
    if (event == ZMQ_EVENT_CONNECTED || event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      connected_ = true;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
      connected_ = false;
      disconnected_since_ = Clock::now();
      // With ZMQ_IMMEDIATE libzmq drops what it still held for that connection, and the daemon
      // cannot send us those done events any more.
      FailInFlight(Status(ErrorCode::kDisconnected,
                          "lost the connection to " + endpoint_ +
                              " before the job ended; the daemon may still write it"));
    }
  }
}

void IoLoop::ExpireQueued(Clock::time_point now) {
  while (!connected_ && !queue_.empty()) {
    const auto start = std::max(queue_.front().queued_at, disconnected_since_);
    if (now - start < options_.connect_timeout) return;
    queue_.front().request->Fail(Status(
        ErrorCode::kDisconnected, "no daemon reachable at " + endpoint_ + " within " +
                                      std::to_string(options_.connect_timeout.count()) + " ms"));
    queue_.pop_front();
  }
}

long IoLoop::PollTimeoutMs(Clock::time_point now) const {
  if (connected_ || queue_.empty()) return -1;
  const auto start = std::max(queue_.front().queued_at, disconnected_since_);
  const auto left = start + options_.connect_timeout - now;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<long>(std::max<int64_t>(ms, 0));
}

void IoLoop::FailInFlight(const Status& status) {
  // Take the map first: Fail() runs foreign code (waiters, the ledger) that must not see it.
  auto failed = std::move(in_flight_);
  in_flight_.clear();
  for (auto& entry : failed) entry.second->Fail(status);
}

void IoLoop::FailQueued(const Status& status) {
  for (OutgoingMessage& m : queue_) m.request->Fail(status);
  queue_.clear();  // closes the tensor frames: borrowed buffers are released here
}

void IoLoop::Shutdown() {
  {  // also reached if zmq_poll fails: from now on Submit fails requests itself
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  TakeSubmitted();
  FailQueued(Status(ErrorCode::kDisconnected, "the client closed before sending the request"));
  FailInFlight(Status(ErrorCode::kDisconnected,
                      "the client closed before the job ended; the daemon may still write it"));
  // Waits up to ZMQ_LINGER for libzmq to deliver what it holds, then drops (and releases) it.
  zmq_socket_monitor(handles_.socket, nullptr, 0);
  handles_.CloseZmq();
}

}  // namespace internal
}  // namespace imgsink
