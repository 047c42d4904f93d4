#include "daemon/output/tee_sink.h"

#include <atomic>

#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {
namespace {

class TeeBatch : public SinkBatch {
 public:
  explicit TeeBatch(std::vector<std::unique_ptr<SinkBatch>> batches) : batches_(std::move(batches)) {}
  size_t size() const override { return batches_[0]->size(); }
  bool full() const override {
    for (const auto& b : batches_) {
      if (b->full()) return true;
    }
    return false;
  }
  // A file one sink refuses fails the whole group (WriteImageGroup drops the batch): every
  // sink holds the same files or none.
  Status Add(std::string_view rel_path, const void* data, size_t size) override {
    for (const auto& b : batches_) {
      Status s = b->Add(rel_path, data, size);
      if (!s.ok()) {
        Discard();
        return s;
      }
    }
    return Status::OK();
  }
  Status Commit() override {
    Status first;
    for (const auto& b : batches_) {
      Status s = b->Commit();
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }
  void Discard() override {
    for (const auto& b : batches_) b->Discard();
  }
  void AllowCopies(uint64_t bytes) override {  // each copying sink was charged its own room
    for (const auto& b : batches_) b->AllowCopies(bytes);
  }

 private:
  const std::vector<std::unique_ptr<SinkBatch>> batches_;
};

// Counts the sinks' manifest answers down; the last runs `done` with the first error.
struct ManifestJoin {
  explicit ManifestJoin(size_t n, OutputSink::Callback d) : left(n), done(std::move(d)) {}
  Mutex mu;
  size_t left GUARDED_BY(mu);
  Status first GUARDED_BY(mu);
  OutputSink::Callback done;

  void Answer(const Status& s) {
    Status result;
    {
      MutexLock lock(&mu);
      if (!s.ok() && first.ok()) first = s;
      if (--left > 0) return;
      result = first;
    }
    done(result);
  }
};

class TeeSink : public OutputSink {
 public:
  explicit TeeSink(std::vector<std::unique_ptr<OutputSink>> sinks) : sinks_(std::move(sinks)) {
    for (const auto& s : sinks_) location_ += (location_.empty() ? "" : " + ") + s->location();
  }

  const std::string& location() const override { return location_; }
  Status Recover(size_t* cleaned) override {
    Status first;
    for (const auto& s : sinks_) {
      Status r = s->Recover(cleaned);
      if (!r.ok() && first.ok()) first = r;
    }
    return first;
  }
  std::unique_ptr<SinkBatch> NewBatch() override {
    std::vector<std::unique_ptr<SinkBatch>> batches;
    for (const auto& s : sinks_) batches.push_back(s->NewBatch());
    return std::make_unique<TeeBatch>(std::move(batches));
  }
  bool IsRetryable(const Status& status) const override {
    for (const auto& s : sinks_) {
      if (s->IsRetryable(status)) return true;
    }
    return false;
  }
  bool has_manifest() const override {
    for (const auto& s : sinks_) {
      if (s->has_manifest()) return true;
    }
    return false;
  }
  void AppendManifest(std::string lines, Callback done) override {
    size_t n = 0;
    for (const auto& s : sinks_) n += s->has_manifest() ? 1 : 0;
    auto join = std::make_shared<ManifestJoin>(n, std::move(done));
    for (const auto& s : sinks_) {
      if (s->has_manifest()) s->AppendManifest(lines, [join](const Status& st) { join->Answer(st); });
    }
  }
  // The sums (Prometheus' imgsink_s3_*), and each sink's own as "sink.<i>.<key>", i its place
  // in sinks_ (the order of the output flags): a backlog on one store is not hidden by another.
  void AddCounters(std::map<std::string, uint64_t>* counters) const override {
    for (size_t i = 0; i < sinks_.size(); ++i) {
      std::map<std::string, uint64_t> own;
      sinks_[i]->AddCounters(&own);
      AddSinkCounters(own, i, counters);
      for (const auto& [key, value] : own) (*counters)[key] += value;
    }
  }
  uint32_t copies_in_ram() const override {
    uint32_t n = 0;
    for (const auto& s : sinks_) n += s->copies_in_ram();
    return n;
  }

 private:
  const std::vector<std::unique_ptr<OutputSink>> sinks_;
  std::string location_;
};

}  // namespace

void AddSinkCounters(const std::map<std::string, uint64_t>& own, size_t index,
                     std::map<std::string, uint64_t>* counters) {
  const std::string prefix = "sink." + std::to_string(index) + ".";
  for (const auto& [key, value] : own) (*counters)[prefix + key] = value;
}

std::unique_ptr<OutputSink> MakeTeeSink(std::vector<std::unique_ptr<OutputSink>> sinks) {
  return std::make_unique<TeeSink>(std::move(sinks));
}

}  // namespace imgsink::daemon
