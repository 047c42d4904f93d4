#include "daemon/output/local_sink.h"

#include <utility>
#include <vector>

#include "daemon/output/manifest.h"
#include "daemon/output/output_root.h"
#include "daemon/output/write_group.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
namespace {

// How deep the start-up sweep looks for temp files a crash left (output paths nest less).
constexpr int kSweepDepth = 64;

// The output roots of a sink: roots[k] opened, named to clients as rules.roots[k].
struct Roots {
  PathRules rules;
  std::vector<std::unique_ptr<OutputRoot>> open;  // open[0] takes relative paths
};

class LocalBatch : public SinkBatch {
 public:
  explicit LocalBatch(const Roots* roots) : roots_(roots), group_(roots->open[0].get()) {}
  size_t size() const override { return group_.size(); }
  bool full() const override { return group_.full(); }
  Status Add(std::string_view path, const void* data, size_t size) override {
    if (path.empty() || path.front() != '/') return group_.Add(path, data, size);
    // Absolute: beneath a root (confined there: no link followed), or, for a --paths caller
    // daemon, anywhere the kernel lets this user write.
    if (roots_->rules.mode == PathMode::kCaller) return group_.AddAbsolute(path, data, size);
    for (size_t k = 0; k < roots_->open.size() && k < roots_->rules.roots.size(); ++k) {
      std::string_view rel;
      if (IsBeneath(roots_->rules.roots[k], path, &rel) && !rel.empty()) {
        return group_.Add(roots_->open[k].get(), rel, data, size);
      }
    }
    return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(path) + " is outside every output root");
  }
  Status Commit() override { return group_.Commit(); }
  void Discard() override { group_.Discard(); }

 private:
  const Roots* const roots_;
  WriteGroup group_;
};

class LocalSink : public OutputSink {
 public:
  LocalSink(Roots roots, std::unique_ptr<Manifest> manifest)
      : roots_(std::move(roots)), manifest_(std::move(manifest)) {}

  const std::string& location() const override { return roots_.open[0]->dir(); }
  Status Recover(size_t* cleaned) override {
    Status first;
    for (const auto& root : roots_.open) {
      const Status s = root->RemoveStaleTempFiles(kSweepDepth, cleaned);
      if (first.ok()) first = s;
    }
    return first;
  }
  std::unique_ptr<SinkBatch> NewBatch() override { return std::make_unique<LocalBatch>(&roots_); }
  bool has_manifest() const override { return manifest_ != nullptr; }
  void AppendManifest(std::string lines, Callback done) override {
    manifest_->Append(std::move(lines), std::move(done));
  }

 private:
  const Roots roots_;
  const std::unique_ptr<Manifest> manifest_;  // destroyed first: it writes through roots_.open[0]
};

}  // namespace

Status OpenLocalSink(const SinkOptions& options, std::unique_ptr<OutputSink>* out) {
  Env* env = options.env != nullptr ? options.env : DefaultEnv();
  Roots roots;
  roots.rules = options.paths;
  // roots.rules.roots[0] names options.root; the others are opened as they are named.
  std::vector<std::string> dirs{options.root};
  for (size_t k = 1; k < options.paths.roots.size(); ++k) dirs.push_back(options.paths.roots[k]);
  for (const std::string& dir : dirs) {
    std::unique_ptr<OutputRoot> root;
    Status s = OutputRoot::Open(env, dir, options.sync, &root);
    if (!s.ok()) return s;
    roots.open.push_back(std::move(root));
  }
  std::unique_ptr<Manifest> manifest;
  if (options.manifest) {
    Status s = Manifest::Open(roots.open[0]->directory(), options.sync, &manifest);
    if (!s.ok()) return s;
  }
  *out = std::make_unique<LocalSink>(std::move(roots), std::move(manifest));
  return Status::OK();
}

}  // namespace imgsink::daemon
