#include "shm_arena.h"

#include <iterator>

namespace imgsink {
namespace internal {
namespace {

constexpr size_t kPage = 4096;  // regions start on pages: aligned reads for the daemon's render

size_t RoundUp(size_t n) { return (n + kPage - 1) / kPage * kPage; }

}  // namespace

std::shared_ptr<ShmArena> ShmArena::Create(size_t bytes) {
  std::shared_ptr<ShmArena> arena(new ShmArena());
  if (!ShmSegment::Create(RoundUp(bytes > 0 ? bytes : 1), &arena->segment_).ok()) return nullptr;
  MutexLock lock(&arena->mu_);
  arena->free_[0] = arena->segment_.size();
  return arena;
}

bool ShmArena::Take(size_t bytes, size_t* offset, size_t* reserved) {
  const size_t need = RoundUp(bytes > 0 ? bytes : 1);
  MutexLock lock(&mu_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    *offset = it->first;
    *reserved = need;
    if (it->second > need) free_[it->first + need] = it->second - need;
    free_.erase(it);
    return true;
  }
  return false;
}

void ShmArena::Give(size_t offset, size_t reserved) {
  MutexLock lock(&mu_);
  auto it = free_.emplace(offset, reserved).first;
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

size_t ShmArena::free_bytes() const {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [offset, size] : free_) n += size;
  return n;
}

}  // namespace internal
}  // namespace imgsink
