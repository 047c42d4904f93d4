#include "byte_budget.h"

namespace imgsink {
namespace internal {

bool ByteBudget::Acquire(size_t bytes, std::chrono::milliseconds timeout) {
  MutexLock lock(&mu_);
  auto fits = [&]() REQUIRES(mu_) {
    return held_ == 0 || (held_ <= limit_ && bytes <= limit_ - held_);
  };
  if (!cv_.WaitFor(&mu_, timeout, fits)) return false;
  held_ += bytes;
  return true;
}

void ByteBudget::Release(size_t bytes) {
  {
    MutexLock lock(&mu_);
    held_ -= bytes;
  }
  cv_.NotifyAll();
}

size_t ByteBudget::held() const {
  MutexLock lock(&mu_);
  return held_;
}

}  // namespace internal
}  // namespace imgsink
