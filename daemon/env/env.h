// Env: the daemon's one seam to the file system (leveldb's Env), used for every file it
// touches: the journal's segments (by path), the output files and the manifest (by handles on
// directories held open beneath the output root).  Tests wrap it (EnvWrapper) to inject faults
// and simulate crashes (tests/env/fault_injection_env.h).
//
// Every error is a Status made by IoError (daemon/env/io_error.h): ErrorCode::kWriteFailed, a
// message naming the operation, the file and strerror(errno).  A layer that reports its
// failures under its own code re-codes at its boundary (the journal: kJournalFailed).
// Thread-safety: an Env and a Directory are safe to call from any thread.  A file object
// (WritableFile, SequentialFile, TempFile) is used by one thread at a time; a
// RandomAccessFile may be read from several at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/util/bytes.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

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

// A file read at any offset (pread), never moved or changed by reading.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at `offset` into scratch; *got < n only at the end of the file.
  virtual Status Read(uint64_t offset, size_t n, uint8_t* scratch, size_t* got) const = 0;
};

// Held while a directory is locked by this process; unlocks when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// A new file that gets its final name only once complete (Directory::NewTempFile).  Destroying
// it closes it: an unnamed one vanishes, a named one stays until removed.
class TempFile {
 public:
  virtual ~TempFile() = default;
  // The name it is destined for (Directory::NewTempFile's `target`), for messages and wrappers.
  virtual const std::string& target() const = 0;
  // Its current name in its directory; empty while unnamed (O_TMPFILE).
  virtual const std::string& name() const = 0;
  // Writes all `size` bytes at the end (a loop over write(2)).
  virtual Status Append(const void* data, size_t size) = 0;
  // Makes its data and size durable (fsync).
  virtual Status Sync() = 0;
  // Gives an unnamed file the name `name` in its directory (linkat); name() is `name` after.
  // Sets *taken (and fails) iff `name` exists already: try again with another.
  // REQUIRES: name().empty().
  virtual Status Link(const std::string& name, bool* taken) = 0;
};

enum class EntryType { kMissing, kRegular, kDirectory, kSymlink, kOther };

// A directory held open: names resolve relative to it and every path beneath it is walked
// without following a symbolic link, so renaming or replacing its path afterwards redirects
// nothing, and nothing a request names can land outside it.
class Directory {
 public:
  virtual ~Directory() = default;
  // Its path relative to the directory Env::OpenDirectory opened ("" for that one).
  virtual const std::string& path() const = 0;
  // Identifies its file system: directories with equal ids share one SyncFilesystem.
  virtual uint64_t filesystem_id() const = 0;

  // Opens `rel_dir` beneath this directory ("" passes CheckRelativePath) into *dir.  If
  // `create`, missing directories are created (0755 less umask) and their parent synced; a
  // racing creator is fine.  Errors: kBadPath if any component is a symbolic link (even one
  // pointing inside) or exists and is not a directory; kWriteFailed naming the component for
  // everything else.
  virtual Status OpenDirectory(std::string_view rel_dir, bool create, std::unique_ptr<Directory>* dir) = 0;
  // Sets *type to what `name` is (lstat: a link is kSymlink); kMissing is not an error.
  virtual Status Stat(const std::string& name, EntryType* type) = 0;
  // Sets *entries to the names here (no "." or "..") with their types, never following links.
  virtual Status List(std::vector<std::pair<std::string, EntryType>>* entries) = 0;
  // Creates a temp file here for `target` (mode 0644 less umask): unnamed (O_TMPFILE) where
  // the file system allows, else `temp_name` created exclusively, never through a link.
  virtual Status NewTempFile(const std::string& target, const std::string& temp_name,
                             std::unique_ptr<TempFile>* file) = 0;
  // Opens `name` (created 0644 if missing, never through a link) for appending; *created says
  // whether it was created (then Sync() this directory before counting on its entry).
  virtual Status NewAppendableFile(const std::string& name, std::unique_ptr<WritableFile>* file,
                                   bool* created) = 0;
  // Renames `from` over `to`, both in this directory (atomic replace).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes the file `name`; OK if it is already gone.
  virtual Status Remove(const std::string& name) = 0;
  // Makes the creations, removals and renames of entries here durable (fsync).
  virtual Status Sync() = 0;
  // Makes everything written to this directory's file system durable (syncfs).  It reports a
  // writeback error on that file system since this directory was opened (Linux >= 5.8).
  virtual Status SyncFilesystem() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // --- files named by path (the journal) ---
  // Creates `path`, or truncates it if it exists, for appending.
  virtual Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // Opens `path` (created if missing) for appending after its current end.
  virtual Status NewAppendableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  virtual Status NewSequentialFile(const std::string& path, std::unique_ptr<SequentialFile>* file) = 0;
  virtual Status NewRandomAccessFile(const std::string& path,
                                     std::unique_ptr<RandomAccessFile>* file) = 0;
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
  // Takes an exclusive advisory lock (flock) on `path`, creating it; fails at once if another
  // open file description holds it (the message then says "in use").
  virtual Status LockFile(const std::string& path, std::unique_ptr<FileLock>* lock) = 0;

  // --- directories held open (the output root) ---
  // Opens `dir` (created with its parents, mode 0755, if missing) as a Directory with path "".
  // Symbolic links in `dir` itself are followed (it is the operator's choice); none beneath.
  virtual Status OpenDirectory(const std::string& dir, std::unique_ptr<Directory>* out) = 0;
};

// Forwards every call to another Env (leveldb's EnvWrapper): a test layer derives from it and
// overrides only what it changes.
class EnvWrapper : public Env {
 public:
  // REQUIRES: `target` outlives the wrapper.
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Status NewWritableFile(const std::string& p, std::unique_ptr<WritableFile>* f) override {
    return target_->NewWritableFile(p, f);
  }
  Status NewAppendableFile(const std::string& p, std::unique_ptr<WritableFile>* f) override {
    return target_->NewAppendableFile(p, f);
  }
  Status NewSequentialFile(const std::string& p, std::unique_ptr<SequentialFile>* f) override {
    return target_->NewSequentialFile(p, f);
  }
  Status NewRandomAccessFile(const std::string& p, std::unique_ptr<RandomAccessFile>* f) override {
    return target_->NewRandomAccessFile(p, f);
  }
  Status GetChildren(const std::string& d, std::vector<std::string>* n) override { return target_->GetChildren(d, n); }
  Status RemoveFile(const std::string& p) override { return target_->RemoveFile(p); }
  Status RenameFile(const std::string& f, const std::string& t) override { return target_->RenameFile(f, t); }
  Status TruncateFile(const std::string& p, uint64_t s) override { return target_->TruncateFile(p, s); }
  Status SyncDir(const std::string& d) override { return target_->SyncDir(d); }
  Status GetFileSize(const std::string& p, uint64_t* s) override { return target_->GetFileSize(p, s); }
  Status CreateDir(const std::string& d) override { return target_->CreateDir(d); }
  Status LockFile(const std::string& p, std::unique_ptr<FileLock>* l) override { return target_->LockFile(p, l); }
  Status OpenDirectory(const std::string& d, std::unique_ptr<Directory>* o) override {
    return target_->OpenDirectory(d, o);
  }

 private:
  Env* const target_;
};

// The POSIX Env.  Never null; lives for the whole process.
Env* DefaultEnv();

// Reads the whole of `path` into *contents (sized from GetFileSize, then read sequentially;
// fails if the file changes size meanwhile).
Status ReadWholeFile(Env* env, const std::string& path, std::vector<uint8_t>* contents);

// Returns dir + "/" + name.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace imgsink::daemon
