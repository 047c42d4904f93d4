// imgsink::Client: hands image tensors to the imgsinkd daemon without making the caller wait.
//
//   std::unique_ptr<imgsink::Client> client;
//   imgsink::Status s = imgsink::Client::Open(imgsink::DefaultEndpoint(), {}, &client);
//   imgsink::Job job = client->save_image(view, "samples/step_100.png", options);
//   ... keep training ...
//   s = client->flush(std::chrono::minutes(1));   // every job so far is written, or why not
//
// Threading (muduo style): each Client owns one I/O thread per endpoint, the only thread that
// touches that endpoint's ZeroMQ DEALER socket.  Public methods queue messages for it (mutex + eventfd wake-up) and wait
// on per-request state; the I/O thread matches the daemon's replies and done events to requests
// by request id (a per-Client counter, see ClientOptions::first_request_id).
// Flow control (PROTOCOL.md, "Flow control (credits)"): before each save the I/O thread asks
// the daemon for credit of the tensor's size, with the save's policy and block_timeout_ms, and
// sends the tensor only once granted, so the daemon never receives more than its memory budget
// can hold.  The socket's routing id is 16 random bytes, as the protocol recommends.
// Several daemons: Open takes a list of endpoints ("ipc:///a.sock,tcp://node2:5555", or a
// vector); each gets its own socket, routing id and credit, and each save goes to one of them
// by ClientOptions::endpoint_policy (PROTOCOL.md, "Several daemons (client behaviour)").
// Nothing here throws; every failure is a Status.  Wire format: proto/PROTOCOL.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "imgsink/curve_keys.h"
#include "imgsink/endpoint.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "imgsink/proto/types.h"
#include "imgsink/tensor_view.h"

namespace imgsink {

namespace internal {
class RequestState;
}  // namespace internal

// Any timeout at least this long means "no deadline".
inline constexpr std::chrono::milliseconds kWaitForever = std::chrono::milliseconds::max();

// Who holds the tensor bytes while the request travels.
enum class Ownership : uint8_t {
  // save_image copies the bytes once (into the buffer libzmq sends from).  The caller may reuse
  // or free its buffer as soon as save_image returns.
  kCopy,
  // Zero-copy: libzmq sends straight from the caller's buffer (zmq_msg_init_data with a free
  // callback).  REQUIRES: the caller keeps TensorView::data alive and unchanged until
  // Job::wait_sent() returns OK, i.e. until libzmq has released the buffer.  That happens after
  // the bytes were written to the connection, or when the message is dropped (failed job,
  // lost connection, Client destruction).  ~Client returns only after every buffer is
  // released (it gives libzmq up to ClientOptions::linger to deliver first).  A job refused
  // by save_image's own checks never references the buffer.  Released does not mean written:
  // wait() for that.
  kBorrow,
};

// What to write and how.  Mirrors the "save" header of proto/PROTOCOL.md; defaults are
// torchvision.utils.save_image's.
struct SaveOptions {
  std::optional<OutputFormat> format;  // absent: inferred from the path's extension (.png, .jpg...)
  OutputMode mode = OutputMode::kGrid;  // kEach: path is a template with {index} or {index:0Nd}
  RenderOptions render;
  PngOptions png;
  JpegOptions jpeg;
  WebpOptions webp;  // PIL's defaults: lossy, quality 80
  // When the daemon has no room (no credit free): kBlock waits up to block_timeout_ms for it,
  // kDrop and kError fail the job with kBusy at once.  Also applies to the client's own
  // ClientOptions::max_pending_bytes.  Not to a save the daemon itself refuses with kBusy
  // after its credit was granted (its rendered size, e.g. a large padding, finds no room in
  // the budget: PROTOCOL.md "Rendered size"): that job fails with kBusy under every policy,
  // not retried; submit it again later.
  BusyPolicy policy = BusyPolicy::kBlock;
  uint32_t block_timeout_ms = 30000;
  std::map<std::string, std::string> metadata;  // at most 64 entries, 4096 bytes per string
  Ownership ownership = Ownership::kCopy;
  // Set: the image is a TensorBoard image summary (tag, step, wall time) appended to the event
  // file of the run directory `path`, not a file; format png, mode grid.  `path` resolves as
  // an image path does in the daemon's mode, its --tensorboard-logdir the one root (PROTOCOL.md
  // "TensorBoard"): --paths roots: relative beneath the logdir, absolute only beneath it;
  // --paths caller: relative to this process's working directory at the call, absolute as
  // given.  Use ForTensorBoard for torch's SummaryWriter pixels.
  std::optional<TensorBoardImage> tensorboard;

