// imgsinkctl's subcommands.  Each returns the process exit code (daemon_link.h: kExit*) and
// prints its own errors.  Thread-safety: one thread.
#pragma once

#include <chrono>
#include <string>

namespace imgsink {
namespace ctl {

// How to reach the daemon (the global options).
struct Target {
  std::string endpoint;               // ZeroMQ endpoint of imgsinkd
  std::chrono::milliseconds timeout;  // per status request, connection included
};

// `status [--json]`: the daemon's counters as a table, or as one JSON object (every counter).
int RunStatus(const Target& target, bool json);

// `flush [--timeout S]`: waits until nothing is queued, in progress or retrying, printing
// progress.  timeout_s <= 0: no limit.  Exit 1 if the time ran out.
int RunFlush(const Target& target, double timeout_s);

// `watch [--interval S] [--count N]`: one line per interval (throughput from counter deltas,
// queue, journal, a progress bar while a backlog drains); count 0: until interrupted.
int RunWatch(const Target& target, double interval_s, int count);

// `keygen --out PREFIX [--force]`: a CURVE keypair in Z85 text, PREFIX.key (secret, mode 0600)
// and PREFIX.pub (mode 0644).  Refuses to overwrite either file unless `force`.
int RunKeygen(const std::string& prefix, bool force);

}  // namespace ctl
}  // namespace imgsink
