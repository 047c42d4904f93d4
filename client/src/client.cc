#include "imgsink/client.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "byte_budget.h"
#include "copy_buffer_pool.h"
#include "endpoint_router.h"
#include "imgsink/proto/codec.h"
#include "io_loop.h"
#include "ledger.h"
#include "request_state.h"
#include "save_request.h"

namespace imgsink {

using internal::ByteBudget;
using internal::CopyBufferPool;
using internal::EndpointLoad;
using internal::EndpointRouter;
using internal::IoLoop;
using internal::LoopHooks;
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

const std::string& Job::endpoint() const {
  static const std::string kNone;
  return state_ ? state_->endpoint() : kNone;
}

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

// Several endpoints: one IoLoop per endpoint; Route() picks the loop for each save.  Loops call
// back (LoopHooks, on their own threads) to hand back saves they could not send and to say they
// connected; those hooks take no Client lock (the router locks only inside Pick) and reach
// other loops only through Submit / ReleaseUnsent, which call nothing back.
struct Client::Impl {
  std::string endpoint;  // as given to Open
  std::shared_ptr<const std::vector<std::string>> endpoints;
  ClientOptions options;
  std::shared_ptr<Ledger> ledger;
  std::shared_ptr<ByteBudget> budget;
  std::shared_ptr<CopyBufferPool> copy_buffers;
  std::shared_ptr<internal::ShmArena> arena;  // null: no same-host endpoint, or off
  std::unique_ptr<EndpointRouter> router;
  std::atomic<bool> started{false};  // every loop exists: hooks may use `loops`
  std::vector<std::unique_ptr<IoLoop>> loops;  // last: destroyed first, ending every request

  // Hooks may call into any loop until every loop thread has ended, so all are stopped before
  // any is destroyed.
  ~Impl() {
    for (auto& loop : loops) loop->RequestStop();
    for (auto& loop : loops) loop->Stop();
  }

  static Status Open(std::string endpoint, std::vector<std::string> list,
                     const ClientOptions& options, std::unique_ptr<Client>* client) {
    if (options.first_request_id == 0) {
      return Status(ErrorCode::kBadOption, "first_request_id must be >= 1");
    }
    if (options.send_hwm < 0) return Status(ErrorCode::kBadOption, "send_hwm must be >= 0");
    auto impl = std::make_unique<Impl>();
    impl->endpoint = std::move(endpoint);
    impl->endpoints = std::make_shared<const std::vector<std::string>>(std::move(list));
    impl->options = options;
    impl->ledger = std::make_shared<Ledger>(options.first_request_id);
    impl->budget = std::make_shared<ByteBudget>(options.max_pending_bytes);
    impl->copy_buffers = std::make_shared<CopyBufferPool>(options.copy_buffer_cache_bytes);
    impl->router = std::make_unique<EndpointRouter>(options.endpoint_policy);
    const size_t n = impl->endpoints->size();
    bool local = false;
    for (const std::string& e : *impl->endpoints) local = local || !ShmSocketPath(e).empty();
    if (options.shared_memory && local && options.shared_memory_bytes > 0) {
      impl->arena = internal::ShmArena::Create(
          std::min(options.shared_memory_bytes, size_t(options.max_pending_bytes)));
    }
    for (size_t i = 0; i < n; ++i) {
      std::unique_ptr<IoLoop> loop;
      Status s = IoLoop::Start((*impl->endpoints)[i], options, impl->ledger,
                               n > 1 ? impl->HooksFor(i) : LoopHooks(), &loop, impl->arena);
      if (!s.ok()) return s;
      impl->loops.push_back(std::move(loop));
    }
    impl->started.store(true, std::memory_order_release);
    client->reset(new Client(std::move(impl)));
    return Status::OK();
  }

  LoopHooks HooksFor(size_t index) {
    LoopHooks hooks;
    hooks.on_unsent = [this](std::vector<OutgoingMessage> saves) {
      for (OutgoingMessage& save : saves) Route(std::move(save));
    };
    hooks.on_connected = [this, index] {
      if (!started.load(std::memory_order_acquire)) return;  // no saves exist yet
      // Saves parked on a loop whose connection is down can go to this one now.
      for (size_t i = 0; i < loops.size(); ++i) {
        if (i != index) loops[i]->ReleaseUnsent();
      }
    };
    return hooks;
  }

