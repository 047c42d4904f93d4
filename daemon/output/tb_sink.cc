#include "daemon/output/tb_sink.h"

#include <unistd.h>

#include <map>
#include <utility>
#include <vector>

#include "daemon/output/output_root.h"
#include "daemon/output/tb_event_file.h"
#include "imgsink/proto/paths.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {
namespace {

// One run directory: its writer and the mutex that makes it the only one appending.
struct Run {
  Mutex mu;
  std::unique_ptr<tb::EventFile> file GUARDED_BY(mu);
};

class TensorBoardSink : public OutputSink {
 public:
  TensorBoardSink(const TensorBoardSinkOptions& options, std::unique_ptr<Directory> root)
      : logdir_(options.logdir), root_(std::move(root)) {
    file_options_.env = options.env;
    file_options_.host = options.host;
    file_options_.max_file_bytes = options.max_file_bytes;
  }

  const std::string& location() const override { return logdir_; }
  Status Recover(size_t* cleaned) override {
    (void)cleaned;  // nothing to sweep: each run's newest file is checked when first written
    return Status::OK();
  }
  std::unique_ptr<SinkBatch> NewBatch() override;
  bool has_manifest() const override { return false; }
  void AppendManifest(std::string, Callback done) override {
    done(Status(ErrorCode::kInternal, "the TensorBoard sink keeps no manifest"));
  }

  // The run `rel_dir`, opened (and created) on first use.  Errors: kBadPath, kWriteFailed.
  Status GetRun(const std::string& rel_dir, Run** run) {
    MutexLock lock(&mu_);
    auto it = runs_.find(rel_dir);
    if (it != runs_.end()) {
      *run = it->second.get();
      return Status::OK();
    }
    std::unique_ptr<Directory> dir;
    // An absolute run directory comes from a --paths caller daemon (the kernel decides, as for
    // its image files); a relative one lies beneath the logdir, no link followed.
    const bool absolute = !rel_dir.empty() && rel_dir.front() == '/';
    Status s = absolute ? file_options_.env->OpenDirectory(rel_dir, &dir)
                        : root_->OpenDirectory(rel_dir, /*create=*/true, &dir);
    if (!s.ok()) return s;
    auto fresh = std::make_unique<Run>();
    {
      MutexLock run_lock(&fresh->mu);
      fresh->file = std::make_unique<tb::EventFile>(file_options_, std::move(dir),
                                                    absolute ? rel_dir : JoinPath(logdir_, rel_dir));
    }
    *run = fresh.get();
    runs_.emplace(rel_dir, std::move(fresh));
    return Status::OK();
  }

 private:
  const std::string logdir_;
  const std::unique_ptr<Directory> root_;
  tb::EventFileOptions file_options_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<Run>> runs_ GUARDED_BY(mu_);  // never erased
};

class TensorBoardBatch : public SinkBatch {
 public:
  explicit TensorBoardBatch(TensorBoardSink* sink) : sink_(sink) {}

  size_t size() const override { return staged_; }
  bool full() const override { return staged_ >= kMaxRecords; }
  void MarkReplay() override { replay_ = true; }

  Status Add(std::string_view rel_path, const void* data, size_t size) override {
    Status s = !rel_path.empty() && rel_path.front() == '/' ? CheckOutputPath(rel_path)
                                                             : CheckRelativePath(rel_path);
    if (!s.ok()) return s;
    tb::PendingRecord record;
    record.event.assign(static_cast<const char*>(data), size);
    record.replayed = replay_;
    by_run_[std::string(rel_path)].push_back(std::move(record));
    ++staged_;
    return Status::OK();
  }

  Status Commit() override {
    Status first;
    for (auto& [rel_dir, records] : by_run_) {
      Run* run = nullptr;
      Status s = sink_->GetRun(rel_dir, &run);
      if (s.ok()) {
        MutexLock lock(&run->mu);
        uint64_t appended = 0;
        s = run->file->Append(records, &appended);
      }
      if (!s.ok() && first.ok()) first = Status(s.code(), rel_dir + ": " + s.message());
    }
    Discard();
    return first;
  }

  void Discard() override {
    by_run_.clear();
    staged_ = 0;
  }

 private:
  static constexpr size_t kMaxRecords = 64;
  TensorBoardSink* const sink_;
  std::map<std::string, std::vector<tb::PendingRecord>> by_run_;
  size_t staged_ = 0;
  bool replay_ = false;
};

std::unique_ptr<SinkBatch> TensorBoardSink::NewBatch() {
  return std::make_unique<TensorBoardBatch>(this);
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

Status TensorBoardPathRules(PathMode mode, const std::string& logdir, PathRules* out) {
  PathRules rules;
  rules.mode = mode;
  rules.roots.resize(1);
  Status s = AbsoluteRootPath(logdir, &rules.roots[0]);
  if (!s.ok()) return s;
  *out = std::move(rules);
  return Status::OK();
}

Status OpenTensorBoardSink(const TensorBoardSinkOptions& options, std::unique_ptr<OutputSink>* out) {
  TensorBoardSinkOptions o = options;
  if (o.env == nullptr) o.env = DefaultEnv();
  if (o.host.empty()) o.host = HostName();
  if (o.host.find('/') != std::string::npos || o.host.find('\0') != std::string::npos) {
    return Status(ErrorCode::kBadOption, "host name " + QuoteForMessage(o.host) +
                                             " cannot be part of an event file name");
  }
  std::unique_ptr<Directory> root;
  Status s = o.env->OpenDirectory(o.logdir, &root);
  if (!s.ok()) return s;
  *out = std::make_unique<TensorBoardSink>(o, std::move(root));
  return Status::OK();
}

}  // namespace imgsink::daemon
