#include "copy_buffer_pool.h"

#include <algorithm>

namespace imgsink {
namespace internal {

CopyBuffer CopyBufferPool::Take(size_t bytes) {
  {
    MutexLock lock(&mu_);
    auto best = cached_.end();
    for (auto it = cached_.begin(); it != cached_.end(); ++it) {
      const bool fits = it->capacity >= bytes && it->capacity / 2 <= bytes;
      if (fits && (best == cached_.end() || it->capacity < best->capacity)) best = it;
    }
    if (best != cached_.end()) {
      CopyBuffer buffer = std::move(*best);
      cached_.erase(best);
      cached_bytes_ -= buffer.capacity;
      return buffer;
    }
  }
  CopyBuffer fresh;
  fresh.data.reset(std::malloc(bytes));
  if (fresh.data != nullptr) fresh.capacity = bytes;
  return fresh;
}

void CopyBufferPool::Give(CopyBuffer buffer) {
  if (buffer.data == nullptr || buffer.capacity > max_cached_bytes_) return;  // freed here
  std::vector<CopyBuffer> evicted;  // freed after the lock is dropped
  {
    MutexLock lock(&mu_);
    std::sort(cached_.begin(), cached_.end(),
              [](const CopyBuffer& a, const CopyBuffer& b) { return a.capacity < b.capacity; });
    // Evict only if evicting buffers no bigger than this one makes room; else keep them all
    // and free this one (bigger cached buffers are worth more).
    size_t evictable = 0;
    for (const CopyBuffer& cached : cached_) {
      if (cached.capacity > buffer.capacity) break;
      evictable += cached.capacity;
    }
    if (cached_bytes_ - evictable + buffer.capacity > max_cached_bytes_) return;
    while (cached_bytes_ + buffer.capacity > max_cached_bytes_) {
      cached_bytes_ -= cached_.front().capacity;
      evicted.push_back(std::move(cached_.front()));
      cached_.erase(cached_.begin());
    }
    cached_bytes_ += buffer.capacity;
    cached_.push_back(std::move(buffer));
  }
}

size_t CopyBufferPool::cached_bytes() const {
  MutexLock lock(&mu_);
  return cached_bytes_;
}

size_t CopyBufferPool::cached_buffers() const {
  MutexLock lock(&mu_);
  return cached_.size();
}

}  // namespace internal
}  // namespace imgsink
