// imgsinkctl watch: a line per interval with throughput (from counter deltas), queue and journal,
// and a progress bar while a backlog drains.  On a terminal the line refreshes in place.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <thread>

#include "commands.h"
#include "daemon_link.h"
#include "format.h"

namespace imgsink {
namespace ctl {
namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  Clock::time_point at;
  Counters counters;
};

std::string WallClock() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &local);
  return buf;
}

// Per-second rate of counter `key` between two samples; "-" without an earlier one.
std::string Rate(const Sample* before, const Sample& now, const std::string& key, double scale,
                 int decimals) {
  if (before == nullptr) return "-";
  const double dt = std::chrono::duration<double>(now.at - before->at).count();
  const uint64_t a = Get(before->counters, key), b = Get(now.counters, key);
  if (dt <= 0 || b < a) return "-";  // b < a: the daemon restarted
  return Fixed(double(b - a) / dt / scale, decimals);
}

}  // namespace

int RunWatch(const Target& target, double interval_s, int count) {
  std::unique_ptr<DaemonLink> link;
  Status s = DaemonLink::Open(target.endpoint, target.timeout, &link);
  if (!s.ok()) return ReportFetchError(target.endpoint, s);
  const bool tty = isatty(STDOUT_FILENO) == 1;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(interval_s));
  Sample previous;
  bool have_previous = false;
  uint64_t peak = 0;  // largest backlog since it was last 0
  Clock::time_point next = Clock::now();
  for (int i = 0; count <= 0 || i < count; ++i) {
    std::this_thread::sleep_until(next);
    next += interval;
    Sample now;
    s = link->Fetch(&now.counters);
    now.at = Clock::now();
    if (!s.ok()) {
      if (tty) std::cout << "\n";
      return ReportFetchError(target.endpoint, s);
    }
    const Counters& c = now.counters;
    const Sample* before = have_previous ? &previous : nullptr;
    const uint64_t backlog = Backlog(c);
    peak = backlog == 0 ? 0 : std::max(peak, backlog);
    std::string line = WallClock() + "  jobs/s " + Rate(before, now, "written", 1, 1) +
                       "  MB/s " + Rate(before, now, "bytes_written", 1e6, 2) + "  queued " +
                       std::to_string(Get(c, "queued")) + "  in progress " +
                       std::to_string(Get(c, "in_progress")) + "  retrying " +
                       std::to_string(Get(c, "retrying")) + "  journal " +
                       HumanBytes(Get(c, "journal_bytes"));
    if (backlog > 0) {
      line += "  draining " + ProgressBar(peak - backlog, peak, 20) + " " +
              std::to_string(peak - backlog) + "/" + std::to_string(peak);
    }
    if (tty) {
      std::cout << "\r\033[K" << line << std::flush;  // refresh in place
    } else {
      std::cout << line << "\n" << std::flush;
    }
    previous = std::move(now);
    have_previous = true;
  }
  if (tty) std::cout << "\n";
  return kExitOk;
}

}  // namespace ctl
}  // namespace imgsink
