// Replaces the global operator new to remember the largest single request, so tests can show
// that a garbage length in the journal is rejected without being allocated.
#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"

namespace {
std::atomic<size_t> g_max_allocation{0};

void* Allocate(size_t n) {
  size_t seen = g_max_allocation.load(std::memory_order_relaxed);
  while (n > seen && !g_max_allocation.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
// Replaced too, so that every operator delete below frees what this file allocated (the
// sanitizers check the pairing).
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return Allocate(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace imgsink::daemon::journal::testing {
size_t MaxAllocation() { return g_max_allocation.load(); }
void ResetMaxAllocation() { g_max_allocation.store(0); }
}  // namespace imgsink::daemon::journal::testing
