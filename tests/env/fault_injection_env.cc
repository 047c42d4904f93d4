#include "fault_injection_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace imgsink::daemon::testing {
namespace {

Status Injected(const std::string& what, const std::string& path) {
  return Status(ErrorCode::kWriteFailed, what + " " + path + ": injected fault");
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

}  // namespace imgsink::daemon::testing
