// OutputRoot: the directory the daemon writes into, and the only way it writes files there.
//
// Every write is atomic and durable: readers see the old file or the complete new one, never a
// part, and once WriteAtomic (or WriteGroup::Commit) returns OK the file survives a crash.
// Paths resolve beneath the root without following any symbolic link, so no request can write
// outside it.  Every file operation goes through an Env (daemon/env/env.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/env/env.h"
#include "daemon/output/output_sync.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Temp files are "<dir>/.imgsink-tmp.<16 hex digits>"; no component of an output path may
// start with this (CheckOutputName).
inline constexpr std::string_view kTempPrefix = ".imgsink-tmp.";

// Returns `dir` as an absolute path without '.' or empty components: relative to the working
// directory now, or, when it has a '..' component, its realpath (which must exist then).  How
// a daemon names its output roots to clients (PathRules::roots).  Errors: kBadOption.
Status AbsoluteRootPath(const std::string& dir, std::string* out);

// Returns the file `path` (a SavePlan path) names, for the manifest: an absolute path with a
// '..' component (a --paths caller daemon keeps them for the kernel) has its directory replaced
// by that directory's realpath; any other path is returned as it is, as is one whose directory
// cannot be resolved.  REQUIRES: the directory exists (call after the file was added).
std::string RealOutputPath(const std::string& path);
// The longest file or directory name the writer creates, in bytes (Linux NAME_MAX).
inline constexpr size_t kMaxNameBytes = 255;

// Returns OK iff the writer may create `rel_path` (which passes CheckRelativePath): every
// component is at most kMaxNameBytes and none starts with kTempPrefix (the start-up sweep
// deletes such files).  Otherwise kBadPath naming the component: such a path can never be
// written, so validation refuses it before the job is acknowledged, and a batch refuses it
// without retrying.
Status CheckOutputName(std::string_view rel_path);

// Thread-safety: thread-safe; any number of threads may call WriteAtomic at once (writes to the
// same path race benignly: one complete version wins).
class OutputRoot {
 public:
  // Opens `dir` through `env`, creating it (and its parents, mode 0755) if missing, and keeps
  // it open: renaming or replacing `dir` afterwards does not redirect writes.  `sync` is how
  // every write is made durable.  REQUIRES: `env` outlives the root.
  // Errors: kWriteFailed naming `dir` and the errno.
  static Status Open(Env* env, const std::string& dir, OutputSync sync, std::unique_ptr<OutputRoot>* out);
  static Status Open(const std::string& dir, OutputSync sync, std::unique_ptr<OutputRoot>* out) {
    return Open(DefaultEnv(), dir, sync, out);
  }
  static Status Open(const std::string& dir, std::unique_ptr<OutputRoot>* out) {
    return Open(DefaultEnv(), dir, OutputSync::kFilesystem, out);
  }

  OutputRoot(const OutputRoot&) = delete;
  OutputRoot& operator=(const OutputRoot&) = delete;

  const std::string& dir() const { return dir_; }
  OutputSync sync() const { return sync_; }
  // The Env the root was opened through (WriteGroup::AddAbsolute opens directories with it).
  Env* env() const { return env_; }
  // The root held open; paths beneath it resolve through it.
  Directory* directory() const { return root_.get(); }

  // Writes `size` bytes at `rel_path` beneath the root, replacing any file there atomically:
  // creates missing parent directories, writes a temp file in the target's directory (an
  // O_TMPFILE where the filesystem has them, linked to a hidden temp name once durable), makes
  // its data durable, renames it over `rel_path` and makes the directory entry durable: a
  // WriteGroup of one file (write many files with a WriteGroup).  Mode 0644 less the umask.
  // Errors: kBadPath if rel_path fails CheckRelativePath or CheckOutputName, meets a symbolic
  // link anywhere (parent directory or the final name), names an existing directory, or has a
  // parent component that is not a directory (a regular file): none of these can pass by
  // waiting; kWriteFailed (path, step and strerror) if any system call fails (ENOSPC, EDQUOT,
  // EACCES, EIO, ...).  On error no temp file is left behind and an existing file at
  // rel_path is unchanged (parent directories created on the way may remain).
  Status WriteAtomic(std::string_view rel_path, const void* data, size_t size);

  // Deletes leftover temp files (regular files named kTempPrefix*, from a crash mid-write) in
  // the root and in directories up to `max_depth` levels below it (0: the root only), never
  // following symbolic links.  Adds the number deleted to *removed.
  // REQUIRES: no WriteAtomic in progress (it would delete that write's temp file and fail it);
  // call at startup.  Errors: kWriteFailed for the first directory that could not be read or
  // file that could not be deleted; the sweep goes on past errors.
  Status RemoveStaleTempFiles(int max_depth, size_t* removed);

 private:
  OutputRoot(Env* env, std::string dir, OutputSync sync, std::unique_ptr<Directory> root)
      : env_(env), dir_(std::move(dir)), sync_(sync), root_(std::move(root)) {}

  Status SweepDir(Directory* dir, int depth_left, size_t* removed);

  Env* const env_;
  const std::string dir_;
  const OutputSync sync_;
  const std::unique_ptr<Directory> root_;
};

}  // namespace imgsink::daemon
