#include "daemon/output/output_root.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <system_error>

#include "daemon/output/beneath.h"
#include "daemon/output/write_group.h"
#include "imgsink/proto/paths.h"

namespace imgsink {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// mkdir -p with mode 0755.  Returns 0 or an errno.
int MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST) return errno;
    if (slash == std::string::npos) return 0;
  }
}

}  // namespace

Status OutputRoot::Open(const std::string& dir, OutputSync sync, std::unique_ptr<OutputRoot>* out) {
  const int err = dir.empty() ? ENOENT : MakeDirs(dir);
  UniqueFd fd(err == 0 ? open(dir.c_str(), kDirFlags) : -1);
  if (!fd.valid()) {
    return Status(ErrorCode::kWriteFailed, "cannot open output root " + QuoteForMessage(dir) + ": " +
                                               std::error_code(err ? err : errno, std::generic_category()).message());
  }
  out->reset(new OutputRoot(dir, sync, std::move(fd)));  // private constructor: make_unique cannot reach it
  return Status::OK();
}

Status OutputRoot::WriteAtomic(std::string_view rel_path, const void* data, size_t size) {
  WriteGroup group(this);
  const Status s = group.Add(rel_path, data, size);
  return s.ok() ? group.Commit() : s;
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
