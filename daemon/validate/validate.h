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
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct ValidationLimits {
  uint64_t max_request_bytes = uint64_t{1} << 30;
  uint64_t max_pixels_per_image = uint64_t{1} << 28;
  bool tensorboard = false;  // the daemon has a --tensorboard-logdir: "tb" saves are taken
};

// What validation learned about a request, for the stages after it.
struct SavePlan {
  OutputFormat format = OutputFormat::kPng;
  int64_t n = 0, c = 0, h = 0, w = 0;  // the tensor as a batch (see render.h MakeTensorBatch)
  int64_t out_width = 0, out_height = 0;  // each output image (the grid, or one image)
  int out_channels = 0;
  int64_t files = 1;  // number of output files
  // The output path of each file, the request's path template expanded once here
  // (imgsink/proto/paths.h ExpandSavePaths), so later stages never expand it again.
  // Invariant: paths.size() == files.
  std::vector<std::string> paths;
};

// Returns OK iff `req` with a tensor frame of `payload_size` bytes is within `limits` and every
// stage can do it; fills *plan then (the output paths included).  A "tb" save (an image summary,
// req.tensorboard set) needs limits.tensorboard, mode grid, format png (or none), 8-bit samples
// and quantize tensorboard; its path is the run directory (plan->paths[0]), a relative path
// like any output path.  Errors: kBadShape (rank/dims/channels/overflow),
// kSizeMismatch, kTooLarge, kBadPath, kBadFormat, kBadOption, kBadDtype.
Status ValidateSave(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits,
                    SavePlan* plan);

}  // namespace imgsink::daemon
