// Snippets for thread_safety_check.cmake: compiled once as-is (must build without a warning) and
// once per IMGSINK_VIOLATION=<n> (each must fail with Clang's thread-safety error), with the
// compile options the tree builds with.  If a violation compiles, the clang build no longer checks
// the lock annotations (flag dropped, macros expanding to nothing, Mutex no longer a capability).
#include "imgsink/sync/mutex.h"

namespace imgsink {

class Counter {
 public:
  void Add(int n) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    AddLocked(n);
    cv_.NotifyAll();
  }
  void WaitPositive() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return value_ > 0; });
    lock.Unlock();
    lock.Lock();
    value_ = 0;
  }

#if IMGSINK_VIOLATION == 1  // reads a GUARDED_BY member without its mutex
  int Read() { return value_; }
#elif IMGSINK_VIOLATION == 2  // calls a REQUIRES function without the mutex
  void Bump() { AddLocked(1); }
#elif IMGSINK_VIOLATION == 3  // waits without holding the mutex
  void WaitUnlocked() { cv_.Wait(&mu_); }
#elif IMGSINK_VIOLATION == 4  // a wait predicate not marked REQUIRES reads guarded state
  void WaitUnmarked() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [this] { return value_ > 0; });
  }
#elif IMGSINK_VIOLATION == 5  // writes after MutexLock::Unlock
  void WriteAfterUnlock() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    lock.Unlock();
    value_ = 1;
  }
#elif IMGSINK_VIOLATION == 6  // locks a mutex the caller must not hold
  void Nested() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    Add(1);
  }
#endif

 private:
  void AddLocked(int n) REQUIRES(mu_) { value_ += n; }

  Mutex mu_;
  CondVar cv_;
  int value_ GUARDED_BY(mu_) = 0;
};

}  // namespace imgsink

int main() {
  imgsink::Counter c;
  c.Add(1);
  c.WaitPositive();
  return 0;
}