  // Options for torch.utils.tensorboard.SummaryWriter.add_image(s)'s image: make_grid with 8
  // columns and no padding, gray repeated to RGB, x255 (x1 for uint8) then clip and truncate
  // (RenderOptions::quantize kTensorBoard), PNG.  wall_time < 0: now (the call).
  static SaveOptions ForTensorBoard(std::string tag, int64_t step, double wall_time = -1);
};

// How a Client with several endpoints chooses one for each save.  Only connected endpoints (a
// completed ZeroMQ handshake) are chosen; while none is, a save waits (up to connect_timeout)
// and goes to the first endpoint that connects.
enum class EndpointPolicy : uint8_t {
  // The endpoint with the fewest pending tensor bytes (queued, waiting for credit, or sent and
  // not yet ended); ties round robin, so equal daemons get equal shares.
  kSpread,
  // The first endpoint in the list's order: the others are stand-bys.
  kFailover,
};

struct ClientOptions {
  // How long a request may wait inside the client while no connection to the daemon exists
  // (none yet, or lost) before it fails with kDisconnected.  With several endpoints a save
  // waits so while none of them is connected; a status request, for its own endpoint.
  std::chrono::milliseconds connect_timeout{10000};
  // ZMQ_LINGER: how long the destructor lets libzmq deliver messages already handed to it.
  std::chrono::milliseconds linger{1000};
  // Bound on tensor bytes the client holds (copies and borrowed buffers not yet released by
  // libzmq).  A save_image that would exceed it waits for room up to block_timeout_ms when its
  // policy is kBlock, else fails with kBusy.  A single tensor larger than the bound is admitted
  // when nothing else is pending.
  size_t max_pending_bytes = size_t{1} << 30;
  // Ownership::kCopy buffers libzmq has released are kept, up to this many bytes, and reused by
  // later copies: a fresh tensor-sized buffer costs a page fault per 4 KiB (a 50 MB batch:
  // ~25 ms on top of a ~6 ms memcpy).  The client may hold this much memory while idle; 0 frees
  // every buffer at once.
  size_t copy_buffer_cache_bytes = size_t{256} << 20;
  // Shared-memory hand-off (proto/PROTOCOL.md) with same-host daemons on ipc:// endpoints: the
  // Ownership::kCopy copy goes into a sealed memfd of `shared_memory_bytes` that the daemon
  // reads in place, so the tensor does not cross the socket.  tcp:// daemons, daemons without
  // it (--shm off, older) and tensors that do not fit get the frames as before; kBorrow always
  // does.  A region stays in use until the save's done event.
  bool shared_memory = true;
  size_t shared_memory_bytes = size_t{512} << 20;
  // ZMQ_SNDHWM: messages libzmq queues per connection; further messages wait in the client.
  int send_hwm = 16;
  // The first request id; later requests (saves, status, and the credit request the client
  // sends before each save) count up by one, wrapping from 2^64 - 1 to 1.  Ids only need to be unique per Client; choosing the start keeps several
  // clients' ids apart in the daemon's logs.  Must be >= 1 (0 means "unreadable header" on
  // the wire): Open refuses 0 with kBadOption.
  uint64_t first_request_id = 1;
  // CURVE encryption and authentication, for a tcp:// daemon that requires it; other
  // transports (ipc://) connect without it, as the daemon serves them (see
  // curve_keys.h; LoadCurveKey / ParseCurveKeys read keys from files).  Open refuses keys that
  // are not 40-character Z85 with kBadOption.  With wrong keys the handshake fails and
  // requests end with kDisconnected after connect_timeout.  With several endpoints the same
  // keys apply to every tcp:// one: daemons that share clients must share the server key pair
  // (else use one Client per daemon).
  std::optional<CurveKeys> curve;
  // Several endpoints only: which one each save goes to (see EndpointPolicy).
  EndpointPolicy endpoint_policy = EndpointPolicy::kSpread;
};

// A handle to one request's progress.  Copies share the same state.  A Job stays valid after
// its Client is destroyed (the destructor ends every request).
// Thread-safety: every method may be called from any thread, concurrently.
class Job {
 public:
  // An empty handle: done(), and every wait returns kInternal.
  Job();

  // The id this request carries on the wire (0 for an empty handle).
  uint64_t request_id() const;
  // The daemon's job id once the daemon accepted the save, else 0.
  uint64_t job_id() const;
  // The endpoint (one item of Client::endpoints()) the request was last handed to; empty for a
  // job refused by save_image's own checks, and for an empty handle.  A save not yet sent may
  // move to another endpoint when its connection drops, so this is final only once
  // wait_accepted() returned OK.  The reference stays valid while this Job (or a copy) lives.
  const std::string& endpoint() const;
  // Returns true iff the job has ended (written, failed, refused or abandoned).
  bool done() const;

