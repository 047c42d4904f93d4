#include "io_loop.h"

#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/shm.h"
#include "ledger.h"
#include "request_state.h"

namespace imgsink {
namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Status IoLoop::Start(const std::string& endpoint, const ClientOptions& options,
                     std::shared_ptr<Ledger> ledger, LoopHooks hooks,
                     std::unique_ptr<IoLoop>* loop, std::shared_ptr<ShmArena> arena) {
  DealerHandles handles;
  Status s = OpenDealer(endpoint, options, &handles);
  if (!s.ok()) return s;
  // Handing the sockets to the new thread is safe: thread start is a full memory barrier.
  loop->reset(new IoLoop(endpoint, options, std::move(ledger), std::move(hooks),
                         std::move(handles), std::move(arena)));
  return Status::OK();
}

IoLoop::IoLoop(std::string endpoint, const ClientOptions& options, std::shared_ptr<Ledger> ledger,
               LoopHooks hooks, DealerHandles&& handles, std::shared_ptr<ShmArena> arena)
    : endpoint_(std::move(endpoint)), options_(options), ledger_(std::move(ledger)),
      hooks_(std::move(hooks)), handles_(std::move(handles)), disconnected_since_(Clock::now()),
      arena_(std::move(arena)), thread_([this] { Run(); }) {}

IoLoop::~IoLoop() { Stop(); }

void IoLoop::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void IoLoop::RequestStop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
}

void IoLoop::ReleaseUnsent() {
  {
    MutexLock lock(&mu_);
    release_unsent_ = true;
  }
  Wake();
}

bool IoLoop::Stopping() {
  MutexLock lock(&mu_);
  return stopping_;
}

void IoLoop::Submit(OutgoingMessage message) {
  {
    MutexLock lock(&mu_);
    if (!stopping_) {
      pending_bytes_ += message.bytes;  // counted before the Client's next Pick can look
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
    zmq_pollitem_t items[4] = {};
    items[0].socket = handles_.socket;
    items[0].events = static_cast<short>(ZMQ_POLLIN | (queue_.empty() || !connected_ ? 0 : ZMQ_POLLOUT));
    items[1].socket = handles_.monitor;
    items[1].events = ZMQ_POLLIN;
    items[2].fd = handles_.wake_fd;
    items[2].events = ZMQ_POLLIN;
    items[3].fd = shm_conn_;
    items[3].events = ZMQ_POLLIN;
    const int count = shm_conn_ >= 0 ? 4 : 3;
    if (zmq_poll(items, count, PollTimeoutMs(Clock::now())) < 0 && zmq_errno() != EINTR) break;
    if (count == 4 && items[3].revents != 0) CheckShm();
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
  bool stopping, release;
  {
    MutexLock lock(&mu_);
    taken.swap(submitted_);
    stopping = stopping_;
    release = std::exchange(release_unsent_, false);
  }
  const auto now = Clock::now();
  // Several endpoints: a save the Client sent here while this connection looked up (not
  // parked) goes straight back if it dropped meanwhile, so it does not wait for this daemon.
  const bool hand_back = hooks_.on_unsent && !connected_ && !stopping;
  std::vector<OutgoingMessage> back;
  for (OutgoingMessage& m : taken) {
    if (!m.has_payload) {
      m.queued_at = now;
      queue_.push_back(std::move(m));
    } else if (hand_back && !m.parked) {
      back.push_back(std::move(m));
    } else {
      AskCredit(std::move(m));
    }
  }
  if (hand_back && release) TakeUnsent(&back);
  if (!back.empty()) HandBack(std::move(back));
  return stopping;
}

void IoLoop::AskCredit(OutgoingMessage save) {
  // One credit request per save, for exactly its tensor frame: the daemon grants all or
  // nothing, fairly between clients, and the save goes out as soon as its grant arrives, so
  // the grant is spent long before the daemon's credit_ttl could take it back.
  CreditRequest ask;
  ask.request_id = ledger_->NewOtherId();
  ask.bytes = save.payload.size();
  ask.policy = save.policy;
  ask.timeout_ms = save.block_timeout_ms;
  OutgoingMessage message;
  message.header = EncodeClientMessage(ask);
  message.is_credit = true;
  message.credit_id = ask.request_id;
  message.queued_at = Clock::now();
  queue_.push_back(std::move(message));
  credit_waits_[ask.request_id].save = std::move(save);
}

void IoLoop::SendQueued() {
  // Only on a connection whose handshake the monitor reported: after ZMQ_EVENT_DISCONNECTED
  // libzmq may still accept a send into the dying pipe (ZMQ_IMMEDIATE notwithstanding) and
  // lose it, so nothing is sent until the next ZMQ_EVENT_HANDSHAKE_SUCCEEDED.
  if (!connected_) return;
  while (!queue_.empty()) {
    OutgoingMessage& m = queue_.front();
    const int more = m.has_payload ? ZMQ_SNDMORE : 0;
    // A save whose copy is in the arena this daemon mapped: only the header travels.
    // m.header itself stays as it was: a send that must wait (EAGAIN), or a save handed to
    // another daemon, adds that daemon's token again.
    const bool shm = m.has_payload && m.shm_offset >= 0 && shm_token_ != 0;
    const std::string shm_header = shm ? WithShm(m.header, shm_token_, uint64_t(m.shm_offset)) : "";
    const std::string& header = shm ? shm_header : m.header;
    if (zmq_send(handles_.socket, header.data(), header.size(), ZMQ_DONTWAIT | more) < 0) {
      if (zmq_errno() == EAGAIN) return;  // no connection or at the high-water mark
      FailMessage(m, Status(ErrorCode::kDisconnected, ZmqError("zmq_send")));
      queue_.pop_front();
      continue;
    }
    // libzmq takes the remaining parts of a started message without blocking.
    if (shm) {
      ZmqMessage empty;
      if (zmq_msg_send(empty.get(), handles_.socket, ZMQ_DONTWAIT) < 0) {
        FailMessage(m, Status(ErrorCode::kInternal, ZmqError("zmq_msg_send (empty frame)")));
        queue_.pop_front();
        continue;
      }
    } else if (m.has_payload && zmq_msg_send(m.payload.get(), handles_.socket, ZMQ_DONTWAIT) < 0) {
      FailMessage(m, Status(ErrorCode::kInternal, ZmqError("zmq_msg_send (tensor frame)")));
      queue_.pop_front();
      continue;
    }
    if (m.is_credit) {
      auto it = credit_waits_.find(m.credit_id);
      if (it != credit_waits_.end()) it->second.asked = true;
    } else {
      const uint64_t id = m.request->request_id();
      InFlight& entry = in_flight_[id];
      entry.request = std::move(m.request);
      entry.bytes = m.bytes;
      if (shm) entry.shm_payload = std::move(m.payload);  // the region stays lent until the end
    }
    queue_.pop_front();
  }
}

void IoLoop::FailMessage(OutgoingMessage& message, const Status& status) {
  if (!message.is_credit) {
    pending_bytes_ -= message.bytes;
    message.request->Fail(status);
    return;
  }
  auto it = credit_waits_.find(message.credit_id);
  if (it == credit_waits_.end()) return;
  OutgoingMessage save = std::move(it->second.save);
  credit_waits_.erase(it);
  pending_bytes_ -= save.bytes;
  save.request->Fail(status);
}  // `save` dies here: its tensor frame is released

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
    if (credit_waits_.count(reply->request_id) != 0) return OnCreditReply(*reply);
    auto it = in_flight_.find(reply->request_id);
    if (it != in_flight_.end() && it->second.request->OnReply(*reply)) {
      pending_bytes_ -= it->second.bytes;
      in_flight_.erase(it);
    }
  } else if (const DoneEvent* done = std::get_if<DoneEvent>(&message)) {
    auto it = in_flight_.find(done->request_id);
    if (it != in_flight_.end()) {
      pending_bytes_ -= it->second.bytes;
      it->second.request->OnDone(*done);
      in_flight_.erase(it);
    }
  }
  // Ids we do not know belong to requests already failed (e.g. after a disconnection).
}

