// OutputSink and its local implementation: the scheme table, batches through the interface, the
// start-up recovery, and the manifest written through the pinned root and the Env (its faults,
// its sync per --output-sync).
#include <errno.h>

#include <future>
#include <string>
#include <vector>

#include "daemon/output/manifest.h"
#include "daemon/output/sink.h"
#include "output_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::FaultInjectionEnv;
using testing::FileOp;
using testing::ReadAll;
using testing::TempFiles;
namespace fs = std::filesystem;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// A scratch directory with a local sink on `<base>/root`, writing through a FaultInjectionEnv.
class SinkScratch {
 public:
  explicit SinkScratch(OutputSync sync = OutputSync::kFilesystem, bool manifest = true) {
    std::string pattern = (fs::temp_directory_path() / "imgsink-sink-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    base_ = pattern;
    options_.root = root_dir();
    options_.sync = sync;
    options_.manifest = manifest;
    options_.env = &env_;
  }
  ~SinkScratch() {
    sink_.reset();
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }
  Status Open() { return OpenOutputSink(options_, &sink_); }
  OutputSink& sink() { return *sink_; }
  void Close() { sink_.reset(); }
  FaultInjectionEnv& env() { return env_; }
  std::string base() const { return base_; }
  std::string root_dir() const { return base_ + "/root"; }

  // Appends `lines` to the manifest and waits for the outcome.
  Status AppendAndWait(std::string lines) {
    std::promise<Status> done;
    sink_->AppendManifest(std::move(lines), [&done](const Status& s) { done.set_value(s); });
    return done.get_future().get();
  }

  // Writes one batch of `files` (path, data) through the sink interface.
  Status WriteBatch(const std::vector<std::pair<std::string, std::string>>& files) {
    std::unique_ptr<SinkBatch> batch = sink_->NewBatch();
    for (const auto& [path, data] : files) {
      const Status s = batch->Add(path, data.data(), data.size());
      if (!s.ok()) return s;
    }
    return batch->Commit();
  }

 private:
  std::string base_;
  FaultInjectionEnv env_{DefaultEnv()};
  SinkOptions options_;
  std::unique_ptr<OutputSink> sink_;
};

std::string Line(const std::string& path) {
  WrittenFile file;
  file.path = path;
  file.bytes = 3;
  file.crc32c = 0xdeadbeef;
  return ManifestLine(7, file, "png", {{"step", "1"}});
}

TEST_CASE("sink: a plain directory opens the local sink; an unknown scheme is refused", "[output][sink]") {
  SinkScratch s;
  REQUIRE(s.Open().ok());
  CHECK(s.sink().location() == s.root_dir());
  CHECK(s.sink().has_manifest());
  CHECK(fs::exists(s.root_dir() + "/" + kManifestName));

  SinkOptions other;
  other.root = "gopher://host/out";
  std::unique_ptr<OutputSink> sink;
  const Status status = OpenOutputSink(other, &sink);
  CHECK(status.code() == ErrorCode::kBadOption);
  CHECK(status.message().find("gopher://") != std::string::npos);
  CHECK(sink == nullptr);
}

TEST_CASE("sink: batches through the interface; a failure at any step is retryable and leaves the old file",
          "[output][sink][fault]") {
  const FileOp failing = GENERATE(FileOp::kCreateTemp, FileOp::kWrite, FileOp::kSyncFs, FileOp::kRename);
  const int err = GENERATE(ENOSPC, EIO);
  CAPTURE(testing::FileOpName(failing), err);
  SinkScratch s(OutputSync::kFilesystem, /*manifest=*/false);
  REQUIRE(s.Open().ok());
  REQUIRE(s.WriteBatch({{"d/x.png", "old"}}).ok());
  s.env().SetFileOpHook([&](FileOp op, const std::string&) { return op == failing ? err : 0; });
  const Status status = s.WriteBatch({{"d/x.png", "new"}, {"d/y.png", "y"}});
  s.env().SetFileOpHook(nullptr);
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find(ErrnoText(err)) != std::string::npos);
  CHECK(s.sink().IsRetryable(status));
  CHECK(TempFiles(s.root_dir()).empty());
  if (failing != FileOp::kRename) CHECK(ReadAll(s.root_dir() + "/d/x.png") == "old");
  REQUIRE(s.WriteBatch({{"d/x.png", "new"}, {"d/y.png", "y"}}).ok());  // the retry
  CHECK(ReadAll(s.root_dir() + "/d/x.png") == "new");
  CHECK(ReadAll(s.root_dir() + "/d/y.png") == "y");
}

TEST_CASE("sink: a bad path is never retryable", "[output][sink]") {
  SinkScratch s;
  REQUIRE(s.Open().ok());
  const Status status = s.WriteBatch({{"../escape.png", "x"}});
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(!s.sink().IsRetryable(status));
}

