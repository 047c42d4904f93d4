#include "daemon/log/log_limiter.h"

namespace imgsink::daemon {

bool LogLimiter::Allow(Clock::time_point now, std::string* note) {
  if (lines_in_window_ == 0 || now - window_start_ >= window_) {
    window_start_ = now;
    lines_in_window_ = 0;
  }
  if (lines_in_window_ >= lines_per_window_) {
    ++suppressed_;
    ++suppressed_total_;
    return false;
  }
  ++lines_in_window_;
  note->clear();
  if (suppressed_ > 0) {
    *note = " (" + std::to_string(suppressed_) + " similar lines suppressed)";
    suppressed_ = 0;
  }
  return true;
}

}  // namespace imgsink::daemon