void IoLoop::OnCreditReply(const Reply& reply) {
  auto node = credit_waits_.extract(reply.request_id);
  if (node.empty()) return;  // a grant for a credit asked again after a reconnect: not ours now
  OutgoingMessage save = std::move(node.mapped().save);
  if (!reply.status.ok()) {  // busy (by policy), too_large, shutting_down: the job ends so
    pending_bytes_ -= save.bytes;
    save.request->Fail(reply.status);
    return;
  }
  save.queued_at = Clock::now();
  queue_.push_back(std::move(save));
}

long IoLoop::PollTimeoutMs(Clock::time_point now) const {
  if (connected_ || queue_.empty()) return -1;
  const auto start = std::max(queue_.front().queued_at, disconnected_since_);
  const auto left = start + options_.connect_timeout - now;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<long>(std::max<int64_t>(ms, 0));
}

void IoLoop::Shutdown() {
  {  // also reached if zmq_poll fails: from now on Submit fails requests itself
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  TakeSubmitted();
  const Status unsent(ErrorCode::kDisconnected, "the client closed before sending the request");
  for (OutgoingMessage& m : queue_) FailMessage(m, unsent);
  queue_.clear();  // closes the tensor frames: borrowed buffers are released here
  for (auto& entry : credit_waits_) entry.second.save.request->Fail(unsent);
  credit_waits_.clear();
  for (auto& entry : in_flight_) {
    entry.second.request->Fail(Status(ErrorCode::kDisconnected, "the client closed before the job "
                                                        "ended; the daemon may still write it"));
  }
  in_flight_.clear();  // regions lent to the daemon come back: nothing writes them any more
  CloseShm();
  // Waits up to ZMQ_LINGER for libzmq to deliver what it holds, then drops (and releases) it.
  handles_.CloseZmq();
}

}  // namespace internal
}  // namespace imgsink
