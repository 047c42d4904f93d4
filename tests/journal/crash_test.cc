// Crash and fault tests with FaultInjectionEnv: every acknowledged job survives power loss at
// any point; the same harness catches a journal that acknowledges before fdatasync; injected
// write/sync errors fail the journal for good.
#include <catch.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "daemon/journal/journal.h"
#include "fault_injection_env.h"
#include "test_util.h"

namespace imgsink::daemon::journal::testing {
namespace {

using imgsink::daemon::testing::FaultInjectionEnv;
using CrashMode = FaultInjectionEnv::CrashMode;

// What the "clients" were told, shared by the appender threads and the writer's callbacks.
class Model {
 public:
  void Attempt(uint64_t id, std::vector<uint8_t> payload) {
    std::lock_guard<std::mutex> l(mu_);
    CHECK(acked_.count(id) == 0);  // an acknowledged id is never handed out again
    attempted_[id] = std::move(payload);
  }
  void Acked(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    acked_.insert(id);
  }
  // A DONE was appended: the job may be absent after a crash even if the DONE was not acked.
  void DoneRequested(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    done_requested_.insert(id);
  }
  void DoneDurable(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    done_.insert(id);
  }
  void Callback() { ++callbacks_; }
  void Appended() { ++appends_; }
  const std::vector<uint8_t>& payload(uint64_t id) const { return attempted_.at(id); }

  // Checks recovery against what was acknowledged; returns the number of acknowledged jobs
  // missing from `pending` that were never asked to be DONE (0 for a correct journal).
  size_t Verify(const std::vector<RecoveredJob>& pending, uint64_t next_job_id) {
    std::lock_guard<std::mutex> l(mu_);
    std::set<uint64_t> got;
    for (const RecoveredJob& job : pending) {
      CHECK(got.insert(job.job_id).second);  // no duplicates
      CHECK(done_.count(job.job_id) == 0);   // a durable DONE is never replayed
      auto it = attempted_.find(job.job_id);
      REQUIRE(it != attempted_.end());       // nothing invented
      CHECK(PayloadOf(job) == it->second);   // exact bytes
      CHECK(job.job_id < next_job_id);
    }
    size_t lost = 0;
    for (uint64_t id : acked_) {
      if (done_requested_.count(id) == 0 && got.count(id) == 0) ++lost;
    }
    // Replayed jobs are durable now: they count as acknowledged from here on.
    for (uint64_t id : got) acked_.insert(id);
    return lost;
  }
  bool AllCallbacksCalled() const { return callbacks_ == appends_; }

