// The stages a worker runs for a job: render (tensor -> pixels), encode (pixels -> files'
// bytes; journal on) and write (files -> sink).  Between encode and write the job is
// journaled, so a crash after the ack replays only the write.
// Thread-safety: safe to call concurrently from many worker threads on different jobs.  Each
// worker thread keeps its own encoders and encode buffer (thread_local): no lock is shared on
// the hot path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "daemon/core/job.h"
#include "daemon/output/sink.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Renders job->tensor into job->images (one image for grid mode, one per tensor image for each
// mode).  REQUIRES: the job validated; job->tensor set.
Status RenderJob(daemon::Job* job);

// Encodes every image of the job into job->encoded (the bytes its sink gets: the file, or a
// tb save's Event record), freeing each image's pixels once encoded; on OK job->images is
// empty.  Calls on_encoded() after each file (`on_encoded` may be empty).  On error the job
// keeps its images (some of them freed) and no files.  Used before journaling, so the journal
// holds files, not pixels.  REQUIRES: rendered; job->encoded empty.
Status EncodeJob(daemon::Job* job, const std::function<void()>& on_encoded);

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
Status WriteImageGroup(const daemon::Job& job, size_t first, OutputSink* sink,
                       const std::function<void()>& on_added, std::vector<WrittenFile>* written);

}  // namespace imgsink::daemon
