#include "daemon/metrics/daemon_counters.h"

#include <prometheus/client_metric.h>

#include <string>

namespace imgsink::daemon {
namespace metrics {

const std::vector<CounterMetric>& CounterMetrics() {
  using prometheus::MetricType;
  static const std::vector<CounterMetric> kMetrics = {
      // Monotonic since the daemon started.
      {"requests", "imgsink_requests_total", MetricType::Counter,
       "Messages received (save, credit and status requests)"},
      {"accepted", "imgsink_jobs_accepted_total", MetricType::Counter,
       "Save requests acknowledged (with the journal on: once durable in the journal)"},
      {"replayed", "imgsink_jobs_replayed_total", MetricType::Counter,
       "Jobs recovered from the journal at start-up"},
      {"files_written", "imgsink_files_written_total", MetricType::Counter,
       "Output files written durably"},
      {"bytes_received", "imgsink_received_bytes_total", MetricType::Counter,
       "Tensor bytes of save requests taken into the pipeline"},
      {"bytes_written", "imgsink_written_bytes_total", MetricType::Counter,
       "Encoded bytes written to output files"},
      {"dropped", "imgsink_credit_dropped_total", MetricType::Counter,
       "Credit requests with the drop policy refused for lack of room"},
      {"busy", "imgsink_credit_busy_total", MetricType::Counter,
       "Credit requests with the block or error policy refused as busy"},
      {"replies_dropped", "imgsink_replies_dropped_total", MetricType::Counter,
       "Replies and done events dropped: their client had --max-pending-replies unread, or was gone"},
      {"log_lines_suppressed", "imgsink_log_lines_suppressed_total", MetricType::Counter,
       "Refusal log lines left out by the log rate limit"},
      // Levels, now.
      {"clients_in_flight", "imgsink_peers_with_jobs", MetricType::Gauge,
       "Clients with jobs in flight"},
      {"queued", "imgsink_jobs_queued", MetricType::Gauge,
       "Accepted jobs waiting for a worker"},
      {"in_progress", "imgsink_jobs_in_progress", MetricType::Gauge,
       "Jobs a worker is rendering or writing now"},
      {"retrying", "imgsink_jobs_retrying", MetricType::Gauge,
       "Jobs waiting for a blocked output to write again (ENOSPC, EIO, ...)"},
      {"output_blocked", "imgsink_output_blocked", MetricType::Gauge,
       "1 while the output is blocked by a condition that can pass: no credit is granted"},
      {"output_blocked_errno", "imgsink_output_blocked_errno", MetricType::Gauge,
       "The errno that blocks the output (28 ENOSPC, 122 EDQUOT, 5 EIO); 0 when not blocked"},
      {"credit_waiting", "imgsink_credit_waiting_requests", MetricType::Gauge,
       "Credit requests waiting for room in the budgets"},
      {"memory_bytes", "imgsink_memory_bytes", MetricType::Gauge,
       "Bytes of the memory budget in use (granted credit and jobs held in RAM)"},
      {"memory_budget", "imgsink_memory_budget_bytes", MetricType::Gauge,
       "The memory budget (--memory-budget)"},
      {"journal_bytes", "imgsink_journal_bytes", MetricType::Gauge,
       "Bytes of journal on disk"},
      {"journal_budget", "imgsink_journal_budget_bytes", MetricType::Gauge,
       "The journal budget (--journal-budget; 0 with the journal off)"},
      // s3:// outputs (daemon/output/s3/s3_sink.cc; summed over all of them; absent without one).
      // Their latency sum (status key s3_request_latency_us) is not served: Prometheus wants
      // seconds, and these values are served unscaled.
      {"s3_objects", "imgsink_s3_objects_total", MetricType::Counter,
       "Objects the S3 store confirmed (PUT or completed multipart upload)"},
      {"s3_multipart_uploads", "imgsink_s3_multipart_uploads_total", MetricType::Counter,
       "Multipart uploads begun"},
      {"s3_multipart_aborted", "imgsink_s3_multipart_aborted_total", MetricType::Counter,
       "Multipart uploads aborted (failed, or left open by a crash and aborted at start-up)"},
      {"s3_requests", "imgsink_s3_requests_total", MetricType::Counter,
       "S3 requests finished (after their last try)"},
      {"s3_request_failures", "imgsink_s3_request_failures_total", MetricType::Counter,
       "S3 requests that failed after their last try (the job is retried later)"},
      {"s3_retries", "imgsink_s3_retries_total", MetricType::Counter,
       "S3 request tries beyond the first (5xx, 429, SlowDown, connection errors)"},
      {"s3_bytes_uploaded", "imgsink_s3_uploaded_bytes_total", MetricType::Counter,
       "Body bytes of successful S3 requests"},
      {"s3_manifest_objects", "imgsink_s3_manifest_objects_total", MetricType::Counter,
       "Manifest objects written to S3"},
      {"s3_in_flight_bytes", "imgsink_s3_in_flight_bytes", MetricType::Gauge,
       "Body bytes of S3 requests not finished yet"},
      {"s3_backlog_requests", "imgsink_s3_backlog_requests", MetricType::Gauge,
       "S3 requests not finished yet (running, waiting for a connection or backing off)"},
  };
  return kMetrics;
}

std::vector<prometheus::MetricFamily> DaemonCounters::Collect() const {
  const std::map<std::string, uint64_t> counters = source_();
  std::vector<prometheus::MetricFamily> families;
  for (const CounterMetric& m : CounterMetrics()) {
    const auto it = counters.find(m.key);
    if (it == counters.end()) continue;
    prometheus::ClientMetric sample;
    if (m.type == prometheus::MetricType::Counter) {
      sample.counter.value = double(it->second);
    } else {
      sample.gauge.value = double(it->second);
    }
    families.push_back(prometheus::MetricFamily{m.name, m.help, m.type, {sample}});
  }
  // Each output's own S3 counters ("sink.<i>.s3_*", the status reply's per-sink keys) as
  // imgsink_sink_s3_*{sink="<i>"}: the sums above hide which store is behind.
  for (const CounterMetric& m : CounterMetrics()) {
    const std::string key = m.key, name = m.name;
    if (key.rfind("s3_", 0) != 0) continue;
    prometheus::MetricFamily family{"imgsink_sink_" + name.substr(std::string("imgsink_").size()),
                                    std::string(m.help) + ", per output", m.type, {}};
    for (auto it = counters.lower_bound("sink."); it != counters.end() && it->first.rfind("sink.", 0) == 0; ++it) {
      const size_t dot = it->first.find('.', 5);
      if (dot == std::string::npos || it->first.compare(dot + 1, std::string::npos, key) != 0) continue;
      prometheus::ClientMetric sample;
      sample.label.push_back(prometheus::ClientMetric::Label{"sink", it->first.substr(5, dot - 5)});
      if (m.type == prometheus::MetricType::Counter) {
        sample.counter.value = double(it->second);
      } else {
        sample.gauge.value = double(it->second);
      }
      family.metric.push_back(std::move(sample));
    }
    if (!family.metric.empty()) families.push_back(std::move(family));
  }
  return families;
}

}  // namespace metrics
}  // namespace imgsink::daemon
