// Validate: decides whether a decoded save request can be done, before the daemon takes
// responsibility for it.  Everything a client can get wrong is refused here with a clear error,
// so that accepted jobs fail only for reasons outside the request (disk full, I/O errors).
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/paths.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct ValidationLimits {
  uint64_t max_request_bytes = uint64_t{1} << 30;
  uint64_t max_pixels_per_image = uint64_t{1} << 28;
  // The daemon's path mode and output roots (--paths, --output-root): how each expanded path
  // resolves.  Empty roots: only relative paths are accepted (beneath the one root).
  PathRules paths;
};

// What validation learned about a request, for the stages after it.
struct SavePlan {
  OutputFormat format = OutputFormat::kPng;
  int64_t n = 0, c = 0, h = 0, w = 0;  // the tensor as a batch (see render.h MakeTensorBatch)
  int64_t out_width = 0, out_height = 0;  // each output image (the grid, or one image)
  int out_channels = 0;
  int64_t files = 1;  // number of output files
  // The output path of each file, the request's path template expanded and resolved once here
  // (imgsink/proto/paths.h ExpandSavePaths, ResolveOutputPath with the request's cwd), so later
  // stages never expand it again: relative to the first output root, or absolute.
  // Invariant: paths.size() == files.
  std::vector<std::string> paths;
};

// Returns OK iff `req` with a tensor frame of `payload_size` bytes is within `limits` and every
// stage can do it; fills *plan then (the output paths included).  Errors: kBadShape (rank/dims/channels/overflow),
// kSizeMismatch, kTooLarge, kBadPath, kBadFormat, kBadOption, kBadDtype.
Status ValidateSave(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits,
                    SavePlan* plan);

}  // namespace imgsink::daemon
