// IoLoop: the one thread that owns a Client's ZeroMQ DEALER socket.
//
// Other threads hand it messages with Submit() (a mutex-protected list plus an eventfd that
// zmq_poll watches next to the socket).  For each save it first asks the daemon for credit of
// the tensor's size (PROTOCOL.md, "Flow control") and sends the save once granted; requests go
// out in order as the socket takes them.  Replies and done events are matched to requests by
// id; a socket monitor tells it when the connection comes and goes; requests it can no longer
// complete fail with kDisconnected.
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

#include "dealer_handles.h"
#include "imgsink/client.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "zmq_message.h"

namespace imgsink {
namespace internal {

class Ledger;
class RequestState;

// One client message: the encoded header frame, then the tensor frame for a save.
struct OutgoingMessage {
  std::string header;
  bool has_payload = false;  // a save
  ZmqMessage payload;
  std::shared_ptr<RequestState> request;  // null for the loop's own credit requests
  bool is_credit = false;                 // a credit request; its save waits on credit_id
  uint64_t credit_id = 0;
  BusyPolicy policy = BusyPolicy::kBlock;  // a save: for its credit request
  uint32_t block_timeout_ms = 0;          // a save: for its credit request
  std::chrono::steady_clock::time_point queued_at;  // set by the loop
};

class IoLoop {
 public:
  // Creates the socket, connects it to `endpoint` (asynchronously) and starts the thread.
  // Credit request ids come from `ledger`.  Returns OK and sets *loop, or why not (kBadOption
  // for a malformed endpoint).
  static Status Start(const std::string& endpoint, const ClientOptions& options,
                      std::shared_ptr<Ledger> ledger, std::unique_ptr<IoLoop>* loop);

  // Stops the thread: requests still queued or unanswered fail with kDisconnected; libzmq gets
  // up to ClientOptions::linger to deliver what it already holds.  Joins the thread.
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Queues `message` for sending.  After the destructor has begun, fails the request instead.
  // Thread-safe.
  void Submit(OutgoingMessage message);

 private:
  IoLoop(std::string endpoint, const ClientOptions& options, std::shared_ptr<Ledger> ledger,
         DealerHandles&& handles);

  void Wake();

  // All below run on the loop thread only.
  void Run();
  bool TakeSubmitted();  // moves submitted messages on; returns true iff stopping
  void AskCredit(OutgoingMessage save);
  void SendQueued();
  // Ends the request a queued message stands for (for a credit request: its save's).
  void FailMessage(OutgoingMessage& message, const Status& status);
  void ReceiveAll();
  void Dispatch(const void* data, size_t size);
  void OnCreditReply(const Reply& reply);
  void HandleMonitorEvents();
  void OnDisconnected();
  void ExpireQueued(std::chrono::steady_clock::time_point now);
  long PollTimeoutMs(std::chrono::steady_clock::time_point now) const;
  void Shutdown();

  // A save waiting for the answer to its credit request.
  struct CreditWait {
    OutgoingMessage save;
    bool asked = false;  // the credit request has been handed to libzmq
  };

  const std::string endpoint_;
  const ClientOptions options_;
  const std::shared_ptr<Ledger> ledger_;
  DealerHandles handles_;

  std::mutex mu_;  // guards submitted_ and stopping_
  std::vector<OutgoingMessage> submitted_;
  bool stopping_ = false;

  // Loop thread state.
  std::deque<OutgoingMessage> queue_;  // ready, not yet handed to libzmq, oldest first
  std::unordered_map<uint64_t, CreditWait> credit_waits_;  // by credit request id
  std::unordered_map<uint64_t, std::shared_ptr<RequestState>> in_flight_;  // sent, not ended
  bool connected_ = false;  // a ZMTP handshake succeeded and that connection is up
  std::string handshake_error_;  // why the last handshake failed, if it did
  std::chrono::steady_clock::time_point disconnected_since_;

  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace internal
}  // namespace imgsink
