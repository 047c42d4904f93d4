// WorkerGate: how many pool threads may run stages at once.  The pool is sized for the most
// workers a reload may ask for; the gate holds the rest idle, so `workers` changes live.
// Thread-safety: every method is thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>

namespace imgsink::daemon {

class WorkerGate {
 public:
  explicit WorkerGate(unsigned limit) : limit_(limit) {}

  // Waits until fewer than `limit` threads hold the gate, then holds it.
  void Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return active_ < limit_; });
    ++active_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --active_;
    }
    cv_.notify_one();
  }
  // REQUIRES: limit >= 1.  Threads over a lowered limit finish their stage first.
  void SetLimit(unsigned limit) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit_ = limit;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned limit_;       // guarded by mu_
  unsigned active_ = 0;  // guarded by mu_
};

}  // namespace imgsink::daemon
