// Job: one accepted save request, from acceptance until its done event.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/render/image.h"
#include "daemon/util/bytes.h"
#include "daemon/validate/validate.h"
#include "imgsink/proto/messages.h"

// Like all daemon code, in imgsink::daemon, not imgsink: the client library's public imgsink::Job
// (client.h) is a different thing, and a program may link both.
namespace imgsink::daemon {

// Invariant: a job is touched by one thread at a time (it moves socket thread -> worker ->
// journal callback -> worker), each hand-off through a queue that orders memory.
struct Job {
  uint64_t job_id = 0;
  std::string client;  // ROUTER routing id for the reply and done event
  std::chrono::steady_clock::time_point received;  // save request's arrival (not set if replayed)
  SaveRequest request;
  SavePlan plan;
  Bytes tensor;  // the tensor frame until rendered; released after

  // Each output file's bytes, exactly as its sink gets them (the PNG/JPEG file; a tb save's
  // Event record): made by RenderEncodeJob (before the job is journaled, so the journal holds
  // these, not pixels), or read back from an ISJ3 record.
  std::vector<std::vector<uint8_t>> encoded;
  // Only for a job replayed from an ISJ1/ISJ2 record (which held pixels): its rendered images,
  // encoded by the write stage.  Empty otherwise.
  std::vector<Image> images;
  // RenderEncodeJob's time per file, added to each file's write time in the metrics (zero
  // for a replayed job).
  std::chrono::steady_clock::duration encode_time_per_file{};
  uint64_t held_bytes = 0;     // bytes of this job charged to the memory budget
  bool journaled = false;      // its ACCEPTED record is durable
  bool replayed = false;       // recovered from the journal at start-up
  size_t next_image = 0;       // files [0, next_image) are written and durable
  int write_tries = 0;         // failed attempts at the file group starting at next_image
  std::string manifest_lines;  // lines for the files written so far
  // File i is written to plan.paths[i] (expanded by validation, or by DecodeJobRecord on
  // replay).  Invariant once rendered: plan.paths.size() == file_count().

  // The job's output files: encoded.size() once encoded, else images.size().
  size_t file_count() const { return encoded.empty() ? images.size() : encoded.size(); }
};

}  // namespace imgsink::daemon
