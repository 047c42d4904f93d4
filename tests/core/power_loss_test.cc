// Power loss, simulated at every sync point of the whole write path: the journal's fdatasyncs
// (by path) and the output's and manifest's syncs (through Directory handles), all through
// one FaultInjectionEnv.  Each run journals and writes a few jobs, "dies" at sync point k (that
// sync and everything after it fails), drops what was never synced (journal bytes after the
// last fdatasync; output files renamed before their data was synced), restarts from the
// journal as the daemon does (Server::Replay), and checks: every acknowledged job has all its
// files, every file decodes to the pixels sent, and the manifest names only files that exist
// with the bytes it gives.  (Issue 12, "Power loss, simulated".)
#include <catch.hpp>

#include <png.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/core/pipeline.h"
#include "daemon/core/replayed_job.h"
#include "daemon/journal/crc32c.h"
#include "daemon/journal/job_record.h"
#include "daemon/output/manifest.h"
#include "daemon/validate/validate.h"
#include "fault_injection_env.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;
using testing::FaultInjectionEnv;
using testing::FileOp;

constexpr int kJobs = 8;
constexpr int kImagesPerJob = 3;  // 2x2 RGB uint8 each

bool IsSync(FileOp op) {
  return op == FileOp::kSyncFile || op == FileOp::kSyncDir || op == FileOp::kSyncFs ||
         op == FileOp::kSyncAppend;
}

// The pixel value of channel c of pixel p of image i of job j (distinct per job and image).
uint8_t Pixel(int job, int image, int p, int c) { return uint8_t(job * 50 + image * 10 + p * 3 + c); }

std::string PathOf(int job) { return "j" + std::to_string(job) + "/{index}.png"; }

std::shared_ptr<Job> NewJob(journal::Journal* journal, int j) {
  auto job = std::make_shared<Job>();
  job->request.dtype = DType::kUint8;
  job->request.shape = {kImagesPerJob, 2, 2, 3};
  job->request.layout = Layout::kNHWC;
  job->request.mode = OutputMode::kEach;
  job->request.path = PathOf(j);
  std::vector<uint8_t> tensor;
  for (int i = 0; i < kImagesPerJob; ++i) {
    for (int p = 0; p < 4; ++p) {
      for (int c = 0; c < 3; ++c) tensor.push_back(Pixel(j, i, p, c));
    }
  }
  REQUIRE(ValidateSave(job->request, tensor.size(), {}, &job->plan).ok());
  job->tensor = Bytes::Own(std::move(tensor));
  job->job_id = journal->AllocateJobId();
  job->client = "client-" + std::to_string(j);
  return job;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Returns true iff `path` is a PNG that decodes to image `i` of job `j`.
bool DecodesTo(const std::string& path, int j, int i) {
  const std::vector<uint8_t> bytes = ReadFile(path);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) return false;
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  if (image.width != 2 || image.height != 2 ||
      !png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) {
    png_image_free(&image);
    return false;
  }
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 3; ++c) {
      if (pixels[size_t(p * 3 + c)] != Pixel(j, i, p, c)) return false;
    }
  }
  return true;
}

// One daemon life over `dir` through `env`: opens the journal (replaying what it holds), runs
// `new_jobs` new jobs, and waits until every job ended or the run died.  Returns the ids of the
// new jobs acknowledged (ACCEPTED durable); *job_of maps job ids to job numbers.
class Life {
 public:
  // `died` (may be null) is set when the machine died at an output sync.
  Life(FaultInjectionEnv* env, const std::string& dir, const std::atomic<bool>* died = nullptr)
      : env_(env), dir_(dir), died_(died) {}

  bool dead() const { return env_->crashed() || (died_ != nullptr && *died_); }

