#include "daemon/output/output_root.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>

#include "daemon/output/beneath.h"
#include "daemon/output/path_template.h"

namespace imgsink {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

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

// Removes the named temp file on destruction unless disarmed.
class TempFileGuard {
 public:
  TempFileGuard(int dir_fd, const std::string* name) : dir_fd_(dir_fd), name_(name) {}
  ~TempFileGuard() {
    if (armed_) unlinkat(dir_fd_, name_->c_str(), 0);
  }
  void Arm() { armed_ = true; }
  void Disarm() { armed_ = false; }

 private:
  int dir_fd_;
  const std::string* name_;
  bool armed_ = false;
};

// mkdir -p with mode 0755.  Returns 0 or an errno.
int MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST) return errno;
    if (slash == std::string::npos) return 0;
  }
}

}  // namespace

Status OutputRoot::Open(const std::string& dir, std::unique_ptr<OutputRoot>* out) {
  const int err = dir.empty() ? ENOENT : MakeDirs(dir);
  UniqueFd fd(err == 0 ? open(dir.c_str(), kDirFlags) : -1);
  if (!fd.valid()) {
    return Status(ErrorCode::kWriteFailed, "cannot open output root " + QuoteForMessage(dir) + ": " +
                                               std::error_code(err ? err : errno, std::generic_category()).message());
  }
  out->reset(new OutputRoot(dir, std::move(fd)));  // private constructor: make_unique cannot reach it
  return Status::OK();
}

Status OutputRoot::WriteAtomic(std::string_view rel_path, const void* data, size_t size) {
  Status s = CheckRelativePath(rel_path);
  if (!s.ok()) return s;
  const size_t slash = rel_path.rfind('/');
  const std::string_view rel_dir = slash == std::string_view::npos ? std::string_view() : rel_path.substr(0, slash);
  const std::string name(slash == std::string_view::npos ? rel_path : rel_path.substr(slash + 1));
  if (StartsWith(name, kTempPrefix)) {
    return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) + ": names starting with \"" +
                                           std::string(kTempPrefix) + "\" are reserved for temp files");
  }
  UniqueFd dir;
  s = OpenDirBeneath(fd_.get(), rel_dir, rel_path, fault_, &dir);
  if (!s.ok()) return s;

  struct stat st;
  if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) +
                                             " is a symbolic link; links beneath the output root are never "
                                             "followed or replaced");
    }
    if (S_ISDIR(st.st_mode)) return WriteFailed(rel_path, "the target", EISDIR);
  }

  std::string temp_name = NewTempName();
  TempFileGuard guard(dir.get(), &temp_name);
  UniqueFd file;
  bool named = false;
  s = CreateTemp(dir.get(), rel_path, temp_name, &file, &named);
  if (!s.ok()) return s;
  if (named) guard.Arm();
  s = FillTemp(file.get(), rel_path, data, size);
  if (s.ok() && !named) {
    s = LinkTemp(dir.get(), file.get(), rel_path, &temp_name);
    if (s.ok()) guard.Arm();
  }
  if (!s.ok()) return s;
  const int injected = Fault(WriteStep::kRename, rel_path);
  if (injected != 0 || renameat(dir.get(), temp_name.c_str(), dir.get(), name.c_str()) < 0) {
    return WriteFailed(rel_path, "cannot rename the temp file into place", injected ? injected : errno);
  }
  guard.Disarm();
  const int fsync_fault = Fault(WriteStep::kFsyncDir, rel_path);
  if (fsync_fault != 0 || fsync(dir.get()) < 0) {
    return WriteFailed(rel_path, "cannot fsync its directory", fsync_fault ? fsync_fault : errno);
  }
  return Status::OK();
}

