#include "daemon/core/job_runner.h"

#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/jpeg_encoder.h"
#include "daemon/encode/png_encoder.h"
#include "daemon/output/path_template.h"
#include "daemon/render/render.h"

namespace imgsink {
namespace {

// Per-worker state, reused across jobs so the hot path allocates only when images grow.
struct WorkerBuffers {
  Image image;
  std::vector<uint8_t> encoded;
  PngEncoder png;
  JpegEncoder jpeg;
};

WorkerBuffers& ThisWorker() {
  thread_local WorkerBuffers buffers;
  return buffers;
}

Status RenderEncodeWrite(const Job& job, const TensorBatch& batch, const std::string& path,
                         OutputRoot* root, JobResult* result) {
  const SaveRequest& req = job.request;
  WorkerBuffers& w = ThisWorker();
  const int bit_depth = job.plan.format == OutputFormat::kPng ? req.png.bit_depth : 8;
  Status s = RenderGrid(batch, req.render, bit_depth, &w.image);
  if (!s.ok()) return s;
  const std::vector<std::pair<std::string, std::string>> text(req.metadata.begin(),
                                                              req.metadata.end());
  s = job.plan.format == OutputFormat::kPng ? w.png.Encode(w.image, req.png, text, &w.encoded)
                                            : w.jpeg.Encode(w.image, req.jpeg, text, &w.encoded);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  s = root->WriteAtomic(path, w.encoded.data(), w.encoded.size());
  if (!s.ok()) return s;
  result->files_written++;
  result->bytes_written += w.encoded.size();
  return Status::OK();
}

}  // namespace

JobResult RunJob(const Job& job, OutputRoot* root) {
  JobResult result;
  const SaveRequest& req = job.request;
  const TensorBatch batch = MakeTensorBatch(job.tensor.data, req.dtype, req.shape.data(), req.layout);
  if (req.mode == OutputMode::kGrid) {
    result.status = RenderEncodeWrite(job, batch, req.path, root, &result);
    return result;
  }
  for (int64_t i = 0; i < batch.n && result.status.ok(); ++i) {
    std::string path;
    result.status = ExpandTemplate(req.path, {}, {{"index", i}}, &path);
    if (result.status.ok()) {
      result.status = RenderEncodeWrite(job, SliceImage(batch, i), path, root, &result);
    }
  }
  return result;
}

}  // namespace imgsink
