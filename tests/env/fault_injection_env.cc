#include "fault_injection_env.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "daemon/env/io_error.h"

namespace imgsink::testing {
namespace {

Status Injected(const std::string& what, const std::string& path) {
  return Status(ErrorCode::kWriteFailed, what + " " + path + ": injected fault");
}

// What an operation failing with `err` reports (the message names the errno, as a real one).
Status InjectedErrno(FileOp op, const std::string& path, int err) {
  return IoError(std::string("injected ") + FileOpName(op) + " of \"" + path + "\"", err);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Overwrites [from, to) of `path` with zeros or random bytes, keeping its size.
bool Scribble(const std::string& path, uint64_t from, uint64_t to, bool random,
              std::mt19937* rng) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<uint8_t> bytes(to - from, 0);
  if (random) {
    for (uint8_t& b : bytes) b = uint8_t((*rng)());
  }
  bool ok = ::pwrite(fd, bytes.data(), bytes.size(), off_t(from)) == ssize_t(bytes.size());
  ::close(fd);
  return ok;
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
  FaultTempFile(const FaultInjectionEnv* env, std::string path, std::unique_ptr<TempFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  const std::string& target() const override { return base_->target(); }
  const std::string& name() const override { return base_->name(); }
  Status Append(const void* data, size_t size) override {
    if (const int err = env_->FileOpFault(FileOp::kWrite, path_)) return InjectedErrno(FileOp::kWrite, path_, err);
    return base_->Append(data, size);
  }
  Status Sync() override {
    if (const int err = env_->FileOpFault(FileOp::kSyncFile, path_)) {
      return InjectedErrno(FileOp::kSyncFile, path_, err);
    }
    return base_->Sync();
  }
  Status Link(const std::string& name, bool* taken) override {
    *taken = false;
    if (const int err = env_->FileOpFault(FileOp::kLink, path_)) return InjectedErrno(FileOp::kLink, path_, err);
    return base_->Link(name, taken);
  }

 private:
  const FaultInjectionEnv* env_;
  const std::string path_;  // the target's
  const std::unique_ptr<TempFile> base_;
};

class FaultDirectory : public Directory {
 public:
  FaultDirectory(const FaultInjectionEnv* env, std::unique_ptr<Directory> base)
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
    if (s.ok()) *file = std::make_unique<FaultTempFile>(env_, path, std::move(base));
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
    return Guarded(FileOp::kRename, Join(base_->path(), to), [&] { return base_->Rename(from, to); });
  }
  Status Remove(const std::string& name) override {
    return Guarded(FileOp::kRemove, Join(base_->path(), name), [&] { return base_->Remove(name); });
  }
  Status Sync() override {
    return Guarded(FileOp::kSyncDir, base_->path(), [&] { return base_->Sync(); });
  }
  Status SyncFilesystem() override {
    return Guarded(FileOp::kSyncFs, base_->path(), [&] { return base_->SyncFilesystem(); });
  }

 private:
  template <typename Fn>
  Status Guarded(FileOp op, const std::string& path, Fn run) {
    if (const int err = env_->FileOpFault(op, path)) return InjectedErrno(op, path, err);
    return run();
  }

  const FaultInjectionEnv* env_;
  const std::unique_ptr<Directory> base_;
};

}  // namespace

Status FaultInjectionEnv::OpenDirectory(const std::string& dir, std::unique_ptr<Directory>* out) {
  std::unique_ptr<Directory> base;
  const Status s = base_->OpenDirectory(dir, &base);
  if (s.ok()) *out = std::make_unique<FaultDirectory>(this, std::move(base));
  return s;
}

class FaultWritableFile : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  Status Append(const ByteSpan* pieces, size_t n) override {
    return env_->Append(path_, base_.get(), pieces, n);
  }
  Status Sync() override { return env_->Sync(path_, base_.get()); }
  Status Close() override { return base_->Close(); }

 private:
  FaultInjectionEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

void FaultInjectionEnv::CrashAtOp(uint64_t n, uint32_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  crash_countdown_ = n;
  crash_counts_syncs_only_ = false;
  crash_rng_.seed(seed);
}

void FaultInjectionEnv::CrashAtSync(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  crash_countdown_ = n;
  crash_counts_syncs_only_ = true;
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard<std::mutex> l(mu_);
  return crashed_;
}

void FaultInjectionEnv::FailNextAppend() {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_append_ = true;
}

void FaultInjectionEnv::FailNextSync() {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_sync_ = true;
}

uint64_t FaultInjectionEnv::sync_calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return sync_calls_;
}

uint64_t FaultInjectionEnv::unsynced_files() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (const auto& [path, st] : files_) n += (st.size != st.synced_size || !st.dir_synced);
  return n;
}

Status FaultInjectionEnv::BeforeMutation(Op op, const std::string& path, bool* crashing) {
  *crashing = false;
  if (crashed_) return Injected("crashed: no more writes reach", path);
  if (crash_countdown_ != 0 && (op == Op::kSync || !crash_counts_syncs_only_)) {
    if (--crash_countdown_ == 0) {
      crashed_ = true;
      *crashing = true;
      return Injected("crash at", path);
    }
  }
  return Status::OK();
}

