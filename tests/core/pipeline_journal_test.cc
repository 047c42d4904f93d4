// Pipeline with the journal on: a job is encoded before it is journaled, so its ACCEPTED record
// holds the files' bytes (ISJ3), not the rendered pixels; its charge falls from the pixels to
// the files once encoded; and a job left for replay is written from its record byte for byte.
#include <catch.hpp>

#include <errno.h>
#include <png.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/core/pipeline.h"
#include "daemon/core/replayed_job.h"
#include "daemon/journal/job_record.h"
#include "daemon/validate/validate.h"
#include "fault_injection_env.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using testing::FaultInjectionEnv;
using testing::FileOp;

constexpr int kImages = 16;
constexpr int kSide = 64;  // 64x64 RGB: 12 KiB of pixels each, a few hundred bytes as PNG

uint8_t Pixel(int image, int y, int x, int c) { return uint8_t(image * 9 + (x / 8) * 20 + y / 16 + c); }

std::shared_ptr<Job> NewJob(journal::Journal* journal) {
  auto job = std::make_shared<Job>();
  job->request.dtype = DType::kUint8;
  job->request.shape = {kImages, kSide, kSide, 3};
  job->request.layout = Layout::kNHWC;
  job->request.mode = OutputMode::kEach;
  job->request.path = "s/{index:02d}.png";
  std::vector<uint8_t> tensor;
  for (int i = 0; i < kImages; ++i) {
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        for (int c = 0; c < 3; ++c) tensor.push_back(Pixel(i, y, x, c));
      }
    }
  }
  REQUIRE(ValidateSave(job->request, tensor.size(), {}, &job->plan).ok());
  job->held_bytes = std::max<uint64_t>(tensor.size(), job->plan.footprint_bytes);  // as admission
  job->tensor = Bytes::Own(std::move(tensor));
  job->job_id = journal->AllocateJobId();
  job->client = "c";
  return job;
}

// Returns true iff `bytes` is a PNG of image `i`'s pixels.
bool DecodesTo(const std::vector<uint8_t>& bytes, int i) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) return false;
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  const bool read = image.width == kSide && image.height == kSide &&
                    png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr);
  if (!read) {
    png_image_free(&image);
    return false;
  }
  size_t k = 0;
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) {
      for (int c = 0; c < 3; ++c) {
        if (pixels[k++] != Pixel(i, y, x, c)) return false;
      }
    }
  }
  return true;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// One daemon life: a journal and a local sink in `dir` through `env`, a pipeline over them.
struct Life {
  Life(FaultInjectionEnv* env, const std::string& dir) {
    journal::JournalOptions jo;
    jo.dir = dir + "/journal";
    journal::RecoveryReport report;
    REQUIRE(journal::Journal::Open(env, jo, &pending, &report, &journal).ok());
    SinkOptions so;
    so.root = dir + "/out";
    so.env = env;
    REQUIRE(OpenOutputSink(so, &sink).ok());
    Pipeline::Callbacks cb;
    cb.on_durable = [this](const std::shared_ptr<Job>&) { ++durable; };
    cb.on_held_changed = [this](const std::shared_ptr<Job>& job, int64_t delta) {
      std::lock_guard<std::mutex> lock(mu);
      held.push_back(job->held_bytes);
      (void)delta;
    };
    cb.on_done = [this](const std::shared_ptr<Job>&, const Status& s) {
      if (s.ok()) ++done;
    };
    cb.on_journal_failed = [](const Status&) {};
    Pipeline::Options po;
    po.first_retry_delay = std::chrono::milliseconds(1);
    po.max_retry_delay = std::chrono::milliseconds(2);
    pipeline = std::make_unique<Pipeline>(po, sink.get(), journal.get(), &stats, cb);
  }
  ~Life() {
    pipeline.reset();  // drains: a journaled job still blocked is left for replay
    sink.reset();
    journal->Close();
  }
  bool WaitFor(const std::function<bool()>& cond) {
    for (int i = 0; i < 30000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return cond();
  }

  std::vector<journal::RecoveredJob> pending;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<OutputSink> sink;
  Stats stats;
  std::unique_ptr<Pipeline> pipeline;
  std::atomic<int> durable{0}, done{0};
  std::mutex mu;
  std::vector<uint64_t> held;  // held_bytes after each change
};

TEST_CASE("the journal holds a job's encoded files, and its charge falls to them once encoded",
          "[pipeline][journal]") {
  testutil::TempDir dir("pipeline-journal");
  FaultInjectionEnv env(DefaultEnv());
  const uint64_t pixels = uint64_t(kImages) * kSide * kSide * 3;
  {
    Life life(&env, dir.path());
    life.pipeline->Submit(NewJob(life.journal.get()));
    REQUIRE(life.WaitFor([&] { return life.done == 1; }));
    CHECK(life.durable == 1);
    // The record of 196 KiB of pixels: the files are a few hundred bytes each.
    CHECK(life.journal->bytes_on_disk() < pixels / 8);
    std::lock_guard<std::mutex> lock(life.mu);
    // Charged the pixels (and encode room) at admission; once encoded, the files and the
    // room only (16 x a few hundred bytes + 12 KiB).
    REQUIRE(!life.held.empty());
    CHECK(life.held.back() < pixels / 4);
  }
  for (int i = 0; i < kImages; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "s/%02d.png", i);
    CHECK(DecodesTo(ReadFile(dir.path() + "/out/" + name), i));
  }
}

