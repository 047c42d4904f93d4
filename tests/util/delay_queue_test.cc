#include "daemon/util/delay_queue.h"

#include <atomic>
#include <future>
#include <vector>

#include <catch.hpp>

namespace imgsink::daemon {
namespace {

TEST_CASE("tasks run in time order", "[util][delay_queue]") {
  DelayQueue q;
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> done;
  const auto now = DelayQueue::Clock::now();
  q.RunAt(now + std::chrono::milliseconds(30), [&] {
    std::lock_guard<std::mutex> l(mu);
    order.push_back(2);
    done.set_value();
  });
  q.RunAt(now + std::chrono::milliseconds(10), [&] {
    std::lock_guard<std::mutex> l(mu);
    order.push_back(1);
  });
  done.get_future().wait();
  std::lock_guard<std::mutex> l(mu);
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("RunAllNow runs far-future tasks at once; the destructor runs the rest", "[util][delay_queue]") {
  std::atomic<int> ran{0};
  {
    DelayQueue q;
    std::promise<void> first;
    q.RunAt(DelayQueue::Clock::now() + std::chrono::hours(1), [&] {
      ++ran;
      first.set_value();
    });
    q.RunAllNow();
    first.get_future().wait();
    CHECK(ran == 1);
    q.RunAt(DelayQueue::Clock::now() + std::chrono::hours(1), [&] { ++ran; });
  }
  CHECK(ran == 2);
}

}  // namespace
}  // namespace imgsink::daemon
