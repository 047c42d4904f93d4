// Validate: decides whether a decoded save request can be done, before the daemon takes
// responsibility for it.  Everything a client can get wrong is refused here with a clear error,
// so that accepted jobs fail only for reasons outside the request (disk full, I/O errors).
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink {

struct ValidationLimits {
  uint64_t max_request_bytes = uint64_t{1} << 30;
  uint64_t max_pixels_per_image = uint64_t{1} << 28;
};

// What validation learned about a request, for the stages after it.
struct SavePlan {
  OutputFormat format = OutputFormat::kPng;
  int64_t n = 0, c = 0, h = 0, w = 0;  // the tensor as a batch (see render.h MakeTensorBatch)
  int64_t out_width = 0, out_height = 0;  // each output image (the grid, or one image)
  int out_channels = 0;
  int64_t files = 1;  // number of output files
};

// Expands the request's path template for output file `index` (PROTOCOL.md "Paths"): {index}
// (mode each), and {key} / {key:0Nd} for every `meta` key (values that are decimal integers
// take integer format specs).  Returns kBadPath for an unknown field or a bad result.
Status ExpandOutputPath(const SaveRequest& req, int64_t index, std::string* out);

// Returns OK iff `req` with a tensor frame of `payload_size` bytes is within `limits` and every
// stage can do it; fills *plan then.  Errors: kBadShape (rank/dims/channels/overflow),
// kSizeMismatch, kTooLarge, kBadPath, kBadFormat, kBadOption, kBadDtype.
Status ValidateSave(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits,
                    SavePlan* plan);

}  // namespace imgsink