Status FaultInjectionEnv::NewWritableFile(const std::string& path,
                                          std::unique_ptr<WritableFile>* file) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, path, &crashing);
  if (!s.ok()) return s;
  uint64_t old_size;
  bool existed = base_->GetFileSize(path, &old_size).ok();
  std::unique_ptr<WritableFile> base;
  s = base_->NewWritableFile(path, &base);
  if (!s.ok()) return s;
  auto it = files_.find(path);
  bool dir_synced = existed && (it == files_.end() || it->second.dir_synced);
  files_[path] = FileState{0, 0, dir_synced};
  *file = std::make_unique<FaultWritableFile>(this, path, std::move(base));
  return Status::OK();
}

Status FaultInjectionEnv::NewAppendableFile(const std::string& path,
                                            std::unique_ptr<WritableFile>* file) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, path, &crashing);
  if (!s.ok()) return s;
  uint64_t size = 0;
  bool existed = base_->GetFileSize(path, &size).ok();
  std::unique_ptr<WritableFile> base;
  s = base_->NewAppendableFile(path, &base);
  if (!s.ok()) return s;
  if (files_.count(path) == 0) files_[path] = FileState{size, size, existed};
  *file = std::make_unique<FaultWritableFile>(this, path, std::move(base));
  return Status::OK();
}

Status FaultInjectionEnv::Append(const std::string& path, WritableFile* base,
                                 const ByteSpan* pieces, size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, path, &crashing);
  FileState& st = files_[path];
  if (crashing) {
    // The process died inside write(): some prefix of the data reached the page cache.
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += pieces[i].size;
    uint64_t keep = total == 0 ? 0 : crash_rng_() % (total + 1);
    std::vector<ByteSpan> prefix;
    for (size_t i = 0; i < n && keep > 0; ++i) {
      size_t take = size_t(std::min<uint64_t>(keep, pieces[i].size));
      prefix.push_back(ByteSpan{pieces[i].data, take});
      keep -= take;
      st.size += take;
    }
    (void)base->Append(prefix.data(), prefix.size());
    return s;
  }
  if (!s.ok()) return s;
  if (fail_next_append_) {
    fail_next_append_ = false;
    return Injected("write", path);
  }
  s = base->Append(pieces, n);
  for (size_t i = 0; i < n; ++i) st.size += pieces[i].size;
  return s;
}

Status FaultInjectionEnv::Sync(const std::string& path, WritableFile* base) {
  std::lock_guard<std::mutex> l(mu_);
  ++sync_calls_;
  bool crashing;
  Status s = BeforeMutation(Op::kSync, path, &crashing);
  if (!s.ok()) return s;
  if (fail_next_sync_) {
    fail_next_sync_ = false;
    return Injected("fdatasync", path);  // the unsynced bytes stay unsynced
  }
  s = base->Sync();
  if (s.ok()) files_[path].synced_size = files_[path].size;
  return s;
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, dir, &crashing);
  if (!s.ok()) return s;
  s = base_->SyncDir(dir);
  if (!s.ok()) return s;
  for (auto& [path, st] : files_) {
    if (DirOf(path) == dir || DirOf(path) + "/" == dir) st.dir_synced = true;
  }
  return Status::OK();
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, path, &crashing);
  if (!s.ok()) return s;
  s = base_->RemoveFile(path);
  if (s.ok()) files_.erase(path);
  return s;
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, from, &crashing);
  if (!s.ok()) return s;
  s = base_->RenameFile(from, to);
  if (!s.ok()) return s;
  FileState st;
  uint64_t size = 0;
  if (files_.count(from) != 0) {
    st = files_[from];
    files_.erase(from);
  } else if (base_->GetFileSize(to, &size).ok()) {
    st = FileState{size, size, true};
  }
  st.dir_synced = false;  // modeled as lost with the file if the dir is not synced
  files_[to] = st;
  return Status::OK();
}

Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  bool crashing;
  Status s = BeforeMutation(Op::kOther, path, &crashing);
  if (!s.ok()) return s;
  s = base_->TruncateFile(path, size);
  if (!s.ok()) return s;
  auto it = files_.find(path);
  if (it != files_.end()) {
    it->second.size = size;
    it->second.synced_size = std::min(it->second.synced_size, size);
  }
  return Status::OK();
}

Status FaultInjectionEnv::CrashAndDropUnsynced(CrashMode mode, std::mt19937* rng) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    const std::string& path = it->first;
    FileState& st = it->second;
    if (!st.dir_synced) {
      Status s = base_->RemoveFile(path);
      if (!s.ok()) return s;
      it = files_.erase(it);
      continue;
    }
    if (st.size > st.synced_size) {
      uint64_t keep = st.synced_size;
      bool ok = true;
      switch (mode) {
        case CrashMode::kDropUnsynced: break;
        case CrashMode::kKeepRandomPrefix: keep += (*rng)() % (st.size - st.synced_size + 1); break;
        case CrashMode::kZeroUnsynced:
        case CrashMode::kGarbageUnsynced:
          keep = st.size;
          ok = Scribble(path, st.synced_size, st.size, mode == CrashMode::kGarbageUnsynced, rng);
          break;
      }
      if (!ok) return Status(ErrorCode::kWriteFailed, "scribble " + path + " failed");
      Status s = base_->TruncateFile(path, keep);
      if (!s.ok()) return s;
      st.size = keep;
    }
    st.synced_size = st.size;
    ++it;
  }
  crashed_ = false;
  crash_countdown_ = 0;
  fail_next_append_ = fail_next_sync_ = false;
  return Status::OK();
}

}  // namespace imgsink::testing
