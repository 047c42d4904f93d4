#include "endpoint_router.h"

namespace imgsink {
namespace internal {

size_t EndpointRouter::Pick(const std::vector<EndpointLoad>& loads) {
  const size_t n = loads.size();
  if (policy_ == EndpointPolicy::kFailover) {
    for (size_t i = 0; i < n; ++i) {
      if (loads[i].connected) return i;
    }
    return kNone;
  }
  MutexLock lock(&mu_);
  size_t best = kNone;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (next_ + k) % n;
    if (!loads[i].connected) continue;
    // Strictly fewer: among equals the first after the cursor wins.
    if (best == kNone || loads[i].pending_bytes < loads[best].pending_bytes) best = i;
  }
  if (best != kNone) next_ = (best + 1) % n;
  return best;
}

}  // namespace internal
}  // namespace imgsink
