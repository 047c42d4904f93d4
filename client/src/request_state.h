// RequestState: the shared progress of one request (save or status), seen through Job handles
// and updated by the I/O thread, libzmq's free callback and save_image's local checks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

class Ledger;

// Phases, each reached once and never left: released (libzmq dropped the payload), replied
// (the daemon answered, or the request failed before an answer), ended (final outcome known).
// Invariant: ended implies replied.  A status request ends with its reply.
// Thread-safety: every method is safe to call from any thread.
class RequestState {
 public:
  enum class Kind { kSave, kStatus };

  // `ledger` (may be null) is told once when the request ends.
  // `holds_payload`: false when no buffer is or will be referenced (status, local failure).
  // `endpoints` (may be null): the Client's endpoint names, for endpoint().
  RequestState(Kind kind, uint64_t request_id, bool holds_payload,
               std::shared_ptr<Ledger> ledger,
               std::shared_ptr<const std::vector<std::string>> endpoints = nullptr);
  RequestState(const RequestState&) = delete;
  RequestState& operator=(const RequestState&) = delete;

  Kind kind() const { return kind_; }
  uint64_t request_id() const { return request_id_; }

  // Called once libzmq no longer references the payload.
  void MarkReleased();
  // Applies the daemon's reply.  Returns true iff the request has ended (refused, or a status
  // request answered): the I/O thread then forgets it.
  bool OnReply(const Reply& reply);
  // Applies the daemon's done event.  The request ends with its status.
  void OnDone(const DoneEvent& done);
  // Ends the request with `status` unless it has already ended.  REQUIRES: !status.ok().
  void Fail(const Status& status);

  // Records that the request is handed to the I/O loop of (*endpoints)[index].
  // REQUIRES: endpoints given and index < endpoints->size().
  void SetEndpoint(size_t index) { endpoint_index_.store(index, std::memory_order_release); }
  // The endpoint last set, or "" if none.
  const std::string& endpoint() const;

  uint64_t job_id() const;
  bool ended() const;
  // Counters of a status reply (empty until then).
  std::map<std::string, uint64_t> counters() const;

  // Each waits for its phase; kTimeout if it is not reached within `timeout`.
  Status WaitReleased(std::chrono::milliseconds timeout) const;
  Status WaitReplied(std::chrono::milliseconds timeout) const;  // returns the reply's status
  Status WaitEnded(std::chrono::milliseconds timeout) const;    // returns the final status

 private:
  // Ends the request under lock; returns true iff this call ended it.
  bool EndLocked(const Status& status) REQUIRES(mu_);
  void NotifyEnded(const Status& status);
  // Waits until pred() or the timeout; returns pred().  pred is called with mu_ held.
  template <typename Pred>
  bool WaitFor(std::chrono::milliseconds timeout, Pred pred) const REQUIRES(mu_);

  const Kind kind_;
  const uint64_t request_id_;
  const std::shared_ptr<Ledger> ledger_;
  const std::shared_ptr<const std::vector<std::string>> endpoints_;
  std::atomic<size_t> endpoint_index_{SIZE_MAX};  // SIZE_MAX: not handed to a loop yet

  mutable Mutex mu_;
  mutable CondVar cv_;
  bool released_ GUARDED_BY(mu_);
  bool replied_ GUARDED_BY(mu_) = false;
  bool ended_ GUARDED_BY(mu_) = false;
  Status reply_status_ GUARDED_BY(mu_);
  Status end_status_ GUARDED_BY(mu_);
  uint64_t job_id_ GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> counters_ GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace imgsink
