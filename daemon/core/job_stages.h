// The two stages a worker runs for a job: render (tensor -> pixels) and write (pixels -> file).
// Between them the job can be journaled, so a crash after the ack replays only the write.
// Thread-safety: safe to call concurrently from many worker threads on different jobs.  Each
// worker thread keeps its own encoders and encode buffer (thread_local): no lock is shared on
// the hot path.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/core/job.h"
#include "daemon/output/output_root.h"
#include "imgsink/proto/status.h"

namespace imgsink {

// Renders job->tensor into job->images (one image for grid mode, one per tensor image for each
// mode).  REQUIRES: the job validated; job->tensor set.
Status RenderJob(Job* job);

// What WriteImage wrote.
struct WrittenFile {
  std::string path;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;  // of the file's bytes, for the manifest
};

// Encodes job.images[i] and writes it atomically to job.OutputPath(i) beneath `root`.
Status WriteImage(const Job& job, size_t i, OutputRoot* root, WrittenFile* written);

// Returns true iff a WriteImage failure with `status` may succeed if tried again later
// (ENOSPC, EIO, ...: kWriteFailed); bad paths and encoder errors never will.
bool IsRetryable(const Status& status);

}  // namespace imgsink
