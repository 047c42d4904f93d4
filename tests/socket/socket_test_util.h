// Helpers for the socket-layer tests: a SocketThread whose handler records what it received
// (and whether it ran on the socket thread), and a DEALER peer.
#pragma once

#include <zmq.h>

#include <catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "daemon/socket/socket_thread.h"

namespace imgsink::daemon::sockettest {

// Generous bound for waits that must succeed; the tests never assert on durations.
inline constexpr std::chrono::seconds kLong{20};

// One message as the handler saw it.
struct Received {
  std::string client;
  std::vector<std::string> frames;
  bool on_socket_thread = false;
};

// Thread-safe record of the handler's calls.
class Inbox {
 public:
  void Add(Received r) {
    std::lock_guard<std::mutex> lock(mu_);
    got_.push_back(std::move(r));
    cv_.notify_all();
  }
  // Returns true iff at least `n` messages arrived within `timeout`.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = kLong) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  std::vector<Received> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> got_;
};

// A SocketThread handler that records into `inbox`; `self` is read on the socket thread only.
inline SocketThread::MessageHandler Recorder(Inbox* inbox, SocketThread** self) {
  return [inbox, self](IncomingMessage&& msg) {
    Received r;
    r.client = msg.client;
    for (const zmq::message_t& frame : msg.frames) r.frames.push_back(frame.to_string());
    r.on_socket_thread = (*self)->InSocketThread();
    inbox->Add(std::move(r));
  };
}

// A DEALER connected to `endpoint` with routing id `id`.
inline zmq::socket_t Dealer(zmq::context_t* context, const std::string& endpoint,
                            const std::string& id) {
  zmq::socket_t dealer(*context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, id);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  return dealer;
}

inline void SendFrames(zmq::socket_t* socket, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket->send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

// Receives one single-frame message within `timeout`; returns false if none came.
inline bool ReceiveOne(zmq::socket_t* socket, std::string* frame,
                       std::chrono::milliseconds timeout = kLong) {
  zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  if (!(item.revents & ZMQ_POLLIN)) return false;
  zmq::message_t message;
  if (!socket->recv(message, zmq::recv_flags::none)) return false;
  *frame = message.to_string();
  return true;
}

}  // namespace imgsink::daemon::sockettest
