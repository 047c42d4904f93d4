// TensorBoardSink: the output sink of "tb" saves (--tensorboard-logdir): each job's image is one
// record (an Event holding an image summary, tb_record.h) appended to its run's event file
// (tb_event_file.h), this daemon being the single writer of every run it is given, whichever
// rank sent the image.
//
// A batch's "files" are records: Add(run, event bytes) stages a record for the run directory
// `run` (relative to the logdir, passes CheckRelativePath; or, from a --paths caller daemon, an
// absolute directory passing CheckOutputPath; created if missing), Commit appends
// the staged records of each run and makes them durable (fdatasync) before returning OK.  A
// run's records are appended in Commit order; two Commits for one run never interleave.
// MarkReplay: records of a job replayed from the journal are skipped once when an identical
// record is already in the run's files from before the start (tb_event_file.h, Replay).
// No manifest (has_manifest() is false): the event files are the record.
// It is not in sink.cc's scheme table: it takes only tb saves, beside the --output-root sink.
// Thread-safety: as OutputSink.
#pragma once

#include <memory>
#include <string>

#include "daemon/output/sink.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {

struct TensorBoardSinkOptions {
  std::string logdir;  // --tensorboard-logdir (created if missing)
  uint64_t max_file_bytes = uint64_t{128} << 20;
  std::string host;  // in event file names; empty: gethostname()
  Env* env = nullptr;  // null: DefaultEnv().  Must outlive the sink.
};

// How a tb save's run directory (its path, PROTOCOL.md "TensorBoard") resolves on a daemon whose
// output paths resolve in `mode` (--paths): by the same mode, with `logdir` (made absolute by
// AbsoluteRootPath) the one root, so a run directory follows the rules of an image path
// (ResolveOutputPath).  kRoots: a relative run lies beneath the logdir (the cwd ignored), an
// absolute one must lie beneath it, no '..'.  kCaller: a relative run resolves against the
// save's cwd (beneath the logdir when it sent none) and an absolute one is taken as it is, as
// torch's SummaryWriter takes log_dir.  Errors: as AbsoluteRootPath (kBadOption).
Status TensorBoardPathRules(PathMode mode, const std::string& logdir, PathRules* out);

// Opens (creating) the logdir.  Errors: kWriteFailed naming the directory and the errno;
// kBadOption for a host name with '/'.
Status OpenTensorBoardSink(const TensorBoardSinkOptions& options, std::unique_ptr<OutputSink>* out);

}  // namespace imgsink::daemon
