#include "daemon/socket/socket_thread.h"

#include <grp.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "daemon/env/io_error.h"

namespace imgsink::daemon {
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

// Returns OK iff the directory holding the socket file `path` is safe to bind in: a real
// directory (not a link) owned by this user (or root) that no one else may write to, unless
// its sticky bit keeps others from renaming or removing our socket (/tmp itself).  Otherwise
// another user could swap the socket file for theirs and receive the clients' frames.
Status CheckIpcDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return Status::OK();  // bind reports it
  const std::string why = "ipc socket directory " + dir + " ";
  if (!S_ISDIR(st.st_mode)) {
    return Status(ErrorCode::kBadOption, why + "is not a directory (a symbolic link?); choose "
                                               "another --listen path");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return Status(ErrorCode::kBadOption,
                  why + "belongs to uid " + std::to_string(st.st_uid) + ", not to this daemon's (" +
                      std::to_string(::geteuid()) + "): that user could swap the socket and read "
                      "the clients' frames; remove it or choose another --listen path");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return Status(ErrorCode::kBadOption,
                  why + "is writable by others (mode " + mode + "): they could swap the socket "
                      "and read the clients' frames; chmod go-w it or choose another --listen path");
  }
  return Status::OK();
}

// Applies --ipc-mode / --ipc-group to a bound socket file.
Status SetIpcPermissions(const std::string& path, const SocketOptions& o) {
  if (o.ipc_mode >= 0 && ::chmod(path.c_str(), mode_t(o.ipc_mode)) != 0) {
    return IoError(ErrorCode::kInternal, "chmod " + path, errno);
  }
  if (!o.ipc_group.empty()) {
    struct group* g = ::getgrnam(o.ipc_group.c_str());
    if (g == nullptr) return Status(ErrorCode::kBadOption, "no group named " + o.ipc_group);
    if (::chown(path.c_str(), uid_t(-1), g->gr_gid) != 0) {
      return IoError(ErrorCode::kInternal, "chgrp " + path, errno);
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

Status SocketThread::Bind(zmq::socket_t* router, const std::vector<std::string>& endpoints) {
  router->set(zmq::sockopt::maxmsgsize, int64_t(options_.max_frame_bytes));
  router->set(zmq::sockopt::rcvhwm, options_.receive_hwm);
  // Bounded: a client that never reads must not grow the daemon (issue 12, row 2).  With
  // ROUTER_MANDATORY a send to a full (or unknown) peer fails at once instead of silently, so
  // SendQueued can count it.
  router->set(zmq::sockopt::sndhwm, options_.send_hwm);
  router->set(zmq::sockopt::router_mandatory, 1);
  router->set(zmq::sockopt::linger, 2000);
  // A client that reconnects with its routing id (e.g. after a daemon restart) takes over the
  // identity, so done events of its replayed jobs reach it.
  router->set(zmq::sockopt::router_handover, 1);
  for (const std::string& endpoint : endpoints) {
    const auto inherited = options_.inherited_fds.find(endpoint);
    if (inherited != options_.inherited_fds.end()) {
      // libzmq takes the fd for this bind (and, unlike a bind of its own, never unlinks the
      // socket file: the service manager owns it).
      const bool v6 = endpoint.find('[') != std::string::npos;
      if (v6) router->set(zmq::sockopt::ipv6, 1);
      router->set(zmq::sockopt::use_fd, inherited->second);
      router->bind(endpoint);
      router->set(zmq::sockopt::use_fd, -1);
      if (v6) router->set(zmq::sockopt::ipv6, 0);  // later binds stay as configured
      bound_.push_back(router->get(zmq::sockopt::last_endpoint));
      continue;
    }
    const std::string ipc_path = IpcPath(endpoint);
    if (!ipc_path.empty()) {
      CreateIpcDirectory(ipc_path, options_.ipc_mode);
      Status s = CheckIpcDirectory(ipc_path);
      if (!s.ok()) return s;
    }
    router->bind(endpoint);
    bound_.push_back(router->get(zmq::sockopt::last_endpoint));
    if (!ipc_path.empty()) {
      Status s = SetIpcPermissions(ipc_path, options_);
      if (!s.ok()) return s;
    }
  }
  return Status::OK();
}

Status SocketThread::Start() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return IoError(ErrorCode::kInternal, "eventfd", errno);
  Status s;
  try {
    routers_.emplace_back(*context_, zmq::socket_type::router);
    s = Bind(&routers_[0], options_.endpoints);
    if (s.ok() && !options_.curve_endpoints.empty()) {
      routers_.emplace_back(*context_, zmq::socket_type::router);
      zmq::socket_t& curve = routers_[1];
      curve.set(zmq::sockopt::curve_server, 1);
      curve.set(zmq::sockopt::curve_secretkey, options_.curve_secret_key);
      curve.set(zmq::sockopt::zap_domain, "imgsink");
      s = Bind(&curve, options_.curve_endpoints);
    }
  } catch (const zmq::error_t& e) {
    s = Status(ErrorCode::kInternal, std::string("cannot listen: ") + e.what());
  }
  if (!s.ok()) {
    routers_.clear();
    return s;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
}

void SocketThread::Send(std::string client, std::string frame) {
  {
    MutexLock lock(&mu_);
    outgoing_.push_back(Outgoing{std::move(client), std::move(frame), nullptr});
  }
  Wake();
}

void SocketThread::Post(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
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

void SocketThread::AbortNotInSocketThread(const char* caller) {
  std::fprintf(stderr, "imgsinkd: BUG: %s must run on the socket thread, called from another "
               "thread; aborting\n", caller);
  std::abort();
}

void SocketThread::Watch(int fd, std::function<void()> on_readable) {
  if (thread_.joinable()) AssertInSocketThread("SocketThread::Watch");
  watched_[fd] = std::move(on_readable);
}

void SocketThread::Unwatch(int fd) {
  if (thread_.joinable()) AssertInSocketThread("SocketThread::Unwatch");
  watched_.erase(fd);
}

void SocketThread::Run() {
  running_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  std::vector<zmq::pollitem_t> items;
  std::vector<int> ready;  // watched fds found readable, scratch
  Clock::time_point next_timer = Clock::time_point::max();
  while (!stopping_) {
    items.clear();
    for (zmq::socket_t& router : routers_) items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
    for (const auto& watched : watched_) items.push_back({nullptr, watched.first, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    std::chrono::milliseconds wait(-1);
    if (next_timer != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_timer - Clock::now());
      wait = std::max(left, std::chrono::milliseconds(0));
    }
    zmq::poll(items.data(), items.size(), wait);
    if (items.back().revents & ZMQ_POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    SendQueued();
    for (size_t i = 0; i < routers_.size(); ++i) {
      if (items[i].revents & ZMQ_POLLIN) ReceiveAvailable(i);
    }
    ready.clear();
    for (size_t i = routers_.size(); i + 1 < items.size(); ++i) {
      if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) ready.push_back(items[i].fd);
    }
    for (int fd : ready) {  // a handler may unwatch (and close) any fd: look each one up again
      const auto it = watched_.find(fd);
      if (it == watched_.end()) continue;
      const std::function<void()> on_readable = it->second;  // it may unwatch itself
      on_readable();
    }
    if (timer_) next_timer = timer_(Clock::now());
  }
  while (SendQueued()) {
  }  // tasks may queue more frames
  routers_.clear();  // linger lets queued replies reach their clients
  running_id_.store(std::thread::id(), std::memory_order_relaxed);  // the id may be reused
}

void SocketThread::ReceiveAvailable(size_t index) {
  zmq::socket_t& router = routers_[index];
  // Bounded so a flood of requests cannot starve outgoing replies.
  for (int i = 0; i < 64; ++i) {
    zmq::message_t identity;
    if (!router.recv(identity, zmq::recv_flags::dontwait)) return;
    IncomingMessage msg;
    msg.client = char(index) + identity.to_string();
    while (router.get(zmq::sockopt::rcvmore)) {
      zmq::message_t frame;
      [[maybe_unused]] auto got = router.recv(frame, zmq::recv_flags::none);  // parts arrive together
      msg.frames.push_back(std::move(frame));
    }
    handler_(std::move(msg));
  }
}

bool SocketThread::SendQueued() {
  std::vector<Outgoing> batch;
  {
    MutexLock lock(&mu_);
    batch.swap(outgoing_);
  }
  if (batch.empty()) return false;
  for (Outgoing& out : batch) {
    if (out.task) {
      out.task();
      continue;
    }
    if (out.client.empty()) continue;
    const size_t index = size_t(uint8_t(out.client[0]));
    if (index >= routers_.size()) continue;  // e.g. a replayed job's client of a socket now gone
    zmq::socket_t& router = routers_[index];
    try {
      if (!router.send(zmq::buffer(out.client.data() + 1, out.client.size() - 1),
                       zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        replies_dropped_.fetch_add(1, std::memory_order_relaxed);  // EAGAIN: the peer is full
        continue;
      }
      // After the routing frame is taken the message goes whole to the peer's pipe.
      router.send(zmq::buffer(out.frame), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // EHOSTUNREACH (ROUTER_MANDATORY): the peer is gone.
      replies_dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return true;
}

}  // namespace imgsink::daemon
