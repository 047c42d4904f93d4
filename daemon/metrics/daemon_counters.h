// DaemonCounters: turns the daemon's status counters (Server::Counters(), the map a status
// request returns) into Prometheus counters and gauges, read at scrape time.
//
// Counters of the status reply that JobMetrics already exposes with labels (written, failed,
// rejected) are left out, so no series is served twice.  Unknown keys are ignored and missing
// keys omitted, so a daemon and exporter of different versions still serve valid text.
// Thread-safety: Collect() may run on any thread, concurrently; it calls `source` each time,
// which must therefore be thread-safe (Server::Counters() is).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace imgsink::daemon {
namespace metrics {

using CountersSource = std::function<std::map<std::string, uint64_t>()>;

// One status counter and the metric it is served as.
struct CounterMetric {
  const char* key;   // the status counter, e.g. "queued"
  const char* name;  // the metric, e.g. "imgsink_jobs_queued"
  prometheus::MetricType type;  // Counter (monotonic) or Gauge (a level)
  const char* help;
};

// The status counters served, in exposition order.
const std::vector<CounterMetric>& CounterMetrics();

class DaemonCounters : public prometheus::Collectable {
 public:
  explicit DaemonCounters(CountersSource source) : source_(std::move(source)) {}

  // One family per CounterMetrics() entry whose key `source` returned.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const CountersSource source_;
};

}  // namespace metrics
}  // namespace imgsink::daemon
