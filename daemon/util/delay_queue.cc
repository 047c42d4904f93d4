#include "daemon/util/delay_queue.h"

namespace imgsink::daemon {

DelayQueue::DelayQueue() : thread_([this] { Loop(); }) {}

DelayQueue::~DelayQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    run_all_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DelayQueue::RunAt(Clock::time_point when, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.emplace(when, std::move(task));
  }
  cv_.notify_all();
}

void DelayQueue::RunAllNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    run_all_ = true;
  }
  cv_.notify_all();
}

size_t DelayQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

void DelayQueue::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (tasks_.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    auto first = tasks_.begin();
    if (!run_all_ && first->first > Clock::now()) {
      cv_.wait_until(lock, first->first);
      continue;
    }
    std::function<void()> task = std::move(first->second);
    tasks_.erase(first);
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace imgsink::daemon
