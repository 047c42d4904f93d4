#include "daemon/util/worker_gate.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <catch.hpp>

namespace imgsink::daemon {
namespace {

// Runs `threads` threads that each hold the gate `rounds` times for a moment; returns the most
// that held it at once.
unsigned MostAtOnce(WorkerGate* gate, int threads, int rounds) {
  std::atomic<unsigned> holding{0}, most{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int r = 0; r < rounds; ++r) {
        gate->Acquire();
        const unsigned now = ++holding;
        unsigned seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --holding;
        gate->Release();
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return most.load();
}

TEST_CASE("no more threads than the limit hold the gate at once", "[util][worker_gate]") {
  WorkerGate gate(2);
  const unsigned most = MostAtOnce(&gate, 6, 20);
  CHECK(most >= 1);
  CHECK(most <= 2);
}

TEST_CASE("a raised limit lets waiting threads in; a lowered one holds the next ones back",
          "[util][worker_gate]") {
  WorkerGate gate(1);
  gate.Acquire();
  std::atomic<bool> second_in{false};
  std::thread waiter([&] {
    gate.Acquire();
    second_in = true;
    gate.Release();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(second_in.load());  // limit 1, held by this thread
  gate.SetLimit(2);
  waiter.join();  // would hang if SetLimit did not wake the waiter
  CHECK(second_in.load());
  gate.Release();

  gate.SetLimit(1);
  CHECK(MostAtOnce(&gate, 4, 10) == 1);
}

}  // namespace
}  // namespace imgsink::daemon
