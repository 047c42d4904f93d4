#include "daemon/output/write_group.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <utility>

#include "daemon/output/beneath.h"
#include "imgsink/proto/paths.h"

namespace imgsink {
namespace {

// kTempPrefix + 16 hex digits of randomness (a clock-and-counter mix if getrandom fails).
std::string NewTempName() {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) != ssize_t(sizeof bits)) {
    static std::atomic<uint64_t> counter{0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bits = (uint64_t(now.tv_sec) * 1000000007u) ^ uint64_t(now.tv_nsec) ^ (uint64_t(getpid()) << 40) ^
           (counter.fetch_add(1) * 0x9E3779B97F4A7C15u);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(bits));
  return std::string(kTempPrefix) + hex;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

WriteGroup::~WriteGroup() { Discard(); }

Status WriteGroup::Add(std::string_view rel_path, const void* data, size_t size) {
  Status s = CheckRelativePath(rel_path);
  if (!s.ok()) return s;
  const size_t slash = rel_path.rfind('/');
  const std::string_view rel_dir = slash == std::string_view::npos ? std::string_view() : rel_path.substr(0, slash);
  File file;
  file.rel_path = std::string(rel_path);
  file.name = std::string(slash == std::string_view::npos ? rel_path : rel_path.substr(slash + 1));
  if (StartsWith(file.name, kTempPrefix)) {
    return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) + ": names starting with \"" +
                                           std::string(kTempPrefix) + "\" are reserved for temp files");
  }
  s = DirFor(rel_path, rel_dir, &file.dir);
  if (!s.ok()) return s;
  struct stat st;
  if (fstatat(dirs_[file.dir].fd.get(), file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) +
                                             " is a symbolic link; links beneath the output root are never "
                                             "followed or replaced");
    }
    if (S_ISDIR(st.st_mode)) return WriteFailed(rel_path, "the target", EISDIR);
  }
  s = CreateTemp(dirs_[file.dir], &file);
  if (s.ok()) s = Fill(file, data, size);
  if (!s.ok()) {
    if (!file.temp_name.empty()) unlinkat(dirs_[file.dir].fd.get(), file.temp_name.c_str(), 0);
    return s;
  }
  files_.push_back(std::move(file));
  return Status::OK();
}

Status WriteGroup::DirFor(std::string_view rel_path, std::string_view rel_dir, size_t* index) {
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (dirs_[i].rel_dir == rel_dir) {
      *index = i;
      return Status::OK();
    }
  }
  Dir dir;
  dir.rel_dir = std::string(rel_dir);
  dir.first_path = std::string(rel_path);
  Status s = OpenDirBeneath(root_->fd_.get(), rel_dir, rel_path, root_->fault_, &dir.fd);
  if (!s.ok()) return s;
  struct stat st;
  if (fstat(dir.fd.get(), &st) < 0) return WriteFailed(rel_path, "cannot stat its directory", errno);
  dir.dev = st.st_dev;
  *index = dirs_.size();
  dirs_.push_back(std::move(dir));
  return Status::OK();
}

