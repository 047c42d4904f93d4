#include "daemon/output/write_group.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <utility>

#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
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

// An Env failure while writing `rel_path`, said from the writer's side.
Status Failed(std::string_view rel_path, const Status& cause) {
  if (cause.code() == ErrorCode::kBadPath) {
    return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) + ": " + cause.message());
  }
  return Status(ErrorCode::kWriteFailed, "cannot write " + QuoteForMessage(rel_path) + ": " + cause.message());
}

}  // namespace

WriteGroup::~WriteGroup() { Discard(); }

Status WriteGroup::Add(OutputRoot* root, std::string_view rel_path, const void* data, size_t size) {
  Status s = CheckRelativePath(rel_path);
  if (!s.ok()) return s;
  const size_t slash = rel_path.rfind('/');
  const std::string_view rel_dir = slash == std::string_view::npos ? std::string_view() : rel_path.substr(0, slash);
  const std::string_view name = slash == std::string_view::npos ? rel_path : rel_path.substr(slash + 1);
  return AddTo(root, rel_path, rel_dir, name, data, size);
}

Status WriteGroup::AddAbsolute(std::string_view abs_path, const void* data, size_t size) {
  Status s = CheckOutputPath(abs_path);
  if (!s.ok()) return s;
  if (abs_path.front() != '/') return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(abs_path) + " is not absolute");
  const size_t slash = abs_path.rfind('/');
  const std::string_view dir = slash == 0 ? std::string_view("/") : abs_path.substr(0, slash);
  return AddTo(nullptr, abs_path, dir, abs_path.substr(slash + 1), data, size);
}

Status WriteGroup::AddTo(OutputRoot* root, std::string_view rel_path, std::string_view rel_dir, std::string_view name,
                         const void* data, size_t size) {
  File file;
  file.rel_path = std::string(rel_path);
  file.name = std::string(name);
  Status s = CheckOutputName(rel_path);
  if (!s.ok()) return s;
  s = DirFor(root, rel_path, rel_dir, &file.dir);
  if (!s.ok()) return s;
  Directory* dir = dirs_[file.dir].handle.get();
  EntryType type = EntryType::kMissing;
  // A failed lstat is no verdict: creating the temp file or the rename reports the real error.
  if (dir->Stat(file.name, &type).ok()) {
    if (type == EntryType::kSymlink) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) +
                                             (root != nullptr ? " is a symbolic link; links beneath the output root are "
                                                                "never followed or replaced"
                                                              : " is a symbolic link; files are replaced atomically, "
                                                                "never written through a link"));
    }
    // Waiting does not make a directory go away: refuse at once, never retry.
    if (type == EntryType::kDirectory) {
      return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(rel_path) +
                                             " is an existing directory; it cannot be replaced by a file");
    }
  }
  // The name serves where the filesystem has no O_TMPFILE, else PutInPlace links to it.
  file.temp_name = NewTempName();
  s = dir->NewTempFile(file.name, file.temp_name, &file.temp);
  if (s.ok()) s = file.temp->Append(data, size);
  if (!s.ok()) {
    if (file.temp != nullptr && !file.temp->name().empty()) dir->Remove(file.temp->name());
    return Failed(rel_path, s);
  }
  files_.push_back(std::move(file));
  return Status::OK();
}

Status WriteGroup::DirFor(OutputRoot* root, std::string_view rel_path, std::string_view rel_dir, size_t* index) {
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (dirs_[i].root == root && dirs_[i].rel_dir == rel_dir) {
      *index = i;
      return Status::OK();
    }
  }
  Dir dir;
  dir.root = root;
  dir.rel_dir = std::string(rel_dir);
  dir.first_path = std::string(rel_path);
  // An absolute directory (AddAbsolute) opens through the first root's Env, links followed.
  const Status s = root != nullptr ? root->directory()->OpenDirectory(rel_dir, /*create=*/true, &dir.handle)
                                   : root_->env()->OpenDirectory(dir.rel_dir, &dir.handle);
  if (!s.ok()) return Failed(rel_path, s);
  *index = dirs_.size();
  dirs_.push_back(std::move(dir));
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
  if (root_->sync() == OutputSync::kFilesystem) return SyncFilesystems("(its data)");
  for (const File& file : files_) {
    const Status s = file.temp->Sync();
    if (!s.ok()) return Failed(file.rel_path, s);
  }
  return Status::OK();
}

Status WriteGroup::PutInPlace(File* file) {
  Directory* dir = dirs_[file->dir].handle.get();
  if (file->temp->name().empty()) {  // O_TMPFILE: give it a temp name first, then rename that
    std::string name = std::move(file->temp_name);
    for (int attempt = 0;; ++attempt, name = NewTempName()) {
      bool taken = false;
      const Status s = file->temp->Link(name, &taken);
      if (s.ok()) break;
      if (!taken || attempt == 3) return Failed(file->rel_path, s);
    }
  }
  const Status s = dir->Rename(file->temp->name(), file->name);
  if (!s.ok()) return Failed(file->rel_path, s);
  file->temp.reset();  // in place: nothing left to clean up
  return Status::OK();
}

Status WriteGroup::SyncDirs() {
  if (root_->sync() == OutputSync::kFilesystem) return SyncFilesystems("(its directory)");
  for (const Dir& dir : dirs_) {
    Status s = dir.handle->Sync();
    // An absolute directory (AddAbsolute) may have been created with its parents just now, by a
    // mkdir -p that syncs none of their entries: sync every ancestor too, up to "/" (an
    // unchanged directory's fsync costs little).  Beneath a root, Directory::OpenDirectory
    // synced each new entry's parent already.
    for (size_t slash = dir.rel_dir.rfind('/'); s.ok() && dir.root == nullptr && slash != std::string::npos;
         slash = slash == 0 ? std::string::npos : dir.rel_dir.rfind('/', slash - 1)) {
      std::unique_ptr<Directory> parent;
      s = root_->env()->OpenDirectory(slash == 0 ? std::string("/") : dir.rel_dir.substr(0, slash), &parent);
      if (s.ok()) s = parent->Sync();
    }
    if (!s.ok()) return Failed(dir.first_path, s);
  }
  return Status::OK();
}

Status WriteGroup::SyncFilesystems(const char* what) {
  for (size_t i = 0; i < dirs_.size(); ++i) {
    const auto same_fs = [&](const Dir& d) { return d.handle->filesystem_id() == dirs_[i].handle->filesystem_id(); };
    if (std::any_of(dirs_.begin(), dirs_.begin() + ptrdiff_t(i), same_fs)) continue;
    // syncfs reports a writeback error on the filesystem since the fd was opened (Linux >= 5.8).
    // This fd was opened before the group created any file on that filesystem, and no other
    // thread syncs through it, so an error that hit our data cannot be reported elsewhere only.
    const Status s = dirs_[i].handle->SyncFilesystem();
    if (!s.ok()) return Failed(dirs_[i].first_path, Status(s.code(), s.message() + " " + what));
  }
  return Status::OK();
}

void WriteGroup::Discard() {
  for (const File& file : files_) {
    if (file.temp != nullptr && !file.temp->name().empty()) dirs_[file.dir].handle->Remove(file.temp->name());
  }
  files_.clear();  // closes the temp files: unnamed ones vanish
  dirs_.clear();
}

}  // namespace imgsink::daemon
