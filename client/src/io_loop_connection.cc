// IoLoop, the connection's comings and goings: socket monitor events, what a lost connection
// does to the requests (sent ones end, unsent ones wait, ask for credit again or move to
// another endpoint), and the connect_timeout of requests waiting for a connection.
// Runs on the loop thread only, like the rest of IoLoop (io_loop.h).
#include <zmq.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imgsink/proto/shm.h"
#include "io_loop.h"
#include "request_state.h"

namespace imgsink {
namespace internal {

using Clock = std::chrono::steady_clock;

void IoLoop::HandleMonitorEvents() {
  while (true) {
    ZmqMessage head;
    if (zmq_msg_recv(head.get(), handles_.monitor, ZMQ_DONTWAIT) < 0) return;
    // First frame: uint16 event, uint32 value, host order (zmq_socket_monitor(3)).
    uint16_t event = 0;
    uint32_t value = 0;
    if (head.size() >= sizeof event + sizeof value) {
      std::memcpy(&event, head.data(), sizeof event);
      std::memcpy(&value, static_cast<const char*>(head.data()) + sizeof event, sizeof value);
    }
    while (zmq_msg_more(head.get())) {  // the endpoint frame
      if (zmq_msg_recv(head.get(), handles_.monitor, ZMQ_DONTWAIT) < 0) break;
    }
    // Only a completed ZMTP handshake makes the connection usable: a TCP connection whose
    // handshake fails (wrong CURVE keys, not a ZeroMQ peer) comes and goes every reconnect
    // interval and must not keep resetting the connect_timeout of waiting requests.
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      ShmHello();  // before anything is sent on this connection
      connected_ = true;
      connected_flag_ = true;
      handshake_error_.clear();
      if (hooks_.on_connected && !Stopping()) hooks_.on_connected();
    } else if (event == ZMQ_EVENT_DISCONNECTED && connected_) {
      OnDisconnected();
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      handshake_error_ = "the daemon refused this client's CURVE key (status " +
                         std::to_string(value) + ")";
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
               event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
      handshake_error_ = "the ZeroMQ handshake failed (wrong CURVE server key, CURVE on one "
                         "side only, or not an imgsinkd)";
    }
  }
}

void IoLoop::OnDisconnected() {
  connected_ = false;
  connected_flag_ = false;
  disconnected_since_ = Clock::now();
  // With ZMQ_IMMEDIATE libzmq drops what it still held for that connection, and the daemon
  // cannot send us those replies and done events any more.  Take the map first: Fail() runs
  // foreign code (waiters, the ledger).
  auto lost = std::move(in_flight_);
  in_flight_.clear();
  for (auto& entry : lost) {
    // The daemon may still read a region it was lent: keep it until its side connection ends.
    if (entry.second.shm_payload.size() != 0 && shm_conn_ >= 0) {
      lent_.push_back(std::move(entry.second.shm_payload));
    }
    pending_bytes_ -= entry.second.bytes;
    entry.second.request->Fail(Status(ErrorCode::kDisconnected,
                                      "lost the connection to " + endpoint_ +
                                          " before the job ended; the daemon may still write it"));
  }
  if (hooks_.on_unsent) {  // several endpoints: unsent saves go where a connection is up
    std::vector<OutgoingMessage> unsent;
    TakeUnsent(&unsent);
    if (!unsent.empty()) HandBack(std::move(unsent));
    return;
  }
  // Saves not sent yet are safe to send later, but credit asked or granted on the lost
  // connection may be lost with it (a restarted daemon knows nothing of it): ask again, in
  // submission order, once reconnected.
  std::vector<OutgoingMessage> reask;
  std::deque<OutgoingMessage> kept;
  for (OutgoingMessage& m : queue_) {
    if (m.has_payload) {
      reask.push_back(std::move(m));
    } else {
      kept.push_back(std::move(m));
    }
  }
  queue_.swap(kept);
  for (auto it = credit_waits_.begin(); it != credit_waits_.end();) {
    if (it->second.asked) {
      reask.push_back(std::move(it->second.save));
      it = credit_waits_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(reask.begin(), reask.end(), [](const OutgoingMessage& a, const OutgoingMessage& b) {
    return a.request->request_id() < b.request->request_id();
  });
  for (OutgoingMessage& save : reask) AskCredit(std::move(save));
}

void IoLoop::ShmHello() {
  if (shm_conn_ >= 0) CheckShm();  // a restarted daemon: its old side connection has ended
  if (arena_ == nullptr || shm_conn_ >= 0) return;
  const std::string path = ShmSocketPath(endpoint_);
  if (path.empty()) return;  // tcp://, abstract ipc: frames only
  int conn = -1;
  uint64_t token = 0;
  // A local daemon answers from its socket thread at once; one that does not is served by
  // the frames (1 s at most, once per connection).
  if (imgsink::ShmHello(path, arena_->fd(), 1000, &conn, &token).ok()) {
    shm_conn_ = conn;
    shm_token_ = token;
  }
}

void IoLoop::CheckShm() {
  char byte;
  const ssize_t n = recv(shm_conn_, &byte, 1, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) return;  // the protocol sends nothing more: ignore
  CloseShm();  // end of file or an error: the daemon is gone
}

void IoLoop::CloseShm() {
  if (shm_conn_ >= 0) ::close(shm_conn_);
  shm_conn_ = -1;
  shm_token_ = 0;
  lent_.clear();  // no process reads these regions any more
  for (auto& entry : in_flight_) entry.second.shm_payload = ZmqMessage();
}

void IoLoop::TakeUnsent(std::vector<OutgoingMessage>* out) {
  std::deque<OutgoingMessage> kept;  // status requests: they are for this daemon
  for (OutgoingMessage& m : queue_) {
    if (m.has_payload) {
      out->push_back(std::move(m));
    } else if (!m.is_credit) {  // a credit request's save is in credit_waits_
      kept.push_back(std::move(m));
    }
  }
  queue_.swap(kept);
  // Credit asked here and granted later is not used; the daemon takes it back after credit_ttl.
  for (auto& entry : credit_waits_) out->push_back(std::move(entry.second.save));
  credit_waits_.clear();
}

void IoLoop::HandBack(std::vector<OutgoingMessage> saves) {
  for (const OutgoingMessage& save : saves) pending_bytes_ -= save.bytes;
  if (Stopping()) {  // the Client is closing: do not call into it
    const Status closing(ErrorCode::kDisconnected, "the client closed before sending the request");
    for (OutgoingMessage& save : saves) save.request->Fail(closing);
    return;
  }
  std::sort(saves.begin(), saves.end(), [](const OutgoingMessage& a, const OutgoingMessage& b) {
    return a.request->request_id() < b.request->request_id();
  });
  hooks_.on_unsent(std::move(saves));
}

void IoLoop::ExpireQueued(Clock::time_point now) {
  while (!connected_ && !queue_.empty()) {
    const auto start = std::max(queue_.front().queued_at, disconnected_since_);
    if (now - start < options_.connect_timeout) return;
    FailMessage(queue_.front(),
                Status(ErrorCode::kDisconnected,
                       "no daemon reachable at " + endpoint_ + " within " +
                           std::to_string(options_.connect_timeout.count()) + " ms" +
                           (handshake_error_.empty() ? "" : ": " + handshake_error_)));
    queue_.pop_front();
  }
}

}  // namespace internal
}  // namespace imgsink
