// Pipeline's write stage over the local sink: a file is renamed into place only after its data
// was synced, the job is reported done only after its last directory sync, and a group that
// fails is written again whole, getting its manifest lines once.  The sink writes through a
// FaultInjectionEnv whose hook records the sync and rename steps in the order they run (and
// fails the ones a test picks); on_done appends to the same log.
#include <catch.hpp>

#include <errno.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <thread>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "daemon/core/pipeline.h"
#include "daemon/output/manifest.h"
#include "daemon/validate/validate.h"
#include "fault_injection_env.h"
#include "imgsink/proto/paths.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;
using testing::FaultInjectionEnv;
using testing::FileOp;

// The steps of a group write, as the Env's operations show them.
enum class WriteStep { kMkdir, kWrite, kSyncData, kLink, kRename, kSyncDir };

struct Event {
  WriteStep step;  // meaningless for the done event
  std::string path;
  bool done = false;
  ErrorCode code = ErrorCode::kOk;
};

class Fixture {
 public:
  // `fail(step, path, nth)` returns the errno for the nth (0-based) call of `step`, or 0.
  using FailFn = std::function<int(WriteStep, std::string_view, int)>;

  Fixture(OutputSync sync, FailFn fail) : sync_(sync), fail_(std::move(fail)) {
    std::string dir = (fs::temp_directory_path() / "imgsink-pipeline-XXXXXX").string();
    REQUIRE(mkdtemp(dir.data()) != nullptr);
    dir_ = dir;
    SinkOptions sink_options;
    sink_options.root = dir_ + "/root";
    sink_options.sync = sync;
    sink_options.env = &env_;
    REQUIRE(OpenOutputSink(sink_options, &sink_).ok());
    env_.SetFileOpHook([this](FileOp op, const std::string& path) {
      WriteStep step;
      std::lock_guard<std::mutex> lock(mu_);
      switch (op) {
        case FileOp::kWrite: step = WriteStep::kWrite; renamed_ = false; break;
        case FileOp::kSyncFile: step = WriteStep::kSyncData; break;
        case FileOp::kLink: step = WriteStep::kLink; break;
        case FileOp::kRename: step = WriteStep::kRename; renamed_ = true; break;
        case FileOp::kSyncDir: step = WriteStep::kSyncDir; break;
        case FileOp::kSyncFs:
          if (path.empty()) return 0;  // the manifest's (the job writes beneath job/)
          step = renamed_ ? WriteStep::kSyncDir : WriteStep::kSyncData;
          break;
        default: return 0;
      }
      const int err = fail_ ? fail_(step, path, calls_[step]++) : 0;
      if (err == 0) events_.push_back({step, path});
      return err;
    });
    Pipeline::Options options;
    options.write_tries = 3;
    options.first_retry_delay = std::chrono::milliseconds(1);
    options.max_retry_delay = std::chrono::milliseconds(4);
    Pipeline::Callbacks callbacks;
    callbacks.on_durable = [](const std::shared_ptr<daemon::Job>&) {};
    callbacks.on_held_changed = [](const std::shared_ptr<daemon::Job>&, int64_t) {};
    callbacks.on_journal_failed = [](const Status&) {};
    callbacks.on_output_blocked = [this](bool blocked, const Status&) {
      std::lock_guard<std::mutex> lock(mu_);
      blocked_.push_back(blocked);
    };
    callbacks.on_done = [this](const std::shared_ptr<daemon::Job>&, const Status& s) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back({WriteStep::kMkdir, "", true, s.code()});
      done_cv_.notify_all();
    };
    pipeline_ = std::make_unique<Pipeline>(options, sink_.get(), nullptr, &stats_, callbacks);
  }
  ~Fixture() {
    pipeline_.reset();
    sink_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Runs a replayed `each` job of n tiny PNGs at job/000.png... to its end.
  void RunJob(size_t n) {
    StartJob(n);
    WaitForEnd();
  }

  // Waits for the job of RunJob to end.
  void WaitForEnd() {
    // Drain() would abandon the retries: wait for the end first.
    std::unique_lock<std::mutex> lock(mu_);
    const bool ended = done_cv_.wait_for(lock, std::chrono::seconds(60), [this] {
      return !events_.empty() && events_.back().done;
    });
    REQUIRE(ended);
  }

  // Returns true iff `cond` holds within 60 s (polled).
  bool WaitFor(const std::function<bool()>& cond) {
    for (int i = 0; i < 60000; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  size_t Ended() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const Event& e : events_) n += e.done;
    return n;
  }
  size_t Codes(ErrorCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const Event& e : events_) n += e.done && e.code == code;
    return n;
  }
  ErrorCode LastCode() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->done) return it->code;
    }
    return ErrorCode::kInternal;
  }
  uint64_t Calls(WriteStep step) {
    std::lock_guard<std::mutex> lock(mu_);
    return uint64_t(calls_[step]);
  }
  std::vector<bool> Blocked() {
    std::lock_guard<std::mutex> lock(mu_);
    return blocked_;
  }
  void MakeDirectory(const std::string& rel) { fs::create_directories(dir_ + "/root/" + rel); }
  Pipeline* pipeline() { return pipeline_.get(); }

  // Submits a new (unjournaled: the fixture has no journal) grid job of one tiny PNG.
  void SubmitJob(const std::string& path, uint64_t id) {
    auto job = std::make_shared<daemon::Job>();
    job->job_id = id;
    job->request.dtype = DType::kUint8;
    job->request.shape = {2, 2, 3};
    job->request.layout = Layout::kHWC;
    job->request.path = path;
    std::vector<uint8_t> tensor(12, uint8_t(id));
    REQUIRE(ValidateSave(job->request, tensor.size(), {}, &job->plan).ok());
    job->tensor = Bytes::Own(std::move(tensor));
    pipeline_->Submit(job);
  }

  // Resumes a replayed `each` job of n tiny PNGs at `path` (a template over {index}).
  void StartJob(size_t n, const std::string& path = "job/{index:03d}.png", uint64_t id = 42) {
    auto job = std::make_shared<daemon::Job>();
    job->job_id = id;
    job->replayed = true;
    job->request.shape = {int64_t(n), 3, 2, 2};
    job->request.path = path;
    job->request.mode = OutputMode::kEach;
    job->plan.format = OutputFormat::kPng;
    job->plan.files = int64_t(n);
    REQUIRE(ExpandSavePaths(job->request.path, job->request.mode, {}, job->plan.files,
                            &job->plan.paths).ok());
    for (size_t i = 0; i < n; ++i) {
      Image image;
      image.width = 2;
      image.height = 2;
      image.channels = 3;
      image.pixels.assign(12, uint8_t(i));
      job->images.push_back(image);
    }
    pipeline_->Resume(job);
  }

  // Returns the events after checking the order: every renamed file had its data synced (its
  // own fsync, or a syncfs after it was written) and no directory sync since; the job ended
  // once, last, with no rename left unsynced.
  std::vector<Event> CheckedEvents() {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> written, synced;
    size_t renamed_unsynced = 0, dones = 0;
    for (const Event& e : events_) {
      if (e.done) {
        ++dones;
        CHECK(renamed_unsynced == 0);
        continue;
      }
      switch (e.step) {
        case WriteStep::kWrite: written.insert(e.path); break;
        case WriteStep::kSyncData:
          if (sync_ == OutputSync::kFile) {
            synced.insert(e.path);
          } else {
            synced.insert(written.begin(), written.end());
          }
          break;
        case WriteStep::kLink:
        case WriteStep::kRename:
          CHECK(synced.count(e.path) == 1);
          if (e.step == WriteStep::kRename) ++renamed_unsynced;
          break;
        case WriteStep::kSyncDir:
          renamed_unsynced = 0;
          written.clear();
          synced.clear();
          break;
        default: break;
      }
    }
    CHECK(dones == 1);
    REQUIRE(!events_.empty());
    CHECK(events_.back().done);
    return events_;
  }

  // The manifest's lines per path.
  std::map<std::string, int> ManifestPaths() const {
    std::map<std::string, int> paths;
    std::ifstream in(dir_ + "/root/" + kManifestName);
    for (std::string line; std::getline(in, line);) {
      const size_t at = line.find("\"path\":\"") + 8;
      ++paths[line.substr(at, line.find('"', at) - at)];
    }
    return paths;
  }

  bool Exists(const std::string& rel) const { return fs::exists(dir_ + "/root/" + rel); }
  const Stats& stats() const { return stats_; }

 private:
  const OutputSync sync_;
  const FailFn fail_;
  std::string dir_;
  FaultInjectionEnv env_{DefaultEnv()};
  std::unique_ptr<OutputSink> sink_;
  Stats stats_;
  std::unique_ptr<Pipeline> pipeline_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<Event> events_;           // guarded by mu_
  std::map<WriteStep, int> calls_;      // guarded by mu_
  bool renamed_ = false;                // guarded by mu_: a syncfs after a rename syncs directories
  std::vector<bool> blocked_;           // guarded by mu_: on_output_blocked calls
};

