#include "daemon/core/replayed_job.h"

#include <utility>
#include <vector>

namespace imgsink::daemon {

std::shared_ptr<Job> ReplayedJob(uint64_t job_id, journal::JobRecord record) {
  auto job = std::make_shared<Job>();
  job->job_id = job_id;
  job->client = std::move(record.client);
  job->request = std::move(record.request);
  job->plan.format = record.format;
  job->plan.files = int64_t(record.paths.size());
  job->plan.paths = std::move(record.paths);
  job->images = std::move(record.images);
  job->encoded = std::move(record.files);
  job->replayed = true;
  for (const Image& image : job->images) job->held_bytes += image.pixels.size();
  for (const std::vector<uint8_t>& file : job->encoded) job->held_bytes += file.size();
  return job;
}

}  // namespace imgsink::daemon
