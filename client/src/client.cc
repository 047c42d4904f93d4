#include "imgsink/client.h"

#include <utility>

#include "byte_budget.h"
#include "copy_buffer_pool.h"
#include "imgsink/proto/codec.h"
#include "io_loop.h"
#include "ledger.h"
#include "request_state.h"
#include "save_request.h"

namespace imgsink {

using internal::ByteBudget;
using internal::CopyBufferPool;
using internal::IoLoop;
using internal::Ledger;
using internal::OutgoingMessage;
using internal::RequestState;

// ---------------------------------------------------------------------------------------- Job

namespace {
Status EmptyJobStatus() { return Status(ErrorCode::kInternal, "empty Job handle"); }
}  // namespace

Job::Job() = default;
Job::Job(std::shared_ptr<RequestState> state) : state_(std::move(state)) {}

uint64_t Job::request_id() const { return state_ ? state_->request_id() : 0; }
uint64_t Job::job_id() const { return state_ ? state_->job_id() : 0; }
bool Job::done() const { return state_ ? state_->ended() : true; }

Status Job::wait_sent(std::chrono::milliseconds timeout) const {
  return state_ ? state_->WaitReleased(timeout) : EmptyJobStatus();
}

Status Job::wait_accepted(std::chrono::milliseconds timeout) const {
  return state_ ? state_->WaitReplied(timeout) : EmptyJobStatus();
}

Status Job::wait(std::chrono::milliseconds timeout) const {
  return state_ ? state_->WaitEnded(timeout) : EmptyJobStatus();
}

// ------------------------------------------------------------------------------------- Client

struct Client::Impl {
  std::string endpoint;
  ClientOptions options;
  std::shared_ptr<Ledger> ledger;
  std::shared_ptr<ByteBudget> budget;
  std::shared_ptr<CopyBufferPool> copy_buffers;
  std::unique_ptr<IoLoop> loop;  // last: destroyed first, ending every request

  // Returns a save job that has already ended with `status`; nothing is sent.
  Job FailedJob(uint64_t request_id, const Status& status) {
    auto state = std::make_shared<RequestState>(RequestState::Kind::kSave, request_id,
                                                /*holds_payload=*/false, ledger);
    state->Fail(status);
    return Job(std::move(state));
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() = default;

Status Client::Open(const std::string& endpoint, const ClientOptions& options,
                    std::unique_ptr<Client>* client) {
  if (options.first_request_id == 0) {
    return Status(ErrorCode::kBadOption, "first_request_id must be >= 1");
  }
  if (options.send_hwm < 0) return Status(ErrorCode::kBadOption, "send_hwm must be >= 0");
  auto impl = std::make_unique<Impl>();
  impl->endpoint = endpoint;
  impl->options = options;
  impl->ledger = std::make_shared<Ledger>(options.first_request_id);
  impl->budget = std::make_shared<ByteBudget>(options.max_pending_bytes);
  impl->copy_buffers = std::make_shared<CopyBufferPool>(options.copy_buffer_cache_bytes);
  Status s = IoLoop::Start(endpoint, options, impl->ledger, &impl->loop);
  if (!s.ok()) return s;
  client->reset(new Client(std::move(impl)));
  return Status::OK();
}

Job Client::save_image(const TensorView& tensor, std::string path, const SaveOptions& options) {
  const uint64_t id = impl_->ledger->NewSaveId();
  SaveRequest request;
  size_t bytes = 0;
  Status s = internal::BuildSaveRequest(tensor, std::move(path), options, &request, &bytes);
  if (!s.ok()) return impl_->FailedJob(id, s);
  request.request_id = id;
  OutgoingMessage message;
  message.header = EncodeClientMessage(request);
  const size_t max_header = DecodeLimits().max_header_bytes;
  if (message.header.size() > max_header) {
    return impl_->FailedJob(
        id, Status(ErrorCode::kTooLarge, "the request header is " +
                                               std::to_string(message.header.size()) +
                                               " bytes; the limit is " +
                                               std::to_string(max_header) + " (metadata?)"));
  }
  const auto room_wait = options.policy == BusyPolicy::kBlock
                             ? std::chrono::milliseconds(options.block_timeout_ms)
                             : std::chrono::milliseconds(0);
  if (!impl_->budget->Acquire(bytes, room_wait)) {
    return impl_->FailedJob(
        id, Status(ErrorCode::kBusy,
                   "the client already holds " + std::to_string(impl_->budget->held()) +
                       " tensor bytes not yet sent (max_pending_bytes " +
                       std::to_string(impl_->options.max_pending_bytes) + ")"));
  }
  auto state = std::make_shared<RequestState>(RequestState::Kind::kSave, id,
                                              /*holds_payload=*/true, impl_->ledger);
  s = internal::MakeTensorFrame(tensor.data, bytes, options.ownership, state, impl_->budget,
                                impl_->copy_buffers, &message.payload);
  if (!s.ok()) {  // MakeTensorFrame already gave the bytes back and marked the state released
    state->Fail(s);
    return Job(std::move(state));
  }
  message.has_payload = true;
  message.request = state;
  message.policy = options.policy;
  message.block_timeout_ms = options.block_timeout_ms;
  impl_->loop->Submit(std::move(message));
  return Job(std::move(state));
}

Status Client::flush(std::chrono::milliseconds timeout, uint64_t* failed_jobs) {
  return impl_->ledger->Flush(timeout, failed_jobs);
}

Status Client::status(std::map<std::string, uint64_t>* counters,
                      std::chrono::milliseconds timeout) {
  const uint64_t id = impl_->ledger->NewOtherId();
  auto state = std::make_shared<RequestState>(RequestState::Kind::kStatus, id,
                                              /*holds_payload=*/false, nullptr);
  OutgoingMessage message;
  message.header = EncodeClientMessage(StatusRequest{id});
  message.request = state;
  impl_->loop->Submit(std::move(message));
  Status s = state->WaitEnded(timeout);
  if (s.ok()) *counters = state->counters();
  return s;
}

const std::string& Client::endpoint() const { return impl_->endpoint; }

}  // namespace imgsink