Status WriteGroup::CreateTemp(const Dir& dir, File* file) {
  const int injected = root_->Fault(WriteStep::kOpenTemp, file->rel_path);
  if (injected != 0) return WriteFailed(file->rel_path, "cannot create a temp file", injected);
  // An unnamed file cannot be left behind by a crash before Commit.
  file->fd.Reset(openat(dir.fd.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (file->fd.valid()) return Status::OK();
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return WriteFailed(file->rel_path, "cannot create a temp file", errno);
  }
  // No O_TMPFILE on this filesystem: a named temp file, created exclusively (the start-up sweep
  // removes it if a crash leaves it).
  const std::string name = NewTempName();
  file->fd.Reset(openat(dir.fd.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file->fd.valid()) {
    return WriteFailed(file->rel_path, "cannot create temp file " + QuoteForMessage(name), errno);
  }
  file->temp_name = name;
  return Status::OK();
}

Status WriteGroup::Fill(const File& file, const void* data, size_t size) {
  const int injected = root_->Fault(WriteStep::kWrite, file.rel_path);
  if (injected != 0) return WriteFailed(file.rel_path, "cannot write the temp file", injected);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(file.fd.get(), p, std::min<size_t>(size, size_t(1) << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return WriteFailed(file.rel_path, "cannot write the temp file", n < 0 ? errno : EIO);
    p += n;
    size -= size_t(n);
  }
  return Status::OK();
}

Status WriteGroup::Commit() {
  Status s = SyncData();
  for (File& file : files_) {
    if (!s.ok()) break;
    s = PutInPlace(&file);
  }
  if (s.ok()) s = SyncDirs();
  Discard();
  return s;
}

Status WriteGroup::SyncData() {
  if (root_->sync_ == OutputSync::kFilesystem) return SyncFilesystems(WriteStep::kSyncData, "(its data)");
  for (const File& file : files_) {
    const int injected = root_->Fault(WriteStep::kSyncData, file.rel_path);
    if (injected != 0 || fsync(file.fd.get()) < 0) {
      return WriteFailed(file.rel_path, "cannot fsync the temp file", injected ? injected : errno);
    }
  }
  return Status::OK();
}

Status WriteGroup::PutInPlace(File* file) {
  const int dir_fd = dirs_[file->dir].fd.get();
  if (file->temp_name.empty()) {  // O_TMPFILE: give it a temp name first, then rename that
    const int injected = root_->Fault(WriteStep::kLink, file->rel_path);
    if (injected != 0) return WriteFailed(file->rel_path, "cannot link the temp file", injected);
    const std::string proc_path = "/proc/self/fd/" + std::to_string(file->fd.get());
    for (int attempt = 0;; ++attempt) {
      const std::string name = NewTempName();
      if (linkat(AT_FDCWD, proc_path.c_str(), dir_fd, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ||
          // Without /proc, AT_EMPTY_PATH does the same (it needs CAP_DAC_READ_SEARCH).
          (errno == ENOENT && linkat(file->fd.get(), "", dir_fd, name.c_str(), AT_EMPTY_PATH) == 0)) {
        file->temp_name = name;
        break;
      }
      if (errno != EEXIST || attempt == 3) return WriteFailed(file->rel_path, "cannot link the temp file", errno);
    }
  }
  const int injected = root_->Fault(WriteStep::kRename, file->rel_path);
  if (injected != 0 || renameat(dir_fd, file->temp_name.c_str(), dir_fd, file->name.c_str()) < 0) {
    return WriteFailed(file->rel_path, "cannot rename the temp file into place", injected ? injected : errno);
  }
  file->temp_name.clear();  // in place: nothing left to clean up
  return Status::OK();
}

Status WriteGroup::SyncDirs() {
  if (root_->sync_ == OutputSync::kFilesystem) return SyncFilesystems(WriteStep::kSyncDir, "(its directory)");
  for (const Dir& dir : dirs_) {
    const int injected = root_->Fault(WriteStep::kSyncDir, dir.first_path);
    if (injected != 0 || fsync(dir.fd.get()) < 0) {
      return WriteFailed(dir.first_path, "cannot fsync its directory", injected ? injected : errno);
    }
  }
  return Status::OK();
}

Status WriteGroup::SyncFilesystems(WriteStep step, const char* what) {
  for (size_t i = 0; i < dirs_.size(); ++i) {
    const auto same_fs = [&](const Dir& d) { return d.dev == dirs_[i].dev; };
    if (std::any_of(dirs_.begin(), dirs_.begin() + ptrdiff_t(i), same_fs)) continue;
    // syncfs reports a writeback error on the filesystem since the fd was opened (Linux >= 5.8).
    // This fd was opened before the group created any file on that filesystem, and no other
    // thread syncs through it, so an error that hit our data cannot be reported elsewhere only.
    const int injected = root_->Fault(step, dirs_[i].first_path);
    if (injected != 0 || syncfs(dirs_[i].fd.get()) < 0) {
      return WriteFailed(dirs_[i].first_path, std::string("cannot syncfs its filesystem ") + what,
                         injected ? injected : errno);
    }
  }
  return Status::OK();
}

void WriteGroup::Discard() {
  for (const File& file : files_) {
    if (!file.temp_name.empty()) unlinkat(dirs_[file.dir].fd.get(), file.temp_name.c_str(), 0);
  }
  files_.clear();  // closes the temp files: unnamed ones vanish
  dirs_.clear();
}

}  // namespace imgsink
