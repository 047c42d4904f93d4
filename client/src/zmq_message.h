// ZmqMessage: RAII for zmq_msg_t, and the tensor frame built from a caller's buffer.
#pragma once

#include <zmq.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "imgsink/client.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace internal {

class ByteBudget;
class CopyBufferPool;
class RequestState;
class ShmArena;

// Owns one zmq_msg_t; closing it (destructor) lets libzmq release its data.
// Move-only; a moved-from message is empty.  Thread-compatible.
class ZmqMessage {
 public:
  ZmqMessage() { zmq_msg_init(&msg_); }
  ~ZmqMessage() { zmq_msg_close(&msg_); }
  ZmqMessage(ZmqMessage&& other) noexcept {
    zmq_msg_init(&msg_);
    zmq_msg_move(&msg_, &other.msg_);
  }
  ZmqMessage& operator=(ZmqMessage&& other) noexcept {
    if (this != &other) zmq_msg_move(&msg_, &other.msg_);  // closes our old content first
    return *this;
  }
  ZmqMessage(const ZmqMessage&) = delete;
  ZmqMessage& operator=(const ZmqMessage&) = delete;

  zmq_msg_t* get() { return &msg_; }
  size_t size() { return zmq_msg_size(&msg_); }
  const void* data() { return zmq_msg_data(&msg_); }

 private:
  zmq_msg_t msg_;
};

// Builds the tensor frame for `bytes` bytes at `data`: a copy (Ownership::kCopy) into a buffer
// from `pool`, which gets it back when libzmq releases the frame, or a reference to the
// caller's buffer (kBorrow).  `bytes` are already taken from `budget`; whenever libzmq
// releases the frame, or if this fails, they are given back and request->MarkReleased() runs.
// With an `arena` that has room, the kCopy copy goes into it instead (*shm_offset = its
// offset, else -1), for the shared-memory hand-off; the region goes back when the frame is
// closed.
// Returns OK and sets *out, or an error if memory ran out.
// REQUIRES: data non-null, bytes >= 1, pool non-null for kCopy.  Thread-safe.
Status MakeTensorFrame(const void* data, size_t bytes, Ownership ownership,
                       std::shared_ptr<RequestState> request,
                       std::shared_ptr<ByteBudget> budget,
                       std::shared_ptr<CopyBufferPool> pool, ZmqMessage* out,
                       std::shared_ptr<ShmArena> arena = nullptr, int64_t* shm_offset = nullptr);

}  // namespace internal
}  // namespace imgsink
