// TensorBoardSink (daemon/output/tb_sink.h): records go to their run's event file, run paths
// follow the output-path rules, a replayed batch does not double what the crash left.
#include "daemon/output/tb_sink.h"

#include <unistd.h>

#include <catch.hpp>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fstream>
#include <iterator>

#include "daemon/output/tb_event_file.h"
#include "daemon/output/tb_record.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;

// A scratch directory (the tests' one TempDir) as a std::filesystem path.
struct Logdir {
  testutil::TempDir tmp{"tb-sink"};
  fs::path dir{tmp.path()};
};

std::unique_ptr<OutputSink> Open(const Logdir& l) {
  TensorBoardSinkOptions o;
  o.logdir = l.dir.string();
  o.host = "h";
  std::unique_ptr<OutputSink> sink;
  REQUIRE(OpenTensorBoardSink(o, &sink).ok());
  return sink;
}

// The records after the version record of the one event file in `run`.
std::vector<std::string> RunRecords(const Logdir& l, const std::string& run) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(l.dir / run)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  CHECK(tb::IsOurEventFile(files[0].filename(), "h"));
  std::ifstream in(files[0], std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::vector<std::string> out;
  const size_t end = tb::ScanRecords(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                     [&](const uint8_t* d, size_t n) {
                                       out.emplace_back(reinterpret_cast<const char*>(d), n);
                                     });
  CHECK(end == bytes.size());
  REQUIRE(!out.empty());
  out.erase(out.begin());  // the version record
  return out;
}

Status AddAll(SinkBatch* batch, const std::vector<std::pair<std::string, std::string>>& records) {
  for (const auto& [run, event] : records) {
    Status s = batch->Add(run, event.data(), event.size());
    if (!s.ok()) return s;
  }
  return batch->Commit();
}

TEST_CASE("tb sink: each record goes to its run's event file, in order") {
  Logdir l;
  auto sink = Open(l);
  CHECK(!sink->has_manifest());
  auto batch = sink->NewBatch();
  REQUIRE(AddAll(batch.get(), {{"runs/a", "E1"}, {"runs/b", "E2"}, {"runs/a", "E3"}}).ok());
  CHECK(batch->size() == 0);
  CHECK(RunRecords(l, "runs/a") == std::vector<std::string>{"E1", "E3"});
  CHECK(RunRecords(l, "runs/b") == std::vector<std::string>{"E2"});
}

TEST_CASE("tb sink: run directories follow the output path rules") {
  Logdir l;
  auto sink = Open(l);
  auto batch = sink->NewBatch();
  const char e[] = "E";
  CHECK(batch->Add("../escape", e, 1).code() == ErrorCode::kBadPath);
  CHECK(batch->Add("a//b", e, 1).code() == ErrorCode::kBadPath);
  CHECK(batch->Add("/abs/", e, 1).code() == ErrorCode::kBadPath);
  fs::create_directories(l.dir / "elsewhere");
  fs::create_directory_symlink(l.dir / "elsewhere", l.dir / "link");
  REQUIRE(batch->Add("link/run", e, 1).ok());
  CHECK(batch->Commit().code() == ErrorCode::kBadPath);  // never through a symbolic link
  CHECK(fs::is_empty(l.dir / "elsewhere"));
}

TEST_CASE("tb sink: an absolute run directory (from a --paths caller daemon) is written there") {
  Logdir l, elsewhere;
  auto sink = Open(l);
  auto batch = sink->NewBatch();
  const std::string run = (elsewhere.dir / "runs" / "x").string();
  REQUIRE(batch->Add(run, "E1", 2).ok());
  REQUIRE(batch->Commit().ok());
  CHECK(RunRecords(elsewhere, "runs/x") == std::vector<std::string>{"E1"});
  CHECK(fs::is_empty(l.dir));
}

