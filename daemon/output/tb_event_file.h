// EventFile: the one writer of a TensorBoard run directory's event files (TB_EVENT_FORMAT.md).
//
// Names: events.out.tfevents.<10-digit epoch seconds>.<host>.imgsinkd.<6-digit sequence>, so
// that name order is creation order and a daemon finds its own files again after a restart.
// Invariant: every byte of the current file up to size_ is a complete record, the first being
// the version record; bytes are counted only once Sync() has succeeded.
// Recovery: on first use after a start (or after a failed write) the newest file of ours is
// read, a torn or corrupt tail is cut off (TruncateFile + sync), and appending continues there.
// Replay: records of that file and the one before are remembered as (length, CRC-32C) pairs;
// a record appended for a job replayed from the journal that matches one is skipped once, so
// a job whose record was durable before the crash (but not yet marked done in the journal) is
// not written twice.
// Single writer: the current file is flock'ed while we write it; a newest file locked by another
// process (another imgsinkd of this host on the same run) is left to it and we start our own.
// Thread-safety: not thread-safe; TensorBoardSink holds one mutex per run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/env/env.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon::tb {

struct EventFileOptions {
  Env* env = nullptr;              // path-based reads and truncation of our files
  std::string host;                // in the file names (must not contain '/')
  uint64_t max_file_bytes = uint64_t{128} << 20;  // rotate before a record would pass it
};

// One record to append: its Event bytes, and whether a replayed job made it.
struct PendingRecord {
  std::string event;
  bool replayed = false;
};

class EventFile {
 public:
  // `dir` is the run directory, opened beneath the logdir (no symbolic links); `dir_path` its
  // path for the Env's path-based calls.  Nothing is touched until the first Append.
  EventFile(const EventFileOptions& options, std::unique_ptr<Directory> dir, std::string dir_path);

  // Appends the framed records (skipping replayed duplicates) and makes them durable: when it
  // returns OK they survive a crash.  Rotates first if they would take the file past
  // max_file_bytes (a record bigger than that gets a file of its own).  On error none of them
  // is promised durable; the next call recovers the file first (a partial append is cut off).
  Status Append(const std::vector<PendingRecord>& records, uint64_t* appended);

  // The current file's name ("" before the first Append), for tests and logs.
  const std::string& current() const { return name_; }

 private:
  Status Recover();       // opens our newest file (cutting a torn tail) or none
  Status StartNewFile();  // creates the next file with its version record, durably
  Status ScanFile(const std::string& name, bool remember, uint64_t* valid_end, uint64_t* size);
  std::string FileName(int64_t secs, uint32_t seq) const;

  const EventFileOptions options_;
  const std::unique_ptr<Directory> dir_;
  const std::string dir_path_;
  bool recovered_ = false;  // Recover() ran since the last failure
  bool scanned_earlier_ = false;  // earlier_ was filled (once, by the first Recover)
  std::string name_;        // current file ("" = none yet)
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<FileLock> lock_;  // flock of the current file: one writer, even across daemons
  uint64_t size_ = 0;        // durable, whole-record bytes of the current file
  int64_t last_secs_ = 0;    // of the newest file name
  uint32_t last_seq_ = 0;
  // (data length, CRC-32C) -> count, of records written before this start (see Replay above).
  std::map<std::pair<uint64_t, uint32_t>, uint32_t> earlier_;
};

// Returns true iff `name` is an event file this daemon on `host` writes (see Names above).
bool IsOurEventFile(const std::string& name, const std::string& host);

}  // namespace imgsink::daemon::tb