size_t Count(const std::vector<Event>& events, WriteStep step) {
  size_t n = 0;
  for (const Event& e : events) n += !e.done && e.step == step;
  return n;
}

TEST_CASE("a job's files are synced before they are renamed, and it ends after the last directory sync",
          "[core][pipeline]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  CAPTURE(int(sync));
  Fixture f(sync, nullptr);
  f.RunJob(130);  // groups of 64, 64 and 2
  const std::vector<Event> events = f.CheckedEvents();
  CHECK(events.back().code == ErrorCode::kOk);
  CHECK(Count(events, WriteStep::kRename) == 130);
  CHECK(Count(events, WriteStep::kSyncDir) == 3);  // one directory (or filesystem) per group
  CHECK(Count(events, WriteStep::kSyncData) == (sync == OutputSync::kFile ? 130 : 3));
  const std::map<std::string, int> manifest = f.ManifestPaths();
  CHECK(manifest.size() == 130);
  CHECK(manifest.at("job/129.png") == 1);
  CHECK(f.stats().files_written == 130);
}

TEST_CASE("a group whose directory sync fails is written again whole, with one manifest line per file",
          "[core][pipeline][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  CAPTURE(int(sync));
  Fixture f(sync, [](WriteStep step, std::string_view, int nth) {
    return step == WriteStep::kSyncDir && nth == 0 ? EIO : 0;
  });
  f.RunJob(70);
  const std::vector<Event> events = f.CheckedEvents();
  CHECK(events.back().code == ErrorCode::kOk);
  CHECK(Count(events, WriteStep::kRename) == 64 + 64 + 6);
  const std::map<std::string, int> manifest = f.ManifestPaths();
  CHECK(manifest.size() == 70);
  for (const auto& [path, lines] : manifest) {
    CAPTURE(path);
    CHECK(lines == 1);
  }
  CHECK(f.stats().files_written == 70);
}

