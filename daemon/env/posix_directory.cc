// The POSIX Directory: a directory fd, and paths beneath it opened without ever following a
// symbolic link.
//
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) does it in one call on Linux >= 5.6; elsewhere,
// and to create missing directories or name the offending component, we walk the path one
// component at a time with openat(O_NOFOLLOW | O_DIRECTORY).  Every step is relative to the fd
// of the previous one, so swapping a directory for a link mid-walk cannot redirect us.
#include "daemon/env/posix_directory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "daemon/env/io_error.h"
#include "daemon/env/unique_fd.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

// -1 unknown, 0 missing, 1 present.
std::atomic<int> openat2_state{-1};

int RawOpenat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
#ifdef SYS_openat2
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
#else
  (void)dirfd, (void)path, (void)flags, (void)resolve;
  errno = ENOSYS;
  return -1;
#endif
}

// Returns true iff this kernel has openat2 (probed once, then cached).
bool HaveOpenat2() {
  int state = openat2_state.load(std::memory_order_relaxed);
  if (state < 0) {
    const int fd = RawOpenat2(AT_FDCWD, "/", kDirFlags, RESOLVE_NO_SYMLINKS);
    // ENOSYS: old kernel; EPERM: a seccomp filter that does not know the call.
    state = fd >= 0 || (errno != ENOSYS && errno != EPERM && errno != EINVAL) ? 1 : 0;
    if (fd >= 0) close(fd);
    openat2_state.store(state, std::memory_order_relaxed);
  }
  return state == 1;
}

std::string Join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

// `rel` quoted for a message; the opened directory itself is ".".
std::string Shown(std::string_view rel) { return QuoteForMessage(rel.empty() ? "." : rel); }

Status SymlinkRefused(std::string_view component) {
  return Status(ErrorCode::kBadPath, QuoteForMessage(component) +
                                         " is a symbolic link; links are never followed beneath the output "
                                         "root, not even ones that point inside it");
}

