#include "fake_daemon.h"

#include <zmq.h>

#include <catch.hpp>

#include "imgsink/proto/codec.h"

namespace imgsink::test {
namespace {

uint64_t RequestIdOf(const ClientMessage& m) {
  return std::visit([](const auto& request) { return request.request_id; }, m);
}

bool ReceiveFrame(void* socket, std::string* frame, bool* more) {
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  if (zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&msg);
    return false;
  }
  frame->assign(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
  *more = zmq_msg_more(&msg) != 0;
  zmq_msg_close(&msg);
  return true;
}

}  // namespace

Response FakeDaemon::AcceptAndWrite(const ReceivedRequest& request) {
  Response r = AcceptAndHold(request);
  r.now.insert(r.now.end(), r.held.begin(), r.held.end());
  r.held.clear();
  return r;
}

Response FakeDaemon::AcceptAndHold(const ReceivedRequest& request) {
  Response r;
  Reply reply;
  reply.request_id = request.request_id;
  if (!request.decode_status.ok()) {
    reply.status = request.decode_status;
    r.now.push_back(reply);
    return r;
  }
  if (std::holds_alternative<StatusRequest>(request.message)) {
    reply.counters = {{"requests_seen", request.request_id}};
    r.now.push_back(reply);
    return r;
  }
  reply.job_id = 1000 + request.request_id;
  r.now.push_back(reply);
  DoneEvent done;
  done.request_id = request.request_id;
  done.job_id = reply.job_id;
  r.held.push_back(done);
  return r;
}

Response FakeDaemon::Silent(const ReceivedRequest&) { return Response(); }

Response FakeDaemon::GrantCredit(const ReceivedRequest& request) {
  Reply reply;
  reply.request_id = request.request_id;
  reply.credit = std::get<CreditRequest>(request.message).bytes;
  return Response{{reply}, {}};
}

FakeDaemon::FakeDaemon(std::string endpoint, Handler handler, Handler credit_handler,
                       std::string curve_secret_key)
    : endpoint_(std::move(endpoint)), handler_(std::move(handler)),
      credit_handler_(std::move(credit_handler)) {
  ctx_ = zmq_ctx_new();
  REQUIRE(ctx_ != nullptr);
  socket_ = zmq_socket(ctx_, ZMQ_ROUTER);
  REQUIRE(socket_ != nullptr);
  const int zero = 0;
  REQUIRE(zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero) == 0);
  if (!curve_secret_key.empty()) {
    const int one = 1;
    REQUIRE(zmq_setsockopt(socket_, ZMQ_CURVE_SERVER, &one, sizeof one) == 0);
    REQUIRE(zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, curve_secret_key.c_str(),
                           curve_secret_key.size() + 1) == 0);
  }
  INFO("bind " << endpoint_ << ": " << zmq_strerror(zmq_errno()));
  REQUIRE(zmq_bind(socket_, endpoint_.c_str()) == 0);
  char bound[256];
  size_t bound_size = sizeof bound;
  REQUIRE(zmq_getsockopt(socket_, ZMQ_LAST_ENDPOINT, bound, &bound_size) == 0);
  endpoint_ = bound;
  thread_ = std::thread([this] { Run(); });
}

FakeDaemon::~FakeDaemon() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  thread_.join();
  zmq_close(socket_);
  zmq_ctx_term(ctx_);
}

void FakeDaemon::ReleaseHeld() {
  std::lock_guard<std::mutex> lock(mu_);
  release_ = true;
}

bool FakeDaemon::WaitForRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
}

bool FakeDaemon::WaitForCreditRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return credit_requests_.size() >= n; });
}

std::vector<ReceivedRequest> FakeDaemon::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

std::vector<ReceivedRequest> FakeDaemon::credit_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return credit_requests_;
}

size_t FakeDaemon::saves_without_credit() const {
  std::lock_guard<std::mutex> lock(mu_);
  return saves_without_credit_;
}

void FakeDaemon::Run() {
  while (true) {
    std::vector<std::pair<std::string, ServerMessage>> to_release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      if (release_) {
        to_release.swap(held_);
        release_ = false;
      }
    }
    for (const auto& [routing_id, message] : to_release) Send(routing_id, message);
    // A short poll keeps the loop simple: tests wait on outcomes, never on this interval.
    zmq_pollitem_t item = {socket_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 5) <= 0) continue;
    std::string frame;
    bool more = false;
    while (ReceiveFrame(socket_, &frame, &more)) {
      const std::string routing_id = frame;
      std::vector<std::string> frames;
      while (more && ReceiveFrame(socket_, &frame, &more)) frames.push_back(frame);
      HandleRequest(routing_id, std::move(frames));
    }
  }
}

void FakeDaemon::HandleRequest(const std::string& routing_id, std::vector<std::string> frames) {
  ReceivedRequest request;
  request.frames = frames.size();
  if (!frames.empty()) request.header = frames[0];
  if (frames.size() > 1) request.payload = std::move(frames[1]);
  request.decode_status = DecodeClientMessage(request.header.data(), request.header.size(),
                                              &request.message, &request.request_id);
  if (request.decode_status.ok()) request.request_id = RequestIdOf(request.message);
  const bool is_save = request.decode_status.ok() &&
                       std::holds_alternative<SaveRequest>(request.message);
  const bool is_credit = request.decode_status.ok() &&
                         std::holds_alternative<CreditRequest>(request.message);
  uint64_t& credit = credit_[routing_id];
  Response response;
  bool refused_for_credit = false;
  if (is_save && credit < request.payload.size()) {
    refused_for_credit = true;
    Reply refusal;
    refusal.request_id = request.request_id;
    refusal.status = Status(ErrorCode::kNoCredit, "save of " +
                                                      std::to_string(request.payload.size()) +
                                                      " bytes, credit " + std::to_string(credit));
    response.now.push_back(refusal);
  } else {
    if (is_save) credit -= request.payload.size();
    response = is_credit ? credit_handler_(request) : handler_(request);
  }
  for (const ServerMessage& m : response.now) {
    if (const auto* reply = std::get_if<Reply>(&m); reply != nullptr && reply->status.ok()) {
      credit += reply->credit;
    }
  }
  {  // recorded before answering, so a client that saw the answer sees the record
    std::lock_guard<std::mutex> lock(mu_);
    for (ServerMessage& m : response.held) held_.emplace_back(routing_id, std::move(m));
    if (refused_for_credit) ++saves_without_credit_;
    (is_credit ? credit_requests_ : received_).push_back(std::move(request));
  }
  cv_.notify_all();
  for (const ServerMessage& m : response.now) Send(routing_id, m);
}

void FakeDaemon::Send(const std::string& routing_id, const ServerMessage& message) {
  const std::string bytes = EncodeServerMessage(message);
  zmq_send(socket_, routing_id.data(), routing_id.size(), ZMQ_SNDMORE);
  zmq_send(socket_, bytes.data(), bytes.size(), 0);
}

}  // namespace imgsink::test