  // Waits until libzmq no longer references the tensor buffer (see Ownership::kBorrow).
  // Returns OK once released (whatever the job's outcome), kTimeout if still held at the end.
  Status wait_sent(std::chrono::milliseconds timeout = kWaitForever) const;
  // Waits for the daemon's reply.  Returns OK iff the daemon accepted the job; the daemon's
  // error (code + message) if it refused it or its credit request (kBusy, kTooLarge,
  // kShuttingDown, kNoCredit...); kDisconnected / the local error if the request never got a
  // reply; kTimeout if the wait ran out.
  Status wait_accepted(std::chrono::milliseconds timeout = kWaitForever) const;
  // Waits for the job's end.  Returns OK iff every output file is written and durable; else
  // the daemon's error (code + message), the local validation error, kDisconnected (the
  // connection was lost or the Client destroyed first: the outcome is unknown), or kTimeout if
  // the wait ran out (the job goes on).
  Status wait(std::chrono::milliseconds timeout = kWaitForever) const;

 private:
  friend class Client;
  explicit Job(std::shared_ptr<internal::RequestState> state);

  std::shared_ptr<internal::RequestState> state_;
};

// Thread-safety: every public method may be called from any thread, concurrently, except that
// no call may overlap the destructor.
class Client {
 public:
  // Creates a client connected (asynchronously) to `endpoint`, e.g. DefaultEndpoint() or
  // "tcp://host:port", or to each endpoint of a comma-separated list ("ipc:///a.sock,
  // tcp://node2:5555"; whitespace around items is trimmed; see SplitEndpointList).  Returns OK
  // and sets *client, or the error that prevented it: kBadOption for an empty list, an empty
  // or repeated item or a malformed endpoint (the message names it), or no resources.  A daemon
  // that is not running yet is not an error: requests wait up to connect_timeout for it.
  // REQUIRES: client non-null.
  static Status Open(const std::string& endpoint, const ClientOptions& options,
                     std::unique_ptr<Client>* client);
  // The same for a list given item by item (items are not split at commas).  Note: spell the
  // argument std::vector<std::string>{...}; a bare {"a", "b"} is ambiguous with the overload
  // above.
  static Status Open(const std::vector<std::string>& endpoints, const ClientOptions& options,
                     std::unique_ptr<Client>* client);

  // Ends every request still pending: queued ones and ones the daemon has not finished fail
  // with kDisconnected.  Blocks at most about ClientOptions::linger.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Queues `tensor` to be written to `path` and returns at once, without waiting for
  // the daemon.  `path` is sent as written, with this process's working directory when it is
  // relative; the daemon's path mode decides where it lands (PROTOCOL.md "Paths": beneath its
  // first --output-root, or, with --paths caller, relative to that directory as for open(2);
  // with several endpoints, see Job::endpoint()).  Arguments are checked first, with the codes the
  // daemon would use: shape vs layout, dims >= 1, byte size <= 2^63 - 1 (kBadShape); null data
  // (kBadRequest); path syntax, "{index" in kEach mode (kBadPath); a format that cannot be
  // inferred (kBadFormat); option ranges, non-finite pad_value/value_range, metadata limits
  // (kBadOption).  On a problem the returned Job is already done with that Status and nothing
  // is sent.  Dtype/format combinations are left to the daemon.  May wait only when
  // ClientOptions::max_pending_bytes is reached (see there).  kCopy costs one memcpy of the
  // tensor on the calling thread.  Thread-safe.
  Job save_image(const TensorView& tensor, std::string path,
                 const SaveOptions& options = SaveOptions());

  // Waits until every save_image that returned before this call has ended (on every endpoint).
  // Returns kTimeout
  // if some have not ended in time.  Otherwise returns OK iff none of the jobs it covers
  // failed, else the Status of the earliest-submitted failed one (its message names how many
  // more failed).  Each failed job is reported by exactly one flush: the first that covers it
  // and does not time out.  Sets *failed_jobs (if non-null) to the number of failures it
  // reports.  Thread-safe.
  Status flush(std::chrono::milliseconds timeout = kWaitForever, uint64_t* failed_jobs = nullptr);

  // Asks the daemon at endpoints()[0] for its counters.  Returns OK and fills *counters, or the
  // daemon's error, kDisconnected, or kTimeout.  REQUIRES: counters non-null.  Thread-safe.
  Status status(std::map<std::string, uint64_t>* counters,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same for the daemon at `endpoint`, one item of endpoints(); kBadOption naming it if it
  // is not one.  Thread-safe.
  Status status(const std::string& endpoint, std::map<std::string, uint64_t>* counters,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The endpoint argument given to Open, as given (the whole list; for the vector overload its
  // items joined with ",").  Thread-safe.
  const std::string& endpoint() const;
  // Each endpoint, trimmed, in the order given.  Thread-safe.
  const std::vector<std::string>& endpoints() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace imgsink
