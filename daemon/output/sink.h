// OutputSink: where the daemon's files go.  The pipeline writes a job's files in batches
// (Add, then Commit or Discard), asks the sink whether a failure is worth retrying, and appends
// the job's manifest lines; at start-up Recover undoes what a crash mid-write left.
//
// Sinks, one file each (OpenOutputSink's table in sink.cc picks one by the scheme of
// --output-root):
//   local_sink.cc   a directory on a local file system (no scheme): OutputRoot + WriteGroup
//                   through the Env, manifest.jsonl in the root.
// and, opened by its own flag for "tb" saves only (--tensorboard-logdir):
//   tb_sink.cc      TensorBoard event files, one record per image (tb_sink.h).
//   s3/s3_sink.cc   "s3://bucket/prefix": objects in S3-compatible storage (libcurl SigV4).
//   tee_sink.cc     several of the above at once (--output beside --output-root).
//
// Contract every sink keeps: a batch's files become visible each complete (never a part), and
// once Commit returns OK they survive a crash; a manifest line is appended only for a file that
// is durably in place, and its done callback runs once the line is durable too.
// Thread-safety: a sink is thread-safe (many workers hold batches at once); a batch belongs to
// one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <map>

#include "daemon/env/env.h"
#include "daemon/output/output_sync.h"
#include "imgsink/proto/paths.h"
#include "daemon/output/s3/s3_settings.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// One file a batch wrote, as the manifest lists it.
struct WrittenFile {
  std::string path;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;  // of the file's bytes
};

// Files that become durable together.
class SinkBatch {
 public:
  virtual ~SinkBatch() = default;  // discards what was added and not committed

  virtual size_t size() const = 0;
  // Returns true iff Add must not be called before Commit (the batch holds its most files).
  virtual bool full() const = 0;
  // Stages `size` bytes for `path` (a SavePlan path: relative to the first root, passing
  // CheckRelativePath, or absolute as SinkOptions::paths allows); nothing is visible or durable
  // yet.  A sink that holds files in RAM until Commit (S3) copies `data` only within the
  // allowance AllowCopies gave; past it, it keeps `data` itself and the batch is full(): the
  // caller then keeps those bytes unchanged until Commit or Discard (WriteImageGroup does).
  // REQUIRES: !full().  Errors: kBadPath (the path can never be written: an absolute path
  // the sink's path rules do not allow, too), kWriteFailed; on error this file is dropped, the
  // ones added before stay.
  virtual Status Add(std::string_view rel_path, const void* data, size_t size) = 0;
  // Lets the batch hold copies of up to `bytes` of staged files: the room the memory budget
  // charged the job for (SavePlan::copy_room_bytes).  Default 0: a copying batch then holds
  // one file, the caller's own buffer.  Sinks that copy nothing ignore it.
  // REQUIRES: before the first Add.
  virtual void AllowCopies(uint64_t bytes) { (void)bytes; }
  // Puts every staged file in place (each atomically) and makes them durable, then empties the
  // batch.  On error some files may be in place (complete) and none is promised durable: redo
  // the whole batch.
  virtual Status Commit() = 0;
  // Drops every staged file; nothing is replaced.  The batch is empty after.
  virtual void Discard() = 0;
  // Says that the batch redoes a job replayed from the journal, whose writes may have become
  // durable before the crash.  A sink whose writes replace files (the local sink) needs
  // nothing; one that appends (the TensorBoard sink) skips what is already there.
  // REQUIRES: before the first Add.
  virtual void MarkReplay() {}
};

class OutputSink {
 public:
  using Callback = std::function<void(const Status&)>;
  virtual ~OutputSink() = default;  // waits until the manifest lines appended are durable

  // Where the files go, for logs ("/data/out").
  virtual const std::string& location() const = 0;

  // Undoes what a crash mid-write left (the local sink: stale temp files) and adds how many
  // leftovers it removed to *cleaned.  REQUIRES: no batch in progress; call at start-up.
  // Errors: the first leftover that could not be removed; the rest are still tried.
  virtual Status Recover(size_t* cleaned) = 0;

  // An empty batch.  REQUIRES: the sink outlives it.
  virtual std::unique_ptr<SinkBatch> NewBatch() = 0;

  // Returns true iff a batch failure `status` may succeed if tried again later (a full disk, a
  // dying disk, a network error); bad paths and encoder errors never will.
  virtual bool IsRetryable(const Status& status) const { return status.code() == ErrorCode::kWriteFailed; }

  // Returns true iff the sink keeps a manifest (--manifest=on).
  virtual bool has_manifest() const = 0;
  // Appends `lines` (each a ManifestLine) to the manifest; `done` runs, on the sink's thread,
  // once they are durable or failed.  REQUIRES: has_manifest().
  virtual void AppendManifest(std::string lines, Callback done) = 0;

  // Adds the sink's own counters to *counters (the status reply and metrics), e.g.
  // "s3_uploads"; keys are the same for every sink of a kind (a tee sums them).
  virtual void AddCounters(std::map<std::string, uint64_t>* counters) const { (void)counters; }

  // How many copies of a batch's files the sink holds in RAM until Commit (an S3 sink: one; a
  // tee: the sum).  Validation charges each job that many times its copy room, so the copies
  // are inside the memory budget (ValidationLimits::staged_copies).
  virtual uint32_t copies_in_ram() const { return 0; }
};

// The most files one batch holds, and the most bytes a copying batch may hold in copies
// (ValidationLimits::staged_files, max_copy_room_bytes).
constexpr size_t kMaxBatchFiles = 64;
constexpr uint64_t kMaxCopyRoomBytes = uint64_t{256} << 20;

struct SinkOptions {
  std::string root;  // the first --output-root: a directory, or "<scheme>://..." for another sink
  // The path mode and every output root as validation resolves paths (imgsink/proto/paths.h):
  // batches get paths relative to `root`, or absolute ones (beneath paths.roots[k], k >= 1, or
  // anywhere in PathMode::kCaller).  Empty roots: relative paths only.
  PathRules paths;
  OutputSync sync = OutputSync::kFilesystem;  // --output-sync (the local sink)
  bool manifest = true;                       // --manifest
  Env* env = nullptr;  // file layer of the local sink; null: DefaultEnv().  Must outlive the sink.
  S3Settings s3;       // s3:// sinks: endpoint, credentials, limits (resolved by OpenS3Sink)
};

// Opens the sink `options.root` names (the table in sink.cc).  Errors: kBadOption for an
// unknown scheme; the sink's own (kWriteFailed: cannot open the root or its manifest).
Status OpenOutputSink(const SinkOptions& options, std::unique_ptr<OutputSink>* out);

}  // namespace imgsink::daemon
