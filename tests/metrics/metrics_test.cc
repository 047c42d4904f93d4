// Tests of daemon/metrics: what each instrument records, how the status counters are served,
// the HTTP exporter, and promtool's verdict on the exposition.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <unistd.h>

#include <catch.hpp>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "daemon/metrics/daemon_counters.h"
#include "daemon/metrics/exporter.h"
#include "daemon/metrics/job_metrics.h"
#include "exposition.h"

namespace imgsink::daemon {
namespace metrics {
namespace {

using std::chrono::milliseconds;
using test::Exposition;
using test::ParseExposition;

std::string Serialize(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

Exposition Scrape(const JobMetrics& m) {
  Exposition e = ParseExposition(Serialize(m.registry()->Collect()));
  REQUIRE(e.error == "");
  return e;
}

// The cumulative count of histogram `name`'s bucket with upper bound `le`, among the series
// whose other labels are `labels` ("" or e.g. "format=\"png\"").  Reads `le` as a number, so
// it does not depend on how the exporter prints it.
double Bucket(const Exposition& e, const std::string& name, const std::string& labels, double le) {
  const std::string prefix = name + "_bucket{";
  for (const auto& [series, value] : e.samples) {
    if (series.rfind(prefix, 0) != 0) continue;
    const size_t at = series.find("le=\"");
    REQUIRE(at != std::string::npos);
    const std::string bound = series.substr(at + 4, series.find('"', at + 4) - at - 4);
    std::string rest = series.substr(prefix.size());
    rest.erase(at - prefix.size(), bound.size() + 5);  // drop le="...", keep the others
    while (!rest.empty() && (rest.back() == '}' || rest.back() == ',')) rest.pop_back();
    if (!rest.empty() && rest.front() == ',') rest.erase(0, 1);
    if (rest != labels) continue;
    const double b = bound == "+Inf" ? INFINITY : std::strtod(bound.c_str(), nullptr);
    if (b == le || std::fabs(b - le) <= 1e-12 * std::fabs(le)) return value;
  }
  FAIL("no bucket le=" << le << " for " << name << "{" << labels << "}");
  return -1;
}

TEST_CASE("JobMetrics counts each event in its own series") {
  JobMetrics m;
  m.RequestRefused(ErrorCode::kBusy);
  m.RequestRefused(ErrorCode::kBusy);
  m.RequestRefused(ErrorCode::kBadPath);
  m.SaveRefused(ErrorCode::kBadPath);
  m.SaveRefused(ErrorCode::kNoCredit);
  for (int i = 0; i < 3; ++i) m.JobEnded(ErrorCode::kOk);
  m.JobEnded(ErrorCode::kWriteFailed);
  const Exposition e = Scrape(m);

  CHECK(e.types.at("imgsink_jobs_total") == "counter");
  CHECK(e.types.at("imgsink_requests_refused_total") == "counter");
  CHECK(e.at("imgsink_jobs_total{code=\"ok\",outcome=\"written\"}") == 3);
  CHECK(e.at("imgsink_jobs_total{code=\"write_failed\",outcome=\"failed\"}") == 1);
  CHECK(e.at("imgsink_jobs_total{code=\"bad_path\",outcome=\"refused\"}") == 1);
  CHECK(e.at("imgsink_jobs_total{code=\"no_credit\",outcome=\"refused\"}") == 1);
  CHECK(e.at("imgsink_jobs_total{code=\"no_credit\",outcome=\"failed\"}") == 0);
  CHECK(e.at("imgsink_requests_refused_total{code=\"busy\"}") == 2);
  CHECK(e.at("imgsink_requests_refused_total{code=\"bad_path\"}") == 1);
  CHECK(e.at("imgsink_requests_refused_total{code=\"journal_failed\"}") == 0);
  // Codes only clients produce get no series; kOk is no refusal.
  CHECK_FALSE(e.has("imgsink_requests_refused_total{code=\"timeout\"}"));
  CHECK_FALSE(e.has("imgsink_requests_refused_total{code=\"ok\"}"));
  CHECK_FALSE(e.has("imgsink_jobs_total{code=\"disconnected\",outcome=\"failed\"}"));
  // Those calls do nothing rather than index out of range.
  m.RequestRefused(ErrorCode::kOk);
  m.JobEnded(ErrorCode::kTimeout);
  m.JobEnded(ErrorCode::kCount_);
  CHECK(Scrape(m).samples == e.samples);
}

TEST_CASE("JobMetrics histograms put each observation in the right bucket") {
  JobMetrics m;
  m.JobReceived(1000);     // <= 1 KiB
  m.JobReceived(1024);     // <= 1 KiB (bounds are inclusive)
  m.JobReceived(5000);     // <= 16 KiB
  m.JobReceived(3u << 30); // over 1 GiB: +Inf only
  m.ImageWritten(OutputFormat::kPng, milliseconds(3));
  m.ImageWritten(OutputFormat::kPng, milliseconds(30));
  m.ImageWritten(OutputFormat::kJpeg, milliseconds(20));
  m.JobDurable(milliseconds(250));
  m.JobDurable(std::chrono::seconds(200));
  const Exposition e = Scrape(m);

  const std::string bytes = "imgsink_job_tensor_bytes";
  CHECK(e.types.at(bytes) == "histogram");
  CHECK(Bucket(e, bytes, "", 1024) == 2);
  CHECK(Bucket(e, bytes, "", 4096) == 2);
  CHECK(Bucket(e, bytes, "", 16384) == 3);
  CHECK(Bucket(e, bytes, "", double(1u << 30)) == 3);
  CHECK(Bucket(e, bytes, "", INFINITY) == 4);
  CHECK(e.at(bytes + "_count") == 4);
  CHECK(e.at(bytes + "_sum") == 1000 + 1024 + 5000 + double(3u << 30));

  const std::string write = "imgsink_encode_write_seconds";
  const std::string png = "format=\"png\"", jpeg = "format=\"jpeg\"";
  CHECK(Bucket(e, write, png, 0.0025) == 0);
  CHECK(Bucket(e, write, png, 0.005) == 1);
  CHECK(Bucket(e, write, png, 0.025) == 1);
  CHECK(Bucket(e, write, png, 0.05) == 2);
  CHECK(Bucket(e, write, jpeg, 0.01) == 0);
  CHECK(Bucket(e, write, jpeg, 0.025) == 1);
  CHECK(e.at(write + "_count{" + png + "}") == 2);
  CHECK(e.at(write + "_sum{" + png + "}") == Approx(0.033));
  CHECK(e.at(write + "_count{" + jpeg + "}") == 1);

  const std::string e2e = "imgsink_end_to_end_seconds";
  CHECK(Bucket(e, e2e, "", 0.1) == 0);
  CHECK(Bucket(e, e2e, "", 0.25) == 1);
  CHECK(Bucket(e, e2e, "", 120) == 1);
  CHECK(Bucket(e, e2e, "", INFINITY) == 2);
  CHECK(e.at(e2e + "_sum") == Approx(200.25));
}

std::map<std::string, uint64_t> SampleCounters() {
  return {{"requests", 40},      {"rejected", 2},        {"accepted", 30},
          {"queued", 5},         {"in_progress", 2},     {"written", 20},
          {"failed", 1},         {"files_written", 25},  {"bytes_received", 123456789},
          {"bytes_written", 555}, {"replayed", 3},        {"memory_bytes", 1000},
          {"memory_budget", uint64_t{2} << 30},           {"credit_waiting", 4},
          {"dropped", 6},        {"busy", 7},            {"journal_bytes", 8192},
          {"journal_budget", uint64_t{8} << 30},          {"retrying", 1},
          {"output_blocked", 1},  {"output_blocked_errno", 28},
          {"replies_dropped", 31}, {"log_lines_suppressed", 32}, {"clients_in_flight", 33},
          {"client.p7.in_flight", 9}, {"some_future_counter", 10},
          {"s3_objects", 11},    {"s3_multipart_uploads", 12}, {"s3_multipart_aborted", 13},
          {"s3_requests", 14},   {"s3_request_failures", 15},  {"s3_retries", 16},
          {"s3_bytes_uploaded", 17}, {"s3_request_latency_us", 18}, {"s3_manifest_objects", 19},
          {"s3_in_flight_bytes", 20}, {"s3_backlog_requests", 21}};
}

TEST_CASE("DaemonCounters serves the status counters as counters and gauges") {
  int calls = 0;
  DaemonCounters collector([&calls] {
    ++calls;
    return SampleCounters();
  });
  const Exposition e = ParseExposition(Serialize(collector.Collect()));
  REQUIRE(e.error == "");
  CHECK(calls == 1);  // one snapshot per scrape

  CHECK(e.types.at("imgsink_received_bytes_total") == "counter");
  CHECK(e.at("imgsink_received_bytes_total") == 123456789);
  CHECK(e.at("imgsink_written_bytes_total") == 555);
  CHECK(e.at("imgsink_files_written_total") == 25);
  CHECK(e.at("imgsink_jobs_accepted_total") == 30);
  CHECK(e.at("imgsink_jobs_replayed_total") == 3);
  CHECK(e.at("imgsink_requests_total") == 40);
  CHECK(e.at("imgsink_credit_dropped_total") == 6);
  CHECK(e.at("imgsink_credit_busy_total") == 7);
  CHECK(e.types.at("imgsink_jobs_queued") == "gauge");
  CHECK(e.at("imgsink_jobs_queued") == 5);
  CHECK(e.at("imgsink_jobs_in_progress") == 2);
  CHECK(e.at("imgsink_jobs_retrying") == 1);
  CHECK(e.at("imgsink_credit_waiting_requests") == 4);
  CHECK(e.at("imgsink_memory_bytes") == 1000);
  CHECK(e.at("imgsink_memory_budget_bytes") == double(uint64_t{2} << 30));
  CHECK(e.at("imgsink_journal_bytes") == 8192);
  CHECK(e.at("imgsink_journal_budget_bytes") == double(uint64_t{8} << 30));
  CHECK(e.types.at("imgsink_output_blocked") == "gauge");
  CHECK(e.at("imgsink_output_blocked") == 1);
  CHECK(e.at("imgsink_output_blocked_errno") == 28);
  CHECK(e.at("imgsink_replies_dropped_total") == 31);
  CHECK(e.at("imgsink_log_lines_suppressed_total") == 32);
  CHECK(e.at("imgsink_peers_with_jobs") == 33);
  CHECK(e.at("imgsink_s3_retries_total") == 16);
  CHECK(e.at("imgsink_s3_uploaded_bytes_total") == 17);
  CHECK(e.types.at("imgsink_s3_backlog_requests") == "gauge");
  CHECK(e.at("imgsink_s3_backlog_requests") == 21);
  // written/failed/rejected are JobMetrics' (with labels); per-client and unknown keys are
  // not served.
  CHECK(e.samples.size() == CounterMetrics().size());
  for (const auto& [series, value] : e.samples) CHECK(series.find("client") == std::string::npos);

  SECTION("each output's own S3 counters are served labeled by its place") {
    DaemonCounters two([] {
      return std::map<std::string, uint64_t>{{"s3_backlog_requests", 21},
                                             {"sink.1.s3_backlog_requests", 3},
                                             {"sink.2.s3_backlog_requests", 18},
                                             {"sink.2.s3_retries", 4},
                                             {"sink.2.not_a_metric", 9}};
    });
    const Exposition t = ParseExposition(Serialize(two.Collect()));
    REQUIRE(t.error == "");
    CHECK(t.at("imgsink_s3_backlog_requests") == 21);  // the sum stays
    CHECK(t.types.at("imgsink_sink_s3_backlog_requests") == "gauge");
    CHECK(t.at("imgsink_sink_s3_backlog_requests{sink=\"1\"}") == 3);
    CHECK(t.at("imgsink_sink_s3_backlog_requests{sink=\"2\"}") == 18);
    CHECK(t.types.at("imgsink_sink_s3_retries_total") == "counter");
    CHECK(t.at("imgsink_sink_s3_retries_total{sink=\"2\"}") == 4);
    CHECK(t.samples.size() == 4);
  }

  SECTION("a counter the daemon does not report is left out") {
    DaemonCounters sparse([] { return std::map<std::string, uint64_t>{{"queued", 1}}; });
    const Exposition s = ParseExposition(Serialize(sparse.Collect()));
    CHECK(s.samples == std::map<std::string, double>{{"imgsink_jobs_queued", 1}});
  }
}

TEST_CASE("CounterMetrics names follow the Prometheus conventions") {
  std::set<std::string> names, keys;
  for (const CounterMetric& m : CounterMetrics()) {
    const std::string name = m.name;
    INFO(name);
    CHECK(name.rfind("imgsink_", 0) == 0);
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    CHECK(total == (m.type == prometheus::MetricType::Counter));
    CHECK(names.insert(name).second);
    CHECK(keys.insert(m.key).second);
  }
}

TEST_CASE("Exporter serves the daemon's metrics over HTTP, read at each scrape") {
  JobMetrics job_metrics;
  std::atomic<uint64_t> queued{7};
  std::unique_ptr<Exporter> exporter;
  Status s = Exporter::Start("127.0.0.1:0", job_metrics,
                             [&queued] {
                               auto c = SampleCounters();
                               c["queued"] = queued.load();
                               return c;
                             },
                             &exporter);
  REQUIRE(s.ok());
  REQUIRE(exporter->port() > 0);

  job_metrics.JobEnded(ErrorCode::kOk);
  std::string response = test::HttpGet(exporter->port(), "/metrics");
  INFO(response.substr(0, 400));
  REQUIRE(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(response.find("Content-Type: text/plain") != std::string::npos);
  const size_t body_at = response.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  Exposition e = ParseExposition(response.substr(body_at + 4));
  REQUIRE(e.error == "");
  CHECK(e.at("imgsink_jobs_queued") == 7);
  CHECK(e.at("imgsink_jobs_total{code=\"ok\",outcome=\"written\"}") == 1);
  CHECK(e.types.at("imgsink_end_to_end_seconds") == "histogram");

  queued = 0;
  job_metrics.JobEnded(ErrorCode::kOk);
  response = test::HttpGet(exporter->port(), "/metrics");
  e = ParseExposition(response.substr(response.find("\r\n\r\n") + 4));
  CHECK(e.at("imgsink_jobs_queued") == 0);
  CHECK(e.at("imgsink_jobs_total{code=\"ok\",outcome=\"written\"}") == 2);

  const std::string other = test::HttpGet(exporter->port(), "/other");
  CHECK(other.substr(0, other.find("\r\n")).find(" 404 ") != std::string::npos);

  SECTION("a second exporter cannot take the same port") {
    std::unique_ptr<Exporter> second;
    s = Exporter::Start("127.0.0.1:" + std::to_string(exporter->port()), job_metrics,
                        SampleCounters, &second);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find("cannot serve metrics on 127.0.0.1:") != std::string::npos);
    CHECK(second == nullptr);
  }
  SECTION("destroying it closes the port") {
    const int port = exporter->port();
    exporter.reset();
    CHECK(test::HttpGet(port, "/metrics") == "");
  }
}

TEST_CASE("Exporter refuses an address that is not HOST:PORT") {
  JobMetrics job_metrics;
  for (const char* listen : {"", "9464", "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:94a4",
                             "127.0.0.1:123456", "127.0.0.1:9464s", "256.0.0.1:0"}) {
    INFO(listen);
    std::unique_ptr<Exporter> exporter;
    Status s = Exporter::Start(listen, job_metrics, SampleCounters, &exporter);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(exporter == nullptr);
  }
}

TEST_CASE("promtool accepts the served exposition, lint included") {
  JobMetrics m;
  m.JobReceived(4096);
  m.ImageWritten(OutputFormat::kJpeg, milliseconds(4));
  m.JobEnded(ErrorCode::kOk);
  m.JobDurable(milliseconds(40));
  m.RequestRefused(ErrorCode::kBusy);
  std::unique_ptr<Exporter> exporter;
  REQUIRE(Exporter::Start("127.0.0.1:0", m, SampleCounters, &exporter).ok());
  test::HttpGet(exporter->port(), "/metrics");  // so the exposer's own metrics have values
  const std::string response = test::HttpGet(exporter->port(), "/metrics");
  const size_t body_at = response.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);

  char path[] = "/tmp/imgsink-metrics-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << response.substr(body_at + 4);
  // promtool is in deploy/install-deps.sh (Debian package prometheus).
  const std::string out_path = std::string(path) + ".out";
  const int rc = std::system(("promtool check metrics < " + std::string(path) + " > " + out_path +
                              " 2>&1").c_str());
  std::ifstream out(out_path);
  const std::string report((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  std::remove(path);
  std::remove(out_path.c_str());
  INFO(report);
  CHECK(rc == 0);
  CHECK(report == "");
}

}  // namespace
}  // namespace metrics
}  // namespace imgsink::daemon
