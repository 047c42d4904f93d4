// OutputSync: how the daemon makes the files it writes durable (--output-sync).
#pragma once

namespace imgsink::daemon {

// A job's files are made durable together, in groups of up to 64 (WriteGroup): first the data
// of all of them, then, once they are renamed into place, their directory entries.  The
// manifest's appended lines are made durable the same way (Manifest).
enum class OutputSync {
  // syncfs(2) on the output's filesystem: one call for all files' data, one for their directory
  // entries.  Cheapest on a quiet disk, but it also flushes every other writer's dirty data on
  // that filesystem (a checkpoint being saved there makes it wait for the whole checkpoint).
  kFilesystem,
  // fsync(2) of each file, then of each distinct directory once: costs per file, but waits only
  // for the daemon's own data, whatever else is written to the same filesystem.  The manifest:
  // fdatasync of manifest.jsonl.
  kFile,
};

}  // namespace imgsink::daemon
