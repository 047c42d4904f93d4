// Replaces the global operator new to remember the largest single request, so tests can show
// that a garbage length in the journal is rejected without being allocated, and the peak of the
// bytes held at once (malloc_usable_size of every live block), so they can bound what recovery
// holds.
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"

namespace {
std::atomic<size_t> g_max_allocation{0};
std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak_live{0};

void RaiseTo(std::atomic<size_t>* max, size_t n) {
  size_t seen = max->load(std::memory_order_relaxed);
  while (n > seen && !max->compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}

void* Allocate(size_t n) {
  RaiseTo(&g_max_allocation, n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    RaiseTo(&g_peak_live, g_live.fetch_add(malloc_usable_size(p), std::memory_order_relaxed) +
                              malloc_usable_size(p));
    return p;
  }
  throw std::bad_alloc();
}

void Free(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
  std::free(p);
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
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }

namespace imgsink::daemon::journal::testing {
size_t MaxAllocation() { return g_max_allocation.load(); }
void ResetMaxAllocation() { g_max_allocation.store(0); }
size_t LiveBytes() { return g_live.load(); }
size_t PeakLiveBytes() { return g_peak_live.load(); }
void ResetPeakLiveBytes() { g_peak_live.store(g_live.load()); }
}  // namespace imgsink::daemon::journal::testing
