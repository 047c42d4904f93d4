// DelayQueue: runs tasks at given times on its own thread (retries with backoff).
// Thread-safety: every method is thread-safe.  Tasks run one at a time on the queue's thread and
// should only hand work elsewhere (e.g. post to a pool).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

class DelayQueue {
 public:
  using Clock = std::chrono::steady_clock;

  DelayQueue();
  ~DelayQueue();  // runs every queued task now, then joins

  // Runs `task` at `when` (or at once if it has passed, or when RunAllNow() is called).
  void RunAt(Clock::time_point when, std::function<void()> task);

  // Runs every queued task now, without waiting for its time (used when draining).
  void RunAllNow();

  size_t size() const;

 private:
  void Loop() EXCLUDES(mu_);

  mutable Mutex mu_;
  CondVar cv_;
  std::multimap<Clock::time_point, std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool run_all_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace imgsink::daemon
