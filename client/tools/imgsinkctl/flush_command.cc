// imgsinkctl flush: waits until the daemon has nothing queued, in progress or retrying.
#include <algorithm>
#include <iostream>
#include <thread>

#include "commands.h"
#include "daemon_link.h"
#include "format.h"

namespace imgsink {
namespace ctl {
namespace {

using Clock = std::chrono::steady_clock;

// Polls often enough that a drained daemon is noticed at once, rarely enough to cost nothing.
constexpr std::chrono::milliseconds kPoll{100};
// Progress lines: on each change of the backlog, but at most this often.
constexpr std::chrono::seconds kProgressEvery{1};

std::string Left(const Counters& c) {
  return std::to_string(Backlog(c)) + " left (" + std::to_string(Get(c, "queued")) +
         " queued, " + std::to_string(Get(c, "in_progress")) + " in progress, " +
         std::to_string(Get(c, "retrying")) + " retrying)";
}

}  // namespace

int RunFlush(const Target& target, double timeout_s) {
  std::unique_ptr<DaemonLink> link;
  Status s = DaemonLink::Open(target.endpoint, target.timeout, &link);
  if (!s.ok()) return ReportFetchError(target.endpoint, s);
  const Clock::time_point start = Clock::now();
  const bool limited = timeout_s > 0;
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  uint64_t peak = 0, last_backlog = UINT64_MAX;
  Clock::time_point last_print;
  Counters c;
  for (;;) {
    s = link->Fetch(&c);
    if (!s.ok()) return ReportFetchError(target.endpoint, s);
    const uint64_t backlog = Backlog(c);
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (backlog == 0) {
      std::cout << "flushed after " << Fixed(waited, 1) << " s: " << Get(c, "written")
                << " jobs written, " << Get(c, "failed") << " failed since the daemon started\n";
      return kExitOk;
    }
    peak = std::max(peak, backlog);
    if (backlog != last_backlog && Clock::now() - last_print >= kProgressEvery) {
      std::cout << "waiting: " << Left(c) << " " << ProgressBar(peak - backlog, peak, 20) << "\n"
                << std::flush;
      last_print = Clock::now();
      last_backlog = backlog;
    }
    if (limited && Clock::now() >= deadline) {
      std::cout << "timed out after " << Fixed(waited, 1) << " s: " << Left(c) << "\n";
      return kExitFailed;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace ctl
}  // namespace imgsink
