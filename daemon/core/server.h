// Server: the daemon's lifecycle -- start-up (output root, journal recovery, workers, CURVE
// keys, endpoints, replay of the recovered jobs), reload, health, shutdown -- and the wiring
// of its parts:
//
//   socket thread: RequestHandler (request_handler.h): decode -> credit -> validate -> Submit;
//                  replies, done events, the credit ledger
//   worker pool:   Pipeline (pipeline.h): render -> [journal] -> encode -> atomic write
//
// Threading contract: Start, Stop and Healthy belong to the owning (main) thread; Reload and
// Counters are thread-safe.  Server touches no socket-thread state itself: it posts to the
// socket thread (SocketThread::Post) what the RequestHandler must do -- the pipeline's events
// (from worker and journal threads), reloaded budgets, replayed jobs, the shutdown.  Shared
// across threads: `stats_` (atomics), the OutputSink and Journal (thread-safe).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "daemon/config/options.h"
#include "daemon/core/job.h"
#include "daemon/core/pipeline.h"
#include "daemon/core/request_handler.h"
#include "daemon/core/stats.h"
#include "daemon/journal/journal.h"
#include "daemon/output/sink.h"
#include "daemon/socket/socket_thread.h"
#include "daemon/socket/zap_handler.h"

namespace imgsink::daemon {

class Server {
 public:
  // REQUIRES: FinalizeOptions(&options) succeeded.  `on_fatal` is called (from any thread,
  // once) when the daemon must stop because it can no longer keep its promises (journal write
  // or fsync failed); the owner should then Stop() and exit non-zero.
  Server(DaemonOptions options, std::function<void(const Status&)> on_fatal);
  ~Server();  // calls Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the output root and the journal (recovering it), starts the workers, binds the
  // endpoints (loading the CURVE keys for tcp ones), then re-queues the recovered jobs.
  // Returns the first error; the caller should then Stop().  Call once; owner thread only.
  Status Start();

  // Drains: refuses new work (shutting_down), finishes accepted jobs (journaled jobs waiting
  // for a write retry are left for the next start), sends their done events, closes the
  // journal and the socket.  Idempotent; owner thread only.
  void Stop();

  // Applies the reloadable options of `reloaded` (budgets, credit TTL, workers up to the
  // pool's size: max(start-up workers, cores)).  Thread-safe.  REQUIRES: Start() succeeded;
  // OnlyReloadableDiffer(current options, reloaded).
  void Reload(const DaemonOptions& reloaded);

  // Returns true iff the socket thread answered the probe posted by the previous call and the
  // workers made progress since then (or had nothing to do but wait for retries).  For the
  // systemd watchdog; call from one thread, periodically.  REQUIRES: Start() succeeded.
  bool Healthy();

  // Valid after Start() succeeded.
  const std::vector<std::string>& endpoints() const { return socket_->bound_endpoints(); }
  // The daemon-wide counters of the status reply (the RequestHandler adds per-client ones).
  // Thread-safe.
  std::map<std::string, uint64_t> Counters() const;
  const journal::RecoveryReport& recovery() const { return recovery_; }
  const Stats& stats() const { return stats_; }
  // The most workers a reload can ask for.
  unsigned max_workers() const { return pipeline_ ? pipeline_->max_workers() : 0; }
  // The journal's segment size, fixed at start from the start budget (0 without a journal):
  // a reload's journal budget must suit it (CheckReloadedJournalBudget).
  uint64_t journal_segment_bytes() const { return journal_segment_bytes_; }

 private:
  Status OpenJournal(std::vector<journal::RecoveredJob>* pending);
  // The --paths mode and the --output-root directories made absolute (created if missing).
  Status MakePathRules(PathRules* rules) const;
  void StartPipeline();
  Status StartSocket();  // and the ZAP handler for CURVE endpoints; creates the handler
  void Replay(std::vector<journal::RecoveredJob>* pending);

  const DaemonOptions options_;
  const std::function<void(const Status&)> on_fatal_;
  zmq::context_t context_;
  PathRules path_rules_;  // set by Start before the sink and the request handler exist
  // How a tb save's run directory resolves: path_rules_'s mode, --tensorboard-logdir the one
  // root.  Set by Start with tensorboard_.
  PathRules tensorboard_paths_;
  std::unique_ptr<OutputSink> output_;
  std::unique_ptr<OutputSink> tensorboard_;  // --tensorboard-logdir; null when off
  std::unique_ptr<journal::Journal> journal_;
  journal::RecoveryReport recovery_;
  Stats stats_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ZapHandler> zap_;
  // The shared-memory side sockets (--shm on, ipc:// endpoints); polled by socket_'s thread,
  // so declared before it: destroyed after the thread has stopped.
  std::unique_ptr<ShmRegistry> shm_;
  std::unique_ptr<SocketThread> socket_;
  // Runs on socket_'s thread; created with it (its methods are posted there).
  std::unique_ptr<daemon::RequestHandler> handler_;
  std::atomic<bool> journal_failed_{false};  // on_fatal_ was called
  bool stopped_ = false;  // owner thread only
  std::atomic<bool> socket_probe_answered_{true};
  std::atomic<uint64_t> memory_budget_{0}, journal_budget_{0};  // as reloaded, for Counters()
  uint64_t journal_segment_bytes_ = 0;  // set by OpenJournal, before the threads start
  uint64_t last_progress_ = 0;  // Healthy() caller only
};

}  // namespace imgsink::daemon
