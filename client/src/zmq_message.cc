#include "zmq_message.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "byte_budget.h"
#include "copy_buffer_pool.h"
#include "request_state.h"
#include "shm_arena.h"

namespace imgsink {
namespace internal {
namespace {

// Everything the tensor frame keeps alive.  Travels through libzmq as the free callback's hint.
struct FrameOwner {
  std::shared_ptr<RequestState> request;
  std::shared_ptr<ByteBudget> budget;
  size_t bytes = 0;
  std::shared_ptr<CopyBufferPool> pool;  // kCopy only: where `copy` goes back to
  CopyBuffer copy;                       // kCopy only
  std::shared_ptr<ShmArena> arena;       // kCopy into the arena: the region to give back
  size_t arena_offset = 0, arena_reserved = 0;
  // Released once the owner is complete, acquired by FreeFrame.  libzmq's pipes already order
  // the two, but ThreadSanitizer cannot see through them (libzmq is not instrumented); this
  // makes the hand-off between our thread and libzmq's visible to it, for one atomic per frame.
  std::atomic<bool> published{false};

  ~FrameOwner() {
    if (arena != nullptr) arena->Give(arena_offset, arena_reserved);
    if (pool != nullptr) pool->Give(std::move(copy));
    budget->Release(bytes);
    request->MarkReleased();
  }
};

// libzmq calls this exactly once, from whichever thread drops the last reference (its own I/O
// thread after writing, or ours on close).  It must not call into ZeroMQ.
void FreeFrame(void* /*data*/, void* hint) {
  std::unique_ptr<FrameOwner> owner(static_cast<FrameOwner*>(hint));
  (void)owner->published.load(std::memory_order_acquire);
}

}  // namespace

Status MakeTensorFrame(const void* data, size_t bytes, Ownership ownership,
                       std::shared_ptr<RequestState> request,
                       std::shared_ptr<ByteBudget> budget,
                       std::shared_ptr<CopyBufferPool> pool, ZmqMessage* out,
                       std::shared_ptr<ShmArena> arena, int64_t* shm_offset) {
  if (shm_offset != nullptr) *shm_offset = -1;
  auto owner = std::make_unique<FrameOwner>();
  owner->request = std::move(request);
  owner->budget = std::move(budget);
  owner->bytes = bytes;
  // libzmq's API takes void*, but it only reads the data of a message being sent.
  void* frame_data = const_cast<void*>(data);
  if (ownership == Ownership::kCopy && arena != nullptr &&
      arena->Take(bytes, &owner->arena_offset, &owner->arena_reserved)) {
    frame_data = arena->data() + owner->arena_offset;
    std::memcpy(frame_data, data, bytes);
    if (shm_offset != nullptr) *shm_offset = int64_t(owner->arena_offset);
    owner->arena = std::move(arena);
  } else if (ownership == Ownership::kCopy) {
    owner->copy = pool->Take(bytes);
    owner->pool = std::move(pool);
    if (owner->copy.data == nullptr) {
      return Status(ErrorCode::kTooLarge,
                    "cannot allocate " + std::to_string(bytes) + " bytes to copy the tensor");
    }
    std::memcpy(owner->copy.data.get(), data, bytes);
    frame_data = owner->copy.data.get();
  }
  owner->published.store(true, std::memory_order_release);
  ZmqMessage frame;
  zmq_msg_close(frame.get());  // zmq_msg_init_data wants an uninitialised zmq_msg_t
  if (zmq_msg_init_data(frame.get(), frame_data, bytes, &FreeFrame, owner.get()) != 0) {
    zmq_msg_init(frame.get());  // keep the destructor's zmq_msg_close valid
    return Status(ErrorCode::kTooLarge, std::string("zmq_msg_init_data: ") +
                                            zmq_strerror(zmq_errno()));
  }
  owner.release();  // now owned by the frame; FreeFrame deletes it
  *out = std::move(frame);
  return Status::OK();
}

}  // namespace internal
}  // namespace imgsink
