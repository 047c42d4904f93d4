#include "daemon/output/local_sink.h"

#include <utility>

#include "daemon/output/manifest.h"
#include "daemon/output/output_root.h"
#include "daemon/output/write_group.h"

namespace imgsink::daemon {
namespace {

// How deep the start-up sweep looks for temp files a crash left (output paths nest less).
constexpr int kSweepDepth = 64;

class LocalBatch : public SinkBatch {
 public:
  explicit LocalBatch(OutputRoot* root) : group_(root) {}
  size_t size() const override { return group_.size(); }
  bool full() const override { return group_.full(); }
  Status Add(std::string_view rel_path, const void* data, size_t size) override {
    return group_.Add(rel_path, data, size);
  }
  Status Commit() override { return group_.Commit(); }
  void Discard() override { group_.Discard(); }

 private:
  WriteGroup group_;
};

class LocalSink : public OutputSink {
 public:
  LocalSink(std::unique_ptr<OutputRoot> root, std::unique_ptr<Manifest> manifest)
      : root_(std::move(root)), manifest_(std::move(manifest)) {}

  const std::string& location() const override { return root_->dir(); }
  Status Recover(size_t* cleaned) override { return root_->RemoveStaleTempFiles(kSweepDepth, cleaned); }
  std::unique_ptr<SinkBatch> NewBatch() override { return std::make_unique<LocalBatch>(root_.get()); }
  bool has_manifest() const override { return manifest_ != nullptr; }
  void AppendManifest(std::string lines, Callback done) override {
    manifest_->Append(std::move(lines), std::move(done));
  }

 private:
  const std::unique_ptr<OutputRoot> root_;
  const std::unique_ptr<Manifest> manifest_;  // destroyed first: it writes through root_
};

}  // namespace

Status OpenLocalSink(const SinkOptions& options, std::unique_ptr<OutputSink>* out) {
  Env* env = options.env != nullptr ? options.env : DefaultEnv();
  std::unique_ptr<OutputRoot> root;
  Status s = OutputRoot::Open(env, options.root, options.sync, &root);
  if (!s.ok()) return s;
  std::unique_ptr<Manifest> manifest;
  if (options.manifest) {
    s = Manifest::Open(root->directory(), options.sync, &manifest);
    if (!s.ok()) return s;
  }
  *out = std::make_unique<LocalSink>(std::move(root), std::move(manifest));
  return Status::OK();
}

}  // namespace imgsink::daemon