TEST_CASE("a job left for replay is written from its record's files, byte for byte",
          "[pipeline][journal]") {
  testutil::TempDir dir("pipeline-replay");
  FaultInjectionEnv env(DefaultEnv());
  std::atomic<bool> disk_full{true};
  env.SetFileOpHook([&](FileOp op, const std::string&) {
    return disk_full && op == FileOp::kWrite ? ENOSPC : 0;
  });
  {
    Life life(&env, dir.path());
    life.pipeline->Submit(NewJob(life.journal.get()));
    REQUIRE(life.WaitFor([&] { return life.durable == 1 && life.pipeline->output_blocked(); }));
  }  // the daemon stops while the disk is full: the acknowledged job stays in the journal
  disk_full = false;
  Life life(&env, dir.path());
  REQUIRE(life.pending.size() == 1);
  journal::JobRecord record;
  REQUIRE(DecodeJobRecord(life.pending[0].payload.data, life.pending[0].payload.size, &record).ok());
  CHECK(record.images.empty());
  REQUIRE(record.files.size() == size_t(kImages));
  for (int i = 0; i < kImages; ++i) CHECK(DecodesTo(record.files[size_t(i)], i));
  const std::vector<std::vector<uint8_t>> files = record.files;
  life.pipeline->Resume(ReplayedJob(life.pending[0].job_id, std::move(record)));
  REQUIRE(life.WaitFor([&] { return life.done == 1; }));
  for (int i = 0; i < kImages; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "s/%02d.png", i);
    CHECK(ReadFile(dir.path() + "/out/" + name) == files[size_t(i)]);
  }
}

TEST_CASE("a job waiting for its output's syncs lets the next job use the worker",
          "[pipeline][journal]") {
  testutil::TempDir dir("pipeline-aside");
  FaultInjectionEnv env(DefaultEnv());
  std::atomic<Life*> current{nullptr};
  std::atomic<bool> in_sync{false}, second_ran{false};
  env.SetFileOpHook([&](FileOp op, const std::string& path) {
    Life* life = current.load();
    const bool output_sync = (op == FileOp::kSyncFs || op == FileOp::kSyncFile) &&
                             path.find("journal") == std::string::npos;
    if (life == nullptr || !output_sync || in_sync.exchange(true)) return 0;
    // The first job's first output sync waits (up to 10 s) for a second job, submitted only
    // now, to be rendered, encoded and journaled: on the one worker, which only this wait can
    // have left free.
    for (int i = 0; i < 10000 && life->durable < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    second_ran = life->durable >= 2;
    return 0;
  });
  Life life(&env, dir.path());  // workers = 1
  current = &life;
  life.pipeline->Submit(NewJob(life.journal.get()));
  REQUIRE(life.WaitFor([&] { return in_sync.load(); }));
  life.pipeline->Submit(NewJob(life.journal.get()));
  REQUIRE(life.WaitFor([&] { return life.done == 2; }));
  CHECK(second_ran);
}

}  // namespace
}  // namespace imgsink::daemon