// Issue 12 row 12, "acknowledged means written": a failure that can pass (here EIO on every
// data sync, as a dying or full disk gives) never ends the job.  The output is blocked (no new
// credit), the job waits, and it is written whole once the condition passes.
TEST_CASE("a group whose data cannot sync blocks the output; the job waits and is written once it passes",
          "[core][pipeline][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  CAPTURE(int(sync));
  const int first_group_syncs = sync == OutputSync::kFile ? 64 : 1;
  std::atomic<bool> failing{true};
  Fixture f(sync, [&](WriteStep step, std::string_view, int nth) {
    return step == WriteStep::kSyncData && nth >= first_group_syncs && failing ? EIO : 0;
  });
  f.StartJob(100);
  // Blocked: the first group is in place, the job has not ended, the pipeline says why.
  REQUIRE(f.WaitFor([&] { return f.pipeline()->output_blocked() && f.pipeline()->retrying() == 1; }));
  Status why;
  CHECK(f.pipeline()->output_blocked(&why));
  CHECK(why.code() == ErrorCode::kWriteFailed);
  CHECK(f.Blocked() == std::vector<bool>{true});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // many tries at the 4 ms cap
  CHECK(!f.Ended());
  CHECK(f.Exists("job/063.png"));
  CHECK(!f.Exists("job/064.png"));
  failing = false;  // the condition passes
  f.WaitForEnd();
  const std::vector<Event> events = f.CheckedEvents();
  CHECK(events.back().code == ErrorCode::kOk);
  CHECK(!f.pipeline()->output_blocked());
  CHECK(f.Blocked() == std::vector<bool>{true, false});
  CHECK(f.Exists("job/099.png"));
  CHECK(f.stats().files_written == 100);
  const std::map<std::string, int> listed = f.ManifestPaths();
  REQUIRE(listed.size() == 100);
  for (const auto& [path, lines] : listed) CHECK(lines == 1);
}

