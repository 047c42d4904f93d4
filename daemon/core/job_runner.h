// JobRunner: does one job on the calling worker thread: render -> encode -> atomic write.
#pragma once

#include <cstdint>

#include "daemon/core/job.h"
#include "daemon/output/output_root.h"
#include "imgsink/proto/status.h"

namespace imgsink {

struct JobResult {
  Status status;
  uint64_t files_written = 0;
  uint64_t bytes_written = 0;
};

// Renders, encodes and writes every output file of `job` beneath `root`.  Each worker thread
// keeps its own encoders and pixel/encoded buffers (thread_local), so no lock is shared on the
// hot path.  On failure the files already written stay (each is complete); the Status names the
// path that failed.  Thread-safety: safe to call concurrently from many threads.
JobResult RunJob(const Job& job, OutputRoot* root);

}  // namespace imgsink
