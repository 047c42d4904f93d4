#include "daemon/output/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

namespace imgsink {
namespace {

Status Failed(const std::string& what) {
  return Status(ErrorCode::kWriteFailed, std::string(kManifestName) + ": " + what + ": " +
                                             std::strerror(errno));
}

std::string NowUtc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", int(ms.count()));
  return std::string(date) + millis;
}

}  // namespace

Status Manifest::Open(const std::string& root_dir, std::unique_ptr<Manifest>* out) {
  const std::string path = root_dir + "/" + kManifestName;
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Failed("open");
  if (!existed) {  // make the new file's directory entry durable before lines count on it
    const int dir = ::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = dir >= 0 && ::fsync(dir) == 0;
    if (dir >= 0) ::close(dir);
    if (!synced) {
      ::close(fd);
      return Failed("fsync of the output root");
    }
  }
  *out = std::make_unique<Manifest>(fd);
  return Status::OK();
}

Manifest::Manifest(int fd) : fd_(fd), thread_([this] { Loop(); }) {}

Manifest::~Manifest() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
  ::close(fd_);
}

void Manifest::Append(std::string lines, Callback done) {
  {
    MutexLock lock(&mu_);
    queue_.emplace_back(std::move(lines), std::move(done));
  }
  cv_.NotifyAll();
}

void Manifest::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<std::pair<std::string, Callback>> batch;
    batch.swap(queue_);
    lock.Unlock();
    std::string all;
    for (const auto& entry : batch) all += entry.first;
    Status s;
    for (size_t off = 0; off < all.size();) {  // O_APPEND: each write lands at the end
      const ssize_t n = ::write(fd_, all.data() + off, all.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = Failed("write");
        break;
      }
      off += size_t(n);
    }
    if (s.ok() && ::fdatasync(fd_) != 0) s = Failed("fdatasync");
    for (auto& entry : batch) entry.second(s);
    lock.Lock();
  }
}

std::string FormatManifestLine(const ManifestEntry& e) {
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", e.crc32c);
  nlohmann::ordered_json j;
  j["path"] = e.path;
  j["job"] = e.job_id;
  j["time"] = NowUtc();
  j["bytes"] = e.bytes;
  j["crc32c"] = crc;
  j["format"] = e.format;
  j["meta"] = e.meta ? nlohmann::json(*e.meta) : nlohmann::json::object();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace imgsink
