// ShmArena: the C++ client's shared-memory segment (PROTOCOL.md "Shared-memory hand-off") and
// a first-fit allocator over it.
//
// One per Client, registered with every same-host daemon it talks to (each IoLoop does its own
// hello), so the Ownership::kCopy copy can go into it before the save is routed to a daemon.
// A region is taken by MakeTensorFrame and given back when its tensor frame is closed: after
// libzmq sent it (frames path) or, for a save sent as a region, when the loop drops the frame at
// the save's done event, its refusal, or the end of the daemon's side connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "imgsink/proto/shm.h"
#include "imgsink/sync/mutex.h"

namespace imgsink {
namespace internal {

// Thread-safety: Take/Give from any thread; data()/fd()/size() are constant.
class ShmArena {
 public:
  // Returns an arena of `bytes` (rounded up to pages), or null when no sealed memfd can be made
  // (old kernel, seccomp): the client then uses the frames only.
  static std::shared_ptr<ShmArena> Create(size_t bytes);

  // Returns true iff a region of `bytes` (>= 1) was free; sets *offset and *reserved (what to
  // give back).
  bool Take(size_t bytes, size_t* offset, size_t* reserved);
  // Gives a region back.  REQUIRES: nothing (here or in a daemon) reads or writes it any more.
  void Give(size_t offset, size_t reserved);

  uint8_t* data() const { return segment_.data(); }
  int fd() const { return segment_.fd(); }
  size_t size() const { return segment_.size(); }
  size_t free_bytes() const;

 private:
  ShmArena() = default;
  ShmSegment segment_;
  mutable Mutex mu_;
  std::map<size_t, size_t> free_ GUARDED_BY(mu_);  // offset -> size, merged neighbours
};

}  // namespace internal
}  // namespace imgsink
