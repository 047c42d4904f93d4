#include "byte_budget.h"

namespace imgsink {
namespace internal {

bool ByteBudget::Acquire(size_t bytes, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto fits = [&] { return held_ == 0 || (held_ <= limit_ && bytes <= limit_ - held_); };
  if (!cv_.wait_for(lock, timeout, fits)) return false;
  held_ += bytes;
  return true;
}

void ByteBudget::Release(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_ -= bytes;
  }
  cv_.notify_all();
}

size_t ByteBudget::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

}  // namespace internal
}  // namespace imgsink
