#include "dealer_handles.h"

#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <random>
#include <utility>

namespace imgsink {
namespace internal {
namespace {

// inproc names are per context, and each Client has its own context.
constexpr char kMonitorEndpoint[] = "inproc://imgsink-client-monitor";
constexpr int kMonitorEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
// Daemon frames are small maps; the decoder enforces the protocol's 64 KiB.  A larger bound
// here only stops a rogue peer from making libzmq allocate without limit.
constexpr int64_t kMaxIncomingFrameBytes = 1 << 20;
// ZMTP heartbeats notice a peer that vanished without closing the connection (tcp).  libzmq's
// own thread answers them, so a busy daemon is not mistaken for a dead one.
constexpr int kHeartbeatIvlMs = 1000;
constexpr int kHeartbeatTimeoutMs = 10000;

Status SetOption(void* socket, int option, const void* value, size_t size, const char* name) {
  if (zmq_setsockopt(socket, option, value, size) != 0) {
    return Status(ErrorCode::kInternal, ZmqError(name));
  }
  return Status::OK();
}

// PROTOCOL.md, "Flow control": credit belongs to the routing id; 16 random bytes with a
// non-zero first byte (ZeroMQ reserves a leading zero for ids it generates).
std::string RandomRoutingId() {
  std::random_device random;
  std::string id(16, '\0');
  for (char& c : id) c = static_cast<char>(random() & 0xFF);
  id[0] = static_cast<char>(id[0] | 1);
  return id;
}

// Each key must be 40 characters of valid Z85; libzmq takes it NUL-terminated (41 bytes).
Status CheckCurveKey(const std::string& z85, const char* what) {
  uint8_t decoded[32];
  if (z85.size() != 40 || zmq_z85_decode(decoded, z85.c_str()) == nullptr) {
    return Status(ErrorCode::kBadOption, std::string("CURVE ") + what +
                                             " is not a 40-character Z85 key");
  }
  return Status::OK();
}

Status CheckCurveKeys(const CurveKeys& keys) {
  Status s = CheckCurveKey(keys.server_public_key, "server public key");
  if (s.ok()) s = CheckCurveKey(keys.public_key, "public key");
  if (s.ok()) s = CheckCurveKey(keys.secret_key, "secret key");
  return s;
}

Status SetCurveKey(void* socket, int option, const std::string& z85, const char* what) {
  if (zmq_setsockopt(socket, option, z85.c_str(), z85.size() + 1) != 0) {
    return Status(ErrorCode::kBadOption, ZmqError(what));
  }
  return Status::OK();
}

Status ConfigureCurve(void* socket, const CurveKeys& keys) {
  if (!zmq_has("curve")) {
    return Status(ErrorCode::kBadOption, "this libzmq was built without CURVE support");
  }
  Status s = CheckCurveKeys(keys);
  if (s.ok()) s = SetCurveKey(socket, ZMQ_CURVE_SERVERKEY, keys.server_public_key,
                         "server public key");
  if (s.ok()) s = SetCurveKey(socket, ZMQ_CURVE_PUBLICKEY, keys.public_key, "public key");
  if (s.ok()) s = SetCurveKey(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key, "secret key");
  return s;
}

// CURVE applies to tcp:// only: the daemon speaks it on tcp endpoints, never on ipc (a CURVE
// client would fail the handshake there), so an endpoint list may mix the two.  The keys are
// checked either way.
Status ConfigureSocket(void* socket, const ClientOptions& options, bool tcp) {
  const int linger = static_cast<int>(
      std::min<int64_t>(options.linger.count(), std::numeric_limits<int>::max()));
  // IMMEDIATE: queue only on completed connections.  Without it libzmq accepts messages for an
  // endpoint nobody listens on and holds them (and borrowed buffers) indefinitely; with it a
  // send would block, so the I/O thread keeps such messages itself and fails them after
  // connect_timeout, and messages of a lost connection are dropped instead of resent to a
  // daemon that may have restarted.
  const int immediate = 1;
  const int zero = 0;
  const std::string routing_id = RandomRoutingId();
  Status s = SetOption(socket, ZMQ_LINGER, &linger, sizeof linger, "ZMQ_LINGER");
  if (s.ok()) s = SetOption(socket, ZMQ_SNDHWM, &options.send_hwm, sizeof(int), "ZMQ_SNDHWM");
  if (s.ok()) s = SetOption(socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate, "ZMQ_IMMEDIATE");
  if (s.ok()) {
    s = SetOption(socket, ZMQ_ROUTING_ID, routing_id.data(), routing_id.size(),
                  "ZMQ_ROUTING_ID");
  }
  if (s.ok()) {
    s = SetOption(socket, ZMQ_MAXMSGSIZE, &kMaxIncomingFrameBytes, sizeof kMaxIncomingFrameBytes,
                  "ZMQ_MAXMSGSIZE");
  }
  if (s.ok()) {
    s = SetOption(socket, ZMQ_HEARTBEAT_IVL, &kHeartbeatIvlMs, sizeof(int), "ZMQ_HEARTBEAT_IVL");
  }
  if (s.ok()) {
    s = SetOption(socket, ZMQ_HEARTBEAT_TIMEOUT, &kHeartbeatTimeoutMs, sizeof(int),
                  "ZMQ_HEARTBEAT_TIMEOUT");
  }
  // Replies are never dropped for lack of room: the I/O thread reads them as they come.
  if (s.ok()) s = SetOption(socket, ZMQ_RCVHWM, &zero, sizeof zero, "ZMQ_RCVHWM");
  if (s.ok() && options.curve.has_value()) {
    s = tcp ? ConfigureCurve(socket, *options.curve) : CheckCurveKeys(*options.curve);
  }
  return s;
}

}  // namespace

std::string ZmqError(const char* what) {
  return std::string(what) + ": " + zmq_strerror(zmq_errno());
}

DealerHandles::DealerHandles(DealerHandles&& other) noexcept
    : ctx(std::exchange(other.ctx, nullptr)),
      socket(std::exchange(other.socket, nullptr)),
      monitor(std::exchange(other.monitor, nullptr)),
      wake_fd(std::exchange(other.wake_fd, -1)) {}

DealerHandles::~DealerHandles() {
  CloseZmq();
  if (wake_fd >= 0) close(wake_fd);
}

void DealerHandles::CloseZmq() {
  if (monitor != nullptr) zmq_close(monitor);
  if (socket != nullptr) {
    zmq_socket_monitor(socket, nullptr, 0);
    zmq_close(socket);
  }
  if (ctx != nullptr) {
    while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR) {
    }
  }
  monitor = socket = ctx = nullptr;
}

Status OpenDealer(const std::string& endpoint, const ClientOptions& options, DealerHandles* h) {
  h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->wake_fd < 0) {
    return Status(ErrorCode::kInternal, std::string("eventfd: ") + std::strerror(errno));
  }
  h->ctx = zmq_ctx_new();
  if (h->ctx == nullptr) return Status(ErrorCode::kInternal, ZmqError("zmq_ctx_new"));
  h->socket = zmq_socket(h->ctx, ZMQ_DEALER);
  if (h->socket == nullptr) return Status(ErrorCode::kInternal, ZmqError("zmq_socket"));
  Status s = ConfigureSocket(h->socket, options, endpoint.rfind("tcp://", 0) == 0);
  if (!s.ok()) return s;
  // The monitor must exist before connect() so that no connection event is missed.
  if (zmq_socket_monitor(h->socket, kMonitorEndpoint, kMonitorEvents) != 0) {
    return Status(ErrorCode::kInternal, ZmqError("zmq_socket_monitor"));
  }
  h->monitor = zmq_socket(h->ctx, ZMQ_PAIR);
  const int zero = 0;
  if (h->monitor == nullptr ||
      zmq_setsockopt(h->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_connect(h->monitor, kMonitorEndpoint) != 0) {
    return Status(ErrorCode::kInternal, ZmqError("monitor socket"));
  }
  if (zmq_connect(h->socket, endpoint.c_str()) != 0) {
    return Status(ErrorCode::kBadOption,
                  "cannot connect to '" + endpoint + "': " + zmq_strerror(zmq_errno()));
  }
  return Status::OK();
}

}  // namespace internal
}  // namespace imgsink
