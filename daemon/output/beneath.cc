#include "daemon/output/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <system_error>

#include "imgsink/proto/paths.h"

namespace imgsink {

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

Status SymlinkRefused(std::string_view rel_path, std::string_view component) {
  return Status(ErrorCode::kBadPath,
                "path " + QuoteForMessage(rel_path) + ": " + QuoteForMessage(component) +
                    " is a symbolic link; links are never followed beneath the output root, "
                    "not even ones that point inside it");
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

// The component-by-component walk (see the header), creating what is missing.
Status Walk(int root_fd, std::string_view rel_dir, std::string_view rel_path, const FaultInjector& fault,
            UniqueFd* dir) {
  UniqueFd current(openat(root_fd, ".", kDirFlags));
  if (!current.valid()) return WriteFailed(rel_path, "cannot open the output root", errno);
  size_t start = 0;
  while (start < rel_dir.size()) {
    size_t end = rel_dir.find('/', start);
    if (end == std::string_view::npos) end = rel_dir.size();
    const std::string name(rel_dir.substr(start, end - start));
    const std::string_view so_far = rel_dir.substr(0, end);
    int fd = OpenComponent(current.get(), name);
    if (fd < 0 && errno == ENOENT) {
      const int injected = fault ? fault(WriteStep::kMkdir, rel_path) : 0;
      const int made = injected != 0 ? (errno = injected, -1) : mkdirat(current.get(), name.c_str(), 0755);
      if (made < 0 && errno != EEXIST) {
        return WriteFailed(rel_path, "cannot create directory " + QuoteForMessage(so_far), errno);
      }
      // The new entry must survive a crash along with the file that will live in it.
      if (made == 0 && fsync(current.get()) < 0) {
        return WriteFailed(rel_path, "cannot fsync the parent of " + QuoteForMessage(so_far), errno);
      }
      fd = OpenComponent(current.get(), name);
    }
    if (fd < 0) {
      const int err = errno;
      struct stat st;
      if ((err == ELOOP || err == ENOTDIR) && fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        return SymlinkRefused(rel_path, so_far);
      }
      return WriteFailed(rel_path, "cannot open directory " + QuoteForMessage(so_far), err);
    }
    current.Reset(fd);
    start = end + 1;
  }
  *dir = std::move(current);
  return Status::OK();
}

}  // namespace

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

Status WriteFailed(std::string_view rel_path, const std::string& what, int err) {
  return Status(ErrorCode::kWriteFailed, "cannot write " + QuoteForMessage(rel_path) + ": " + what + ": " +
                                             std::error_code(err, std::generic_category()).message());
}

Status OpenDirBeneath(int root_fd, std::string_view rel_dir, std::string_view rel_path,
                      const FaultInjector& fault, UniqueFd* dir) {
  if (!rel_dir.empty() && HaveOpenat2()) {
    const std::string path(rel_dir);
    int fd;
    do {
      fd = RawOpenat2(root_fd, path.c_str(), kDirFlags,
                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      dir->Reset(fd);
      return Status::OK();
    }
    // The fast path found something to create or to complain about: the walk does both and
    // names the component.
  }
  return Walk(root_fd, rel_dir, rel_path, fault, dir);
}

}  // namespace imgsink
