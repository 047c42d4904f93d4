// Manifest: `manifest.jsonl` in the output root, one JSON line per file written (path, job id,
// time, bytes, CRC32C, format, metadata), appended durably with group commit.
//
// A line is appended after its file is durable, and a job's done event waits for its lines to
// be durable.  A crash between the two replays the job: its files are rewritten (atomic
// replace) and its lines appended again, so a reader takes the last line per path.
// The file is opened beneath the pinned output root through the Env and made durable the way
// --output-sync says (OutputSync): fdatasync of the manifest, or syncfs of its file system.
// Thread-safety: Append may be called from any thread; callbacks run on the manifest's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/output/output_sync.h"
#include "daemon/output/sink.h"
#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

inline constexpr char kManifestName[] = "manifest.jsonl";

class Manifest {
 public:
  using Callback = std::function<void(const Status&)>;

  // Opens (creating, durably) kManifestName in `root` for appending and starts the writer
  // thread.  REQUIRES: `root` outlives the manifest.  Errors: kWriteFailed.
  static Status Open(Directory* root, OutputSync sync, std::unique_ptr<Manifest>* out);
  Manifest(std::unique_ptr<WritableFile> file, Directory* root, OutputSync sync);
  ~Manifest();  // writes what is queued, then joins

  // Queues `lines` (each a JSON object followed by '\n'); `done` runs once they are durable
  // (one fdatasync covers every line queued meanwhile) or failed.
  void Append(std::string lines, Callback done);

 private:
  void Loop() EXCLUDES(mu_);
  Status Write(const std::string& lines);  // appends and makes durable

  const std::unique_ptr<WritableFile> file_;
  Directory* const root_;
  const OutputSync sync_;
  Mutex mu_;
  CondVar cv_;
  std::vector<std::pair<std::string, Callback>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The manifest line (JSON and '\n') for `file`, written now by job `job_id` in `format`
// ("png"...), with the request's metadata: {"path","job","time","bytes","crc32c","format","meta"}.
std::string ManifestLine(uint64_t job_id, const WrittenFile& file, std::string_view format,
                         const std::map<std::string, std::string>& meta);

}  // namespace imgsink::daemon