// Opens `name` in `parent`, a directory, as a directory without following a link.
// Returns the fd or -1 with errno set.
int OpenComponent(int parent, const std::string& name) {
  int fd;
  do {
    fd = openat(parent, name.c_str(), kDirFlags | O_NOFOLLOW);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// The component-by-component walk (see the top), creating what is missing if `create`.
// `base` is the path of `from` (for messages).
Status Walk(int from, const std::string& base, std::string_view rel_dir, bool create, UniqueFd* dir) {
  UniqueFd current(openat(from, ".", kDirFlags));
  if (!current.valid()) return IoError("cannot open directory " + Shown(base), errno);
  size_t start = 0;
  while (start < rel_dir.size()) {
    size_t end = rel_dir.find('/', start);
    if (end == std::string_view::npos) end = rel_dir.size();
    const std::string name(rel_dir.substr(start, end - start));
    const std::string so_far = Join(base, rel_dir.substr(0, end));
    int fd = OpenComponent(current.get(), name);
    if (fd < 0 && errno == ENOENT && create) {
      const int made = mkdirat(current.get(), name.c_str(), 0755);
      if (made < 0 && errno != EEXIST) return IoError("cannot create directory " + Shown(so_far), errno);
      // The new entry must survive a crash along with the file that will live in it.
      if (made == 0 && fsync(current.get()) < 0) {
        return IoError("cannot fsync the parent of " + Shown(so_far), errno);
      }
      fd = OpenComponent(current.get(), name);
    }
    if (fd < 0) {
      const int err = errno;
      struct stat st;
      if ((err == ELOOP || err == ENOTDIR) && fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        return SymlinkRefused(so_far);
      }
      // A file where a directory must be: no retry will get past it.
      if ((err == ENOTDIR || err == EEXIST) && fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          !S_ISDIR(st.st_mode)) {
        return Status(ErrorCode::kBadPath, Shown(so_far) + " is a file, not a directory");
      }
      return IoError("cannot open directory " + Shown(so_far), err);
    }
    current.Reset(fd);
    start = end + 1;
  }
  *dir = std::move(current);
  return Status::OK();
}

EntryType TypeOf(mode_t mode) {
  return S_ISREG(mode) ? EntryType::kRegular
         : S_ISDIR(mode) ? EntryType::kDirectory
         : S_ISLNK(mode) ? EntryType::kSymlink
                         : EntryType::kOther;
}

class PosixTempFile : public TempFile {
 public:
  // REQUIRES: `dir_fd` (borrowed from its Directory) stays open while this file lives.
  PosixTempFile(int dir_fd, std::string target, std::string name, UniqueFd fd)
      : dir_fd_(dir_fd), target_(std::move(target)), name_(std::move(name)), fd_(std::move(fd)) {}

  const std::string& target() const override { return target_; }
  const std::string& name() const override { return name_; }

  Status Append(const void* data, size_t size) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = write(fd_.get(), p, std::min<size_t>(size, size_t(1) << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot write the temp file", n < 0 ? errno : EIO);
      p += n;
      size -= size_t(n);
    }
    return Status::OK();
  }

  Status Sync() override {
    if (fsync(fd_.get()) < 0) return IoError("cannot fsync the temp file", errno);
    return Status::OK();
  }

  Status Link(const std::string& name, bool* taken) override {
    *taken = false;
    const std::string proc_path = "/proc/self/fd/" + std::to_string(fd_.get());
    if (linkat(AT_FDCWD, proc_path.c_str(), dir_fd_, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ||
        // Without /proc, AT_EMPTY_PATH does the same (it needs CAP_DAC_READ_SEARCH).
        (errno == ENOENT && linkat(fd_.get(), "", dir_fd_, name.c_str(), AT_EMPTY_PATH) == 0)) {
      name_ = name;
      return Status::OK();
    }
    *taken = errno == EEXIST;
    return IoError("cannot link the temp file", errno);
  }

 private:
  const int dir_fd_;
  const std::string target_;
  std::string name_;
  UniqueFd fd_;
};

class PosixDirectory : public Directory {
 public:
  PosixDirectory(std::string path, UniqueFd fd, uint64_t fs) : path_(std::move(path)), fd_(std::move(fd)), fs_(fs) {}

  // Takes `fd`, an open directory at `path`.
  static Status Make(std::string path, UniqueFd fd, std::unique_ptr<Directory>* out) {
    struct stat st;
    if (fstat(fd.get(), &st) < 0) return IoError("cannot stat directory " + Shown(path), errno);
    *out = std::make_unique<PosixDirectory>(std::move(path), std::move(fd), uint64_t(st.st_dev));
    return Status::OK();
  }

  const std::string& path() const override { return path_; }
  uint64_t filesystem_id() const override { return fs_; }

  Status OpenDirectory(std::string_view rel_dir, bool create, std::unique_ptr<Directory>* dir) override {
    UniqueFd fd;
    if (!rel_dir.empty() && HaveOpenat2()) {
      const std::string path(rel_dir);
      int raw;
      do {
        raw = RawOpenat2(fd_.get(), path.c_str(), kDirFlags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
      } while (raw < 0 && errno == EINTR);
      // On failure the walk finds what to create or to complain about, and names the component.
      fd.Reset(raw);
    }
    if (!fd.valid()) {
      const Status s = Walk(fd_.get(), path_, rel_dir, create, &fd);
      if (!s.ok()) return s;
    }
    return Make(Join(path_, rel_dir), std::move(fd), dir);
  }

  Status Stat(const std::string& name, EntryType* type) override {
    struct stat st;
    if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      *type = TypeOf(st.st_mode);
      return Status::OK();
    }
    if (errno != ENOENT) return IoError("cannot stat " + Shown(Join(path_, name)), errno);
    *type = EntryType::kMissing;
    return Status::OK();
  }

  Status List(std::vector<std::pair<std::string, EntryType>>* entries) override {
    entries->clear();
    const int listing_fd = openat(fd_.get(), ".", kDirFlags);  // fdopendir owns this one
    DIR* listing = listing_fd < 0 ? nullptr : fdopendir(listing_fd);
    if (listing == nullptr) {
      const int err = errno;
      if (listing_fd >= 0) close(listing_fd);
      return IoError("cannot list " + Shown(path_), err);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> closer(listing, closedir);
    errno = 0;
    while (struct dirent* entry = readdir(listing)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      EntryType type = entry->d_type == DT_REG   ? EntryType::kRegular
                       : entry->d_type == DT_DIR ? EntryType::kDirectory
                       : entry->d_type == DT_LNK ? EntryType::kSymlink
                                                 : EntryType::kOther;
      struct stat st;
      if (entry->d_type == DT_UNKNOWN && fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        type = TypeOf(st.st_mode);
      }
      entries->emplace_back(std::move(name), type);
      errno = 0;
    }
    if (errno != 0) return IoError("cannot list " + Shown(path_), errno);
    return Status::OK();
  }

  Status NewTempFile(const std::string& target, const std::string& temp_name,
                     std::unique_ptr<TempFile>* file) override {
    // An unnamed file cannot be left behind by a crash.
    UniqueFd fd(openat(fd_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    std::string name;
    if (!fd.valid()) {
      if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        return IoError("cannot create a temp file in " + Shown(path_), errno);
      }
      // No O_TMPFILE on this file system: a named temp file, created exclusively.
      fd.Reset(openat(fd_.get(), temp_name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!fd.valid()) return IoError("cannot create temp file " + Shown(Join(path_, temp_name)), errno);
      name = temp_name;
    }
    *file = std::make_unique<PosixTempFile>(fd_.get(), target, std::move(name), std::move(fd));
    return Status::OK();
  }

  Status NewAppendableFile(const std::string& name, std::unique_ptr<WritableFile>* file, bool* created) override {
    constexpr int kFlags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(fd_.get(), name.c_str(), kFlags | O_CREAT | O_EXCL, 0644);
    *created = fd >= 0;
    if (fd < 0 && errno == EEXIST) fd = openat(fd_.get(), name.c_str(), kFlags);
    if (fd < 0) return IoError("cannot open " + Shown(Join(path_, name)) + " for appending", errno);
    *file = NewPosixWritableFile(Join(path_, name), fd);
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (renameat(fd_.get(), from.c_str(), fd_.get(), to.c_str()) < 0) {
      return IoError("cannot rename " + Shown(Join(path_, from)) + " to " + QuoteForMessage(to), errno);
    }
    return Status::OK();
  }

  Status Remove(const std::string& name) override {
    if (unlinkat(fd_.get(), name.c_str(), 0) < 0 && errno != ENOENT) {
      return IoError("cannot remove " + Shown(Join(path_, name)), errno);
    }
    return Status::OK();
  }

  Status Sync() override {
    if (fsync(fd_.get()) < 0) return IoError("cannot fsync directory " + Shown(path_), errno);
    return Status::OK();
  }

  Status SyncFilesystem() override {
    if (syncfs(fd_.get()) < 0) return IoError("cannot syncfs the file system of " + Shown(path_), errno);
    return Status::OK();
  }

 private:
  const std::string path_;
  const UniqueFd fd_;
  const uint64_t fs_;
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

Status OpenPosixDirectory(const std::string& dir, std::unique_ptr<Directory>* out) {
  const int err = dir.empty() ? ENOENT : MakeDirs(dir);
  UniqueFd fd(err == 0 ? open(dir.c_str(), kDirFlags) : -1);
  if (!fd.valid()) return IoError("cannot open directory " + QuoteForMessage(dir), err ? err : errno);
  return PosixDirectory::Make("", std::move(fd), out);
}

}  // namespace imgsink::daemon
