// Ledger: hands out a Client's request ids and remembers which saves have not ended and which
// failures no flush has reported yet, so flush() can wait for "everything submitted so far".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>

#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

// Thread-safety: every method is safe to call from any thread.
class Ledger {
 public:
  // Failures kept with their Status; later ones are only counted until a flush reports them.
  static constexpr size_t kMaxKeptFailures = 1024;

  explicit Ledger(uint64_t first_request_id)
      : first_id_(first_request_id), next_id_(first_request_id) {}
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Ids count up from first_request_id, wrapping from 2^64 - 1 to 1 (0 is not an id on the
  // wire).
  // Returns a fresh id for a save and records it as not ended.
  uint64_t NewSaveId();
  // Returns a fresh id for a request flush does not track (status).
  uint64_t NewOtherId();
  // Records that save `id` has ended with `status`.  REQUIRES: called once per NewSaveId().
  void OnEnded(uint64_t id, const Status& status);

  // Waits until every save whose id was handed out before this call has ended, or until
  // `timeout`.  Returns kTimeout, or OK iff none of them failed since they were last reported,
  // else the earliest one's Status (with the count of further failures); those failures are
  // then forgotten.  *failed (if non-null) gets the number reported.
  Status Flush(std::chrono::milliseconds timeout, uint64_t* failed);

 private:
  // Ids may wrap past 2^64 - 1 (first_request_id is the caller's); positions in the sequence,
  // id - first_id_ (mod 2^64), never do in practice, so the sets below are keyed by those.
  uint64_t Position(uint64_t id) const { return id - first_id_; }
  uint64_t NextIdLocked() REQUIRES(mu_) {
    const uint64_t id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    return id;
  }

  const uint64_t first_id_;
  Mutex mu_;
  CondVar cv_;
  uint64_t next_id_ GUARDED_BY(mu_);
  std::set<uint64_t> unfinished_ GUARDED_BY(mu_);  // positions of saves not yet ended
  // Unreported, by position; at most kMaxKeptFailures.
  std::map<uint64_t, Status> failures_ GUARDED_BY(mu_);
  uint64_t uncounted_failures_ GUARDED_BY(mu_) = 0;  // unreported failures beyond the cap
};

}  // namespace internal
}  // namespace imgsink
