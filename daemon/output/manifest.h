// Manifest: `manifest.jsonl` in the output root, one JSON line per file written (path, job id,
// time, bytes, CRC32C, format, metadata), appended durably with group commit.
//
// A line is appended after its file is durable, and a job's done event waits for its lines to
// be durable.  A crash between the two replays the job: its files are rewritten (atomic
// replace) and its lines appended again, so a reader takes the last line per path.
// Thread-safety: Append may be called from any thread; callbacks run on the manifest's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "imgsink/proto/status.h"
#include "imgsink/sync/mutex.h"

namespace imgsink {

inline constexpr char kManifestName[] = "manifest.jsonl";

class Manifest {
 public:
  using Callback = std::function<void(const Status&)>;

  // Opens (creating) `<root_dir>/manifest.jsonl` for appending and starts the writer thread.
  static Status Open(const std::string& root_dir, std::unique_ptr<Manifest>* out);
  // Takes ownership of `fd`, open for appending; prefer Open().
  explicit Manifest(int fd);
  ~Manifest();  // writes what is queued, then joins

  // Queues `lines` (each a JSON object followed by '\n'); `done` runs once they are durable
  // (one fdatasync covers every line queued meanwhile) or failed.
  void Append(std::string lines, Callback done);

 private:
  void Loop() EXCLUDES(mu_);

  const int fd_;
  Mutex mu_;
  CondVar cv_;
  std::vector<std::pair<std::string, Callback>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// One manifest line for a written file.
struct ManifestEntry {
  std::string path;
  uint64_t job_id = 0;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
  std::string format;
  const std::map<std::string, std::string>* meta = nullptr;
};
std::string FormatManifestLine(const ManifestEntry& entry);

}  // namespace imgsink
