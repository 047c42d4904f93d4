#include "ledger.h"

#include <iterator>
#include <string>

namespace imgsink {
namespace internal {

uint64_t Ledger::NewSaveId() {
  MutexLock lock(&mu_);
  const uint64_t id = NextIdLocked();
  unfinished_.insert(Position(id));
  return id;
}

uint64_t Ledger::NewOtherId() {
  MutexLock lock(&mu_);
  return NextIdLocked();
}

void Ledger::OnEnded(uint64_t id, const Status& status) {
  {
    MutexLock lock(&mu_);
    unfinished_.erase(Position(id));
    if (!status.ok()) {
      if (failures_.size() < kMaxKeptFailures) {
        failures_.emplace(Position(id), status);
      } else {
        ++uncounted_failures_;
      }
    }
  }
  cv_.NotifyAll();
}

Status Ledger::Flush(std::chrono::milliseconds timeout, uint64_t* failed) {
  MutexLock lock(&mu_);
  const uint64_t limit = Position(next_id_);  // covers positions < limit
  auto all_ended = [&]() REQUIRES(mu_) {
    return unfinished_.empty() || *unfinished_.begin() >= limit;
  };
  bool ok;
  if (timeout >= std::chrono::hours(24 * 365 * 100)) {
    cv_.Wait(&mu_, all_ended);
    ok = true;
  } else {
    ok = cv_.WaitFor(&mu_, timeout, all_ended);
  }
  if (!ok) {
    size_t pending = 0;
    for (auto it = unfinished_.begin(); it != unfinished_.end() && *it < limit; ++it) ++pending;
    if (failed != nullptr) *failed = 0;
    return Status(ErrorCode::kTimeout, std::to_string(pending) + " jobs not done within " +
                                           std::to_string(timeout.count()) + " ms");
  }
  // Report the covered failures, plus the uncounted ones (their ids are unknown, and a
  // failure reported early beats one never reported).
  auto end = failures_.lower_bound(limit);
  uint64_t count = static_cast<uint64_t>(std::distance(failures_.begin(), end)) +
                   uncounted_failures_;
  if (failed != nullptr) *failed = count;
  if (count == 0) return Status::OK();
  Status first = failures_.begin() != end ? failures_.begin()->second
                                          : Status(ErrorCode::kInternal, "failures not kept");
  failures_.erase(failures_.begin(), end);
  uncounted_failures_ = 0;
  if (count == 1) return first;
  return Status(first.code(),
                first.message() + " (and " + std::to_string(count - 1) + " more failed jobs)");
}

}  // namespace internal
}  // namespace imgsink