  Status Run(int new_jobs, std::map<uint64_t, int>* job_of, std::set<uint64_t>* acked) {
    journal::JournalOptions jo;
    jo.dir = dir_ + "/journal";
    jo.segment_bytes = 1024;  // several segments: rolls and compaction are sync points too
    std::vector<journal::RecoveredJob> pending;
    journal::RecoveryReport report;
    std::unique_ptr<journal::Journal> journal;
    // A crash during start-up (a sync of the open) is a crash point too: nothing was acked.
    Status s = journal::Journal::Open(env_, jo, &pending, &report, &journal);
    if (!s.ok()) return dead() ? Status::OK() : s;
    SinkOptions so;
    so.root = dir_ + "/out";
    so.env = env_;
    std::unique_ptr<OutputSink> sink;
    s = OpenOutputSink(so, &sink);
    if (!s.ok()) return dead() ? Status::OK() : s;
    size_t cleaned = 0;
    sink->Recover(&cleaned);
    Stats stats;
    std::atomic<int> ended{0};
    Pipeline::Callbacks cb;
    cb.on_durable = [&](const std::shared_ptr<Job>& job) {
      std::lock_guard<std::mutex> lock(mu_);
      acked->insert(job->job_id);
    };
    cb.on_held_changed = [](const std::shared_ptr<Job>&, int64_t) {};
    cb.on_done = [&](const std::shared_ptr<Job>&, const Status&) { ++ended; };
    cb.on_journal_failed = [](const Status&) {};
    Pipeline::Options po;
    po.first_retry_delay = std::chrono::milliseconds(1);
    po.max_retry_delay = std::chrono::milliseconds(2);
    auto pipeline = std::make_unique<Pipeline>(po, sink.get(), journal.get(), &stats, cb);
    int expected = 0;
    for (journal::RecoveredJob& recovered : pending) {  // as Server::Replay
      journal::JobRecord record;
      REQUIRE(journal::DecodeJobRecord(recovered.payload.data, recovered.payload.size, &record).ok());
      std::shared_ptr<Job> job = ReplayedJob(recovered.job_id, std::move(record));
      pipeline->Resume(job);
      ++expected;
    }
    for (int j = 0; j < new_jobs; ++j) {
      std::shared_ptr<Job> job = NewJob(journal.get(), j);
      (*job_of)[job->job_id] = j;
      pipeline->Submit(job);
      ++expected;
    }
    // Until every job ended, or the machine died and nothing moves any more (blocked jobs
    // then wait for replay: Drain leaves them).
    for (int i = 0; i < 20000 && ended < expected; ++i) {
      if (dead() && pipeline->in_flight() == pipeline->retrying()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const bool all_ended = ended == expected;
    pipeline.reset();  // drains
    sink.reset();
    journal->Close();
    if (!all_ended && !dead()) return Status(ErrorCode::kInternal, "jobs did not end");
    return Status::OK();
  }

 private:
  FaultInjectionEnv* const env_;
  const std::string dir_;
  const std::atomic<bool>* const died_;
  std::mutex mu_;
};

struct Outcome {
  std::set<uint64_t> acked;
  std::map<uint64_t, int> job_of;
  int lost = 0;
  std::vector<std::string> problems;
};

// Runs the scenario with a crash at output sync `output_crash` (1-based; 0: none) or journal
// fdatasync `journal_crash` (0: none); *output_syncs and *journal_syncs count those of a
// run (use with no crash).
Outcome RunScenario(uint64_t output_crash, uint64_t journal_crash, uint64_t* output_syncs = nullptr,
                    uint64_t* journal_syncs = nullptr) {
  testutil::TempDir dir("power-loss");
  FaultInjectionEnv env(DefaultEnv());
  std::atomic<uint64_t> syncs{0};
  std::atomic<bool> died{false};
  env.SetFileOpHook([&](FileOp op, const std::string&) {
    if (died || env.crashed()) return EIO;  // the machine is dead: nothing reaches the disk
    if (!IsSync(op)) return 0;
    if (++syncs == output_crash) {
      died = true;
      env.CrashAtOp(1, 7);  // the journal dies with it
      return EIO;
    }
    return 0;
  });
  if (journal_crash != 0) env.CrashAtSync(journal_crash);
  Outcome out;
  const Status s = Life(&env, dir.path(), &died).Run(kJobs, &out.job_of, &out.acked);
  if (!s.ok()) out.problems.push_back("first life: " + s.ToString());
  if (output_syncs) *output_syncs = syncs;
  if (journal_syncs) *journal_syncs = env.sync_calls();
  // Power loss: what was not synced is gone.
  env.SetFileOpHook(nullptr);
  std::mt19937 rng(uint32_t(output_crash * 1000 + journal_crash));
  REQUIRE(env.DropUnsyncedOutput().ok());
  REQUIRE(env.CrashAndDropUnsynced(FaultInjectionEnv::CrashMode::kDropUnsynced, &rng).ok());
  // Restart: replay the journal, write what it holds.
  std::set<uint64_t> unused_acked;
  std::map<uint64_t, int> unused_job_of;
  const Status again = Life(&env, dir.path()).Run(0, &unused_job_of, &unused_acked);
  if (!again.ok()) out.problems.push_back("restart: " + again.ToString());

  for (uint64_t id : out.acked) {
    const int j = out.job_of.at(id);
    bool whole = true;
    for (int i = 0; i < kImagesPerJob; ++i) {
      const std::string file = dir.path() + "/out/j" + std::to_string(j) + "/" + std::to_string(i) + ".png";
      if (!DecodesTo(file, j, i)) {
        whole = false;
        out.problems.push_back("acknowledged job " + std::to_string(id) + ": " + file + " missing or wrong");
      }
    }
    out.lost += !whole;
  }
  // The manifest names only files that exist, with their bytes.
  std::ifstream manifest(dir.path() + "/out/" + kManifestName);
  for (std::string line; std::getline(manifest, line);) {
    const size_t at = line.find("\"path\":\"");
    const size_t crc_at = line.find("\"crc32c\":");
    if (at == std::string::npos || crc_at == std::string::npos) {
      out.problems.push_back("manifest line unreadable: " + line);
      continue;
    }
    const std::string path = line.substr(at + 8, line.find('"', at + 8) - at - 8);
    const uint32_t crc = uint32_t(std::stoul(line.substr(crc_at + 10, 8), nullptr, 16));  // "%08x"
    const std::vector<uint8_t> bytes = ReadFile(dir.path() + "/out/" + path);
    if (bytes.empty() || journal::Crc32cOf(bytes.data(), bytes.size()) != crc) {
      out.problems.push_back("manifest names " + path + ", which is missing or differs");
    }
  }
  return out;
}

TEST_CASE("power loss at every sync point loses no acknowledged job and no manifest file",
          "[core][power-loss]") {
  uint64_t output_syncs = 0, journal_syncs = 0;
  const Outcome clean = RunScenario(0, 0, &output_syncs, &journal_syncs);
  REQUIRE(clean.problems.empty());
  REQUIRE(clean.acked.size() == size_t(kJobs));
  REQUIRE(output_syncs >= size_t(kJobs));
  // Group commit may make several jobs' records durable in one sync (7 syncs for 8 jobs were
  // seen under load): every sync point is still tried below, however many there are.
  REQUIRE(journal_syncs >= 1);
  size_t points = 0, acked = 0, lost = 0;
  for (uint64_t k = 1; k <= output_syncs + 1; ++k) {  // +1: past the last, nothing crashes
    CAPTURE(k);
    const Outcome o = RunScenario(k, 0);
    for (const std::string& p : o.problems) FAIL_CHECK(p);
    ++points;
    acked += o.acked.size();
    lost += size_t(o.lost);
  }
  for (uint64_t k = 1; k <= journal_syncs; ++k) {
    CAPTURE(k);
    const Outcome o = RunScenario(0, k);
    for (const std::string& p : o.problems) FAIL_CHECK(p);
    ++points;
    acked += o.acked.size();
    lost += size_t(o.lost);
  }
  WARN("power loss: " << points << " crash points (" << output_syncs << " output/manifest syncs, "
                      << journal_syncs << " journal syncs), " << acked
                      << " acknowledged jobs, " << lost << " lost");
  CHECK(lost == 0);
}

}  // namespace
}  // namespace imgsink::daemon