 private:
  std::mutex mu_;
  std::map<uint64_t, std::vector<uint8_t>> attempted_;
  std::set<uint64_t> acked_, done_, done_requested_;
  std::atomic<uint64_t> callbacks_{0}, appends_{0};
};

struct Workload {
  int threads = 4;
  int jobs_per_thread = 30;
  bool wait_each = false;   // one job in flight per thread (else pipelined)
  bool with_done = true;    // DONE every third acknowledged job, from its callback
  uint32_t seed = 0;
};

// Appends until done or until the journal fails.  Returns after every append has been made
// (not necessarily answered: Close() answers the rest).
void RunAppenders(Journal* j, Model* model, const Workload& w) {
  std::vector<std::thread> threads;
  for (int t = 0; t < w.threads; ++t) {
    threads.emplace_back([=] {
      std::mt19937 rng(w.seed * 131 + uint32_t(t));
      for (int i = 0; i < w.jobs_per_thread; ++i) {
        uint64_t id = j->AllocateJobId();
        std::vector<uint8_t> payload = PayloadFor(id, rng() % 700, w.seed);
        model->Attempt(id, payload);
        auto answered = std::make_shared<std::promise<void>>();
        auto on_durable = [=](const Status& s) {
          if (s.ok()) {
            model->Acked(id);
            if (w.with_done && id % 3 == 0) {
              model->DoneRequested(id);
              model->Appended();
              j->AppendDone(id, Status::OK(), [=](const Status& d) {
                if (d.ok()) model->DoneDurable(id);
                model->Callback();
              });
            }
          }
          model->Callback();
          answered->set_value();
        };
        model->Appended();
        j->AppendAccepted(id, {Bytes::Own(std::move(payload))}, on_durable);
        if (w.wait_each) answered->get_future().wait();
        if (!j->health().ok()) break;
      }
    });
  }
  for (auto& th : threads) th.join();
}

TEST_CASE("crash: every acknowledged job survives a crash at a random point") {
  constexpr int kTrials = 40;
  const CrashMode kModes[] = {CrashMode::kDropUnsynced, CrashMode::kKeepRandomPrefix,
                              CrashMode::kZeroUnsynced, CrashMode::kGarbageUnsynced};
  size_t crashes = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    CAPTURE(trial);
    // Decisions come from `ctl` alone, so they do not depend on thread timing.
    std::mt19937 ctl{uint32_t(trial)};
    std::mt19937 drop_rng{uint32_t(trial) + 1000};
    TempDir dir;
    FaultInjectionEnv env(DefaultEnv());
    JournalOptions options;
    options.dir = dir.path();
    options.segment_bytes = 2048 + ctl() % 4096;  // small: rollover and compaction happen
    Model model;
    for (int cycle = 0; cycle < 3; ++cycle) {
      CAPTURE(cycle);
      Opened o;
      if (cycle > 0 && ctl() % 3 == 0) {  // crash again while recovering
        env.CrashAtOp(1 + ctl() % 8, ctl());
        o = OpenJournal(&env, options);
        if (!o.status.ok()) {
          REQUIRE(env.crashed());
          REQUIRE(env.CrashAndDropUnsynced(kModes[ctl() % 4], &drop_rng).ok());
        }
      }
      if (o.journal == nullptr) o = OpenJournal(&env, options);
      REQUIRE(o.status.ok());
      CHECK(o.report.skipped_corrupt == 0);
      CHECK(model.Verify(o.pending, o.journal->next_job_id()) == 0);
      // Finish some of the replayed jobs.
      for (const RecoveredJob& job : o.pending) {
        if (job.job_id % 2 == 0) {
          model.DoneRequested(job.job_id);
          model.Appended();
          Model* m = &model;
          o.journal->AppendDone(job.job_id, Status::OK(), [m, id = job.job_id](const Status& s) {
            if (s.ok()) m->DoneDurable(id);
            m->Callback();
          });
        }
      }
      Workload w;
      w.seed = uint32_t(trial * 10 + cycle);
      // One job in flight per thread guarantees >= 30 batches (>= 60 file operations).
      w.wait_each = ctl() % 2 == 0;
      env.CrashAtOp(1 + ctl() % 120, ctl());
      RunAppenders(o.journal.get(), &model, w);
      crashes += env.crashed() ? 1 : 0;
      o.journal.reset();  // Close: answers everything still queued
      CHECK(model.AllCallbacksCalled());
      REQUIRE(env.CrashAndDropUnsynced(kModes[ctl() % 4], &drop_rng).ok());
    }
    Opened o = OpenJournal(&env, options);
    REQUIRE(o.status.ok());
    CHECK(model.Verify(o.pending, o.journal->next_job_id()) == 0);
  }
  CHECK(crashes > 0);
}

// Crashes at the n-th fdatasync of a run where every batch holds acknowledged ACCEPTED records
// (one job in flight per thread, no DONE, no rollover); returns the acknowledged jobs lost.
size_t LostAfterCrashAtSync(bool unsafe_ack, uint64_t n, uint32_t seed) {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  JournalOptions options;
  options.dir = dir.path();
  options.unsafe_ack_before_sync_for_tests = unsafe_ack;
  Model model;
  Opened o = OpenJournal(&env, options);
  REQUIRE(o.status.ok());
  env.CrashAtSync(n);
  Workload w;
  w.threads = 3;
  w.jobs_per_thread = 20;  // >= 20 batches: the n-th sync (n <= 20) is always reached
  w.wait_each = true;
  w.with_done = false;
  w.seed = seed;
  RunAppenders(o.journal.get(), &model, w);
  REQUIRE(env.crashed());
  o.journal.reset();
  REQUIRE(env.CrashAndDropUnsynced(CrashMode::kDropUnsynced, nullptr).ok());
  Opened again = OpenJournal(&env, options);
  REQUIRE(again.status.ok());
  return model.Verify(again.pending, again.journal->next_job_id());
}

TEST_CASE("crash: the harness detects a journal that acknowledges before fdatasync") {
  for (uint32_t trial = 0; trial < 10; ++trial) {
    uint64_t n = 1 + trial * 2;
    CAPTURE(trial, n);
    CHECK(LostAfterCrashAtSync(/*unsafe_ack=*/false, n, trial) == 0);
    // The crashing sync's batch was acknowledged and then lost: the harness must see it.
    CHECK(LostAfterCrashAtSync(/*unsafe_ack=*/true, n, trial) > 0);
  }
}

TEST_CASE("crash: a new segment whose directory entry was never synced vanishes safely") {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  JournalOptions options;
  options.dir = dir.path();
  options.segment_bytes = 1024;
  {
    Opened o = OpenJournal(&env, options);
    REQUIRE(o.status.ok());
    REQUIRE(AcceptAndWait(o.journal.get(), 1, PayloadFor(1, 300)).ok());
    // Job 2's batch seals segment 1; then segment 2 is created: NewWritableFile, Append,
    // Sync, SyncDir.  Die at the SyncDir (op 4 after the batch's Append and Sync).
    env.CrashAtOp(2 + 4, 7);
    REQUIRE(AcceptAndWait(o.journal.get(), 2, PayloadFor(2, 900)).ok());
    REQUIRE(o.journal->Flush().code() == ErrorCode::kJournalFailed);
    CHECK(env.crashed());
  }
  CHECK(SegmentFiles(dir.path()).size() == 2);
  REQUIRE(env.CrashAndDropUnsynced(CrashMode::kDropUnsynced, nullptr).ok());
  CHECK(SegmentFiles(dir.path()).size() == 1);  // segment 2's entry was never durable
  Opened o = OpenJournal(&env, options);
  REQUIRE(o.status.ok());
  CHECK(PendingIds(o.pending) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("faults: a failed fdatasync fails the batch and every later append, without retry") {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  JournalOptions options;
  options.dir = dir.path();
  Opened o = OpenJournal(&env, options);
  REQUIRE(o.status.ok());
  Journal* j = o.journal.get();
  REQUIRE(AcceptAndWait(j, 1, PayloadFor(1, 10)).ok());
  CHECK(j->health().ok());

  env.FailNextSync();
  Status second = AcceptAndWait(j, 2, PayloadFor(2, 10));
  CHECK(second.code() == ErrorCode::kJournalFailed);
  CHECK(second.message().find("fdatasync") != std::string::npos);
  const uint64_t syncs_after_failure = env.sync_calls();

  Status health = j->health();
  CHECK(health.code() == ErrorCode::kJournalFailed);
  CHECK(j->counters().failed);
  Status third = AcceptAndWait(j, 3, PayloadFor(3, 10));  // answered inline
  CHECK(third.code() == ErrorCode::kJournalFailed);
  CHECK(DoneAndWait(j, 1).code() == ErrorCode::kJournalFailed);
  CHECK(j->Close().code() == ErrorCode::kJournalFailed);
  CHECK(env.sync_calls() == syncs_after_failure);  // never retried
  o.journal.reset();

  Opened again = OpenJournal(&env, options);
  REQUIRE(again.status.ok());
  std::vector<uint64_t> ids = PendingIds(again.pending);
  CHECK(ids.front() == 1);            // acknowledged: must be there
  CHECK(std::count(ids.begin(), ids.end(), 3) == 0);  // never written
}

TEST_CASE("faults: a failed write fails the batch and the journal") {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  JournalOptions options;
  options.dir = dir.path();
  Opened o = OpenJournal(&env, options);
  REQUIRE(o.status.ok());
  const uint64_t syncs_before = env.sync_calls();
  env.FailNextAppend();
  Status s = AcceptAndWait(o.journal.get(), 1, PayloadFor(1, 10));
  CHECK(s.code() == ErrorCode::kJournalFailed);
  CHECK(env.sync_calls() == syncs_before);  // no sync after a failed write
  CHECK(o.journal->health().code() == ErrorCode::kJournalFailed);
  CHECK(AcceptAndWait(o.journal.get(), 2, {}).code() == ErrorCode::kJournalFailed);
}

}  // namespace
}  // namespace imgsink::daemon::journal::testing
