// imgsink/sync/mutex.h at run time: MutexLock excludes, Unlock/Lock hand the mutex over, and
// every CondVar wait gives the mutex up while blocked and holds it again when it returns.
// (Whether clang checks the annotations is thread_safety_check.cmake's test.)
#include "imgsink/sync/mutex.h"

#include <catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

namespace imgsink {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A counter and a flag behind one mutex, as the daemon's and client's classes hold them.
struct Shared {
  Mutex mu;
  CondVar cv;
  int count GUARDED_BY(mu) = 0;
  bool flag GUARDED_BY(mu) = false;

  void Set() EXCLUDES(mu) {
    {
      MutexLock lock(&mu);
      flag = true;
    }
    cv.NotifyAll();
  }
};

TEST_CASE("mutex: MutexLock makes increments exclusive", "[sync]") {
  Shared s;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&s] {
      for (int i = 0; i < kEach; ++i) {
        MutexLock lock(&s.mu);
        ++s.count;
      }
    });
  }
  for (auto& t : threads) t.join();
  MutexLock lock(&s.mu);
  CHECK(s.count == kThreads * kEach);
}

TEST_CASE("mutex: Unlock lets another thread in, Lock takes the mutex back", "[sync]") {
  Shared s;
  MutexLock lock(&s.mu);
  s.count = 1;
  lock.Unlock();
  // Would deadlock if Unlock had not released the mutex.
  std::thread other([&s] {
    MutexLock l(&s.mu);
    s.count = 2;
  });
  other.join();
  lock.Lock();
  CHECK(s.count == 2);
}  // the destructor releases what Lock took; a second lock below proves it

TEST_CASE("mutex: the destructor releases only what the MutexLock holds", "[sync]") {
  Shared s;
  {
    MutexLock lock(&s.mu);
    lock.Unlock();
  }  // not held: must not unlock again
  {
    MutexLock lock(&s.mu);
    lock.Unlock();
    lock.Lock();
  }  // held again: must unlock
  MutexLock lock(&s.mu);  // deadlocks if either scope left the mutex held
  CHECK(s.count == 0);
}

TEST_CASE("mutex: Wait with a predicate returns once another thread makes it true", "[sync]") {
  Shared s;
  std::thread setter([&s] {
    std::this_thread::sleep_for(milliseconds(20));
    s.Set();  // takes the mutex: the waiter must have released it
  });
  {
    MutexLock lock(&s.mu);
    s.cv.Wait(&s.mu, [&s]() REQUIRES(s.mu) { return s.flag; });
    CHECK(s.flag);
    ++s.count;  // still held after the wait
  }
  setter.join();
  MutexLock lock(&s.mu);
  CHECK(s.count == 1);
}

TEST_CASE("mutex: Wait without a predicate, in a loop, sees the change", "[sync]") {
  Shared s;
  std::thread setter([&s] { s.Set(); });
  {
    MutexLock lock(&s.mu);
    while (!s.flag) s.cv.Wait(&s.mu);
    CHECK(s.flag);
  }
  setter.join();
}

TEST_CASE("mutex: WaitFor returns false at the timeout, true once the predicate holds",
          "[sync]") {
  Shared s;
  MutexLock lock(&s.mu);
  const auto start = Clock::now();
  CHECK_FALSE(s.cv.WaitFor(&s.mu, milliseconds(30), [&s]() REQUIRES(s.mu) { return s.flag; }));
  CHECK(Clock::now() - start >= milliseconds(30));
  s.count = 7;  // held again after a timed-out wait

  lock.Unlock();
  std::thread setter([&s] { s.Set(); });
  lock.Lock();
  CHECK(s.cv.WaitFor(&s.mu, std::chrono::seconds(10), [&s]() REQUIRES(s.mu) { return s.flag; }));
  CHECK(s.count == 7);
  lock.Unlock();
  setter.join();
}

TEST_CASE("mutex: WaitUntil returns false once the deadline has passed", "[sync]") {
  Shared s;
  MutexLock lock(&s.mu);
  const auto deadline = Clock::now() + milliseconds(20);
  bool notified = true;
  while (!s.flag && notified) notified = s.cv.WaitUntil(&s.mu, deadline);
  CHECK_FALSE(notified);
  CHECK(Clock::now() >= deadline);
  // The mutex is held again: another thread cannot set the flag until this scope unlocks.
  std::thread setter([&s] { s.Set(); });
  std::this_thread::sleep_for(milliseconds(20));
  CHECK_FALSE(s.flag);
  while (!s.flag) s.cv.Wait(&s.mu);
  lock.Unlock();
  setter.join();
}

}  // namespace
}  // namespace imgsink
