// CopyBufferPool: released kCopy buffers are reused, within the bound.
#include <catch.hpp>

#include <cstring>
#include <thread>
#include <vector>

#include "copy_buffer_pool.h"

namespace imgsink {
namespace internal {
namespace {

TEST_CASE("CopyBufferPool reuses a released buffer of the same size", "[copy_buffer_pool]") {
  CopyBufferPool pool(1 << 20);
  CopyBuffer first = pool.Take(1000);
  REQUIRE(first.data != nullptr);
  REQUIRE(first.capacity == 1000);
  void* const address = first.data.get();
  pool.Give(std::move(first));
  CHECK(pool.cached_bytes() == 1000);
  CopyBuffer again = pool.Take(1000);
  CHECK(again.data.get() == address);
  CHECK(pool.cached_bytes() == 0);
  CopyBuffer fresh = pool.Take(1000);  // nothing cached now
  CHECK(fresh.data.get() != address);
}

TEST_CASE("CopyBufferPool takes the smallest fitting buffer, at most twice the size",
          "[copy_buffer_pool]") {
  CopyBufferPool pool(1 << 20);
  CopyBuffer small = pool.Take(100);
  CopyBuffer medium = pool.Take(300);
  CopyBuffer large = pool.Take(1000);
  void* const medium_address = medium.data.get();
  void* const large_address = large.data.get();
  pool.Give(std::move(small));
  pool.Give(std::move(large));
  pool.Give(std::move(medium));
  CHECK(pool.cached_buffers() == 3);
  CHECK(pool.Take(250).data.get() == medium_address);  // not the 1000, not the too-small 100
  CopyBuffer tiny = pool.Take(10);  // 100 is more than twice 10: a fresh one
  CHECK(tiny.capacity == 10);
  CHECK(pool.cached_buffers() == 2);
  CHECK(pool.Take(600).data.get() == large_address);
}

TEST_CASE("CopyBufferPool stays within its bound, keeping the bigger buffers",
          "[copy_buffer_pool]") {
  CopyBufferPool pool(1000);
  CopyBuffer a = pool.Take(400);
  CopyBuffer b = pool.Take(400);
  CopyBuffer c = pool.Take(500);
  CopyBuffer too_big = pool.Take(1001);
  pool.Give(std::move(a));
  pool.Give(std::move(b));
  CHECK(pool.cached_bytes() == 800);
  pool.Give(std::move(c));  // evicts one 400 to make room
  CHECK(pool.cached_bytes() == 900);
  CHECK(pool.cached_buffers() == 2);
  pool.Give(std::move(too_big));  // over the bound on its own: freed
  CHECK(pool.cached_bytes() == 900);
  CopyBuffer d = pool.Take(200);
  pool.Give(std::move(d));  // only bigger buffers could make room: not cached
  CHECK(pool.cached_bytes() == 900);
}

TEST_CASE("CopyBufferPool evicts nothing for a buffer it will not keep", "[copy_buffer_pool]") {
  CopyBufferPool pool(1000);
  CopyBuffer small = pool.Take(100);
  CopyBuffer big = pool.Take(800);
  CopyBuffer middle = pool.Take(500);
  pool.Give(std::move(small));
  pool.Give(std::move(big));
  CHECK(pool.cached_bytes() == 900);
  // Even without the 100 the 500 does not fit next to the 800: the 100 must stay cached.
  pool.Give(std::move(middle));
  CHECK(pool.cached_bytes() == 900);
  CHECK(pool.cached_buffers() == 2);
}

TEST_CASE("CopyBufferPool with a zero bound keeps nothing", "[copy_buffer_pool]") {
  CopyBufferPool pool(0);
  pool.Give(pool.Take(64));
  CHECK(pool.cached_bytes() == 0);
  CHECK(pool.cached_buffers() == 0);
}

TEST_CASE("CopyBufferPool is safe to share between threads", "[copy_buffer_pool]") {
  CopyBufferPool pool(64 * 4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 2000; ++i) {
        CopyBuffer buffer = pool.Take(4096);
        std::memset(buffer.data.get(), t, 4096);  // ASan/TSan see a shared buffer here
        pool.Give(std::move(buffer));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(pool.cached_bytes() <= 64 * 4096);
}

}  // namespace
}  // namespace internal
}  // namespace imgsink
