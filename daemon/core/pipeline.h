// Pipeline: the worker-pool side of a job's life.
//
//   Submit:  render + encode, one image at a time (tensor -> files' bytes; tensor freed)
//            -> [journal ACCEPTED holding the files, fdatasync] -> write
//   Resume:  (a job replayed from the journal)                                        -> write
//   write:   each file into a temp file (an ISJ1/ISJ2 record's images are encoded here), then
//            make a group of up to 64 files durable together and rename them into place
//            (WriteImageGroup)
//   end:     [journal DONE] -> Callbacks::on_done
//
// Acknowledged means written.  A group that fails for a condition that can pass (the sink's
// IsRetryable: ENOSPC, EDQUOT, EIO, a store that is down) never ends its job: the output is
// then *blocked* (Callbacks::on_output_blocked: the daemon stops granting credit and says why
// in its counters).  One job, the probe, tries again with exponential backoff (first_retry_delay
// doubling up to max_retry_delay); every other job that fails meanwhile is parked, journaled,
// holding its files.  The first group written by any job unblocks the output and
// sends every parked job back to the workers.  Only a job that can never succeed (bad path,
// encoder error) ends with its error.  Drain() ends the wait: a journaled job still blocked is
// left for replay at the next start; an unjournaled one (--journal=off) fails.
//
// Threading contract: stages run on the pool's threads; the journal's callback runs on the
// journal's writer thread and only hands the job back to the pool.  A job is owned by one
// thread at a time.  The callbacks are invoked from pool or journal threads and must hand off
// (SocketThread::Post) rather than touch socket-thread state.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "daemon/util/delay_queue.h"
#include "daemon/core/job.h"
#include "daemon/core/job_stages.h"
#include "daemon/core/stats.h"
#include "daemon/util/worker_gate.h"
#include "daemon/journal/journal.h"
#include "daemon/output/sink.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {

class Pipeline {
 public:
  struct Callbacks {
    // ACCEPTED synced (journal on)
    std::function<void(const std::shared_ptr<daemon::Job>&)> on_durable;
    // bytes held by the job changed by this delta
    std::function<void(const std::shared_ptr<daemon::Job>&, int64_t)> on_held_changed;
    std::function<void(const std::shared_ptr<daemon::Job>&, const Status&)> on_done;  // job ended
    std::function<void(const Status&)> on_journal_failed;  // the daemon must stop
    // The output became blocked (`blocked`, with the failure that blocked it) or writes again
    // (!blocked, OK).  Called from a worker thread, in order, once per change.  May be null.
    std::function<void(bool blocked, const Status& why)> on_output_blocked;
  };
  struct Options {
    // Stages computing at once (SetWorkers changes it live).  A stage waiting for its output's
    // syncs or upload (SinkBatch::Commit) does not count: the pool has twice max_workers()
    // threads, so another stage can use the core meanwhile.
    unsigned workers = 1;
    unsigned max_workers = 1;  // the most SetWorkers can allow
    // Failed tries of the blocked output logged as warnings; later ones are logged as errors,
    // one in every write_tries.  (Tries never end a job: see "Acknowledged means written".)
    int write_tries = 8;
    std::chrono::milliseconds first_retry_delay{100};
    std::chrono::milliseconds max_retry_delay{30000};
    // Where tb saves (SaveRequest::tensorboard) go; null: none are accepted.  Outlives the
    // pipeline, like the output sink.
    OutputSink* tensorboard_sink = nullptr;
  };

  // `journal` may be null (--journal=off).  It, the sink and stats must outlive the pipeline.
  Pipeline(Options options, OutputSink* sink, journal::Journal* journal, Stats* stats, Callbacks callbacks);
  ~Pipeline();  // Drain() and Join()

  // A new job: render, journal, write.  Thread-safe.
  void Submit(std::shared_ptr<daemon::Job> job);
  // A job recovered from the journal (already rendered and journaled): write.  Thread-safe.
  void Resume(std::shared_ptr<daemon::Job> job);

  // Stops waiting for a blocked output: a journaled job still blocked is left (the next start
  // replays it), an unjournaled one fails.  Then waits until every job has ended.  Owner thread only.
  void Drain();
  // Joins the worker threads.  REQUIRES: Drain() returned.  Owner thread only.
  void Join();

