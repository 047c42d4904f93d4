// FaultInjectionEnv: wraps a real Env (leveldb's FaultInjectionTestEnv design) to simulate
// power loss and I/O errors.
//
// It tracks, per file, the bytes appended since the last Sync and whether the file's directory
// entry has been synced since the file was created.  CrashAndDropUnsynced() then makes the
// files look as a machine that lost power would leave them: unsynced bytes are lost (or, by
// mode, partly kept, zeroed or garbage), and files whose directory entry was never synced are
// gone.  Not modeled: a removal or truncation being undone by a crash.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "daemon/journal/env.h"

namespace imgsink::journal::testing {

class FaultInjectionEnv : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  // What becomes of the bytes appended after a file's last Sync.
  enum class CrashMode {
    kDropUnsynced,      // truncated to the synced size
    kKeepRandomPrefix,  // a random prefix of them survives (a torn write)
    kZeroUnsynced,      // the size survives, the data reads as zeros (unwritten blocks)
    kGarbageUnsynced,   // the size survives, the data is random bytes
  };

  // The `n`-th (1-based) mutating call from now (create, append, sync, dir sync, remove,
  // rename, truncate) fails, and every mutating call after it fails: the process died there.
  // A failing Append first writes a random prefix of its data.
  void CrashAtOp(uint64_t n, uint32_t seed);
  // Like CrashAtOp, counting only file Sync calls.
  void CrashAtSync(uint64_t n);
  bool crashed() const;

  // Simulates the power loss (see the class comment), then clears the crash so the Env works
  // again.  REQUIRES: no file of this Env is being written any more.
  Status CrashAndDropUnsynced(CrashMode mode, std::mt19937* rng);

  // The next Append (or Sync) fails with an injected EIO-like error; nothing else changes.
  void FailNextAppend();
  void FailNextSync();

  uint64_t sync_calls() const;  // file Sync calls attempted
  uint64_t unsynced_files() const;  // files with unsynced bytes or an unsynced dir entry

  // Env
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  Status NewAppendableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  Status NewSequentialFile(const std::string& path,
                           std::unique_ptr<SequentialFile>* file) override {
    return base_->NewSequentialFile(path, file);
  }
  Status GetChildren(const std::string& dir, std::vector<std::string>* names) override {
    return base_->GetChildren(dir, names);
  }
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;
  Status GetFileSize(const std::string& path, uint64_t* size) override {
    return base_->GetFileSize(path, size);
  }
  Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  Status LockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    return base_->LockFile(path, lock);
  }

 private:
  friend class FaultWritableFile;
  struct FileState {
    uint64_t size = 0;
    uint64_t synced_size = 0;
    bool dir_synced = false;
  };
  enum class Op { kSync, kOther };

  // Returns a non-OK status iff the call must fail (crash or injected error).  Sets
  // *partial_crash when this is the crashing call.
  Status BeforeMutation(Op op, const std::string& path, bool* crashing);
  Status Append(const std::string& path, WritableFile* base, const ByteSpan* pieces, size_t n);
  Status Sync(const std::string& path, WritableFile* base);

  Env* const base_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  bool crashed_ = false;
  uint64_t crash_countdown_ = 0;       // 0: no crash armed
  bool crash_counts_syncs_only_ = false;
  std::mt19937 crash_rng_{0};
  bool fail_next_append_ = false;
  bool fail_next_sync_ = false;
  uint64_t sync_calls_ = 0;
};

}  // namespace imgsink::journal::testing
