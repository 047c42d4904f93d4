// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with Clang thread-safety
// annotations (thread_annotations.h), as leveldb's port::Mutex and abseil's absl::Mutex.
// libstdc++'s std::mutex carries none, so members GUARDED_BY a std::mutex would go unchecked.
//
//   mutable Mutex mu_;
//   std::deque<Job> queue_ GUARDED_BY(mu_);
//   CondVar cv_;
//
//   void Push(Job job) EXCLUDES(mu_) {
//     MutexLock lock(&mu_);
//     queue_.push_back(std::move(job));
//     cv_.NotifyOne();
//   }
//   Job Pop() EXCLUDES(mu_) {
//     MutexLock lock(&mu_);
//     while (queue_.empty()) cv_.Wait(&mu_);   // the loop is checked: mu_ is held in it
//     ...
//   }
//
// Waits that take a predicate call it with the mutex held, from inside the wait where the analysis
// cannot follow; annotate the lambda so its body is checked as running under the lock:
//   cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return !queue_.empty(); });
//
// Not installed: the client's public headers never include it (only its sources do).
#ifndef IMGSINK_SYNC_MUTEX_H_
#define IMGSINK_SYNC_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "imgsink/sync/thread_annotations.h"

namespace imgsink {

class CondVar;

// A non-recursive exclusive lock.  Prefer MutexLock to calling Lock/Unlock.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

  // Tells the analysis that the calling thread holds this mutex, where it cannot see so itself.
  // std::mutex does not know its owner, so nothing is checked at run time.
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction (std::lock_guard), or until Unlock(); Lock()
// takes it again (std::unique_lock's unlock/lock).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (locked_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // REQUIRES: held by this MutexLock.
  void Unlock() RELEASE() {
    locked_ = false;
    mu_->Unlock();
  }
  // REQUIRES: released by Unlock() before.
  void Lock() ACQUIRE() {
    mu_->Lock();
    locked_ = true;
  }

 private:
  Mutex* const mu_;
  bool locked_ = true;
};

// std::condition_variable for a Mutex.  Every wait releases the mutex while blocked and holds it
// again when it returns (or throws); wake-ups may be spurious, so waits without a predicate
// belong in a loop that re-checks the condition.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) REQUIRES(mu) {
    Adopted a(mu);
    cv_.wait(a.lock);
  }

  // Returns false iff it returned because `deadline` passed.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline) REQUIRES(mu) {
    Adopted a(mu);
    return cv_.wait_until(a.lock, deadline) == std::cv_status::no_timeout;
  }

  // Waits until stop_waiting() returns true; stop_waiting is called with *mu held.
  template <class Predicate>
  void Wait(Mutex* mu, Predicate stop_waiting) REQUIRES(mu) {
    Adopted a(mu);
    cv_.wait(a.lock, std::move(stop_waiting));
  }

  // Waits until stop_waiting() returns true or `timeout` has passed; returns stop_waiting()'s
  // last value.  stop_waiting is called with *mu held.
  template <class Rep, class Period, class Predicate>
  bool WaitFor(Mutex* mu, const std::chrono::duration<Rep, Period>& timeout,
               Predicate stop_waiting) REQUIRES(mu) {
    Adopted a(mu);
    return cv_.wait_for(a.lock, timeout, std::move(stop_waiting));
  }

  void NotifyOne() noexcept { cv_.notify_one(); }
  void NotifyAll() noexcept { cv_.notify_all(); }

 private:
  // A std::unique_lock over the already-held mutex that leaves it held when it goes: the caller's
  // MutexLock (or Lock()) owns the lock, the std::unique_lock only lends it to the wait.
  struct Adopted {
    explicit Adopted(Mutex* mu) : lock(mu->mu_, std::adopt_lock) {}
    ~Adopted() { lock.release(); }
    std::unique_lock<std::mutex> lock;
  };

  std::condition_variable cv_;
};

}  // namespace imgsink

#endif  // IMGSINK_SYNC_MUTEX_H_
