// Pipeline: the worker-pool side of a job's life.
//
//   Submit:  render (tensor -> pixels, tensor freed) -> [journal ACCEPTED, fdatasync] -> write
//   Resume:  (a job replayed from the journal)                                        -> write
//   write:   encode each image into a temp file, then make a group of up to 64 files durable
//            together and rename them into place (WriteImageGroup); a failed group that may
//            succeed later (ENOSPC, EIO) is written again with exponential backoff, up to
//            write_tries attempts
//   end:     [journal DONE] -> Callbacks::on_done
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
  };
  struct Options {
    unsigned workers = 1;      // stages running at once (SetWorkers changes it live)
    unsigned max_workers = 1;  // pool threads: the most SetWorkers can allow
    int write_tries = 8;  // attempts per group of files before the job fails
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

  // Stops retrying: a journaled job waiting for a retry is abandoned (the next start replays
  // it), an unjournaled one fails.  Then waits until every job has ended.  Owner thread only.
  void Drain();
  // Joins the worker threads.  REQUIRES: Drain() returned.  Owner thread only.
  void Join();

  // Lets `workers` stages run at once (clamped to 1..max_workers()).  Thread-safe.
  void SetWorkers(unsigned workers);
  unsigned max_workers() const { return std::max(options_.workers, options_.max_workers); }
  unsigned workers() const { return workers_.load(std::memory_order_relaxed); }

  // Jobs submitted or resumed and not yet ended.  Thread-safe.
  uint64_t in_flight() const;
  // Jobs waiting for a write retry.  Thread-safe.
  uint64_t retrying() const { return retrying_.load(std::memory_order_relaxed); }
  // Counts finished stages (render, each image encoded into its temp file, job ended); it moves
  // while workers make progress.  Thread-safe.
  uint64_t progress() const { return progress_.load(std::memory_order_relaxed); }

 private:
  void RunOnWorker(std::function<void()> stage);  // on a pool thread, through the gate
  void Prepare(const std::shared_ptr<daemon::Job>& job);
  void Journal(const std::shared_ptr<daemon::Job>& job);
  void WriteRemaining(const std::shared_ptr<daemon::Job>& job);
  void ScheduleRetry(const std::shared_ptr<daemon::Job>& job, const Status& error);
  void FinishWritten(const std::shared_ptr<daemon::Job>& job);  // every file written: manifest, then end
  void Finish(const std::shared_ptr<daemon::Job>& job, const Status& status);
  void Forget();  // one job less in flight
  OutputSink* SinkFor(const daemon::Job& job) const;  // tb saves: the TensorBoard sink

  const Options options_;
  OutputSink* const sink_;
  journal::Journal* const journal_;
  Stats* const stats_;
  const Callbacks callbacks_;
  boost::asio::thread_pool pool_;
  WorkerGate gate_;
  std::atomic<unsigned> workers_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> retrying_{0};
  std::atomic<uint64_t> progress_{0};

  mutable Mutex mu_;
  CondVar idle_cv_;
  uint64_t in_flight_ GUARDED_BY(mu_) = 0;
  bool joined_ = false;
  DelayQueue retries_;  // destroyed first: its pending tasks post to pool_
};

}  // namespace imgsink::daemon
