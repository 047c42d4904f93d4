// Job: one accepted save request, from acceptance until its done event.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "daemon/validate/validate.h"
#include "imgsink/proto/messages.h"

namespace imgsink {

// A read-only byte range kept alive by `owner` (a zmq message, a journal record, ...).
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;
};

struct Job {
  uint64_t job_id = 0;
  std::string client;  // ROUTER identity to send the done event to; empty for replayed jobs
  SaveRequest request;
  SavePlan plan;
  Bytes tensor;  // the tensor frame, as validated against request.shape/dtype
};

}  // namespace imgsink
