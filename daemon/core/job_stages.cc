#include "daemon/core/job_stages.h"

#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/jpeg_encoder.h"
#include "daemon/encode/png_encoder.h"
#include "daemon/journal/crc32c.h"
#include "daemon/output/path_template.h"
#include "daemon/render/render.h"

namespace imgsink {
namespace {

// Per-worker encoders and buffer, reused across jobs.
struct WorkerEncoders {
  std::vector<uint8_t> encoded;
  PngEncoder png;
  JpegEncoder jpeg;
};

WorkerEncoders& ThisWorker() {
  thread_local WorkerEncoders encoders;
  return encoders;
}

}  // namespace

std::string Job::OutputPath(size_t i) const {
  std::string path;
  // Validated before acceptance, so expansion cannot fail here; an empty path would be refused
  // by the writer if it ever did.
  ExpandOutputPath(request, int64_t(i), &path);
  return path;
}

Status RenderJob(Job* job) {
  const SaveRequest& req = job->request;
  const int bit_depth = job->plan.format == OutputFormat::kPng ? req.png.bit_depth : 8;
  const TensorBatch batch =
      MakeTensorBatch(job->tensor.data, req.dtype, req.shape.data(), req.layout);
  const int64_t count = req.mode == OutputMode::kGrid ? 1 : batch.n;
  job->images.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    const TensorBatch part = req.mode == OutputMode::kGrid ? batch : SliceImage(batch, i);
    Status s = RenderGrid(part, req.render, bit_depth, &job->images[size_t(i)]);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status WriteImage(const Job& job, size_t i, OutputRoot* root, WrittenFile* written) {
  const SaveRequest& req = job.request;
  WorkerEncoders& w = ThisWorker();
  const std::vector<std::pair<std::string, std::string>> text(req.metadata.begin(),
                                                              req.metadata.end());
  const std::string path = job.OutputPath(i);
  Status s = job.plan.format == OutputFormat::kPng
                 ? w.png.Encode(job.images[i], req.png, text, &w.encoded)
                 : w.jpeg.Encode(job.images[i], req.jpeg, text, &w.encoded);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  s = root->WriteAtomic(path, w.encoded.data(), w.encoded.size());
  if (!s.ok()) return s;
  written->path = path;
  written->bytes = w.encoded.size();
  written->crc32c = journal::Crc32cOf(w.encoded.data(), w.encoded.size());
  return s;
}

bool IsRetryable(const Status& status) { return status.code() == ErrorCode::kWriteFailed; }

}  // namespace imgsink
