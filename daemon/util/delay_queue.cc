#include "daemon/util/delay_queue.h"

namespace imgsink::daemon {

DelayQueue::DelayQueue() : thread_([this] { Loop(); }) {}

DelayQueue::~DelayQueue() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    run_all_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void DelayQueue::RunAt(Clock::time_point when, std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    tasks_.emplace(when, std::move(task));
  }
  cv_.NotifyAll();
}

void DelayQueue::RunAllNow() {
  {
    MutexLock lock(&mu_);
    run_all_ = true;
  }
  cv_.NotifyAll();
}

size_t DelayQueue::size() const {
  MutexLock lock(&mu_);
  return tasks_.size();
}

void DelayQueue::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    if (tasks_.empty()) {
      if (stopping_) return;
      cv_.Wait(&mu_);
      continue;
    }
    auto first = tasks_.begin();
    if (!run_all_ && first->first > Clock::now()) {
      cv_.WaitUntil(&mu_, first->first);
      continue;
    }
    std::function<void()> task = std::move(first->second);
    tasks_.erase(first);
    lock.Unlock();
    task();
    lock.Lock();
  }
}

}  // namespace imgsink::daemon
