#include "request_state.h"

#include "ledger.h"

namespace imgsink {
namespace internal {

RequestState::RequestState(Kind kind, uint64_t request_id, bool holds_payload,
                           std::shared_ptr<Ledger> ledger,
                           std::shared_ptr<const std::vector<std::string>> endpoints)
    : kind_(kind), request_id_(request_id), ledger_(std::move(ledger)),
      endpoints_(std::move(endpoints)), released_(!holds_payload) {}

const std::string& RequestState::endpoint() const {
  static const std::string kNoEndpoint;
  const size_t index = endpoint_index_.load(std::memory_order_acquire);
  return endpoints_ != nullptr && index < endpoints_->size() ? (*endpoints_)[index] : kNoEndpoint;
}

void RequestState::MarkReleased() {
  {
    MutexLock lock(&mu_);
    released_ = true;
  }
  cv_.NotifyAll();
}

bool RequestState::OnReply(const Reply& reply) {
  bool ended_now = false;
  bool ends_request = false;
  {
    MutexLock lock(&mu_);
    if (replied_) return ended_;  // a duplicate reply changes nothing
    replied_ = true;
    reply_status_ = reply.status;
    job_id_ = reply.job_id;
    if (kind_ == Kind::kStatus) counters_ = reply.counters;
    ends_request = kind_ == Kind::kStatus || !reply.status.ok();
    if (ends_request) ended_now = EndLocked(reply.status);
  }
  cv_.NotifyAll();
  if (ended_now) NotifyEnded(reply.status);
  return ends_request;
}

void RequestState::OnDone(const DoneEvent& done) {
  bool ended_now = false;
  {
    MutexLock lock(&mu_);
    if (!replied_) {  // the daemon replies first; tolerate a lost reply all the same
      replied_ = true;
      job_id_ = done.job_id;
    }
    ended_now = EndLocked(done.status);
  }
  cv_.NotifyAll();
  if (ended_now) NotifyEnded(done.status);
}

void RequestState::Fail(const Status& status) {
  bool ended_now = false;
  {
    MutexLock lock(&mu_);
    if (!replied_) {
      replied_ = true;
      reply_status_ = status;
    }
    ended_now = EndLocked(status);
  }
  cv_.NotifyAll();
  if (ended_now) NotifyEnded(status);
}

bool RequestState::EndLocked(const Status& status) {
  if (ended_) return false;
  ended_ = true;
  end_status_ = status;
  return true;
}

void RequestState::NotifyEnded(const Status& status) {
  if (ledger_ != nullptr && kind_ == Kind::kSave) ledger_->OnEnded(request_id_, status);
}

uint64_t RequestState::job_id() const {
  MutexLock lock(&mu_);
  return job_id_;
}

bool RequestState::ended() const {
  MutexLock lock(&mu_);
  return ended_;
}

std::map<std::string, uint64_t> RequestState::counters() const {
  MutexLock lock(&mu_);
  return counters_;
}

template <typename Pred>
bool RequestState::WaitFor(std::chrono::milliseconds timeout, Pred pred) const {
  // Adding a huge duration to now() would overflow; treat it as no deadline.
  if (timeout >= std::chrono::hours(24 * 365 * 100)) {
    cv_.Wait(&mu_, pred);
    return true;
  }
  return cv_.WaitFor(&mu_, timeout, pred);
}

namespace {
Status TimeoutStatus(const char* what, uint64_t id, std::chrono::milliseconds timeout) {
  return Status(ErrorCode::kTimeout, "request " + std::to_string(id) + " not " + what +
                                         " within " + std::to_string(timeout.count()) + " ms");
}
}  // namespace

Status RequestState::WaitReleased(std::chrono::milliseconds timeout) const {
  MutexLock lock(&mu_);
  if (!WaitFor(timeout, [this]() REQUIRES(mu_) { return released_; })) {
    return TimeoutStatus("sent", request_id_, timeout);
  }
  return Status::OK();
}

Status RequestState::WaitReplied(std::chrono::milliseconds timeout) const {
  MutexLock lock(&mu_);
  if (!WaitFor(timeout, [this]() REQUIRES(mu_) { return replied_; })) {
    return TimeoutStatus("answered", request_id_, timeout);
  }
  return reply_status_;
}

Status RequestState::WaitEnded(std::chrono::milliseconds timeout) const {
  MutexLock lock(&mu_);
  if (!WaitFor(timeout, [this]() REQUIRES(mu_) { return ended_; })) {
    return TimeoutStatus("done", request_id_, timeout);
  }
  return end_status_;
}

}  // namespace internal
}  // namespace imgsink
