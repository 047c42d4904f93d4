#include "daemon/socket/socket_thread.h"

#include <grp.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imgsink {
namespace {

constexpr char kIpcPrefix[] = "ipc://";

// The socket file of an ipc:// endpoint, or "" for other transports (and abstract sockets).
std::string IpcPath(const std::string& endpoint) {
  if (endpoint.rfind(kIpcPrefix, 0) != 0) return "";
  std::string path = endpoint.substr(sizeof kIpcPrefix - 1);
  return path.empty() || path[0] == '@' ? "" : path;
}

// Creates the parent directories of an ipc socket file, one level at a time: private (0700)
// unless the socket is meant for a group or everyone, who then need to search them.
void CreateIpcDirectory(const std::string& path, int socket_mode) {
  mode_t mode = 0700;
  if (socket_mode >= 0 && (socket_mode & 0070)) mode |= 0050;
  if (socket_mode >= 0 && (socket_mode & 0007)) mode |= 0005;
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), mode);  // EEXIST is fine; bind reports real failures
  }
}

// Applies --ipc-mode / --ipc-group to a bound socket file.
Status SetIpcPermissions(const std::string& path, const SocketOptions& o) {
  if (o.ipc_mode >= 0 && ::chmod(path.c_str(), mode_t(o.ipc_mode)) != 0) {
    return Status(ErrorCode::kInternal, "chmod " + path + ": " + strerror(errno));
  }
  if (!o.ipc_group.empty()) {
    struct group* g = ::getgrnam(o.ipc_group.c_str());
    if (g == nullptr) return Status(ErrorCode::kBadOption, "no group named " + o.ipc_group);
    if (::chown(path.c_str(), uid_t(-1), g->gr_gid) != 0) {
      return Status(ErrorCode::kInternal, "chgrp " + path + ": " + strerror(errno));
    }
  }
  return Status::OK();
}

}  // namespace

SocketThread::SocketThread(zmq::context_t* context, SocketOptions options, MessageHandler handler,
                           TimerHandler timer)
    : context_(context),
      options_(std::move(options)),
      handler_(std::move(handler)),
      timer_(std::move(timer)) {}

SocketThread::~SocketThread() { Stop(); }

Status SocketThread::Start() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status(ErrorCode::kInternal, std::string("eventfd: ") + strerror(errno));
  try {
    router_ = zmq::socket_t(*context_, zmq::socket_type::router);
    router_.set(zmq::sockopt::maxmsgsize, int64_t(options_.max_frame_bytes));
    router_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
    router_.set(zmq::sockopt::sndhwm, 0);  // replies are small; never drop one for HWM
    router_.set(zmq::sockopt::linger, 2000);
    // A client that reconnects with its routing id (e.g. after a daemon restart) takes over the
    // identity, so done events of its replayed jobs reach it.
    router_.set(zmq::sockopt::router_handover, 1);
    for (const std::string& endpoint : options_.endpoints) {
      const std::string ipc_path = IpcPath(endpoint);
      if (!ipc_path.empty()) CreateIpcDirectory(ipc_path, options_.ipc_mode);
      router_.bind(endpoint);
      bound_.push_back(router_.get(zmq::sockopt::last_endpoint));
      if (!ipc_path.empty()) {
        Status s = SetIpcPermissions(ipc_path, options_);
        if (!s.ok()) {
          router_.close();
          return s;
        }
      }
    }
  } catch (const zmq::error_t& e) {
    router_.close();
    return Status(ErrorCode::kInternal, std::string("cannot listen: ") + e.what());
  }
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
}

void SocketThread::Send(std::string client, std::string frame) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outgoing_.push_back(Outgoing{std::move(client), std::move(frame), nullptr});
  }
  Wake();
}

void SocketThread::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outgoing_.push_back(Outgoing{std::string(), std::string(), std::move(task)});
  }
  Wake();
}

void SocketThread::Wake() {
  const uint64_t one = 1;
  // A full eventfd counter (never in practice) still leaves it readable: the wake-up is not lost.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void SocketThread::Stop() {
  if (thread_.joinable()) {
    stopping_ = true;
    Wake();
    thread_.join();
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void SocketThread::Run() {
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
  Clock::time_point next_timer = Clock::time_point::max();
  while (!stopping_) {
    std::chrono::milliseconds wait(-1);
    if (next_timer != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_timer - Clock::now());
      wait = std::max(left, std::chrono::milliseconds(0));
    }
    zmq::poll(items, 2, wait);
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    SendQueued();
    if (items[0].revents & ZMQ_POLLIN) ReceiveAvailable();
    if (timer_) next_timer = timer_(Clock::now());
  }
  while (SendQueued()) {
  }  // tasks may queue more frames
  router_.close();  // linger lets queued replies reach their clients
}

void SocketThread::ReceiveAvailable() {
  // Bounded so a flood of requests cannot starve outgoing replies.
  for (int i = 0; i < 64; ++i) {
    zmq::message_t identity;
    if (!router_.recv(identity, zmq::recv_flags::dontwait)) return;
    IncomingMessage msg;
    msg.client = identity.to_string();
    while (router_.get(zmq::sockopt::rcvmore)) {
      zmq::message_t frame;
      [[maybe_unused]] auto got = router_.recv(frame, zmq::recv_flags::none);  // parts arrive together
      msg.frames.push_back(std::move(frame));
    }
    handler_(std::move(msg));
  }
}

bool SocketThread::SendQueued() {
  std::vector<Outgoing> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(outgoing_);
  }
  if (batch.empty()) return false;
  for (Outgoing& out : batch) {
    if (out.task) {
      out.task();
      continue;
    }
    try {
      router_.send(zmq::buffer(out.client), zmq::send_flags::sndmore);
      router_.send(zmq::buffer(out.frame), zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      // EHOSTUNREACH only with ROUTER_MANDATORY (not set); anything else: the peer is gone.
    }
  }
  return true;
}

}  // namespace imgsink
