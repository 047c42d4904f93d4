// IoLoop: the one thread that owns a Client's ZeroMQ DEALER socket.
//
// Other threads hand it messages with Submit() (a mutex-protected list plus an eventfd that
// zmq_poll watches next to the socket).  The loop sends them in order as the socket takes
// them, matches replies and done events to requests by id, watches the connection through a
// socket monitor, and fails requests it can no longer complete with kDisconnected.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "imgsink/client.h"
#include "imgsink/proto/status.h"
#include "zmq_message.h"

namespace imgsink {
namespace internal {

class RequestState;

// One client message: the encoded header frame, then the tensor frame for a save.
struct OutgoingMessage {
  std::string header;
  bool has_payload = false;
  ZmqMessage payload;
  std::shared_ptr<RequestState> request;
  std::chrono::steady_clock::time_point queued_at;  // set by the loop
};

class IoLoop {
 public:
  // Creates the socket, connects it to `endpoint` (asynchronously) and starts the thread.
  // Returns OK and sets *loop, or why not (kBadOption for a malformed endpoint).
  static Status Start(const std::string& endpoint, const ClientOptions& options,
                      std::unique_ptr<IoLoop>* loop);

  // Stops the thread: requests still queued or unanswered fail with kDisconnected; libzmq gets
  // up to ClientOptions::linger to deliver what it already holds.  Joins the thread.
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Queues `message` for sending.  After the destructor has begun, fails the request instead.
  // Thread-safe.
  void Submit(OutgoingMessage message);

 private:
  // The ZeroMQ context and sockets plus the wake-up eventfd; closes whatever is open.
  // The eventfd lives until the IoLoop dies, so a late Wake() never writes to a reused fd.
  struct Handles {
    void* ctx = nullptr;
    void* socket = nullptr;
    void* monitor = nullptr;  // PAIR end of the socket monitor
    int wake_fd = -1;

    Handles() = default;
    Handles(Handles&& other) noexcept;  // leaves `other` empty
    Handles& operator=(Handles&&) = delete;
    ~Handles();
    void CloseZmq();  // closes the sockets, then terminates the context (waits for linger)
  };

  IoLoop(std::string endpoint, const ClientOptions& options, Handles&& handles);

  static Status OpenHandles(const std::string& endpoint, const ClientOptions& options,
                            Handles* handles);
  void Wake();

  // All below run on the loop thread only.
  void Run();
  bool TakeSubmitted();  // moves submitted messages to queue_; returns true iff stopping
  void SendQueued();
  void ReceiveAll();
  void Dispatch(const void* data, size_t size);
  void HandleMonitorEvents();
  void ExpireQueued(std::chrono::steady_clock::time_point now);
  long PollTimeoutMs(std::chrono::steady_clock::time_point now) const;
  void FailInFlight(const Status& status);
  void FailQueued(const Status& status);
  void Shutdown();

  const std::string endpoint_;
  const ClientOptions options_;
  Handles handles_;

  std::mutex mu_;  // guards submitted_ and stopping_
  std::vector<OutgoingMessage> submitted_;
  bool stopping_ = false;

  // Loop thread state.
  std::deque<OutgoingMessage> queue_;  // not yet handed to libzmq, oldest first
  std::unordered_map<uint64_t, std::shared_ptr<RequestState>> in_flight_;  // sent, not ended
  bool connected_ = false;
  std::chrono::steady_clock::time_point disconnected_since_;

  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace internal
}  // namespace imgsink
