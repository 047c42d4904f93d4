#include "daemon/output/tb_event_file.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "daemon/journal/crc32c.h"
#include "daemon/output/tb_record.h"

namespace imgsink::daemon::tb {
namespace {

constexpr std::string_view kPrefix = "events.out.tfevents.";
constexpr std::string_view kWriterTag = ".imgsinkd.";
constexpr int kNameTries = 1000;  // names taken by files not ours before we give up

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits an event file name of ours into its seconds and sequence.  REQUIRES: IsOurEventFile.
void ParseName(const std::string& name, int64_t* secs, uint32_t* seq) {
  *secs = std::strtoll(name.c_str() + kPrefix.size(), nullptr, 10);
  *seq = uint32_t(std::strtoul(name.c_str() + name.size() - 6, nullptr, 10));
}

}  // namespace

bool IsOurEventFile(const std::string& name, const std::string& host) {
  const size_t fixed = kPrefix.size() + 10 + 1 + host.size() + kWriterTag.size() + 6;
  if (name.size() != fixed || name.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  const std::string_view n(name);
  return AllDigits(n.substr(kPrefix.size(), 10)) && n[kPrefix.size() + 10] == '.' &&
         n.substr(kPrefix.size() + 11, host.size()) == host &&
         n.substr(kPrefix.size() + 11 + host.size(), kWriterTag.size()) == kWriterTag &&
         AllDigits(n.substr(name.size() - 6));
}

EventFile::EventFile(const EventFileOptions& options, std::unique_ptr<Directory> dir,
                     std::string dir_path)
    : options_(options), dir_(std::move(dir)), dir_path_(std::move(dir_path)) {}

std::string EventFile::FileName(int64_t secs, uint32_t seq) const {
  char secs_text[32], seq_text[16];
  std::snprintf(secs_text, sizeof secs_text, "%010lld", static_cast<long long>(secs));
  std::snprintf(seq_text, sizeof seq_text, "%06u", static_cast<unsigned>(seq % 1000000));
  return std::string(kPrefix) + secs_text + "." + options_.host + std::string(kWriterTag) + seq_text;
}

Status EventFile::ScanFile(const std::string& name, bool remember, uint64_t* valid_end,
                           uint64_t* size) {
  std::vector<uint8_t> contents;
  Status s = ReadWholeFile(options_.env, JoinPath(dir_path_, name), &contents);
  if (!s.ok()) return s;
  *size = contents.size();
  *valid_end = ScanRecords(contents.data(), contents.size(), [&](const uint8_t* data, size_t n) {
    if (remember) ++earlier_[{n, journal::Crc32cOf(data, n)}];
  });
  return Status::OK();
}

Status EventFile::Recover() {
  const bool first = !scanned_earlier_;
  scanned_earlier_ = true;
  file_.reset();
  lock_.reset();
  name_.clear();
  size_ = 0;
  std::vector<std::pair<std::string, EntryType>> entries;
  Status s = dir_->List(&entries);
  if (!s.ok()) return s;
  std::vector<std::string> ours;
  for (const auto& [name, type] : entries) {
    if (type == EntryType::kRegular && IsOurEventFile(name, options_.host)) ours.push_back(name);
  }
  std::sort(ours.begin(), ours.end());
  if (ours.empty()) {
    recovered_ = true;
    return Status::OK();
  }
  const std::string newest = ours.back();
  ParseName(newest, &last_secs_, &last_seq_);
  // Another daemon of this host may be writing it (per-user daemons, one run dir): then it is
  // theirs, and we start a file of our own rather than cut or append to theirs.
  std::unique_ptr<FileLock> lock;
  s = options_.env->LockFile(JoinPath(dir_path_, newest), &lock);
  if (!s.ok() && s.message().find("in use") != std::string::npos) {
    recovered_ = true;
    return Status::OK();
  }
  if (!s.ok()) return s;
  uint64_t valid_end = 0, size = 0;
  if (first && ours.size() >= 2) {  // a replayed job's record may sit just before a rotation
    s = ScanFile(ours[ours.size() - 2], true, &valid_end, &size);
    if (!s.ok()) return s;
  }
  s = ScanFile(newest, first, &valid_end, &size);
  if (!s.ok()) return s;
  bool changed = valid_end < size;
  if (changed) {  // a torn (or corrupt) tail: no reader may ever see it
    s = options_.env->TruncateFile(JoinPath(dir_path_, newest), valid_end);
    if (!s.ok()) return s;
  }
  bool created = false;
  std::unique_ptr<WritableFile> file;
  s = dir_->NewAppendableFile(newest, &file, &created);
  if (s.ok() && valid_end == 0) {  // not even its version record survived
    std::string record;
    AppendRecord(EncodeVersionEvent(0.0), &record);
    s = file->Append(ByteSpan{reinterpret_cast<const uint8_t*>(record.data()), record.size()});
    valid_end = record.size();
    changed = true;
  }
  if (s.ok() && (changed || created)) s = file->Sync();  // the cut (and version) is durable
  if (s.ok() && created) s = dir_->Sync();
  if (!s.ok()) return s;
  file_ = std::move(file);
  lock_ = std::move(lock);
  name_ = newest;
  size_ = valid_end;
  recovered_ = true;
  return Status::OK();
}

Status EventFile::StartNewFile() {
  const auto now = std::chrono::system_clock::now();
  const double wall = std::chrono::duration<double>(now.time_since_epoch()).count();
  int64_t secs = std::max<int64_t>(int64_t(wall), last_secs_);
  uint32_t seq = secs == last_secs_ ? last_seq_ + 1 : 0;
  std::string record;
  AppendRecord(EncodeVersionEvent(wall), &record);
  for (int tries = 0; tries < kNameTries; ++tries, ++seq) {
    if (seq > 999999) {
      ++secs;
      seq = 0;
    }
    const std::string name = FileName(secs, seq);
    std::unique_ptr<WritableFile> file;
    bool created = false;
    Status s = dir_->NewAppendableFile(name, &file, &created);
    if (!s.ok()) return s;
    if (!created) continue;  // someone else's: never append to a file we did not start
    std::unique_ptr<FileLock> lock;
    s = options_.env->LockFile(JoinPath(dir_path_, name), &lock);
    if (s.ok()) s = file->Append(ByteSpan{reinterpret_cast<const uint8_t*>(record.data()), record.size()});
    if (s.ok()) s = file->Sync();
    if (s.ok()) s = dir_->Sync();
    if (!s.ok()) {
      dir_->Remove(name);  // best effort: a half-made file would only hold a version record
      return s;
    }
    if (file_) file_->Close();
    file_ = std::move(file);
    lock_ = std::move(lock);
    name_ = name;
    size_ = record.size();
    last_secs_ = secs;
    last_seq_ = seq;
    return Status::OK();
  }
  return Status(ErrorCode::kWriteFailed, dir_path_ + ": no free event file name after " +
                                             std::to_string(kNameTries) + " tries");
}

Status EventFile::Append(const std::vector<PendingRecord>& records, uint64_t* appended) {
  *appended = 0;
  Status s;
  if (!recovered_) s = Recover();
  if (!s.ok()) return s;
  std::string framed;
  std::vector<std::pair<uint64_t, uint32_t>> matched;  // taken from earlier_ once durable
  std::map<std::pair<uint64_t, uint32_t>, uint32_t> used;
  for (const PendingRecord& r : records) {
    if (r.replayed && !earlier_.empty()) {
      const std::pair<uint64_t, uint32_t> key{r.event.size(),
                                              journal::Crc32cOf(r.event.data(), r.event.size())};
      auto it = earlier_.find(key);
      if (it != earlier_.end() && it->second > used[key]) {
        ++used[key];
        matched.push_back(key);
        continue;  // already durable before the crash
      }
    }
    AppendRecord(r.event, &framed);
    ++*appended;
  }
  if (!framed.empty()) {
    std::string version;
    AppendRecord(EncodeVersionEvent(0.0), &version);
    const bool rotate = name_.empty() || (size_ + framed.size() > options_.max_file_bytes &&
                                          size_ > version.size() + 9);  // + the wall time
    if (rotate) s = StartNewFile();
    if (s.ok()) {
      s = file_->Append(ByteSpan{reinterpret_cast<const uint8_t*>(framed.data()), framed.size()});
    }
    if (s.ok()) s = file_->Sync();
    if (!s.ok()) {  // the file may end in a partial record now: recover before the next append
      recovered_ = false;
      file_.reset();
      *appended = 0;
      return s;
    }
    size_ += framed.size();
  }
  for (const auto& key : matched) {
    auto it = earlier_.find(key);
    if (--it->second == 0) earlier_.erase(it);
  }
  return Status::OK();
}

}  // namespace imgsink::daemon::tb