// While blocked only one job (the probe) tries again; the others wait without spinning, and
// every one of them is written when the condition passes.  A job that can never succeed (its
// target is a directory) still fails at once, with kBadPath, blocked or not.
TEST_CASE("many jobs on a full disk: one probe tries, all are written when space returns",
          "[core][pipeline][fault]") {
  std::atomic<bool> full{true};
  Fixture f(OutputSync::kFilesystem, [&](WriteStep step, std::string_view, int) {
    return step == WriteStep::kWrite && full ? ENOSPC : 0;
  });
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) f.StartJob(1, "j" + std::to_string(i) + "/{index}.png", uint64_t(100 + i));
  REQUIRE(f.WaitFor([&] { return f.pipeline()->retrying() == uint64_t(kJobs); }));
  CHECK(f.pipeline()->output_blocked());
  f.MakeDirectory("bad/0.png");
  f.StartJob(1, "bad/{index}.png", 7);
  REQUIRE(f.WaitFor([&] { return f.Ended() == 1; }));
  CHECK(f.LastCode() == ErrorCode::kBadPath);
  const uint64_t writes_while_full = f.Calls(WriteStep::kWrite);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  // Only the probe tries (about one try per 4 ms at most), not all kJobs jobs each time.
  CHECK(f.Calls(WriteStep::kWrite) - writes_while_full < 40);
  full = false;
  REQUIRE(f.WaitFor([&] { return f.Ended() == kJobs + 1; }));
  CHECK(f.Codes(ErrorCode::kOk) == kJobs);
  for (int i = 0; i < kJobs; ++i) CHECK(f.Exists("j" + std::to_string(i) + "/0.png"));
  CHECK(!f.pipeline()->output_blocked());
  CHECK(f.pipeline()->retrying() == 0);
}

// Drain while blocked: a journaled job (a resumed one is) is left for replay at the next
// start, with no done event; an unjournaled one (submitted with no journal) fails, saying why,
// rather than hang the shutdown.
TEST_CASE("draining while blocked leaves journaled jobs for replay and fails the others",
          "[core][pipeline][fault]") {
  Fixture f(OutputSync::kFilesystem, [&](WriteStep step, std::string_view, int) {
    return step == WriteStep::kWrite ? ENOSPC : 0;
  });
  for (int i = 0; i < 3; ++i) f.StartJob(1, "d" + std::to_string(i) + "/{index}.png", uint64_t(10 + i));
  for (int i = 0; i < 2; ++i) f.SubmitJob("u" + std::to_string(i) + ".png", uint64_t(20 + i));
  REQUIRE(f.WaitFor([&] { return f.pipeline()->retrying() == 5; }));
  f.pipeline()->Drain();
  CHECK(f.pipeline()->in_flight() == 0);
  CHECK(f.Ended() == 2);
  CHECK(f.Codes(ErrorCode::kWriteFailed) == 2);
}

}  // namespace
}  // namespace imgsink::daemon
