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
  bool tensorboard = false;  // the daemon has a --tensorboard-logdir: "tb" saves are taken
  // How a tb save's run directory resolves: the mode of `paths`, --tensorboard-logdir the one
  // root (a relative run directory is beneath it in mode roots).
  PathRules tensorboard_paths = {};
  // Files one request may write (mode each: the batch size).  --max-files-per-request.
  uint64_t max_files_per_request = 4096;
  // Metadata bytes (keys + values) of one request; every file and manifest line carries them
  // all.  --max-metadata-bytes.
  uint64_t max_metadata_bytes = 16 * 1024;
  // Metadata bytes one request may make the daemon write: files x metadata bytes (each copy is
  // in a file and in its manifest line, so the disk sees twice this).
  uint64_t max_metadata_copies_bytes = uint64_t{16} << 20;
  // Copies of a batch's encoded files the output holds in RAM until the batch commits (an S3
  // upload: OutputSink::copies_in_ram()); 0 for a local disk.  A batch holds at most
  // staged_files files, and copies of at most max_copy_room_bytes.
  uint32_t staged_copies = 0;
  uint64_t staged_files = 64;
  uint64_t max_copy_room_bytes = uint64_t{256} << 20;
};

// What validation learned about a request, for the stages after it.
struct SavePlan {
  OutputFormat format = OutputFormat::kPng;
  int64_t n = 0, c = 0, h = 0, w = 0;  // the tensor as a batch (see render.h MakeTensorBatch)
  int64_t out_width = 0, out_height = 0;  // each output image (the grid, or one image)
  int out_channels = 0;
  int64_t files = 1;  // number of output files
  int bit_depth = 8;  // bits per output sample
  // Bytes the job makes the daemon hold once rendered: every output image's pixels
  // (canvas with padding, channels after gray->RGB, 16-bit samples) plus room for encoding the
  // largest one.  The request is charged max(tensor bytes, footprint_bytes) (issue 12, row 1).
  // Plus, when the output holds copies of a batch's files until the server confirms them
  // (limits.staged_copies), staged_copies x copy_room_bytes.
  uint64_t footprint_bytes = 0;
  // The encoded bytes one copying sink's batch may copy (SinkBatch::AllowCopies): room for
  // every file of a batch but the last, which the sink keeps in the encoder's buffer (its
  // encode room is charged already).  0 without staged copies, for a tb save, and for a job
  // replayed from the journal (its batches then hold one file each).
  uint64_t copy_room_bytes = 0;
  // The output path of each file, the request's path template expanded and resolved once here
  // (imgsink/proto/paths.h ExpandSavePaths, ResolveOutputPath with the request's cwd), so later
  // stages never expand it again: relative to the first output root, or absolute.
  // Invariant: paths.size() == files.
  std::vector<std::string> paths;
};

// Returns OK iff `req` with a tensor frame of `payload_size` bytes is within `limits` and every
// stage can do it; fills *plan then (the output paths included).  A "tb" save (an image summary,
// req.tensorboard set) needs limits.tensorboard, mode grid, format png (or none), 8-bit samples
// and quantize tensorboard; its path is the run directory (plan->paths[0]), resolved like an
// output path but by limits.tensorboard_paths (the logdir its one root).  Errors: kBadShape (rank/dims/channels/overflow),
// kSizeMismatch, kTooLarge (bytes, pixels, files, metadata bytes), kBadPath, kBadFormat,
// kBadOption, kBadDtype.
Status ValidateSave(const SaveRequest& req, size_t payload_size, const ValidationLimits& limits,
                    SavePlan* plan);

}  // namespace imgsink::daemon
