// IoLoop: the one thread that owns a Client's ZeroMQ DEALER socket.
//
// Other threads hand it messages with Submit() (a mutex-protected list plus an eventfd that
// zmq_poll watches next to the socket).  For each save it first asks the daemon for credit of
// the tensor's size (PROTOCOL.md, "Flow control") and sends the save once granted; requests go
// out in order as the socket takes them.  Replies and done events are matched to requests by
// id; a socket monitor tells it when the connection comes and goes; requests it can no longer
// complete fail with kDisconnected.
// With several endpoints the Client runs one IoLoop per endpoint; LoopHooks let a loop hand
// saves it has not sent back to the Client when its connection is gone, to go to another one.
// io_loop.cc: sending and receiving; io_loop_connection.cc: the connection coming and going.
#pragma once

#include <chrono>
#include <cstdint>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dealer_handles.h"
#include "imgsink/client.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"
#include "shm_arena.h"
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
  uint64_t bytes = 0;                      // a save: its tensor bytes (pending_bytes())
  // A save whose copy lies in the Client's ShmArena: its offset there (else -1).  Sent as a
  // shared-memory region when this loop's daemon took the arena, else in the frame.
  int64_t shm_offset = -1;
  // A save the Client sent here while no endpoint was connected: it waits here for this or
  // another endpoint to connect (see LoopHooks) instead of being handed back at once.
  bool parked = false;
  std::chrono::steady_clock::time_point queued_at;  // set by the loop
};

// How a loop of a Client with several endpoints talks back to it.  Both run on the loop's
// thread with no loop lock held, so they may call any loop's Submit / ReleaseUnsent.  Empty
// functions (one endpoint): the loop keeps unsent saves and sends them when it reconnects.
struct LoopHooks {
  // Takes saves this loop has not handed to libzmq, oldest first, because its connection is
  // down: it dropped, a ReleaseUnsent() asked for them, or a save not parked arrived meanwhile.
  std::function<void(std::vector<OutgoingMessage>)> on_unsent;
  // Called after a handshake succeeded (connected() is already true).
  std::function<void()> on_connected;
};

class IoLoop {
 public:
  // Creates the socket, connects it to `endpoint` (asynchronously) and starts the thread.
  // Credit request ids come from `ledger`.  Returns OK and sets *loop, or why not (kBadOption
  // for a malformed endpoint).
  // `arena` (may be null): registered with the daemon when it has a side socket.
  static Status Start(const std::string& endpoint, const ClientOptions& options,
                      std::shared_ptr<Ledger> ledger, LoopHooks hooks,
                      std::unique_ptr<IoLoop>* loop, std::shared_ptr<ShmArena> arena = nullptr);

  // Stops the thread: requests still queued or unanswered fail with kDisconnected; libzmq gets
  // up to ClientOptions::linger to deliver what it already holds.  Joins the thread.
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Queues `message` for sending.  After RequestStop, fails the request instead.  Thread-safe.
  void Submit(OutgoingMessage message);
  // Asks the loop to hand its unsent saves to LoopHooks::on_unsent if it is not connected when
  // it gets to it.  Thread-safe.
  void ReleaseUnsent();
  // Makes the thread finish (as the destructor does) without waiting for it.  Hooks are not
  // started after it returns.  Thread-safe.
  void RequestStop();
  // RequestStop, then waits for the thread to end.  Only the owner may call it (like the
  // destructor, which calls it again harmlessly).
  void Stop();

  // Returns true iff the loop's connection is up (a completed handshake).  Thread-safe.
  bool connected() const { return connected_flag_.load(); }
  // Tensor bytes of the saves this loop holds: queued, waiting for credit, or sent and not yet
  // ended.  Thread-safe.
  uint64_t pending_bytes() const { return pending_bytes_.load(); }

 private:
  IoLoop(std::string endpoint, const ClientOptions& options, std::shared_ptr<Ledger> ledger,
         LoopHooks hooks, DealerHandles&& handles, std::shared_ptr<ShmArena> arena);

  void Wake();
  bool Stopping();  // returns stopping_

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
  // Shared-memory hand-off (PROTOCOL.md): registers the arena with the daemon after a
  // handshake, and notices the end of the side connection (the daemon is gone): the regions
  // it held come back.
  void ShmHello();
  void CheckShm();
  void CloseShm();
  void OnDisconnected();
  // Moves every save not handed to libzmq (queued, or waiting for credit) to *out.
  void TakeUnsent(std::vector<OutgoingMessage>* out);
  // Gives `saves` to LoopHooks::on_unsent, oldest first.
  void HandBack(std::vector<OutgoingMessage> saves);
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
  const LoopHooks hooks_;
  DealerHandles handles_;

  Mutex mu_;
  std::vector<OutgoingMessage> submitted_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool release_unsent_ GUARDED_BY(mu_) = false;

  std::atomic<bool> connected_flag_{false};  // connected_, for other threads
  std::atomic<uint64_t> pending_bytes_{0};

  // A request handed to libzmq, not ended yet.
  struct InFlight {
    std::shared_ptr<RequestState> request;
    uint64_t bytes = 0;  // of a save's tensor
    // A save sent as a shared-memory region: its frame, closed (giving the region back) when
    // the daemon no longer reads it -- at the done event or a refusal.
    ZmqMessage shm_payload;
  };

  // Loop thread state.
  std::deque<OutgoingMessage> queue_;  // ready, not yet handed to libzmq, oldest first
  std::unordered_map<uint64_t, CreditWait> credit_waits_;  // by credit request id
  std::unordered_map<uint64_t, InFlight> in_flight_;  // by request id
  bool connected_ = false;  // a ZMTP handshake succeeded and that connection is up
  std::string handshake_error_;  // why the last handshake failed, if it did
  std::chrono::steady_clock::time_point disconnected_since_;
  const std::shared_ptr<ShmArena> arena_;
  int shm_conn_ = -1;        // side connection to the daemon (-1: none)
  uint64_t shm_token_ = 0;   // the daemon's name for arena_ (0: frames only)
  // Regions of saves whose end we can no longer learn (the ZeroMQ connection dropped while
  // the daemon may live on): given back when the side connection ends.
  std::vector<ZmqMessage> lent_;

  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace internal
}  // namespace imgsink
