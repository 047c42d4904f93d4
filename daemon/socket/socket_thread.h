// SocketThread: the one thread that owns the daemon's ZeroMQ ROUTER socket.
//
// Threading contract (muduo style): only the socket thread ever touches the ROUTER sockets.  Other
// threads hand outgoing frames to it through Send(), which appends to a mutex-protected queue and
// writes an eventfd; the socket thread polls the socket and the eventfd together (zmq_poll) and
// drains the queue.  Incoming messages are handed to the MessageHandler on the socket thread, so
// the handler must be quick (decode, validate, enqueue) and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

// One message from a client and its frames (identity frame removed).  `client` names the peer
// for Send(): one byte for the ROUTER socket it came in on, then its routing id.
struct IncomingMessage {
  std::string client;
  std::vector<zmq::message_t> frames;
};

struct SocketOptions {
  // Endpoints of the plain ROUTER (ipc://, and tcp:// only when allowed without security).
  std::vector<std::string> endpoints;
  // Endpoints of the CURVE ROUTER (tcp://), which only admits clients whose public key the
  // ZAP handler knows (see zap_handler.h).  REQUIRES: curve_secret_key set if non-empty.
  std::vector<std::string> curve_endpoints;
  std::string curve_secret_key;  // Z85, 40 characters
  // ZMQ_MAXMSGSIZE: a larger frame drops the peer's connection before it is received whole.
  // The daemon sets it to what the largest credit could cover plus the header (issue 12, row 4).
  uint64_t max_frame_bytes = uint64_t{1} << 30;
  int receive_hwm = 1000;  // messages queued per client before TCP pushback
  // ZMQ_SNDHWM: messages queued to one client that does not read.  Beyond it the client's
  // replies and done events are dropped (counted in replies_dropped()); its jobs still run.
  // libzmq cannot close one peer of a ROUTER, so this is how a non-reading peer is "dropped":
  // the daemon holds at most this many of its messages (issue 12, row 2).
  int send_hwm = 1000;
  int ipc_mode = -1;       // chmod of ipc:// socket files after bind; -1 leaves the umask's
  std::string ipc_group;   // chgrp of ipc:// socket files; empty leaves the daemon's group
  // Endpoints (of either list above) to listen on through an inherited listening socket
  // (socket activation) instead of binding a new one; ipc_mode/ipc_group do not apply to them.
  std::map<std::string, int> inherited_fds;
};

class SocketThread {
 public:
  using Clock = std::chrono::steady_clock;
  using MessageHandler = std::function<void(IncomingMessage&&)>;
  // Runs on the socket thread after every wake-up; returns when it next wants to run
  // (Clock::time_point::max() for never).  Used for timeouts owned by the socket thread.
  using TimerHandler = std::function<Clock::time_point(Clock::time_point now)>;

  SocketThread(zmq::context_t* context, SocketOptions options, MessageHandler handler,
               TimerHandler timer = nullptr);
  ~SocketThread();  // calls Stop()
  SocketThread(const SocketThread&) = delete;
  SocketThread& operator=(const SocketThread&) = delete;

  // Binds every endpoint and starts the thread.  For ipc endpoints the socket's directory is
  // created (mode 0700) if missing.  Returns the first bind error.  Call once, from the owner.
  Status Start();

  // Queues `frame` to be sent to `client`.  Thread-safe; never blocks on the network.  Frames to
  // clients that have gone away, or that already have send_hwm messages unread, are dropped.
  void Send(std::string client, std::string frame);

  // Runs `task` on the socket thread, after the tasks and sends queued before it.  Thread-safe.
  // Tasks are how other threads touch state the socket thread owns (muduo's runInLoop).
  void Post(std::function<void()> task);

  // Returns true iff called on the socket thread (while it runs: from the start of Run() until
  // Stop() has run the last queued tasks).  Thread-safe.
  bool InSocketThread() const {
    return std::this_thread::get_id() == running_id_.load(std::memory_order_relaxed);
  }

  // Aborts the process with a message naming `caller` unless InSocketThread() (muduo's
  // assertInLoopThread).  For methods that touch socket-thread-only state: a call from another
  // thread is a data race, caught here at its first occurrence rather than as rare corruption.
  // One compare of thread ids, so it stays on in every build type.  Thread-safe.
  void AssertInSocketThread(const char* caller) const {
    if (!InSocketThread()) AbortNotInSocketThread(caller);
  }

  // Polls `fd` next to the ROUTER sockets and calls `on_readable` (on the socket thread) while
  // it is readable or has hung up, until Unwatch(fd).  For other sockets the socket thread owns
  // (the shared-memory side sockets, shm_registry.h).  Call from the owner before Start(), or
  // on the socket thread.
  void Watch(int fd, std::function<void()> on_readable);
  // Stops polling `fd` (before the caller closes it).  Same threads as Watch.
  void Unwatch(int fd);

  // Runs queued tasks, sends what is queued, then closes the socket and joins the thread.
  // Idempotent; owner only.
  void Stop();

  // Messages dropped because their client had send_hwm messages unread (or was gone).
  // Thread-safe.
  uint64_t replies_dropped() const { return replies_dropped_.load(std::memory_order_relaxed); }

  // Endpoints actually bound (tcp://127.0.0.1:* resolved to its port).  Valid after Start().
  const std::vector<std::string>& bound_endpoints() const { return bound_; }

 private:
  // A frame to send (task empty) or a task to run (client and frame empty), in queue order.
  struct Outgoing {
    std::string client;
    std::string frame;
    std::function<void()> task;
  };

  [[noreturn]] static void AbortNotInSocketThread(const char* caller);
  Status Bind(zmq::socket_t* router, const std::vector<std::string>& endpoints);
  void Run();
  void Wake();
  void ReceiveAvailable(size_t index);
  bool SendQueued();  // returns false iff nothing was queued

  zmq::context_t* context_;
  SocketOptions options_;
  MessageHandler handler_;
  TimerHandler timer_;
  std::vector<zmq::socket_t> routers_;  // [0] plain, [1] CURVE (when configured)
  int wake_fd_ = -1;
  std::vector<std::string> bound_;
  std::thread thread_;
  // The socket thread's id while Run() runs, else a default id.  Set by the thread itself (not
  // read from thread_, which the owner is still assigning when the thread starts).
  std::atomic<std::thread::id> running_id_{};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> replies_dropped_{0};
  // Watched fds (Watch): the owner's before Start(), then the socket thread's.
  std::map<int, std::function<void()>> watched_;

  Mutex mu_;
  std::vector<Outgoing> outgoing_ GUARDED_BY(mu_);
};

}  // namespace imgsink::daemon
