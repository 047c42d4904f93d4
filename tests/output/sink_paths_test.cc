// The local sink's output roots and path modes (imgsink/proto/paths.h PathRules): relative paths
// beneath the first root, absolute paths beneath any root (confined: no link followed), and, for
// a --paths caller daemon, absolute paths anywhere with links followed as the kernel does.
#include <unistd.h>

#include <catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "daemon/output/sink.h"
#include "fault_injection_env.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// <base>/a and <base>/b are the roots, <base>/elsewhere is outside both.
class Roots {
 public:
  Roots() {
    std::string pattern = (fs::temp_directory_path() / "imgsink-roots-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    base_ = pattern;
    fs::create_directories(base_ / "elsewhere");
  }
  ~Roots() { fs::remove_all(base_); }
  const fs::path& base() const { return base_; }

  Status Open(PathMode mode, std::unique_ptr<OutputSink>* sink, Env* env = nullptr,
              OutputSync sync = OutputSync::kFilesystem) const {
    SinkOptions options;
    options.env = env;
    options.sync = sync;
    options.root = (base_ / "a").string();
    options.paths.mode = mode;
    options.paths.roots = {(base_ / "a").string(), (base_ / "b").string()};
    options.manifest = false;
    return OpenOutputSink(options, sink);
  }

 private:
  fs::path base_;
};

Status Write(OutputSink* sink, const std::string& path, const std::string& data) {
  const std::unique_ptr<SinkBatch> batch = sink->NewBatch();
  Status s = batch->Add(path, data.data(), data.size());
  return s.ok() ? batch->Commit() : s;
}

TEST_CASE("sink roots: relative paths go beneath the first root, absolute ones beneath theirs",
          "[output][sink][paths]") {
  Roots r;
  std::unique_ptr<OutputSink> sink;
  REQUIRE(r.Open(PathMode::kRoots, &sink).ok());
  CHECK(fs::is_directory(r.base() / "b"));  // every root is opened (created) at start
  REQUIRE(Write(sink.get(), "x/rel.png", "1").ok());
  CHECK(ReadFile(r.base() / "a" / "x" / "rel.png") == "1");
  REQUIRE(Write(sink.get(), (r.base() / "b" / "y" / "abs.png").string(), "2").ok());
  CHECK(ReadFile(r.base() / "b" / "y" / "abs.png") == "2");
  // Outside every root: refused, nothing written, never retried.
  const Status outside = Write(sink.get(), (r.base() / "elsewhere" / "x.png").string(), "3");
  CHECK(outside.code() == ErrorCode::kBadPath);
  CHECK_FALSE(sink->IsRetryable(outside));
  CHECK(fs::is_empty(r.base() / "elsewhere"));
}

TEST_CASE("sink roots: a link beneath the second root is refused as beneath the first",
          "[output][sink][paths][escape]") {
  Roots r;
  std::unique_ptr<OutputSink> sink;
  REQUIRE(r.Open(PathMode::kRoots, &sink).ok());
  fs::create_directory_symlink(r.base() / "elsewhere", r.base() / "b" / "link");
  const Status s = Write(sink.get(), (r.base() / "b" / "link" / "evil.png").string(), "x");
  CHECK(s.code() == ErrorCode::kBadPath);
  CHECK(fs::is_empty(r.base() / "elsewhere"));
}

TEST_CASE("sink caller: absolute paths anywhere, links followed as the caller's open() would",
          "[output][sink][paths]") {
  Roots r;
  std::unique_ptr<OutputSink> sink;
  REQUIRE(r.Open(PathMode::kCaller, &sink).ok());
  REQUIRE(Write(sink.get(), (r.base() / "elsewhere" / "new" / "x.png").string(), "1").ok());
  CHECK(ReadFile(r.base() / "elsewhere" / "new" / "x.png") == "1");
  fs::create_directory_symlink(r.base() / "elsewhere", r.base() / "data");
  REQUIRE(Write(sink.get(), (r.base() / "data" / "y.png").string(), "2").ok());
  CHECK(ReadFile(r.base() / "elsewhere" / "y.png") == "2");
  CHECK(fs::is_symlink(r.base() / "data"));
  // '..' is the kernel's: through the link, to the link target's parent.
  REQUIRE(Write(sink.get(), (r.base() / "data" / ".." / "z.png").string(), "3").ok());
  CHECK(ReadFile(r.base() / "z.png") == "3");
  // A file that is itself a link is not written through (files are replaced atomically).
  fs::create_symlink(r.base() / "elsewhere" / "y.png", r.base() / "elsewhere" / "l.png");
  CHECK(Write(sink.get(), (r.base() / "elsewhere" / "l.png").string(), "4").code() == ErrorCode::kBadPath);
  CHECK(ReadFile(r.base() / "elsewhere" / "y.png") == "2");
  // Relative paths (sent without a cwd) still go beneath the first root, confined.
  REQUIRE(Write(sink.get(), "r.png", "5").ok());
  CHECK(ReadFile(r.base() / "a" / "r.png") == "5");
  CHECK(Write(sink.get(), "../r.png", "6").code() == ErrorCode::kBadPath);
}

TEST_CASE("sink caller, --output-sync file: new directories are synced into their parents up to /",
          "[output][sink][paths]") {
  Roots r;
  testing::FaultInjectionEnv env(DefaultEnv());
  std::unique_ptr<OutputSink> sink;
  REQUIRE(r.Open(PathMode::kCaller, &sink, &env, OutputSync::kFile).ok());
  size_t dir_syncs = 0;
  env.SetFileOpHook([&](testing::FileOp op, const std::string&) {
    if (op == testing::FileOp::kSyncDir) ++dir_syncs;
    return 0;
  });
  const fs::path target = r.base() / "elsewhere" / "n1" / "n2" / "x.png";
  REQUIRE(Write(sink.get(), target.string(), "1").ok());
  env.SetFileOpHook(nullptr);
  CHECK(ReadFile(target) == "1");
  // n2 itself, then n1, elsewhere, ... and "/": one per component of its path.
  size_t components = 0;
  for (const auto& part : target.parent_path()) components += part != "/";
  CHECK(dir_syncs == components + 1);
}

}  // namespace
}  // namespace imgsink::daemon