  // Hands a save to the loop of the endpoint the policy picks.  While none is connected the
  // save is parked on the first loop, which hands it back once any endpoint connects.
  void Route(OutgoingMessage save) {
    if (loops.size() == 1) {  // one endpoint: exactly the single-daemon client
      save.request->SetEndpoint(0);
      loops[0]->Submit(std::move(save));
      return;
    }
    std::vector<EndpointLoad> loads(loops.size());
    for (size_t i = 0; i < loops.size(); ++i) {
      loads[i] = EndpointLoad{loops[i]->connected(), loops[i]->pending_bytes()};
    }
    size_t index = router->Pick(loads);
    const bool parked = index == EndpointRouter::kNone;
    if (parked) index = 0;
    save.parked = parked;
    save.request->SetEndpoint(index);
    loops[index]->Submit(std::move(save));
    // A loop that connected after Pick may have asked loop 0 for its unsent saves before this
    // one got there; asking again makes sure it does not wait for loop 0's own connection.
    if (parked && AnyConnected()) loops[0]->ReleaseUnsent();
  }

  bool AnyConnected() const {
    for (const auto& loop : loops) {
      if (loop->connected()) return true;
    }
    return false;
  }

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
  std::vector<std::string> list;
  std::string error;
  if (!SplitEndpointList(endpoint, &list, &error)) return Status(ErrorCode::kBadOption, error);
  return Impl::Open(endpoint, std::move(list), options, client);
}

Status Client::Open(const std::vector<std::string>& endpoints, const ClientOptions& options,
                    std::unique_ptr<Client>* client) {
  std::vector<std::string> list = endpoints;
  std::string error;
  if (!CheckEndpointList(&list, &error)) return Status(ErrorCode::kBadOption, error);
  std::string joined;
  for (const std::string& e : list) joined += (joined.empty() ? "" : ",") + e;
  return Impl::Open(std::move(joined), std::move(list), options, client);
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
                                              /*holds_payload=*/true, impl_->ledger,
                                              impl_->endpoints);
  s = internal::MakeTensorFrame(tensor.data, bytes, options.ownership, state, impl_->budget,
                                impl_->copy_buffers, &message.payload, impl_->arena,
                                &message.shm_offset);
  if (!s.ok()) {  // MakeTensorFrame already gave the bytes back and marked the state released
    state->Fail(s);
    return Job(std::move(state));
  }
  message.has_payload = true;
  message.request = state;
  message.policy = options.policy;
  message.block_timeout_ms = options.block_timeout_ms;
  message.bytes = bytes;
  impl_->Route(std::move(message));
  return Job(std::move(state));
}

Status Client::flush(std::chrono::milliseconds timeout, uint64_t* failed_jobs) {
  return impl_->ledger->Flush(timeout, failed_jobs);
}

Status Client::status(std::map<std::string, uint64_t>* counters,
                      std::chrono::milliseconds timeout) {
  return status(impl_->endpoints->front(), counters, timeout);
}

Status Client::status(const std::string& endpoint, std::map<std::string, uint64_t>* counters,
                      std::chrono::milliseconds timeout) {
  const std::vector<std::string>& names = *impl_->endpoints;
  size_t index = 0;
  while (index < names.size() && names[index] != endpoint) ++index;
  if (index == names.size()) {
    return Status(ErrorCode::kBadOption, "'" + endpoint.substr(0, 256) +
                                             "' is not one of this client's endpoints ('" +
                                             impl_->endpoint + "')");
  }
  const uint64_t id = impl_->ledger->NewOtherId();
  auto state = std::make_shared<RequestState>(RequestState::Kind::kStatus, id,
                                              /*holds_payload=*/false, nullptr);
  OutgoingMessage message;
  message.header = EncodeClientMessage(StatusRequest{id});
  message.request = state;
  impl_->loops[index]->Submit(std::move(message));
  Status s = state->WaitEnded(timeout);
  if (s.ok()) *counters = state->counters();
  return s;
}

const std::string& Client::endpoint() const { return impl_->endpoint; }

const std::vector<std::string>& Client::endpoints() const { return *impl_->endpoints; }

}  // namespace imgsink