// The run directory of a tb save resolves as an image path does in the daemon's mode, with the
// logdir the one root; what resolves is where the sink writes.
TEST_CASE("tb sink: run directories resolve by the daemon's path mode, the logdir the one root") {
  Logdir l, work;
  const std::string cwd = work.dir.string();
  const std::string logdir = l.dir.string();
  PathRules roots, caller;
  REQUIRE(TensorBoardPathRules(PathMode::kRoots, logdir, &roots).ok());
  REQUIRE(TensorBoardPathRules(PathMode::kCaller, logdir, &caller).ok());
  CHECK(roots.mode == PathMode::kRoots);
  CHECK(caller.mode == PathMode::kCaller);
  REQUIRE(roots.roots.size() == 1);
  CHECK(roots.roots == caller.roots);
  std::string run;
  // roots: relative beneath the logdir (the cwd ignored); absolute only beneath it; no '..'.
  REQUIRE(ResolveOutputPath(roots, cwd, "runs/a", &run).ok());
  CHECK(run == "runs/a");
  REQUIRE(ResolveOutputPath(roots, "", roots.roots[0] + "/runs/./b", &run).ok());
  CHECK(run == "runs/b");
  Status s = ResolveOutputPath(roots, "", cwd + "/runs/c", &run);
  CHECK(s.code() == ErrorCode::kBadPath);
  CHECK(s.message().find(roots.roots[0]) != std::string::npos);  // names the allowed root
  CHECK(ResolveOutputPath(roots, cwd, "../runs/d", &run).code() == ErrorCode::kBadPath);
  // caller: relative against the save's cwd, absolute as it is, relative without a cwd beneath
  // the logdir.
  REQUIRE(ResolveOutputPath(caller, cwd, "runs/e", &run).ok());
  CHECK(run == cwd + "/runs/e");
  REQUIRE(ResolveOutputPath(caller, cwd, cwd + "/abs/f", &run).ok());
  CHECK(run == cwd + "/abs/f");
  REQUIRE(ResolveOutputPath(caller, "", "runs/g", &run).ok());
  CHECK(run == "runs/g");
  // A relative logdir is made absolute once (against the daemon's working directory).
  PathRules relative;
  REQUIRE(TensorBoardPathRules(PathMode::kCaller, "tb", &relative).ok());
  REQUIRE(relative.roots.size() == 1);
  CHECK(relative.roots[0].front() == '/');
  CHECK(relative.roots[0].size() > 3);
  CHECK(relative.roots[0].substr(relative.roots[0].size() - 3) == "/tb");
  CHECK(TensorBoardPathRules(PathMode::kRoots, "", &relative).code() == ErrorCode::kBadOption);

  // What resolved is where the records land: each run its own event file.
  auto sink = Open(l);
  auto batch = sink->NewBatch();
  for (const auto& [rules, path] : std::vector<std::pair<PathRules, std::string>>{
           {roots, "runs/a"}, {caller, "runs/e"}, {caller, "runs/g"}}) {
    REQUIRE(ResolveOutputPath(rules, cwd, path, &run).ok());
    REQUIRE(batch->Add(run, path.data(), path.size()).ok());
  }
  REQUIRE(batch->Commit().ok());
  CHECK(RunRecords(l, "runs/a") == std::vector<std::string>{"runs/a"});
  CHECK(RunRecords(work, "runs/e") == std::vector<std::string>{"runs/e"});
  CHECK(RunRecords(work, "runs/g") == std::vector<std::string>{"runs/g"});
  CHECK(!fs::exists(l.dir / "runs" / "e"));
  CHECK(!fs::exists(work.dir / "runs" / "a"));
}

TEST_CASE("tb sink: a replayed batch skips what the crashed run already wrote, once") {
  Logdir l;
  {
    auto sink = Open(l);
    auto batch = sink->NewBatch();
    REQUIRE(AddAll(batch.get(), {{"r", "job1"}, {"r", "job2"}}).ok());
  }
  auto sink = Open(l);  // the restart
  auto replay = sink->NewBatch();
  replay->MarkReplay();
  REQUIRE(AddAll(replay.get(), {{"r", "job2"}, {"r", "job3"}}).ok());
  auto fresh = sink->NewBatch();
  REQUIRE(AddAll(fresh.get(), {{"r", "job1"}}).ok());  // a new job: always written
  CHECK(RunRecords(l, "r") == std::vector<std::string>{"job1", "job2", "job3", "job1"});
}

}  // namespace
}  // namespace imgsink::daemon
