// The two stages a worker runs for a job: render (tensor -> pixels) and write (pixels -> file).
// Between them the job can be journaled, so a crash after the ack replays only the write.
// Thread-safety: safe to call concurrently from many worker threads on different jobs.  Each
// worker thread keeps its own encoders and encode buffer (thread_local): no lock is shared on
// the hot path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "daemon/core/job.h"
#include "daemon/output/output_root.h"
#include "imgsink/proto/status.h"

namespace imgsink {

// Renders job->tensor into job->images (one image for grid mode, one per tensor image for each
// mode).  REQUIRES: the job validated; job->tensor set.
Status RenderJob(daemon::Job* job);

// One file WriteImageGroup wrote.
struct WrittenFile {
  std::string path;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;  // of the file's bytes, for the manifest
};

// Writes the next group of the job's files: encodes job.images[first, first + k), with
// k = min(WriteGroup::kMaxFiles, images left), adds each to one WriteGroup at job.plan.paths[i]
// (calling on_added() after each; `on_added` may be empty) and commits it, so the k files
// become durable together, each atomically in place.  On OK *written holds the k files in order.
// On error *written is empty and some of the k files may have been replaced (completely): write
// the group again from `first`.  REQUIRES: first < job.images.size() == job.plan.paths.size().
Status WriteImageGroup(const daemon::Job& job, size_t first, OutputRoot* root,
                       const std::function<void()>& on_added, std::vector<WrittenFile>* written);

// Returns true iff a WriteImageGroup failure with `status` may succeed if tried again later
// (ENOSPC, EIO, ...: kWriteFailed); bad paths and encoder errors never will.
bool IsRetryable(const Status& status);

}  // namespace imgsink
