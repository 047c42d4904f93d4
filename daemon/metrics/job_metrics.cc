#include "daemon/metrics/job_metrics.h"

#include <string>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace imgsink::daemon {
namespace metrics {
namespace {

// Codes only a client produces; the daemon never counts them, so they get no series.
bool IsClientSideCode(ErrorCode code) {
  return code == ErrorCode::kTimeout || code == ErrorCode::kDisconnected;
}

std::string CodeLabel(size_t i) { return std::string(ErrorCodeName(ErrorCode(i))); }

// Seconds from 0.5 ms (a small PNG on a fast disk) to 10 s (a stalled disk).
prometheus::Histogram::BucketBoundaries WriteBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// Seconds from 1 ms to 2 min: a backlog or write retries stretch the end-to-end time.
prometheus::Histogram::BucketBoundaries EndToEndBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

// Powers of 4 from 1 KiB to 1 GiB (the default --max-request-bytes).
prometheus::Histogram::BucketBoundaries TensorByteBuckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 1024; v <= double(uint64_t{1} << 30); v *= 4) b.push_back(v);
  return b;
}

double Seconds(JobMetrics::Duration d) { return std::chrono::duration<double>(d).count(); }

// The series of `code`, or null (kOk where it has none, client-side codes, out of range).
template <typename Array>
prometheus::Counter* SeriesOf(const Array& series, ErrorCode code) {
  return size_t(code) < series.size() ? series[size_t(code)] : nullptr;
}

}  // namespace

JobMetrics::JobMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& jobs = prometheus::BuildCounter()
                   .Name("imgsink_jobs_total")
                   .Help("Save requests by outcome: written (every file durable), failed "
                         "(accepted, then ended with an error), refused (answered with an error "
                         "before it became a job); code is the error code")
                   .Register(*registry_);
  auto& refused = prometheus::BuildCounter()
                      .Name("imgsink_requests_refused_total")
                      .Help("Requests of any kind (save, credit, status) answered with an error, "
                            "by error code")
                      .Register(*registry_);
  for (size_t i = 0; i < kCodes; ++i) {
    if (i == size_t(ErrorCode::kOk)) {
      jobs_ended_[i] = &jobs.Add({{"outcome", "written"}, {"code", CodeLabel(i)}});
      continue;
    }
    if (IsClientSideCode(ErrorCode(i))) continue;
    jobs_ended_[i] = &jobs.Add({{"outcome", "failed"}, {"code", CodeLabel(i)}});
    saves_refused_[i] = &jobs.Add({{"outcome", "refused"}, {"code", CodeLabel(i)}});
    requests_refused_[i] = &refused.Add({{"code", CodeLabel(i)}});
  }

  auto& write = prometheus::BuildHistogram()
                    .Name("imgsink_encode_write_seconds")
                    .Help("Time to render and encode one image and write it durably (temp file, "
                          "rename, its share of its file group's syncs), by output format")
                    .Register(*registry_);
  for (const FormatInfo& f : kFormatTable) {
    encode_write_seconds_[FormatIndex(f.format)] =
        &write.Add({{"format", std::string(f.metrics_label)}}, WriteBuckets());
  }
  end_to_end_seconds_ = &prometheus::BuildHistogram()
                             .Name("imgsink_end_to_end_seconds")
                             .Help("Time from a save request's arrival to its last file being "
                                   "durable (written jobs; replayed jobs are not counted)")
                             .Register(*registry_)
                             .Add({}, EndToEndBuckets());
  tensor_bytes_ = &prometheus::BuildHistogram()
                       .Name("imgsink_job_tensor_bytes")
                       .Help("Tensor bytes of each save request taken into the pipeline")
                       .Register(*registry_)
                       .Add({}, TensorByteBuckets());
}

JobMetrics::~JobMetrics() = default;

void JobMetrics::RequestRefused(ErrorCode code) {
  if (prometheus::Counter* c = SeriesOf(requests_refused_, code)) c->Increment();
}

void JobMetrics::SaveRefused(ErrorCode code) {
  if (prometheus::Counter* c = SeriesOf(saves_refused_, code)) c->Increment();
}

void JobMetrics::JobReceived(uint64_t tensor_bytes) { tensor_bytes_->Observe(double(tensor_bytes)); }

void JobMetrics::ImageWritten(OutputFormat format, Duration elapsed) {
  encode_write_seconds_[FormatIndex(format)]->Observe(Seconds(elapsed));
}

void JobMetrics::JobEnded(ErrorCode code) {
  if (prometheus::Counter* c = SeriesOf(jobs_ended_, code)) c->Increment();
}

void JobMetrics::JobDurable(Duration elapsed) { end_to_end_seconds_->Observe(Seconds(elapsed)); }

}  // namespace metrics
}  // namespace imgsink::daemon