  // Lets `workers` stages run at once (clamped to 1..max_workers()).  Thread-safe.
  void SetWorkers(unsigned workers);
  unsigned max_workers() const { return std::max(options_.workers, options_.max_workers); }
  unsigned workers() const { return workers_.load(std::memory_order_relaxed); }

  // Jobs submitted or resumed and not yet ended.  Thread-safe.
  uint64_t in_flight() const;
  // Jobs waiting for the output to write again (the probe's timer and the parked jobs).
  // Thread-safe.
  uint64_t retrying() const { return retrying_.load(std::memory_order_relaxed); }
  // Returns true iff the output is blocked (see the file comment); *why (may be null) gets the
  // failure that blocked it.  Thread-safe.
  bool output_blocked(Status* why = nullptr) const;
  // Counts finished stages (render, each image encoded into its temp file, job ended); it moves
  // while workers make progress.  Thread-safe.
  uint64_t progress() const { return progress_.load(std::memory_order_relaxed); }

 private:
  void RunOnWorker(std::function<void()> stage);  // on a pool thread, through the gate
  // Commits `batch` outside the gate (the stage only waits meanwhile), its WorkerBuffers
  // handed back for that time.  Worker thread only.
  Status CommitAside(SinkBatch* batch);
  // A free set of WorkerBuffers / gives one back.  REQUIRES: the caller holds the gate (so one
  // is free: stages holding the gate <= max_workers() = buffers_.size()).
  WorkerBuffers* TakeBuffers() EXCLUDES(buffers_mu_);
  void GiveBuffers(WorkerBuffers* buffers) EXCLUDES(buffers_mu_);
  void Prepare(const std::shared_ptr<daemon::Job>& job);
  void SetHeld(const std::shared_ptr<daemon::Job>& job, uint64_t bytes);  // on_held_changed
  void Journal(const std::shared_ptr<daemon::Job>& job);
  void WriteRemaining(const std::shared_ptr<daemon::Job>& job);
  // A group of `job` failed with the retryable `error`: the job becomes the probe (scheduled
  // with backoff) or is parked.
  // Returns false iff draining (the caller ends the job or leaves it for replay).
  bool WaitForOutput(const std::shared_ptr<daemon::Job>& job, const Status& error) EXCLUDES(mu_);
  // A group was written: unblocks the output and sends every parked job back to the workers.
  void OutputWrites() EXCLUDES(mu_);
  // `job` ended, or was left for replay: if it was the probe, a parked job takes its place.
  void ProbeGone(const daemon::Job* job) EXCLUDES(mu_);
  void ScheduleProbe(const std::shared_ptr<daemon::Job>& job, int tries, const Status& error);
  void FinishWritten(const std::shared_ptr<daemon::Job>& job);  // every file written: manifest, then end
  void Finish(const std::shared_ptr<daemon::Job>& job, const Status& status);
  void Forget();  // one job less in flight
  OutputSink* SinkFor(const daemon::Job& job) const;  // tb saves: the TensorBoard sink

  const Options options_;
  OutputSink* const sink_;
  journal::Journal* const journal_;
  Stats* const stats_;
  const Callbacks callbacks_;
  // One set of buffers per worker that may run, however many pool threads wait in commits:
  // idle memory is bounded by workers, not threads.  Fixed after construction.
  std::vector<std::unique_ptr<WorkerBuffers>> buffers_;
  Mutex buffers_mu_;
  std::vector<WorkerBuffers*> free_buffers_ GUARDED_BY(buffers_mu_);
  boost::asio::thread_pool pool_;
  WorkerGate gate_;
  std::atomic<unsigned> workers_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> retrying_{0};
  std::atomic<uint64_t> progress_{0};

  mutable Mutex mu_;
  CondVar idle_cv_;
  uint64_t in_flight_ GUARDED_BY(mu_) = 0;
  // The blocked output (see the file comment).
  bool blocked_ GUARDED_BY(mu_) = false;
  Status blocked_why_ GUARDED_BY(mu_);
  const daemon::Job* probe_ GUARDED_BY(mu_) = nullptr;  // the job trying again; null: none yet
  int probe_tries_ GUARDED_BY(mu_) = 0;                 // consecutive failed tries while blocked
  std::vector<std::shared_ptr<daemon::Job>> parked_ GUARDED_BY(mu_);
  bool joined_ = false;
  DelayQueue retries_;  // destroyed first: its pending tasks post to pool_
};

}  // namespace imgsink::daemon
