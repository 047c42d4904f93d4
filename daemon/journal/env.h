// Env: the journal's seam to the file system (leveldb style), so tests can wrap it to inject
// faults and simulate crashes (tests/journal/fault_injection_env.h).
//
// Every error is a Status with ErrorCode::kJournalFailed whose message names the operation,
// the path and strerror(errno).
// Thread-safety: an Env is safe to call from any thread.  A file object is used by one thread
// at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/util/bytes.h"
#include "imgsink/proto/status.h"

namespace imgsink::journal {

// A file written only at its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends the concatenation of pieces[0..n) (writev, as few calls as the kernel allows).
  // On error an unknown prefix of the data may have reached the file.
  virtual Status Append(const ByteSpan* pieces, size_t n) = 0;
  Status Append(ByteSpan piece) { return Append(&piece, 1); }
  // Makes every byte appended so far, and the file size, durable (fdatasync).  After a failed
  // Sync the state of the unsynced bytes is unknown: callers must not retry (fsyncgate).
  virtual Status Sync() = 0;
  // Closes the descriptor; does not sync.  Idempotent.
  virtual Status Close() = 0;
};

// A file read front to back.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into scratch; *got == 0 means end of file.
  virtual Status Read(size_t n, uint8_t* scratch, size_t* got) = 0;
};

// Held while a directory is locked by this process; unlocks when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;
  // Creates `path`, or truncates it if it exists, for appending.
  virtual Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // Opens `path` (created if missing) for appending after its current end.
  virtual Status NewAppendableFile(const std::string& path,
                                   std::unique_ptr<WritableFile>* file) = 0;
  virtual Status NewSequentialFile(const std::string& path,
                                   std::unique_ptr<SequentialFile>* file) = 0;
  // Sets *names to the entries of `dir` (no "." or "..").
  virtual Status GetChildren(const std::string& dir, std::vector<std::string>* names) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Cuts `path` to `size` bytes.  Not durable until the file is synced.
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Makes the creations, removals and renames of entries in `dir` durable (fsync of the dir).
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status GetFileSize(const std::string& path, uint64_t* size) = 0;
  // Creates `dir` and missing parents (durably: each new entry's parent is synced).
  // OK if it exists.
  virtual Status CreateDir(const std::string& dir) = 0;
  // Takes an exclusive advisory lock (flock) on `path`, creating it; fails at once with
  // kJournalFailed if another open file description holds it.
  virtual Status LockFile(const std::string& path, std::unique_ptr<FileLock>* lock) = 0;
};

// The POSIX Env.  Never null; lives for the whole process.
Env* DefaultEnv();

// Reads the whole of `path` into *contents (sized from GetFileSize, then read sequentially;
// fails if the file changes size meanwhile).
Status ReadWholeFile(Env* env, const std::string& path, std::vector<uint8_t>* contents);

// Returns dir + "/" + name.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace imgsink::journal
