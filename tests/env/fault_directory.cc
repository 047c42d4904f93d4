// FaultInjectionEnv's side for files reached through a Directory (output files, the manifest):
// wrappers that consult the FileOpHook before each operation.
#include <errno.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/env/io_error.h"
#include "fault_injection_env.h"

namespace imgsink::daemon::testing {
namespace {

// What an operation failing with `err` reports (the message names the errno, as a real one).
Status InjectedErrno(FileOp op, const std::string& path, int err) {
  return IoError(std::string("injected ") + FileOpName(op) + " of \"" + path + "\"", err);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace

const char* FileOpName(FileOp op) {
  switch (op) {
    case FileOp::kMkdir: return "mkdir";
    case FileOp::kCreateTemp: return "create-temp";
    case FileOp::kWrite: return "write";
    case FileOp::kSyncFile: return "fsync";
    case FileOp::kLink: return "link";
    case FileOp::kRename: return "rename";
    case FileOp::kRemove: return "remove";
    case FileOp::kSyncDir: return "fsync-dir";
    case FileOp::kSyncFs: return "syncfs";
    case FileOp::kOpenAppend: return "open-append";
    case FileOp::kAppend: return "append";
    case FileOp::kSyncAppend: return "fdatasync";
  }
  return "?";
}

void FaultInjectionEnv::SetFileOpHook(FileOpHook hook) {
  std::lock_guard<std::mutex> l(hook_mu_);
  hook_ = hook ? std::make_shared<const FileOpHook>(std::move(hook)) : nullptr;
}

int FaultInjectionEnv::FileOpFault(FileOp op, const std::string& path) const {
  std::shared_ptr<const FileOpHook> hook;
  {
    std::lock_guard<std::mutex> l(hook_mu_);
    hook = hook_;
  }
  return hook ? (*hook)(op, path) : 0;
}

namespace {

// A file opened for appending through a FaultDirectory (the manifest).
class FaultAppendFile : public WritableFile {
 public:
  FaultAppendFile(const FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  Status Append(const ByteSpan* pieces, size_t n) override {
    if (const int err = env_->FileOpFault(FileOp::kAppend, path_)) return InjectedErrno(FileOp::kAppend, path_, err);
    return base_->Append(pieces, n);
  }
  Status Sync() override {
    if (const int err = env_->FileOpFault(FileOp::kSyncAppend, path_)) {
      return InjectedErrno(FileOp::kSyncAppend, path_, err);
    }
    return base_->Sync();
  }
  Status Close() override { return base_->Close(); }

 private:
  const FaultInjectionEnv* env_;
  const std::string path_;
  const std::unique_ptr<WritableFile> base_;
};

class FaultTempFile : public TempFile {
 public:
  FaultTempFile(FaultInjectionEnv* env, std::string path, std::unique_ptr<TempFile> base, const Directory& dir)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {
    env_->NoteTemp(this, dir.path(), dir.filesystem_id(), true);
  }
  ~FaultTempFile() override { env_->NoteTemp(this, "", 0, false); }
  const std::string& target() const override { return base_->target(); }
  const std::string& name() const override { return base_->name(); }
  Status Append(const void* data, size_t size) override {
    if (const int err = env_->FileOpFault(FileOp::kWrite, path_)) return InjectedErrno(FileOp::kWrite, path_, err);
    env_->NoteTempData(this, false);
    return base_->Append(data, size);
  }
  Status Sync() override {
    if (const int err = env_->FileOpFault(FileOp::kSyncFile, path_)) {
      return InjectedErrno(FileOp::kSyncFile, path_, err);
    }
    const Status s = base_->Sync();
    if (s.ok()) env_->NoteTempData(this, true);
    return s;
  }
  Status Link(const std::string& name, bool* taken) override {
    *taken = false;
    if (const int err = env_->FileOpFault(FileOp::kLink, path_)) return InjectedErrno(FileOp::kLink, path_, err);
    const Status s = base_->Link(name, taken);
    if (s.ok()) env_->NoteTempName(this, base_->name());
    return s;
  }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;  // the target's
  const std::unique_ptr<TempFile> base_;
};

class FaultDirectory : public Directory {
 public:
  FaultDirectory(FaultInjectionEnv* env, std::unique_ptr<Directory> base)
      : env_(env), base_(std::move(base)) {}

  const std::string& path() const override { return base_->path(); }
  uint64_t filesystem_id() const override { return base_->filesystem_id(); }

  Status OpenDirectory(std::string_view rel_dir, bool create, std::unique_ptr<Directory>* dir) override {
    std::unique_ptr<Directory> opened;
    // Opened without creating first, so that kMkdir is reported only when a directory is made.
    Status s = base_->OpenDirectory(rel_dir, false, &opened);
    if (!s.ok() && create && s.code() != ErrorCode::kBadPath) {
      const std::string path = Join(base_->path(), std::string(rel_dir));
      if (const int err = env_->FileOpFault(FileOp::kMkdir, path)) return InjectedErrno(FileOp::kMkdir, path, err);
      s = base_->OpenDirectory(rel_dir, true, &opened);
    }
    if (!s.ok()) return s;
    *dir = std::make_unique<FaultDirectory>(env_, std::move(opened));
    return Status::OK();
  }
  Status Stat(const std::string& name, EntryType* type) override { return base_->Stat(name, type); }
  Status List(std::vector<std::pair<std::string, EntryType>>* entries) override { return base_->List(entries); }
  Status NewTempFile(const std::string& target, const std::string& temp_name,
                     std::unique_ptr<TempFile>* file) override {
    const std::string path = Join(base_->path(), target);
    if (const int err = env_->FileOpFault(FileOp::kCreateTemp, path)) {
      return InjectedErrno(FileOp::kCreateTemp, path, err);
    }
    std::unique_ptr<TempFile> base;
    const Status s = base_->NewTempFile(target, temp_name, &base);
    if (s.ok()) *file = std::make_unique<FaultTempFile>(env_, path, std::move(base), *base_);
    return s;
  }
  Status NewAppendableFile(const std::string& name, std::unique_ptr<WritableFile>* file, bool* created) override {
    const std::string path = Join(base_->path(), name);
    if (const int err = env_->FileOpFault(FileOp::kOpenAppend, path)) {
      return InjectedErrno(FileOp::kOpenAppend, path, err);
    }
    std::unique_ptr<WritableFile> base;
    const Status s = base_->NewAppendableFile(name, &base, created);
    if (s.ok()) *file = std::make_unique<FaultAppendFile>(env_, path, std::move(base));
    return s;
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return Guarded(FileOp::kRename, Join(base_->path(), to), [&] {
      const Status s = base_->Rename(from, to);
      if (s.ok()) env_->NoteRename(base_->path(), from, Join(base_->path(), to));
      return s;
    });
  }
  Status Remove(const std::string& name) override {
    return Guarded(FileOp::kRemove, Join(base_->path(), name), [&] { return base_->Remove(name); });
  }
  Status Sync() override {
    return Guarded(FileOp::kSyncDir, base_->path(), [&] { return base_->Sync(); });
  }
  Status SyncFilesystem() override {
    return Guarded(FileOp::kSyncFs, base_->path(), [&] {
      const Status s = base_->SyncFilesystem();
      if (s.ok()) env_->NoteFilesystemSynced(base_->filesystem_id());
      return s;
    });
  }

 private:
  template <typename Fn>
  Status Guarded(FileOp op, const std::string& path, Fn run) {
    if (const int err = env_->FileOpFault(op, path)) return InjectedErrno(op, path, err);
    return run();
  }

  FaultInjectionEnv* const env_;
  const std::unique_ptr<Directory> base_;
};

}  // namespace

Status FaultInjectionEnv::OpenDirectory(const std::string& dir, std::unique_ptr<Directory>* out) {
  std::unique_ptr<Directory> base;
  const Status s = base_->OpenDirectory(dir, &base);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(output_mu_);
    output_root_ = dir;
  }
  *out = std::make_unique<FaultDirectory>(this, std::move(base));
  return s;
}

void FaultInjectionEnv::NoteTemp(const TempFile* file, const std::string& dir, uint64_t fs, bool open) {
  std::lock_guard<std::mutex> l(output_mu_);
  if (open) {
    temps_[file] = TempState{dir, fs, false, file->name()};
  } else {
    temps_.erase(file);
  }
}

void FaultInjectionEnv::NoteTempName(const TempFile* file, const std::string& name) {
  std::lock_guard<std::mutex> l(output_mu_);
  temps_[file].name = name;
}

void FaultInjectionEnv::NoteTempData(const TempFile* file, bool synced) {
  std::lock_guard<std::mutex> l(output_mu_);
  temps_[file].dirty = !synced;
}

void FaultInjectionEnv::NoteFilesystemSynced(uint64_t fs) {
  std::lock_guard<std::mutex> l(output_mu_);
  for (auto& [file, state] : temps_) {
    if (state.fs == fs) state.dirty = false;
  }
}

void FaultInjectionEnv::NoteRename(const std::string& dir, const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(output_mu_);
  for (const auto& [file, state] : temps_) {
    if (state.dir == dir && state.name == from) {
      renamed_unsynced_[to] = state.dirty;
      return;
    }
  }
  renamed_unsynced_[to] = false;  // not a temp file of ours: nothing modelled
}

Status FaultInjectionEnv::DropUnsyncedOutput() {
  std::lock_guard<std::mutex> l(output_mu_);
  for (const auto& [path, unsynced] : renamed_unsynced_) {
    if (unsynced && ::truncate(Join(output_root_, path).c_str(), 0) != 0) {
      return IoError("truncate " + path, errno);
    }
  }
  renamed_unsynced_.clear();
  return Status::OK();
}

}  // namespace imgsink::daemon::testing
