// FaultInjectionEnv: wraps a real Env (leveldb's FaultInjectionTestEnv design) to simulate
// power loss and I/O errors, for every file the daemon touches: the journal's (by path) and the
// output's and manifest's (through Directory handles).
//
// Files named by path (the journal): it tracks, per file, the bytes appended since the last
// Sync and whether the file's directory entry has been synced since the file was created.
// CrashAndDropUnsynced() then makes the files look as a machine that lost power would leave
// them: unsynced bytes are lost (or, by mode, partly kept, zeroed or garbage), and files whose
// directory entry was never synced are gone.  Not modeled: a removal or truncation being
// undone by a crash.
//
// Files reached through a Directory (output files, the manifest): SetFileOpHook sees every
// operation before it runs, in order, and may make it fail with an errno (ENOSPC, EIO...).
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "daemon/env/env.h"

namespace imgsink::daemon::testing {

// The operations on files reached through a Directory, as SetFileOpHook reports them with the
// path they act on, relative to the directory Env::OpenDirectory opened.
enum class FileOp {
  kMkdir,       // OpenDirectory creating a missing directory (path: the directory)
  kCreateTemp,  // NewTempFile (path: the temp file's target)
  kWrite,       // TempFile::Append (the target)
  kSyncFile,    // TempFile::Sync (the target)
  kLink,        // TempFile::Link (the target)
  kRename,      // Rename (the new name)
  kRemove,      // Remove (the file)
  kSyncDir,     // Directory::Sync (the directory)
  kSyncFs,      // Directory::SyncFilesystem (the directory)
  kOpenAppend,  // NewAppendableFile (the file)
  kAppend,      // Append to a file from NewAppendableFile (the file)
  kSyncAppend,  // Sync of such a file (the file)
};
const char* FileOpName(FileOp op);

// Called before `op` on `path`; returns 0 to let it run, or the errno it fails with instead.
using FileOpHook = std::function<int(FileOp op, const std::string& path)>;

class FaultInjectionEnv : public EnvWrapper {
 public:
  explicit FaultInjectionEnv(Env* base) : EnvWrapper(base), base_(base) {}

  // Consults `hook` (null: none) before every later operation through a Directory.  The hook
  // runs on the thread doing the operation, under no lock of this Env.
  void SetFileOpHook(FileOpHook hook);
  // Returns the errno the hook injects for `op` on `path`, or 0.
  int FileOpFault(FileOp op, const std::string& path) const;

  // Simulates power loss for files reached through a Directory: a name that received a temp
  // file's data by a rename before that data was synced (TempFile::Sync, or SyncFilesystem of
  // its file system after the write) loses the data: it is cut to 0 bytes, as a file whose
  // blocks were never written back reads after a crash.  A rename itself is modelled as kept.
  // REQUIRES: no write through this Env in progress.
  Status DropUnsyncedOutput();

  // The crash model's bookkeeping, called by the Directory-side wrappers (fault_directory.cc).
  void NoteTemp(const TempFile* file, const std::string& dir, uint64_t fs, bool open);
  void NoteTempData(const TempFile* file, bool synced);
  // `file` now has `name` in its directory (named at creation, or linked later).
  void NoteTempName(const TempFile* file, const std::string& name);
  void NoteFilesystemSynced(uint64_t fs);
  void NoteRename(const std::string& dir, const std::string& from, const std::string& to);

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

  // Env (what is not here forwards to the base, as EnvWrapper does)
  Status OpenDirectory(const std::string& dir, std::unique_ptr<Directory>* out) override;
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  Status NewAppendableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;

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
  struct TempState {
    std::string dir;
    uint64_t fs = 0;
    bool dirty = false;  // written since its last sync
    // Its name in `dir` (empty while unnamed), copied here when set: NoteRename, on another
    // writer's thread, must not read the file object, which only its own thread may touch.
    std::string name;
  };
  std::mutex output_mu_;
  std::string output_root_;                       // guarded by output_mu_: the last OpenDirectory's
  std::map<const TempFile*, TempState> temps_;    // guarded by output_mu_: open temp files
  std::map<std::string, bool> renamed_unsynced_;  // guarded by output_mu_: names holding unsynced data
  mutable std::mutex hook_mu_;
  std::shared_ptr<const FileOpHook> hook_;  // guarded by hook_mu_; copied out to call
};

}  // namespace imgsink::daemon::testing
