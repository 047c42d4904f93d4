// ByteBudget: bounds the tensor bytes a Client holds (ClientOptions::max_pending_bytes).
#pragma once

#include <chrono>
#include <cstddef>

#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

// Thread-safety: every method is safe to call from any thread.
class ByteBudget {
 public:
  explicit ByteBudget(size_t limit) : limit_(limit) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  // Takes `bytes` from the budget, waiting up to `timeout` for room.  Returns true iff taken.
  // A request larger than the whole budget is taken when nothing else is held, so it cannot
  // wait forever.
  bool Acquire(size_t bytes, std::chrono::milliseconds timeout);
  // Gives back bytes taken by Acquire.
  void Release(size_t bytes);

  size_t held() const;

 private:
  const size_t limit_;
  mutable Mutex mu_;
  CondVar cv_;
  size_t held_ GUARDED_BY(mu_) = 0;
};

}  // namespace internal
}  // namespace imgsink
