#include "daemon/core/job_stages.h"

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/encode/encoder.h"
#include "daemon/journal/crc32c.h"
#include "daemon/output/output_root.h"
#include "daemon/output/tb_record.h"
#include "daemon/render/render.h"

namespace imgsink::daemon {
namespace {

// A worker keeps an encode buffer and a canvas up to these sizes between jobs; larger ones
// are freed (only a job's own charge may cover them).  The canvas covers a 1024x1024 RGB
// image.  Idle memory: up to 12 MiB per set of WorkerBuffers (the pipeline has one per
// worker it may run, however many pool threads it has).
constexpr size_t kKeptEncodeBufferBytes = 8 << 20;
constexpr size_t kKeptCanvasBytes = 4 << 20;

thread_local WorkerBuffers* current_buffers = nullptr;  // UseWorkerBuffers

WorkerBuffers& ThisWorker() {
  if (current_buffers != nullptr) return *current_buffers;
  thread_local WorkerBuffers own;  // outside a pipeline: benchmarks, tests
  return own;
}

// The tensor as a batch, and how many output images it makes.
struct Outputs {
  TensorBatch batch;
  int64_t count;
  int bit_depth;
};

Outputs OutputsOf(const daemon::Job& job) {
  const SaveRequest& req = job.request;
  const TensorBatch batch =
      MakeTensorBatch(job.tensor.data, req.dtype, req.shape.data(), req.layout);
  return {batch, req.mode == OutputMode::kGrid ? 1 : batch.n,
          OutputBitDepth(job.plan.format, req)};
}

// Renders output `i` of the job into *out (whose buffer it reuses).
Status RenderOutput(const daemon::Job& job, const Outputs& outputs, int64_t i, Image* out) {
  const bool grid = job.request.mode == OutputMode::kGrid;
  const TensorBatch part = grid ? outputs.batch : SliceImage(outputs.batch, i);
  return RenderGrid(part, job.request.render, outputs.bit_depth, out);
}

}  // namespace

Encoder& WorkerBuffers::For(OutputFormat format) {
  std::unique_ptr<Encoder>& e = encoders[FormatIndex(format)];
  if (e == nullptr) e = NewEncoder(format);
  return *e;
}

WorkerBuffers* UseWorkerBuffers(WorkerBuffers* buffers) {
  WorkerBuffers* previous = current_buffers;
  current_buffers = buffers;
  return previous;
}

Status RenderJob(daemon::Job* job) {
  const Outputs outputs = OutputsOf(*job);
  job->images.resize(size_t(outputs.count));
  for (int64_t i = 0; i < outputs.count; ++i) {
    Status s = RenderOutput(*job, outputs, i, &job->images[size_t(i)]);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

namespace {

// Encodes `image`, output `i` of `job`, into the bytes its sink gets: the encoder's file in w->encoded, or
// for a tb save the Event record holding it in *event.  Sets *bytes/*size to whichever it is.
Status EncodeFile(const daemon::Job& job, const Image& image, size_t i, const TextEntries& text,
                  WorkerBuffers* w, std::string* event, const uint8_t** bytes, size_t* size) {
  const SaveRequest& req = job.request;
  Status s = w->For(job.plan.format).Encode(image, req, text, &w->encoded);
  if (!s.ok()) return Status(s.code(), job.plan.paths[i] + ": " + s.message());
  *bytes = w->encoded.data();
  *size = w->encoded.size();
  if (req.tensorboard) {
    *event = tb::EncodeImageEvent(*req.tensorboard, image.height, image.width, image.channels,
                                  w->encoded.data(), w->encoded.size());
    *bytes = reinterpret_cast<const uint8_t*>(event->data());
    *size = event->size();
  }
  return Status::OK();
}

// The buffer is reused across jobs, but one huge image must not pin its size on this worker
// for the daemon's life: only what the budget charged the job for may stay held.
void TrimBuffers(WorkerBuffers* w) {
  if (w->encoded.capacity() > kKeptEncodeBufferBytes) std::vector<uint8_t>().swap(w->encoded);
  if (w->canvas.pixels.capacity() > kKeptCanvasBytes) std::vector<uint8_t>().swap(w->canvas.pixels);
}

}  // namespace

Status RenderEncodeJob(daemon::Job* job, uint64_t* rendered_bytes,
                       const std::function<void()>& on_encoded) {
  WorkerBuffers& w = ThisWorker();
  const Outputs outputs = OutputsOf(*job);
  const TextEntries text(job->request.metadata.begin(), job->request.metadata.end());
  std::vector<std::vector<uint8_t>> files(size_t(outputs.count));
  std::string event;
  *rendered_bytes = 0;
  Status s;
  for (int64_t i = 0; i < outputs.count && s.ok(); ++i) {
    s = RenderOutput(*job, outputs, i, &w.canvas);
    if (!s.ok()) break;
    *rendered_bytes += w.canvas.pixels.size();
    const uint8_t* bytes = nullptr;
    size_t size = 0;
    s = EncodeFile(*job, w.canvas, size_t(i), text, &w, &event, &bytes, &size);
    if (!s.ok()) break;
    files[size_t(i)].assign(bytes, bytes + size);  // exact size: the buffer stays with the worker
    if (on_encoded) on_encoded();
  }
  TrimBuffers(&w);
  if (!s.ok()) return s;
  job->encoded = std::move(files);
  return Status::OK();
}

Status WriteImageGroup(const daemon::Job& job, size_t first, OutputSink* sink,
                       const std::function<void()>& on_added, std::vector<WrittenFile>* written,
                       const CommitFn& commit) {
  WorkerBuffers& w = ThisWorker();
  const TextEntries text(job.request.metadata.begin(), job.request.metadata.end());
  written->clear();
  const std::unique_ptr<SinkBatch> batch = sink->NewBatch();  // on error, discards what was added
  if (job.replayed) batch->MarkReplay();
  // Copies past this room are not charged: the sink then keeps w.encoded (or `event`) itself,
  // and full() ends the loop before either changes.
  batch->AllowCopies(job.plan.copy_room_bytes);
  Status s;
  std::string event;  // a tb save's record: the PNG inside an Event
  for (size_t i = first; i < job.file_count() && !batch->full() && s.ok(); ++i) {
    WrittenFile file;
    file.path = job.plan.paths[i];
    const uint8_t* bytes = nullptr;
    size_t size = 0;
    if (job.encoded.empty()) {
      s = EncodeFile(job, job.images[i], i, text, &w, &event, &bytes, &size);
      if (!s.ok()) break;
    } else {
      bytes = job.encoded[i].data();
      size = job.encoded[i].size();
    }
    s = batch->Add(file.path, bytes, size);  // the bytes go to the page cache
    if (!s.ok()) break;
    file.path = RealOutputPath(file.path);  // the manifest names the real file ('..' resolved)
    file.bytes = size;
    file.crc32c = journal::Crc32cOf(bytes, size);
    written->push_back(std::move(file));
    if (on_added) on_added();
  }
  if (s.ok()) s = commit ? commit(batch.get()) : batch->Commit();
  if (!s.ok()) written->clear();
  // Not `w`: a commit aside handed that set to another stage, and this thread uses another.
  TrimBuffers(&ThisWorker());
  return s;
}

}  // namespace imgsink::daemon
