#include "daemon/log/log_limiter.h"

#include <catch.hpp>

namespace imgsink::daemon {
namespace {

using std::chrono::milliseconds;

// Issue 12, row 13: a million bad frames made 100 MB of log.
TEST_CASE("a flood of lines is cut to the per-window quota, and the count is reported") {
  LogLimiter limiter(3, milliseconds(1000));
  const auto t0 = LogLimiter::Clock::now();
  std::string note;
  int logged = 0;
  for (int i = 0; i < 1000000; ++i) {
    if (limiter.Allow(t0 + milliseconds(i), &note)) ++logged;  // 1000 s of 1000 lines/s
  }
  CHECK(logged == 3000);
  CHECK(limiter.suppressed_total() == 1000000 - 3000);
  REQUIRE(limiter.Allow(t0 + milliseconds(1000 * 1000 + 5), &note));
  CHECK(note == " (997 similar lines suppressed)");
  CHECK(limiter.Allow(t0 + milliseconds(1000 * 1000 + 6), &note));
  CHECK(note.empty());
}

TEST_CASE("lines under the quota all pass, with no note") {
  LogLimiter limiter(2, milliseconds(100));
  const auto t0 = LogLimiter::Clock::now();
  std::string note = "x";
  for (int i = 0; i < 50; ++i) {
    REQUIRE(limiter.Allow(t0 + milliseconds(100 * i), &note));
    CHECK(note.empty());
  }
  CHECK(limiter.suppressed_total() == 0);
}

}  // namespace
}  // namespace imgsink::daemon
