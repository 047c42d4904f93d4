#include "daemon/core/server.h"

#include <boost/asio/post.hpp>

#include "daemon/core/job_runner.h"
#include "daemon/log/log.h"
#include "imgsink/proto/codec.h"

namespace imgsink {
namespace {

// Room for the header frame on top of the largest tensor frame (PROTOCOL.md "Limits").
constexpr uint64_t kHeaderRoom = 64 * 1024;

}  // namespace

Server::Server(DaemonOptions options) : options_(std::move(options)) {
  SocketOptions socket_options;
  socket_options.endpoints = options_.listen;
  socket_options.max_frame_bytes = options_.max_request_bytes + kHeaderRoom;
  socket_ = std::make_unique<SocketThread>(&context_, socket_options,
                                           [this](IncomingMessage&& msg) { OnMessage(std::move(msg)); });
}

Server::~Server() { Stop(); }

Status Server::Start() {
  Status s = OutputRoot::Open(options_.output_root, &root_);
  if (!s.ok()) return s;
  size_t removed = 0;
  s = root_->RemoveStaleTempFiles(64, &removed);
  if (!s.ok()) LogWarning("cannot sweep stale temp files: " + s.ToString());
  if (removed > 0) LogNotice("removed " + std::to_string(removed) + " stale temp files");
  pool_ = std::make_unique<boost::asio::thread_pool>(options_.workers);
  return socket_->Start();
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  accepting_ = false;  // the socket thread now answers saves with shutting_down
  if (pool_) pool_->join();  // every accepted job ends and queues its done event
  socket_->Stop();           // sends the queued done events, then closes
}

void Server::OnMessage(IncomingMessage&& msg) {
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  if (msg.frames.empty() || msg.frames.size() > 2) {
    ReplyError(msg.client, 0, Status(ErrorCode::kBadMessage,
                                     "a message has 1 (status) or 2 (save) frames, got " +
                                         std::to_string(msg.frames.size())));
    return;
  }
  ClientMessage decoded;
  uint64_t request_id = 0;
  Status s = DecodeClientMessage(msg.frames[0].data(), msg.frames[0].size(), &decoded, &request_id);
  if (!s.ok()) return ReplyError(msg.client, request_id, std::move(s));
  if (auto* status_req = std::get_if<StatusRequest>(&decoded)) {
    if (msg.frames.size() != 1) {
      return ReplyError(msg.client, request_id,
                        Status(ErrorCode::kBadMessage, "a status request has exactly 1 frame"));
    }
    imgsink::Reply reply;
    reply.request_id = status_req->request_id;
    reply.counters = stats_.Snapshot();
    return SendReply(msg.client, reply);
  }
  if (msg.frames.size() != 2) {
    return ReplyError(msg.client, request_id,
                      Status(ErrorCode::kBadMessage, "a save request has exactly 2 frames (header, tensor)"));
  }
  HandleSave(msg.client, std::get<SaveRequest>(std::move(decoded)), std::move(msg.frames[1]));
}

void Server::HandleSave(const std::string& client, SaveRequest&& req, zmq::message_t&& tensor) {
  if (!accepting_) {
    return ReplyError(client, req.request_id,
                      Status(ErrorCode::kShuttingDown, "the daemon is shutting down"));
  }
  auto job = std::make_shared<Job>();
  ValidationLimits limits{options_.max_request_bytes, options_.max_pixels_per_image};
  Status s = ValidateSave(req, tensor.size(), limits, &job->plan);
  if (!s.ok()) return ReplyError(client, req.request_id, std::move(s));

  job->job_id = next_job_id_++;
  job->client = client;
  job->request = std::move(req);
  auto owner = std::make_shared<zmq::message_t>(std::move(tensor));  // no copy of the pixels
  job->tensor = Bytes{static_cast<const uint8_t*>(owner->data()), owner->size(), owner};
  stats_.accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_received.fetch_add(job->tensor.size, std::memory_order_relaxed);

  imgsink::Reply reply;
  reply.request_id = job->request.request_id;
  reply.job_id = job->job_id;
  SendReply(client, reply);
  boost::asio::post(*pool_, [this, job] { Execute(job); });
}

void Server::Execute(const std::shared_ptr<Job>& job) {
  stats_.in_progress.fetch_add(1, std::memory_order_relaxed);
  JobResult result;
  try {
    result = RunJob(*job, root_.get());
  } catch (const std::exception& e) {  // a bug or bad_alloc: fail this job, keep the daemon
    result.status = Status(ErrorCode::kInternal, std::string("job failed: ") + e.what());
  }
  stats_.in_progress.fetch_sub(1, std::memory_order_relaxed);
  stats_.files_written.fetch_add(result.files_written, std::memory_order_relaxed);
  stats_.bytes_written.fetch_add(result.bytes_written, std::memory_order_relaxed);
  if (result.status.ok()) {
    stats_.written.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    LogError("job " + std::to_string(job->job_id) + " (" + job->request.path +
             ") failed: " + result.status.ToString());
  }
  DoneEvent done;
  done.request_id = job->request.request_id;
  done.job_id = job->job_id;
  done.status = result.status;
  if (!job->client.empty()) socket_->Send(job->client, EncodeServerMessage(done));
}

void Server::SendReply(const std::string& client, const imgsink::Reply& reply) {
  socket_->Send(client, EncodeServerMessage(reply));
}

void Server::ReplyError(const std::string& client, uint64_t request_id, Status status) {
  stats_.rejected.fetch_add(1, std::memory_order_relaxed);
  LogInfo("request " + std::to_string(request_id) + " refused: " + status.ToString());
  imgsink::Reply reply;
  reply.request_id = request_id;
  reply.status = std::move(status);
  SendReply(client, reply);
}

}  // namespace imgsink
