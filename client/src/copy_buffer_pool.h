// CopyBufferPool: keeps the buffers of released Ownership::kCopy frames for the next copies.
//
// Why: a fresh tensor-sized malloc is a fresh mmap, and writing into it faults in every page
// (12k faults, 26-29 ms for a 50 MB batch against 5-6 ms for a memcpy into warm memory).
// Reusing released buffers keeps save_image's cost at the memcpy.  The pool is bounded
// (ClientOptions::copy_buffer_cache_bytes); what does not fit is freed at once.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// A malloc'd block and its usable size.
struct CopyBuffer {
  std::unique_ptr<void, FreeDeleter> data;
  size_t capacity = 0;
};

// Thread-safety: every method is safe to call from any thread (libzmq's I/O thread gives
// buffers back while callers take them).
class CopyBufferPool {
 public:
  // Keeps at most `max_cached_bytes` of capacity in released buffers (0: keep none).
  explicit CopyBufferPool(size_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}
  CopyBufferPool(const CopyBufferPool&) = delete;
  CopyBufferPool& operator=(const CopyBufferPool&) = delete;

  // Returns a buffer of at least `bytes` bytes: the smallest cached one that fits and is not
  // more than twice as large (so a small tensor does not pin a huge block), else a fresh
  // malloc.  Returns an empty buffer (data null) if memory ran out.  REQUIRES: bytes >= 1.
  CopyBuffer Take(size_t bytes);

  // Caches `buffer` if it fits in the bound, evicting cached buffers no bigger than it if that
  // makes room (the big ones are the expensive ones to fault in); else frees it and evicts
  // nothing.
  void Give(CopyBuffer buffer);

  size_t cached_bytes() const;
  size_t cached_buffers() const;

 private:
  const size_t max_cached_bytes_;
  mutable Mutex mu_;
  // Invariant: sum of capacities == cached_bytes_ <= max
  std::vector<CopyBuffer> cached_ GUARDED_BY(mu_);
  size_t cached_bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace internal
}  // namespace imgsink