TEST_CASE("sink: Recover removes the temp files a crash left and goes on past a failed removal",
          "[output][sink][stale]") {
  SinkScratch s;
  fs::create_directories(s.root_dir() + "/a");
  testing::WriteAll(s.root_dir() + "/.imgsink-tmp.0000000000000001", "partial");
  testing::WriteAll(s.root_dir() + "/a/.imgsink-tmp.0000000000000002", "partial");
  REQUIRE(s.Open().ok());
  s.env().SetFileOpHook([](FileOp op, const std::string& path) {
    return op == FileOp::kRemove && path == ".imgsink-tmp.0000000000000001" ? EIO : 0;
  });
  size_t cleaned = 0;
  const Status status = s.sink().Recover(&cleaned);
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find(ErrnoText(EIO)) != std::string::npos);
  CHECK(cleaned == 1);
  CHECK(TempFiles(s.root_dir()) == std::vector<std::string>{".imgsink-tmp.0000000000000001"});
  s.env().SetFileOpHook(nullptr);
  REQUIRE(s.sink().Recover(&cleaned).ok());
  CHECK(cleaned == 2);
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("manifest: a failed append or sync fails the lines' callback; the next lines get through",
          "[output][manifest][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  const FileOp failing = GENERATE(FileOp::kAppend, FileOp::kSyncAppend, FileOp::kSyncFs);
  const int err = GENERATE(ENOSPC, EIO);
  CAPTURE(int(sync), testing::FileOpName(failing), err);
  SinkScratch s(sync);
  REQUIRE(s.Open().ok());
  bool reached = false;
  s.env().SetFileOpHook([&](FileOp op, const std::string& path) {
    if (op != failing) return 0;
    CHECK(path == (op == FileOp::kSyncFs ? std::string() : std::string(kManifestName)));
    reached = true;
    return err;
  });
  const Status failed = s.AppendAndWait(Line("a.png"));
  s.env().SetFileOpHook(nullptr);
  // The manifest syncs the way --output-sync says: its own fdatasync, or syncfs of the root.
  const bool runs = failing == FileOp::kAppend || (failing == FileOp::kSyncAppend) == (sync == OutputSync::kFile);
  CHECK(reached == runs);
  if (!runs) {
    CHECK(failed.ok());
    return;
  }
  CHECK(failed.code() == ErrorCode::kWriteFailed);
  CHECK(failed.message().find(kManifestName) != std::string::npos);
  CHECK(failed.message().find(ErrnoText(err)) != std::string::npos);
  REQUIRE(s.AppendAndWait(Line("b.png")).ok());
  s.Close();
  CHECK(ReadAll(s.root_dir() + "/" + kManifestName).find("\"path\":\"b.png\"") != std::string::npos);
}

TEST_CASE("manifest: a failed open or directory sync fails the sink's open", "[output][manifest][fault]") {
  const FileOp failing = GENERATE(FileOp::kOpenAppend, FileOp::kSyncDir);
  SinkScratch s;
  s.env().SetFileOpHook([&](FileOp op, const std::string&) { return op == failing ? EIO : 0; });
  const Status status = s.Open();
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find(kManifestName) != std::string::npos);
  CHECK(status.message().find(ErrnoText(EIO)) != std::string::npos);
}

TEST_CASE("manifest: a new manifest's entry is synced once; lines go to the pinned root, never a link",
          "[output][manifest]") {
  SinkScratch s;
  std::vector<std::pair<FileOp, std::string>> ops;
  s.env().SetFileOpHook([&](FileOp op, const std::string& path) {
    ops.emplace_back(op, path);
    return 0;
  });
  REQUIRE(s.Open().ok());
  CHECK(ops == std::vector<std::pair<FileOp, std::string>>{{FileOp::kOpenAppend, kManifestName},
                                                           {FileOp::kSyncDir, ""}});
  // The root is pinned: a directory swapped in at its path afterwards gets nothing.
  fs::rename(s.root_dir(), s.base() + "/moved");
  fs::create_directories(s.root_dir());
  REQUIRE(s.AppendAndWait(Line("a.png")).ok());
  s.Close();
  CHECK(!fs::exists(s.root_dir() + "/" + kManifestName));
  CHECK(ReadAll(s.base() + "/moved/" + kManifestName).find("\"path\":\"a.png\"") != std::string::npos);

  // Reopening an existing manifest syncs nothing; a manifest that is a symlink is refused.
  fs::remove_all(s.root_dir());
  fs::rename(s.base() + "/moved", s.root_dir());
  ops.clear();
  REQUIRE(s.Open().ok());
  CHECK(ops == std::vector<std::pair<FileOp, std::string>>{{FileOp::kOpenAppend, kManifestName}});
  s.Close();
  s.env().SetFileOpHook(nullptr);
  fs::remove(s.root_dir() + "/" + kManifestName);
  testing::WriteAll(s.base() + "/elsewhere", "");
  fs::create_symlink(s.base() + "/elsewhere", s.root_dir() + "/" + kManifestName);
  CHECK(s.Open().code() == ErrorCode::kWriteFailed);
}

}  // namespace
}  // namespace imgsink::daemon
