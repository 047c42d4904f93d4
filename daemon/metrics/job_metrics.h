// JobMetrics: the daemon's per-event instruments for Prometheus (counters by outcome and error
// code, latency and size histograms).  Level values (queue depth, memory, journal) are not
// here: they are read from Server::Counters() at scrape time (see daemon_counters.h).
//
// The daemon's Stats owns one JobMetrics; the pipeline and the socket thread call the
// recording methods, the exporter serves registry() (see exporter.h and README.md).
// Thread-safety: every method may be called from any thread, concurrently (prometheus-cpp's
// Counter and Histogram are thread-safe; the label series are created up front, so recording
// takes no lock but the histogram's own).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>

#include "imgsink/proto/status.h"
#include "imgsink/proto/formats.h"
#include "imgsink/proto/types.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
}  // namespace prometheus

namespace imgsink::daemon {
namespace metrics {

class JobMetrics {
 public:
  using Duration = std::chrono::steady_clock::duration;

  JobMetrics();
  ~JobMetrics();
  JobMetrics(const JobMetrics&) = delete;
  JobMetrics& operator=(const JobMetrics&) = delete;

  // A request of any kind was answered with `code` (the status counter `rejected`, by code).
  // REQUIRES: code != kOk.
  void RequestRefused(ErrorCode code);
  // A save request was refused before it became a job (no credit, validation, shutting down).
  // REQUIRES: code != kOk.
  void SaveRefused(ErrorCode code);
  // A save request of `tensor_bytes` was taken into the pipeline.
  void JobReceived(uint64_t tensor_bytes);
  // One image was encoded and written durably in `elapsed` (its render and encode, its
  // temp-file write and its share of its WriteGroup's commit).
  void ImageWritten(OutputFormat format, Duration elapsed);
  // A job ended: kOk = every file written and durable, else the error it failed with.
  void JobEnded(ErrorCode code);
  // A job's files are all durable `elapsed` after its save request was received.
  void JobDurable(Duration elapsed);

  // The Prometheus families behind these instruments (imgsink_jobs_total,
  // imgsink_requests_refused_total, imgsink_encode_write_seconds, imgsink_end_to_end_seconds,
  // imgsink_job_tensor_bytes).  Register it with an exporter; it outlives this object if
  // the exporter still holds it.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  static constexpr size_t kCodes = size_t(ErrorCode::kCount_);
  static constexpr size_t kFormats = kOutputFormatCount;  // indexed by FormatIndex

  std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, kCodes> requests_refused_{};  // [kOk] unused
  std::array<prometheus::Counter*, kCodes> saves_refused_{};     // [kOk] unused
  std::array<prometheus::Counter*, kCodes> jobs_ended_{};        // [kOk] = written
  std::array<prometheus::Histogram*, kFormats> encode_write_seconds_{};
  prometheus::Histogram* end_to_end_seconds_ = nullptr;
  prometheus::Histogram* tensor_bytes_ = nullptr;
};

}  // namespace metrics
}  // namespace imgsink::daemon
