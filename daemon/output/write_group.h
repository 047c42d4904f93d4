// WriteGroup: files written beneath an OutputRoot that become durable together.
//
// Making one file durable costs two syncs (its data, then its directory entry); a job of 64
// files paid 128.  A group writes each file to its own unnamed temp file (Add), then Commit
// makes all of their data durable at once, links each into place (atomic replace, as
// OutputRoot::WriteAtomic), and makes the new directory entries durable at once.  The root's
// OutputSync says how: one syncfs per filesystem for each of the two steps, or an fsync per file
// and one per distinct directory.
//
// Invariant (crash safety): no file is linked into place before its data is durable, so after a
// crash or power loss every name beneath the root holds its old file or the complete new one.
// Thread-safety: a group belongs to one thread; groups on the same root may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/output/output_root.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

class WriteGroup {
 public:
  // The most files a group holds (one open temp file each): bounds the fds a worker keeps.
  static constexpr size_t kMaxFiles = 64;

  // REQUIRES: `root` outlives the group.
  explicit WriteGroup(OutputRoot* root) : root_(root) {}
  // Discards files added but not committed: their temp files vanish, nothing is replaced.
  ~WriteGroup();
  WriteGroup(const WriteGroup&) = delete;
  WriteGroup& operator=(const WriteGroup&) = delete;

  size_t size() const { return files_.size(); }
  // Returns true iff Add must not be called before Commit.
  bool full() const { return files_.size() >= kMaxFiles; }

  // Writes `size` bytes to a temp file in rel_path's directory (creating missing parents) that
  // Commit will put at rel_path; the data is not durable yet.  REQUIRES: !full().
  // Errors: as OutputRoot::WriteAtomic (kBadPath, kWriteFailed); on error this file is
  // discarded and the files added before stay in the group.
  Status Add(std::string_view rel_path, const void* data, size_t size) { return Add(root_, rel_path, data, size); }
  // As Add, beneath `root` (another output root: one group may span several).  REQUIRES:
  // `root` outlives the group.
  Status Add(OutputRoot* root, std::string_view rel_path, const void* data, size_t size);
  // As Add, for the absolute path `abs_path` (a --paths caller daemon): its directory is opened
  // (created if missing) through the root's Env following symbolic links, as the caller's own
  // open() would -- the daemon runs as the user, so the kernel decides what may be written.
  // The final name itself must not be a symbolic link (files are replaced atomically, never
  // written through a link).  Errors as Add.
  Status AddAbsolute(std::string_view abs_path, const void* data, size_t size);

  // Makes the data of every added file durable, renames each over its rel_path (in the order
  // added; a path added twice ends with the later data), makes the directory entries durable,
  // and empties the group.  Returns OK iff every file is in place and durable.
  // Errors: kWriteFailed naming the file (or the first file of the filesystem / directory whose
  // sync failed).  Files renamed before the failure stay in place (each complete), none is
  // promised durable, no temp file is left, and the group is empty: redo the whole group.
  Status Commit();

  // Drops every file added and not committed (named temp files are removed, unnamed ones
  // vanish as they close) and empties the group.
  void Discard();

 private:
  struct Dir {
    const OutputRoot* root;  // null: rel_dir is an absolute directory (AddAbsolute)
    std::string rel_dir;
    // Opened before any file of this group was created in it (see SyncFilesystems).
    std::unique_ptr<Directory> handle;
    std::string first_path;  // the first file added there: names the directory in messages
  };
  struct File {
    std::string rel_path;
    std::string name;  // final name in its directory
    size_t dir = 0;    // index into dirs_
    std::unique_ptr<TempFile> temp;
    std::string temp_name;  // the name an unnamed temp file gets before its rename
  };

  Status AddTo(OutputRoot* root, std::string_view rel_path, std::string_view rel_dir, std::string_view name,
               const void* data, size_t size);
  Status DirFor(OutputRoot* root, std::string_view rel_path, std::string_view rel_dir, size_t* index);
  Status SyncData();
  Status PutInPlace(File* file);
  Status SyncDirs();
  // SyncFilesystem once per filesystem the group's directories live on.
  Status SyncFilesystems(const char* what);

  OutputRoot* const root_;
  std::vector<Dir> dirs_;
  std::vector<File> files_;  // declared after dirs_: a temp file needs its directory open
};

}  // namespace imgsink::daemon
