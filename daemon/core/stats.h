// Stats: the daemon's counters, reported by the status request.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "daemon/metrics/job_metrics.h"

namespace imgsink::daemon {

// Thread-safety: every member is an atomic updated with relaxed ordering; Snapshot() is a
// consistent-enough view for monitoring (counters are read one by one).
struct Stats {
  std::atomic<uint64_t> requests{0};      // messages received
  std::atomic<uint64_t> rejected{0};      // requests answered with an error
  std::atomic<uint64_t> accepted{0};      // save requests accepted
  std::atomic<uint64_t> in_progress{0};   // jobs a worker is running now
  std::atomic<uint64_t> written{0};       // jobs whose every file is written
  std::atomic<uint64_t> failed{0};        // accepted jobs that ended with an error
  std::atomic<uint64_t> files_written{0};
  std::atomic<uint64_t> bytes_received{0};  // tensor bytes of accepted jobs
  std::atomic<uint64_t> bytes_written{0};   // encoded bytes written to files
  std::atomic<uint64_t> replayed{0};        // jobs recovered from the journal at start-up
  // Mirrors of the credit ledger (owned by the socket thread), refreshed after each change.
  std::atomic<uint64_t> memory_bytes{0};    // budget bytes in use (reserved + held)
  std::atomic<uint64_t> credit_waiting{0};  // credit requests waiting for room
  std::atomic<uint64_t> dropped{0};         // drop-policy credit requests refused
  std::atomic<uint64_t> busy{0};            // block/error-policy credit requests refused
  // Mirrors of the request handler's peer table and log limiter (socket thread).
  std::atomic<uint64_t> clients_in_flight{0};     // clients with jobs in flight
  std::atomic<uint64_t> log_lines_suppressed{0};  // refusal lines the log rate limit left out
  // Per-event instruments for Prometheus (daemon/metrics/README.md); thread-safe.
  metrics::JobMetrics job_metrics;

  std::map<std::string, uint64_t> Snapshot() const;
};

}  // namespace imgsink::daemon
