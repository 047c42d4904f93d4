// ReplayedJob: a job rebuilt from its journal record at start-up, the one place that knows
// which record fields become which job fields (the daemon's replay and the power-loss test use
// it both).
#pragma once

#include <cstdint>
#include <memory>

#include "daemon/core/job.h"
#include "daemon/journal/job_record.h"

namespace imgsink::daemon {

// Returns the job that `record` (decoded from the ACCEPTED record of job `job_id`) describes,
// ready for Pipeline::Resume: its client, request, format, paths and files (or, from an ISJ1 or
// ISJ2 record, its rendered images), marked replayed, held_bytes = the bytes it holds.  Pure.
std::shared_ptr<Job> ReplayedJob(uint64_t job_id, journal::JobRecord record);

}  // namespace imgsink::daemon
