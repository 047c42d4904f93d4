#include "daemon/core/server.h"

#include <algorithm>
#include <thread>

#include "daemon/config/startup_checks.h"
#include "daemon/core/replayed_job.h"
#include "daemon/env/io_error.h"
#include "daemon/journal/job_record.h"
#include "daemon/log/log.h"
#include "daemon/output/output_root.h"
#include "daemon/output/tb_sink.h"
#include "daemon/output/tee_sink.h"
#include "daemon/socket/zap_handler.h"

namespace imgsink::daemon {
namespace {

// Room for the header frame on top of the largest tensor frame (PROTOCOL.md "Limits").
constexpr uint64_t kHeaderRoom = 64 * 1024;

// The largest tensor frame a connection may deliver: what the largest grant could cover.
// libzmq applies ZMQ_MAXMSGSIZE to a connection when it opens, so it is fixed at start: a
// reload that raises the memory budget does not raise it (issue 12, row 4: a peer sending
// more than any credit covers is cut off before its frame is received whole).
uint64_t MaxTensorFrame(const DaemonOptions& started) {
  return std::min(started.max_request_bytes, started.memory_budget);
}

// `started`: the options the daemon started with (for the frame limit).
CreditLedger::Budgets BudgetsOf(const DaemonOptions& o, const DaemonOptions& started) {
  CreditLedger::Budgets b;
  b.memory_bytes = o.memory_budget;
  b.journal_bytes = o.journal ? o.journal_budget : 0;
  b.max_request_bytes = std::min(o.max_request_bytes, MaxTensorFrame(started));
  b.credit_ttl = std::chrono::milliseconds(o.credit_ttl_ms);
  return b;
}

}  // namespace

Server::Server(DaemonOptions options, std::function<void(const Status&)> on_fatal)
    : options_(std::move(options)), on_fatal_(std::move(on_fatal)) {
  memory_budget_ = options_.memory_budget;
  journal_budget_ = options_.journal ? options_.journal_budget : 0;
}

Status Server::StartSocket() {
  SocketOptions socket_options;
  std::vector<std::string> endpoints = options_.listen;
  for (const InheritedSocket& inherited : options_.inherited_sockets) {
    socket_options.inherited_fds[inherited.endpoint] = inherited.fd;
    if (std::find(endpoints.begin(), endpoints.end(), inherited.endpoint) == endpoints.end()) {
      endpoints.push_back(inherited.endpoint);
    }
  }
  for (const std::string& e : endpoints) {
    const bool curve = IsTcpEndpoint(e) && !options_.curve_secret_key.empty();
    (curve ? socket_options.curve_endpoints : socket_options.endpoints).push_back(e);
  }
  socket_options.max_frame_bytes = MaxTensorFrame(options_) + kHeaderRoom;
  socket_options.send_hwm = int(options_.max_pending_replies);
  if (!options_.ipc_mode.empty()) {
    socket_options.ipc_mode = int(std::strtoul(options_.ipc_mode.c_str(), nullptr, 8));
  }
  socket_options.ipc_group = options_.ipc_group;
  if (!socket_options.curve_endpoints.empty()) {
    Status s = LoadKeyFile(options_.curve_secret_key, &socket_options.curve_secret_key);
    std::set<std::string> allowed;
    if (s.ok()) s = LoadPublicKeys(options_.curve_allowed_keys, &allowed);
    if (!s.ok()) return s;
    LogNotice("CURVE on tcp endpoints; " + std::to_string(allowed.size()) + " client keys allowed");
    zap_ = std::make_unique<ZapHandler>(&context_, std::move(allowed));
    s = zap_->Start();
    if (!s.ok()) return s;
  }
  socket_ = std::make_unique<SocketThread>(
      &context_, socket_options,
      [this](IncomingMessage&& msg) { handler_->OnMessage(std::move(msg)); },
      [this](SocketThread::Clock::time_point now) { return handler_->OnTimer(now); });
  daemon::RequestHandler::Options handler_options;
  handler_options.limits.max_request_bytes = options_.max_request_bytes;
  handler_options.limits.max_pixels_per_image = options_.max_pixels_per_image;
  handler_options.limits.paths = path_rules_;
  handler_options.limits.tensorboard = tensorboard_ != nullptr;
  handler_options.limits.tensorboard_paths = tensorboard_paths_;
  handler_options.limits.max_files_per_request = options_.max_files_per_request;
  handler_options.limits.max_metadata_bytes = options_.max_metadata_bytes;
  handler_options.limits.staged_copies = output_->copies_in_ram();  // S3 uploads' copies
  handler_options.limits.staged_files = kMaxBatchFiles;
  handler_options.limits.max_copy_room_bytes = kMaxCopyRoomBytes;
  handler_options.budgets = BudgetsOf(options_, options_);
  daemon::RequestHandler::Parts parts;
  parts.socket = socket_.get();
  parts.pipeline = pipeline_.get();
  parts.journal = journal_.get();
  if (options_.shm && !socket_options.endpoints.empty()) {
    ShmRegistry::Options shm_options;
    shm_options.ipc_mode = socket_options.ipc_mode;
    shm_options.ipc_group = socket_options.ipc_group;
    shm_ = std::make_unique<ShmRegistry>(socket_.get(), shm_options);
    parts.shm = shm_.get();
  }
  parts.stats = &stats_;
  parts.counters = [this] { return Counters(); };
  handler_ = std::make_unique<daemon::RequestHandler>(handler_options, std::move(parts));
  Status s = socket_->Start();  // the handler runs from here on
  // After Start: it created the ipc socket files' directories.  A daemon without side sockets
  // (e.g. the directory is not writable) still serves every client through the frames.
  if (s.ok() && shm_) {
    Status listened = shm_->Listen(socket_options.endpoints);
    if (!listened.ok()) LogWarning("no shared-memory hand-off: " + listened.ToString());
  }
  return s;
}

Server::~Server() { Stop(); }

Status Server::Start() {
  Status s = MakePathRules(&path_rules_);
  if (!s.ok()) return s;
  if (options_.journal) {
    // Every local root, not only the first: an absolute save beneath any root could replace
    // the journal's files.
    for (const std::string& root : path_rules_.roots) {
      s = CheckJournalApart(options_.journal_dir, root);
      if (!s.ok()) return s;
    }
  }
  SinkOptions sink_options;
  sink_options.root = options_.output_root;
  sink_options.paths = path_rules_;
  sink_options.sync = options_.output_sync;
  sink_options.manifest = options_.manifest;
  sink_options.s3 = options_.s3;
  sink_options.s3.state_dir = options_.journal ? options_.journal_dir : std::string();
  s = OpenOutputSink(sink_options, &output_);
  if (!s.ok()) return s;
  if (!options_.outputs.empty()) {  // --output: more sinks, every file goes to each
    std::vector<std::unique_ptr<OutputSink>> sinks;
    sinks.push_back(std::move(output_));
    for (const std::string& root : options_.outputs) {
      sink_options.root = root;
      sinks.emplace_back();
      s = OpenOutputSink(sink_options, &sinks.back());
      if (!s.ok()) return s;
    }
    output_ = MakeTeeSink(std::move(sinks));
  }
  std::string roots;
  for (const std::string& root : path_rules_.roots) roots += (roots.empty() ? "" : ", ") + root;
  LogNotice(std::string("paths: ") +
            (options_.caller_paths ? "caller (relative to each client's working directory, absolute as given)"
                                   : "roots (confined beneath " + roots + ")"));
  size_t removed = 0;
  s = output_->Recover(&removed);
  if (!s.ok()) LogWarning("cannot clean up after an interrupted write: " + s.ToString());
  if (removed > 0) LogNotice("removed " + std::to_string(removed) + " stale temp files");
  if (!options_.tensorboard_logdir.empty()) {
    TensorBoardSinkOptions tb;
    tb.logdir = options_.tensorboard_logdir;
    tb.max_file_bytes = options_.tensorboard_max_file_bytes;
    s = OpenTensorBoardSink(tb, &tensorboard_);
    if (!s.ok()) return s;
    s = TensorBoardPathRules(path_rules_.mode, options_.tensorboard_logdir, &tensorboard_paths_);
    if (!s.ok()) return s;
  }

  std::vector<journal::RecoveredJob> pending;
  if (options_.journal) {
    s = OpenJournal(&pending);
    if (!s.ok()) return s;
  }
  StartPipeline();
  s = StartSocket();
  if (!s.ok()) return s;
  Replay(&pending);
  return Status::OK();
}

Status Server::MakePathRules(PathRules* rules) const {
  rules->mode = options_.caller_paths ? PathMode::kCaller : PathMode::kRoots;
  rules->roots.clear();
  std::vector<std::string> dirs{options_.output_root};
  dirs.insert(dirs.end(), options_.more_output_roots.begin(), options_.more_output_roots.end());
  for (const std::string& dir : dirs) {
    if (dir.find("://") != std::string::npos) {  // another sink's location: named as it is
      rules->roots.push_back(dir);
      continue;
    }
    DefaultEnv()->CreateDir(dir);  // a root named with '..' must exist to be resolved
    std::string absolute;
    const Status s = AbsoluteRootPath(dir, &absolute);
    if (!s.ok()) return s;
    rules->roots.push_back(std::move(absolute));
  }
  return Status::OK();
}

void Server::StartPipeline() {
  // The pipeline's events run on worker or journal threads: they hand off to the socket thread.
  Pipeline::Callbacks callbacks;
  callbacks.on_durable = [this](const std::shared_ptr<daemon::Job>& job) {
    socket_->Post([this, job] { handler_->Accepted(job); });
  };
  callbacks.on_held_changed = [this](const std::shared_ptr<daemon::Job>&, int64_t delta) {
    socket_->Post([this, delta] { handler_->AdjustHeld(delta); });
  };
  callbacks.on_done = [this](const std::shared_ptr<daemon::Job>& job, const Status& status) {
    socket_->Post([this, job, status] { handler_->Done(job, status); });
  };
  callbacks.on_journal_failed = [this](const Status& status) {
    if (journal_failed_.exchange(true)) return;
    handler_->StopAccepting(/*journal_failed=*/true);
    LogError("JOURNAL FAILED, no job is acknowledged any more: " + status.ToString());
    on_fatal_(status);
  };
  callbacks.on_output_blocked = [this](bool blocked, const Status& why) {
    socket_->Post([this, blocked, why] { handler_->SetOutputBlocked(blocked, why); });
  };
  Pipeline::Options pipeline_options;
  pipeline_options.workers = options_.workers;
  pipeline_options.max_workers = std::max(options_.workers, std::thread::hardware_concurrency());
  pipeline_options.write_tries = options_.write_tries;
  pipeline_options.max_retry_delay = std::chrono::milliseconds(options_.retry_max_delay_ms);
  pipeline_options.first_retry_delay =
      std::min(pipeline_options.first_retry_delay, pipeline_options.max_retry_delay);
  pipeline_options.tensorboard_sink = tensorboard_.get();
  pipeline_ = std::make_unique<Pipeline>(pipeline_options, output_.get(), journal_.get(), &stats_,
                                         std::move(callbacks));
}

Status Server::OpenJournal(std::vector<journal::RecoveredJob>* pending) {
  journal::JournalOptions jo;
  jo.dir = options_.journal_dir;
  jo.segment_bytes = journal::SegmentBytesForBudget(options_.journal_budget);
  jo.recovery = options_.journal_skip_corrupt ? journal::JournalOptions::Recovery::kSkipCorrupt
                                              : journal::JournalOptions::Recovery::kStrict;
  Status s = journal::Journal::Open(DefaultEnv(), jo, pending, &recovery_, &journal_);
  if (s.ok()) journal_segment_bytes_ = jo.segment_bytes;
  if (!s.ok()) {
    return Status(s.code(), "journal recovery failed: " + s.message() +
                                " (to skip corrupt records, loudly: --journal-recovery=skip-corrupt)");
  }
  const std::string summary = "journal " + options_.journal_dir + ": " + recovery_.ToString();
  recovery_.problems.empty() ? LogNotice(summary) : LogWarning(summary);
  return Status::OK();
}

void Server::Replay(std::vector<journal::RecoveredJob>* pending) {
  uint64_t bytes = 0;
  for (journal::RecoveredJob& recovered : *pending) {
    journal::JobRecord record;
    Status s = journal::DecodeJobRecord(recovered.payload.data, recovered.payload.size, &record);
    recovered.payload = Bytes();  // drop the record's buffer early
    if (!s.ok()) {
      LogError("job " + std::to_string(recovered.job_id) + " cannot be replayed: " + s.ToString());
      journal_->AppendDone(recovered.job_id, s);
      continue;
    }
    std::shared_ptr<daemon::Job> job = ReplayedJob(recovered.job_id, std::move(record));
    bytes += job->held_bytes;
    stats_.replayed.fetch_add(1, std::memory_order_relaxed);
    const std::string client = job->client;
    socket_->Post([this, client, held = job->held_bytes] { handler_->AddReplayed(client, held); });
    pipeline_->Resume(std::move(job));
  }
  if (!pending->empty()) {
    LogNotice("replaying " + std::to_string(pending->size()) + " jobs (" + std::to_string(bytes) +
              " bytes of files and pixels) from the journal");
  }
  pending->clear();
}

void Server::Reload(const DaemonOptions& reloaded) {
  pipeline_->SetWorkers(reloaded.workers);
  const CreditLedger::Budgets budgets = BudgetsOf(reloaded, options_);
  memory_budget_ = budgets.memory_bytes;
  journal_budget_ = budgets.journal_bytes;
  socket_->Post([this, budgets] { handler_->SetBudgets(budgets); });
}

bool Server::Healthy() {
  const bool socket_ok = socket_probe_answered_.exchange(false);
  socket_->Post([this] { socket_probe_answered_ = true; });
  const uint64_t progress = pipeline_->progress();
  const bool workers_ok = progress != last_progress_ ||
                          pipeline_->in_flight() == pipeline_->retrying();
  last_progress_ = progress;
  return socket_ok && workers_ok;
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (handler_) {
    handler_->StopAccepting(/*journal_failed=*/false);  // saves, credit: now shutting_down
    socket_->Post([this] { handler_->CloseLedger(); });
  }
  if (pipeline_) {
    pipeline_->Drain();  // every accepted job ends (or waits for replay) and queues its done event
    pipeline_->Join();
  }
  output_.reset();  // its manifest thread ends after the last lines are durable
  if (journal_) {
    Status s = journal_->Close();
    if (!s.ok()) LogError("journal close: " + s.ToString());
  }
  if (socket_) socket_->Stop();  // runs the queued tasks, sends the done events, closes
  if (zap_) zap_->Stop();
}

std::map<std::string, uint64_t> Server::Counters() const {
  std::map<std::string, uint64_t> c = stats_.Snapshot();
  c["memory_budget"] = memory_budget_.load();
  c["journal_bytes"] = journal_ ? journal_->bytes_on_disk() : 0;
  c["journal_budget"] = journal_budget_.load();
  c["retrying"] = pipeline_ ? pipeline_->retrying() : 0;
  c["queued"] -= std::min(c["queued"], c["retrying"]);  // a job waiting for a retry is not queued
  c["workers"] = pipeline_ ? pipeline_->workers() : 0;
  // Why no credit is granted although the budgets have room: the output is blocked by a
  // condition that can pass (its errno: 28 ENOSPC, 122 EDQUOT, 5 EIO; 0 if the sink gave none).
  Status why;
  const bool blocked = pipeline_ && pipeline_->output_blocked(&why);
  c["output_blocked"] = blocked ? 1 : 0;
  c["output_blocked_errno"] = blocked ? uint64_t(ErrnoOf(why)) : 0;
  // Jobs taken in and not ended, whatever their stage (also those waiting for the journal's
  // fsync, which no other counter covers): zero means idle.
  c["in_flight"] = pipeline_ ? pipeline_->in_flight() : 0;
  c["replies_dropped"] = socket_ ? socket_->replies_dropped() : 0;
  if (output_ && options_.outputs.empty()) {  // one output: its counters are sink 0's too
    std::map<std::string, uint64_t> own;
    output_->AddCounters(&own);
    AddSinkCounters(own, 0, &c);
    for (const auto& [key, value] : own) c[key] += value;
  } else if (output_) {
    output_->AddCounters(&c);  // a tee: the sums and sink.<i>.* (per-output backlog)
  }
  return c;
}

}  // namespace imgsink::daemon
