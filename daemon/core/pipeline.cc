#include "daemon/core/pipeline.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "daemon/core/job_stages.h"
#include "daemon/journal/job_record.h"
#include "daemon/output/manifest.h"
#include "daemon/log/log.h"

namespace imgsink::daemon {

Pipeline::Pipeline(Options options, OutputSink* sink, journal::Journal* journal, Stats* stats,
                   Callbacks callbacks)
    : options_(options),
      sink_(sink),
      journal_(journal),
      stats_(stats),
      callbacks_(std::move(callbacks)),
      pool_(2 * std::max(options.workers, options.max_workers)),
      gate_(options.workers),
      workers_(options.workers) {
  for (unsigned i = 0; i < max_workers(); ++i) buffers_.push_back(std::make_unique<WorkerBuffers>());
  MutexLock lock(&buffers_mu_);
  for (const auto& b : buffers_) free_buffers_.push_back(b.get());
}

WorkerBuffers* Pipeline::TakeBuffers() {
  MutexLock lock(&buffers_mu_);
  WorkerBuffers* b = free_buffers_.back();
  free_buffers_.pop_back();
  return b;
}

void Pipeline::GiveBuffers(WorkerBuffers* buffers) {
  MutexLock lock(&buffers_mu_);
  free_buffers_.push_back(buffers);
}

void Pipeline::RunOnWorker(std::function<void()> stage) {
  boost::asio::post(pool_, [this, stage = std::move(stage)] {
    gate_.Acquire();
    UseWorkerBuffers(TakeBuffers());
    stage();
    GiveBuffers(UseWorkerBuffers(nullptr));
    gate_.Release();
  });
}

void Pipeline::SetWorkers(unsigned workers) {
  workers = std::max(1u, std::min(workers, max_workers()));
  workers_ = workers;
  gate_.SetLimit(workers);
}

Pipeline::~Pipeline() {
  Drain();
  Join();
}

void Pipeline::Submit(std::shared_ptr<daemon::Job> job) {
  {
    MutexLock lock(&mu_);
    ++in_flight_;
  }
  RunOnWorker([this, job] { Prepare(job); });
}

void Pipeline::Resume(std::shared_ptr<daemon::Job> job) {
  {
    MutexLock lock(&mu_);
    ++in_flight_;
  }
  job->journaled = true;
  RunOnWorker([this, job] { WriteRemaining(job); });
}

void Pipeline::Prepare(const std::shared_ptr<daemon::Job>& job) {
  stats_->in_progress.fetch_add(1, std::memory_order_relaxed);
  Status s;
  uint64_t rendered = 0;
  const auto started = std::chrono::steady_clock::now();
  try {
    s = RenderEncodeJob(job.get(), &rendered,
                        [this] { progress_.fetch_add(1, std::memory_order_relaxed); });
  } catch (const std::exception& e) {  // bad_alloc: fail this job, keep the daemon
    s = Status(ErrorCode::kInternal, std::string("render failed: ") + e.what());
  }
  if (!job->encoded.empty()) {
    job->encode_time_per_file = (std::chrono::steady_clock::now() - started) / job->encoded.size();
  }
  job->tensor = Bytes();  // the tensor frame goes back to libzmq / the allocator now
  // The job holds its files now.  What its charge held beyond the pixels (room to encode,
  // copies a sink stages while uploading) stays with them.
  uint64_t files = 0;
  for (const std::vector<uint8_t>& file : job->encoded) files += file.size();
  const uint64_t footprint = std::max(rendered, job->plan.footprint_bytes);
  SetHeld(job, files + (footprint - rendered));
  progress_.fetch_add(1, std::memory_order_relaxed);
  stats_->in_progress.fetch_sub(1, std::memory_order_relaxed);
  if (!s.ok()) return Finish(job, s);
  if (journal_ == nullptr) return WriteRemaining(job);
  Journal(job);
}

void Pipeline::SetHeld(const std::shared_ptr<daemon::Job>& job, uint64_t bytes) {
  const int64_t delta = int64_t(bytes) - int64_t(job->held_bytes);
  job->held_bytes = bytes;
  if (delta != 0) callbacks_.on_held_changed(job, delta);
}

void Pipeline::Journal(const std::shared_ptr<daemon::Job>& job) {
  std::vector<Bytes> pieces;
  pieces.push_back(Bytes::Own(
      journal::EncodeJobRecordPrefix(job->client, job->request, job->plan.paths, job->encoded)));
  for (const std::vector<uint8_t>& file : job->encoded) {  // in place: the record shares the job
    pieces.push_back(Bytes{file.data(), file.size(), job});
  }
  journal_->AppendAccepted(job->job_id, std::move(pieces), [this, job](const Status& s) {
    if (!s.ok()) {
      if (s.code() != ErrorCode::kShuttingDown) callbacks_.on_journal_failed(s);
      return Finish(job, s);
    }
    job->journaled = true;
    callbacks_.on_durable(job);
    RunOnWorker([this, job] { WriteRemaining(job); });
  });
}

Status Pipeline::CommitAside(SinkBatch* batch) {
  // While this stage waits for syncs (or an upload), another may use the core: the gate counts
  // stages that compute, and the pool has threads beyond it for this.
  struct Aside {
    Pipeline* p;
    explicit Aside(Pipeline* pipeline) : p(pipeline) {
      p->GiveBuffers(UseWorkerBuffers(nullptr));
      p->gate_.Release();
    }
    ~Aside() {  // back in the count, with a set of buffers, before the stage goes on
      p->gate_.Acquire();
      UseWorkerBuffers(p->TakeBuffers());
    }
  } aside(this);
  return batch->Commit();
}

OutputSink* Pipeline::SinkFor(const daemon::Job& job) const {
  return job.request.tensorboard && options_.tensorboard_sink != nullptr ? options_.tensorboard_sink
                                                                         : sink_;
}

void Pipeline::WriteRemaining(const std::shared_ptr<daemon::Job>& job) {
  OutputSink* const sink = SinkFor(*job);
  if (job->request.tensorboard && options_.tensorboard_sink == nullptr) {
    // A replayed tb save and a daemon restarted without --tensorboard-logdir.
    return Finish(job, Status(ErrorCode::kBadOption, "no --tensorboard-logdir for this tb save"));
  }
  stats_->in_progress.fetch_add(1, std::memory_order_relaxed);
  Status s;
  while (job->next_image < job->file_count()) {
    std::vector<WrittenFile> written;
    const auto started = std::chrono::steady_clock::now();
    try {
      // Aside only for files the job owns: a batch may point into the encode buffer.
      CommitFn commit;
      if (!job->encoded.empty()) commit = [this](SinkBatch* batch) { return CommitAside(batch); };
      s = WriteImageGroup(*job, job->next_image, sink,
                          [this] { progress_.fetch_add(1, std::memory_order_relaxed); }, &written,
                          commit);
    } catch (const std::exception& e) {
      s = Status(ErrorCode::kInternal, std::string("write failed: ") + e.what());
    }
    if (!s.ok()) break;
    OutputWrites();
    // The group's files are durable and in place only now: count them, and only now give them
    // manifest lines (a line must never name a file that a crash could still take back).
    const auto per_file = (std::chrono::steady_clock::now() - started) / written.size();
    for (const WrittenFile& file : written) {
      stats_->job_metrics.ImageWritten(job->plan.format, job->encode_time_per_file + per_file);
      stats_->files_written.fetch_add(1, std::memory_order_relaxed);
      stats_->bytes_written.fetch_add(file.bytes, std::memory_order_relaxed);
      if (sink->has_manifest()) {
        job->manifest_lines += ManifestLine(job->job_id, file, OutputFormatName(job->plan.format),
                                            job->request.metadata);
      }
    }
    job->next_image += written.size();
    job->write_tries = 0;
  }
  stats_->in_progress.fetch_sub(1, std::memory_order_relaxed);
  if (s.ok()) {
    ProbeGone(job.get());
    return FinishWritten(job);
  }
  const bool retryable = sink->IsRetryable(s);
  // Acknowledged means written: a condition that can pass never ends the job.
  if (retryable && WaitForOutput(job, s)) return;
  ProbeGone(job.get());
  if (retryable && job->journaled) {  // draining
    LogWarning("job " + std::to_string(job->job_id) + " left for replay at the next start: " +
               s.ToString());
    return Forget();
  }
  if (retryable) {  // draining, and nothing would replay it (--journal=off)
    s = Status(s.code(), s.message() + " (the daemon stopped while the output was blocked)");
  }
  if (sink->has_manifest() && !job->manifest_lines.empty()) {
    // The groups committed before the failure are durably in place: the manifest lists them.
    // (A job left for replay above gets none: the replay writes it again from the start.)
    return sink->AppendManifest(std::move(job->manifest_lines),
                             [this, job, s](const Status&) { Finish(job, s); });
  }
  Finish(job, s);
}

bool Pipeline::WaitForOutput(const std::shared_ptr<daemon::Job>& job, const Status& error) {
  int tries = 0;
  {
    MutexLock lock(&mu_);
    // Checked under mu_: Drain sets draining_ before it takes the parked jobs under mu_, so a
    // job parked here is one Drain will find.
    if (draining_) return false;
    if (!blocked_) {
      blocked_ = true;
      probe_tries_ = 0;
      LogError("output blocked, new credit stops; acknowledged jobs stay journaled and are "
               "written when it passes: " + error.ToString());
      // Under mu_: the block and unblock calls reach the callback in the order they happen.
      if (callbacks_.on_output_blocked) callbacks_.on_output_blocked(true, error);
    }
    retrying_.fetch_add(1, std::memory_order_relaxed);
    if (probe_ != nullptr && probe_ != job.get()) {
      parked_.push_back(job);
      return true;
    }
    probe_ = job.get();
    blocked_why_ = error;
    tries = ++probe_tries_;
  }
  ScheduleProbe(job, tries, error);
  return true;
}

void Pipeline::ScheduleProbe(const std::shared_ptr<daemon::Job>& job, int tries, const Status& error) {
  auto delay = options_.first_retry_delay * (int64_t{1} << std::min(tries - 1, 20));
  delay = std::min(delay, options_.max_retry_delay);
  const std::string line = "job " + std::to_string(job->job_id) + ": " + error.ToString() +
                           "; output blocked, try " + std::to_string(tries) + ", next in " +
                           std::to_string(delay.count()) + " ms";
  if (tries <= options_.write_tries) {
    LogWarning(line);
  } else if (tries % std::max(1, options_.write_tries) == 0) {
    LogError(line);
  }
  retries_.RunAt(DelayQueue::Clock::now() + delay, [this, job] {
    retrying_.fetch_sub(1, std::memory_order_relaxed);
    // Drain() runs every retry at once; WriteRemaining then sees draining_.
    RunOnWorker([this, job] { WriteRemaining(job); });
  });
  // A probe queued after Drain's RunAllNow must not wait out its delay: Drain set draining_
  // before that call, so it is seen here.
  if (draining_) retries_.RunAllNow();
}

void Pipeline::OutputWrites() {
  std::vector<std::shared_ptr<daemon::Job>> parked;
  {
    MutexLock lock(&mu_);
    if (!blocked_) return;
    blocked_ = false;
    blocked_why_ = Status::OK();
    probe_ = nullptr;  // a probe still on its timer just tries once more
    probe_tries_ = 0;
    parked.swap(parked_);
    if (callbacks_.on_output_blocked) callbacks_.on_output_blocked(false, Status::OK());
  }
  LogNotice("output writes again; " + std::to_string(parked.size()) + " waiting jobs resume");
  retrying_.fetch_sub(parked.size(), std::memory_order_relaxed);
  for (std::shared_ptr<daemon::Job>& waiting : parked) {
    RunOnWorker([this, waiting] { WriteRemaining(waiting); });
  }
}

void Pipeline::ProbeGone(const daemon::Job* job) {
  std::shared_ptr<daemon::Job> next;
  {
    MutexLock lock(&mu_);
    if (probe_ != job) return;
    probe_ = nullptr;
    if (parked_.empty()) return;
    next = std::move(parked_.back());
    parked_.pop_back();
    probe_ = next.get();  // tries at once; its failure keeps the backoff (probe_tries_)
  }
  retrying_.fetch_sub(1, std::memory_order_relaxed);
  RunOnWorker([this, next] { WriteRemaining(next); });
}

bool Pipeline::output_blocked(Status* why) const {
  MutexLock lock(&mu_);
  if (why != nullptr) *why = blocked_why_;
  return blocked_;
}

void Pipeline::FinishWritten(const std::shared_ptr<daemon::Job>& job) {
  OutputSink* const sink = SinkFor(*job);
  if (!sink->has_manifest()) return Finish(job, Status::OK());
  // The done event waits until the job's manifest lines are durable too.
  sink->AppendManifest(std::move(job->manifest_lines), [this, job](const Status& s) {
    if (!s.ok()) LogError("job " + std::to_string(job->job_id) + ": " + s.ToString());
    Finish(job, Status::OK());  // the files themselves are durable either way
  });
}

void Pipeline::Finish(const std::shared_ptr<daemon::Job>& job, const Status& status) {
  if (journal_ != nullptr && job->journaled) journal_->AppendDone(job->job_id, status);
  (status.ok() ? stats_->written : stats_->failed).fetch_add(1, std::memory_order_relaxed);
  stats_->job_metrics.JobEnded(status.code());
  if (status.ok() && !job->replayed) {
    stats_->job_metrics.JobDurable(std::chrono::steady_clock::now() - job->received);
  }
  if (!status.ok()) {
    LogError("job " + std::to_string(job->job_id) + " (" + job->request.path +
             ") failed: " + status.ToString());
  }
  callbacks_.on_done(job, status);
  Forget();
}

void Pipeline::Forget() {
  MutexLock lock(&mu_);
  if (--in_flight_ == 0) idle_cv_.NotifyAll();
}

void Pipeline::Drain() {
  draining_ = true;
  std::vector<std::shared_ptr<daemon::Job>> parked;
  {
    MutexLock lock(&mu_);
    parked.swap(parked_);
  }
  retrying_.fetch_sub(parked.size(), std::memory_order_relaxed);
  for (std::shared_ptr<daemon::Job>& waiting : parked) {
    RunOnWorker([this, waiting] { WriteRemaining(waiting); });
  }
  retries_.RunAllNow();
  MutexLock lock(&mu_);
  idle_cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return in_flight_ == 0; });
}

void Pipeline::Join() {
  if (joined_) return;
  joined_ = true;
  pool_.join();
}

uint64_t Pipeline::in_flight() const {
  MutexLock lock(&mu_);
  return in_flight_;
}

}  // namespace imgsink::daemon
