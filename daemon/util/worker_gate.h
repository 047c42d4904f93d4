// WorkerGate: how many pool threads may run stages at once.  The pool is sized for the most
// workers a reload may ask for (twice over: a stage waiting for its output's syncs steps out
// of the gate, Pipeline::CommitAside); the gate holds the rest idle, so `workers` changes live.
// Thread-safety: every method is thread-safe.
#pragma once

#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

class WorkerGate {
 public:
  explicit WorkerGate(unsigned limit) : limit_(limit) {}

  // Waits until fewer than `limit` threads hold the gate, then holds it.
  void Acquire() {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return active_ < limit_; });
    ++active_;
  }
  void Release() {
    {
      MutexLock lock(&mu_);
      --active_;
    }
    cv_.NotifyOne();
  }
  // REQUIRES: limit >= 1.  Threads over a lowered limit finish their stage first.
  void SetLimit(unsigned limit) {
    {
      MutexLock lock(&mu_);
      limit_ = limit;
    }
    cv_.NotifyAll();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  unsigned limit_ GUARDED_BY(mu_);
  unsigned active_ GUARDED_BY(mu_) = 0;
};

}  // namespace imgsink::daemon