Status OutputRoot::CreateTemp(int dir_fd, std::string_view rel_path, const std::string& temp_name,
                              UniqueFd* file, bool* named) {
  const int injected = Fault(WriteStep::kOpenTemp, rel_path);
  if (injected != 0) return WriteFailed(rel_path, "cannot create a temp file", injected);
  // An unnamed file cannot be left behind by a crash mid-write.
  file->Reset(openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (file->valid()) {
    *named = false;
    return Status::OK();
  }
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return WriteFailed(rel_path, "cannot create a temp file", errno);
  }
  // No O_TMPFILE on this filesystem: a named temp file, created exclusively.
  file->Reset(openat(dir_fd, temp_name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file->valid()) return WriteFailed(rel_path, "cannot create temp file " + QuoteForMessage(temp_name), errno);
  *named = true;
  return Status::OK();
}

Status OutputRoot::FillTemp(int fd, std::string_view rel_path, const void* data, size_t size) {
  const int injected = Fault(WriteStep::kWrite, rel_path);
  if (injected != 0) return WriteFailed(rel_path, "cannot write the temp file", injected);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, std::min<size_t>(size, size_t(1) << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return WriteFailed(rel_path, "cannot write the temp file", n < 0 ? errno : EIO);
    p += n;
    size -= size_t(n);
  }
  const int fsync_fault = Fault(WriteStep::kFsyncFile, rel_path);
  if (fsync_fault != 0 || fsync(fd) < 0) {
    return WriteFailed(rel_path, "cannot fsync the temp file", fsync_fault ? fsync_fault : errno);
  }
  return Status::OK();
}

Status OutputRoot::LinkTemp(int dir_fd, int fd, std::string_view rel_path, std::string* temp_name) {
  const int injected = Fault(WriteStep::kLink, rel_path);
  if (injected != 0) return WriteFailed(rel_path, "cannot link the temp file", injected);
  const std::string proc_path = "/proc/self/fd/" + std::to_string(fd);
  for (int attempt = 0;; ++attempt) {
    if (linkat(AT_FDCWD, proc_path.c_str(), dir_fd, temp_name->c_str(), AT_SYMLINK_FOLLOW) == 0) break;
    // Without /proc, AT_EMPTY_PATH does the same (it needs CAP_DAC_READ_SEARCH).
    if (errno == ENOENT && linkat(fd, "", dir_fd, temp_name->c_str(), AT_EMPTY_PATH) == 0) break;
    if (errno != EEXIST || attempt == 3) return WriteFailed(rel_path, "cannot link the temp file", errno);
    *temp_name = NewTempName();  // a leftover by that name: take another
  }
  return Status::OK();
}

Status OutputRoot::RemoveStaleTempFiles(int max_depth, size_t* removed) {
  return SweepDir(fd_.get(), "", max_depth, removed);
}

Status OutputRoot::SweepDir(int dir_fd, const std::string& rel_dir, int depth_left, size_t* removed) {
  const std::string shown = rel_dir.empty() ? dir_ : dir_ + "/" + rel_dir;
  const int listing_fd = openat(dir_fd, ".", kDirFlags);  // fdopendir owns this one
  DIR* listing = listing_fd < 0 ? nullptr : fdopendir(listing_fd);
  if (listing == nullptr) {
    const int err = errno;
    if (listing_fd >= 0) close(listing_fd);
    return Status(ErrorCode::kWriteFailed, "cannot list " + QuoteForMessage(shown) + ": " +
                                               std::error_code(err, std::generic_category()).message());
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(listing, closedir);
  Status first_error;
  auto note = [&](const std::string& what, int err) {
    if (first_error.ok()) {
      first_error = Status(ErrorCode::kWriteFailed,
                           what + ": " + std::error_code(err, std::generic_category()).message());
    }
  };
  while (struct dirent* entry = readdir(listing)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = entry->d_type;
    struct stat st;
    if (type == DT_UNKNOWN && fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
    }
    const std::string child = rel_dir.empty() ? name : rel_dir + "/" + name;
    if (type == DT_REG && StartsWith(name, kTempPrefix)) {
      if (unlinkat(dir_fd, name.c_str(), 0) == 0) {
        ++*removed;
      } else if (errno != ENOENT) {
        note("cannot remove stale temp file " + QuoteForMessage(dir_ + "/" + child), errno);
      }
    } else if (type == DT_DIR && depth_left > 0) {
      UniqueFd sub(openat(dir_fd, name.c_str(), kDirFlags | O_NOFOLLOW));
      if (!sub.valid()) {
        if (errno != ENOENT && errno != ELOOP) note("cannot open " + QuoteForMessage(dir_ + "/" + child), errno);
        continue;
      }
      const Status s = SweepDir(sub.get(), child, depth_left - 1, removed);
      if (!s.ok() && first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

}  // namespace imgsink
