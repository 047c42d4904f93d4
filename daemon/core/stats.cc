#include "daemon/core/stats.h"

namespace imgsink::daemon {

std::map<std::string, uint64_t> Stats::Snapshot() const {
  const uint64_t acc = accepted.load(std::memory_order_relaxed);
  const uint64_t ended = written.load(std::memory_order_relaxed) + failed.load(std::memory_order_relaxed);
  const uint64_t running = in_progress.load(std::memory_order_relaxed);
  const uint64_t pending = acc > ended ? acc - ended : 0;  // accepted, not yet ended
  return {
      {"requests", requests.load(std::memory_order_relaxed)},
      {"rejected", rejected.load(std::memory_order_relaxed)},
      {"accepted", acc},
      {"queued", pending > running ? pending - running : 0},
      {"in_progress", running},
      {"written", written.load(std::memory_order_relaxed)},
      {"failed", failed.load(std::memory_order_relaxed)},
      {"files_written", files_written.load(std::memory_order_relaxed)},
      {"bytes_received", bytes_received.load(std::memory_order_relaxed)},
      {"bytes_written", bytes_written.load(std::memory_order_relaxed)},
      {"replayed", replayed.load(std::memory_order_relaxed)},
      {"memory_bytes", memory_bytes.load(std::memory_order_relaxed)},
      {"credit_waiting", credit_waiting.load(std::memory_order_relaxed)},
      {"dropped", dropped.load(std::memory_order_relaxed)},
      {"busy", busy.load(std::memory_order_relaxed)},
      {"clients_in_flight", clients_in_flight.load(std::memory_order_relaxed)},
      {"log_lines_suppressed", log_lines_suppressed.load(std::memory_order_relaxed)},
  };
}

}  // namespace imgsink::daemon
