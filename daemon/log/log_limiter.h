// LogLimiter: caps how many lines of one kind (e.g. "request refused") reach the log, so a
// client sending a million bad frames cannot fill the disk with a million lines (issue 12,
// row 13).  Up to `lines_per_window` lines pass per window; the rest are counted, and the
// first line let through after them says how many were suppressed.
// Thread-safety: none; each owner (e.g. the socket thread) keeps its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace imgsink::daemon {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: lines_per_window >= 1, window > 0.
  explicit LogLimiter(uint32_t lines_per_window = 20,
                      Clock::duration window = std::chrono::seconds(10))
      : lines_per_window_(lines_per_window), window_(window) {}

  // Returns true iff a line at `now` may be logged; then *note is "" or, when lines were
  // suppressed since the last one logged, " (N similar lines suppressed)" to append to it.
  // Returns false (the line is counted as suppressed) otherwise.
  bool Allow(Clock::time_point now, std::string* note);

  uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  const uint32_t lines_per_window_;
  const Clock::duration window_;
  Clock::time_point window_start_{};
  uint32_t lines_in_window_ = 0;
  uint64_t suppressed_ = 0;  // since the last line logged
  uint64_t suppressed_total_ = 0;
};

}  // namespace imgsink::daemon
