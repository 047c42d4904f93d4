#include "daemon/output/manifest.h"

#include <chrono>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

namespace imgsink::daemon {
namespace {

Status Failed(const Status& cause) {
  return Status(ErrorCode::kWriteFailed, std::string(kManifestName) + ": " + cause.message());
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

Status Manifest::Open(Directory* root, OutputSync sync, std::unique_ptr<Manifest>* out) {
  std::unique_ptr<WritableFile> file;
  bool created = false;
  Status s = root->NewAppendableFile(kManifestName, &file, &created);
  // A new file's directory entry must be durable before lines count on it.
  if (s.ok() && created) s = root->Sync();
  if (!s.ok()) return Failed(s);
  *out = std::make_unique<Manifest>(std::move(file), root, sync);
  return Status::OK();
}

Manifest::Manifest(std::unique_ptr<WritableFile> file, Directory* root, OutputSync sync)
    : file_(std::move(file)), root_(root), sync_(sync), thread_([this] { Loop(); }) {}

Manifest::~Manifest() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
  file_->Close();
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
    const Status s = Write(all);
    for (auto& entry : batch) entry.second(s);
    lock.Lock();
  }
}

Status Manifest::Write(const std::string& lines) {
  // O_APPEND: each write lands at the end.
  Status s = file_->Append(ByteSpan{reinterpret_cast<const uint8_t*>(lines.data()), lines.size()});
  if (s.ok()) s = sync_ == OutputSync::kFile ? file_->Sync() : root_->SyncFilesystem();
  return s.ok() ? s : Failed(s);
}

std::string ManifestLine(uint64_t job_id, const WrittenFile& file, std::string_view format,
                         const std::map<std::string, std::string>& meta) {
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", file.crc32c);
  nlohmann::ordered_json j;
  j["path"] = file.path;
  j["job"] = job_id;
  j["time"] = NowUtc();
  j["bytes"] = file.bytes;
  j["crc32c"] = crc;
  j["format"] = std::string(format);
  j["meta"] = meta;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace imgsink::daemon
