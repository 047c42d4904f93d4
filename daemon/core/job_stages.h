// The stages a worker runs for a job: render + encode (tensor -> pixels -> files' bytes, one
// image at a time) and write (files -> sink).  Between them the job is journaled, so a crash
// after the ack replays only the write.
// Thread-safety: safe to call concurrently from many worker threads on different jobs, each
// with its own WorkerBuffers: no lock is shared on the hot path.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/core/job.h"
#include "daemon/encode/encoder.h"
#include "daemon/output/sink.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// A worker's reusable state: encoders (one per format, made on first use), encode buffer and
// canvas, kept across jobs so their pages stay faulted in.  The stages use the set
// UseWorkerBuffers gave their thread, else the thread's own (outside a pipeline).
// Invariant: one thread uses a set at a time.
struct WorkerBuffers {
  std::vector<uint8_t> encoded;
  Image canvas;
  std::array<std::unique_ptr<Encoder>, kOutputFormatCount> encoders;

  Encoder& For(OutputFormat format);
};

// Makes the stages on this thread use `buffers` (null: the thread's own) and returns the set
// they used before.
WorkerBuffers* UseWorkerBuffers(WorkerBuffers* buffers);

// Renders job->tensor into job->images (one image for grid mode, one per tensor image for each
// mode).  (The daemon renders with RenderEncodeJob; this is for measuring the encoders alone.)
// REQUIRES: the job validated; job->tensor set.
Status RenderJob(daemon::Job* job);

// Renders each output image of the job into this worker's canvas and encodes it at once into
// job->encoded (the bytes its sink gets: the file, or a tb save's Event record), so the job
// never holds its rendered images: one canvas per worker, reused across jobs (no fresh pages
// per image), read by the encoder while still in cache.  Same pixels as RenderJob.
// *rendered_bytes = the pixel bytes rendered.  Calls on_encoded() after each file (may be
// empty).  On error job->encoded stays empty.  REQUIRES: the job validated; job->tensor set;
// job->encoded empty.
Status RenderEncodeJob(daemon::Job* job, uint64_t* rendered_bytes,
                       const std::function<void()>& on_encoded);

// Writes the next group of the job's files: k = min(files left, what one batch of `sink`
// holds) files from `first` on -- job.encoded[i], or job.images[i] encoded now -- each added
// to one SinkBatch at job.plan.paths[i] (calling on_added() after each; `on_added` may be
// empty) and committed, so the k files become durable together, each atomically in place.  On
// OK *written holds the k files in order.  On error *written is empty and some of the k files
// may have been replaced (completely): write the group again from `first` if
// sink->IsRetryable(error).
// A tb save (job.request.tensorboard) adds, instead of the PNG, the Event record holding it
// (tb_record.h EncodeImageEvent) at its run directory; `sink` is then the TensorBoard sink.
// A replayed job's batch is marked (SinkBatch::MarkReplay).
// REQUIRES: first < job.file_count() == job.plan.paths.size().
// `commit` (may be empty: batch->Commit()) commits the batch and returns its status; the
// pipeline lets another stage use the core while this one waits for the syncs or the upload.
// It may hand this thread's WorkerBuffers to another stage meanwhile only when the job's files
// are its own (job.encoded): a batch may keep pointers into the encode buffer until it commits.
using CommitFn = std::function<Status(SinkBatch*)>;
Status WriteImageGroup(const daemon::Job& job, size_t first, OutputSink* sink,
                       const std::function<void()>& on_added, std::vector<WrittenFile>* written,
                       const CommitFn& commit = nullptr);

}  // namespace imgsink::daemon
