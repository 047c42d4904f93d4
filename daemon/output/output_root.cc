#include "daemon/output/output_root.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/output/write_group.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Status AbsoluteRootPath(const std::string& dir, std::string* out) {
  if (dir.empty()) return Status(ErrorCode::kBadOption, "an output root must not be empty");
  std::string joined = dir;
  if (dir.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      return Status(ErrorCode::kBadOption, "output root " + dir + ": cannot name the working directory: " +
                                               std::strerror(errno));
    }
    joined = std::string(cwd) + "/" + dir;
  }
  *out = DropDotComponents(joined);
  if (out->find("/..") == std::string::npos) return Status::OK();
  char real[PATH_MAX];
  if (realpath(out->c_str(), real) == nullptr) {
    return Status(ErrorCode::kBadOption, "output root " + dir + ": " + std::strerror(errno));
  }
  *out = real;
  return Status::OK();
}

std::string RealOutputPath(const std::string& path) {
  if (path.empty() || path.front() != '/' || (path.find("/../") == std::string::npos)) return path;
  const size_t slash = path.rfind('/');
  char real[PATH_MAX];
  if (realpath(path.substr(0, slash).c_str(), real) == nullptr) return path;
  const std::string dir = real;
  return (dir == "/" ? "" : dir) + path.substr(slash);
}

Status CheckOutputName(std::string_view rel_path) {
  size_t start = 0;
  while (start <= rel_path.size()) {
    size_t end = rel_path.find('/', start);
    if (end == std::string_view::npos) end = rel_path.size();
    const std::string_view name = rel_path.substr(start, end - start);
    if (name.size() > kMaxNameBytes) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) + ": component " +
                                             QuoteForMessage(name) + " is " + std::to_string(name.size()) +
                                             " bytes; file systems allow at most " +
                                             std::to_string(kMaxNameBytes));
    }
    if (StartsWith(name, kTempPrefix)) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) + ": names starting with \"" +
                                             std::string(kTempPrefix) + "\" are reserved for the daemon's temp files");
    }
    start = end + 1;
  }
  return Status::OK();
}

Status OutputRoot::Open(Env* env, const std::string& dir, OutputSync sync, std::unique_ptr<OutputRoot>* out) {
  std::unique_ptr<Directory> root;
  const Status s = env->OpenDirectory(dir, &root);
  if (!s.ok()) return Status(ErrorCode::kWriteFailed, "cannot open output root: " + s.message());
  out->reset(new OutputRoot(env, dir, sync, std::move(root)));  // private constructor: make_unique cannot reach it
  return Status::OK();
}

Status OutputRoot::WriteAtomic(std::string_view rel_path, const void* data, size_t size) {
  WriteGroup group(this);
  const Status s = group.Add(rel_path, data, size);
  return s.ok() ? group.Commit() : s;
}

Status OutputRoot::RemoveStaleTempFiles(int max_depth, size_t* removed) {
  return SweepDir(root_.get(), max_depth, removed);
}

Status OutputRoot::SweepDir(Directory* dir, int depth_left, size_t* removed) {
  std::vector<std::pair<std::string, EntryType>> entries;
  Status first_error = dir->List(&entries);
  for (const auto& [name, type] : entries) {
    if (type == EntryType::kRegular && StartsWith(name, kTempPrefix)) {
      const Status s = dir->Remove(name);
      if (s.ok()) {
        ++*removed;
      } else if (first_error.ok()) {
        first_error = s;
      }
    } else if (type == EntryType::kDirectory && depth_left > 0) {
      std::unique_ptr<Directory> sub;
      Status s = dir->OpenDirectory(name, /*create=*/false, &sub);
      if (s.ok()) {
        s = SweepDir(sub.get(), depth_left - 1, removed);
      } else {
        // Gone, or swapped for a link, since the listing: nothing of ours to sweep there.
        EntryType now = EntryType::kOther;
        if (dir->Stat(name, &now).ok() && now != EntryType::kDirectory) s = Status::OK();
      }
      if (!s.ok() && first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

}  // namespace imgsink::daemon
