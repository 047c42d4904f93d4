// Server: wires the daemon's stages together (the layers: daemon/CMakeLists.txt; the wire
// protocol: proto/PROTOCOL.md).
//
//   socket thread: receive -> decode -> credit check -> validate -> Pipeline::Submit
//                  replies, done events, the credit ledger, per-client counts
//   worker pool:   render -> [journal] -> encode -> atomic write   (Pipeline)
//
// Threading contract: everything in the "socket thread" section below is touched only on the
// socket thread (OnMessage, OnTimer and tasks posted with SocketThread::Post).  The pipeline's
// callbacks run on worker or journal threads and only Post to the socket thread.  Shared across
// threads: `stats_` (atomics), the OutputRoot and Journal (thread-safe).  Start/Stop belong to
// the owning (main) thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "daemon/admission/credit_ledger.h"
#include "daemon/config/options.h"
#include "daemon/core/job.h"
#include "daemon/core/pipeline.h"
#include "daemon/core/stats.h"
#include "daemon/journal/journal.h"
#include "daemon/output/manifest.h"
#include "daemon/output/output_root.h"
#include "daemon/socket/socket_thread.h"
#include "daemon/socket/zap_handler.h"

namespace imgsink {

class Server {
 public:
  // REQUIRES: FinalizeOptions(&options) succeeded.  `on_fatal` is called (from any thread,
  // once) when the daemon must stop because it can no longer keep its promises (journal write
  // or fsync failed); the owner should then Stop() and exit non-zero.
  Server(DaemonOptions options, std::function<void(const Status&)> on_fatal);
  ~Server();  // calls Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the output root and the journal (recovering it), starts the workers, re-queues the
  // recovered jobs and binds the endpoints.
  Status Start();

  // Drains: refuses new work (shutting_down), finishes accepted jobs (journaled jobs waiting
  // for a write retry are left for the next start), sends their done events, closes the
  // journal and the socket.  Idempotent.
  void Stop();

  // Applies the reloadable options of `reloaded` (budgets, credit TTL, workers up to the
  // pool's size: max(start-up workers, cores)).  Thread-safe.
  // REQUIRES: OnlyReloadableDiffer(current options, reloaded).
  void Reload(const DaemonOptions& reloaded);

  // Returns true iff the socket thread answered the probe posted by the previous call and the
  // workers made progress since then (or had nothing to do but wait for retries).  For the
  // systemd watchdog; call from one thread, periodically.
  bool Healthy();

  const std::vector<std::string>& endpoints() const { return socket_->bound_endpoints(); }
  // The counters of the status reply.  Thread-safe (a snapshot taken on the socket thread).
  std::map<std::string, uint64_t> Counters() const;
  const journal::RecoveryReport& recovery() const { return recovery_; }
  const Stats& stats() const { return stats_; }
  // The most workers a reload can ask for.
  unsigned max_workers() const { return pipeline_ ? pipeline_->max_workers() : 0; }

 private:
  // --- socket thread ---
  void OnMessage(IncomingMessage&& msg);
  SocketThread::Clock::time_point OnTimer(SocketThread::Clock::time_point now);
  void HandleSave(const std::string& client, SaveRequest&& req, zmq::message_t&& tensor);
  void HandleCredit(const std::string& client, const CreditRequest& req);
  void SendAnswers(const std::vector<CreditLedger::Answer>& answers);
  void SendReply(const std::string& client, const imgsink::Reply& reply);
  void ReplyError(const std::string& client, uint64_t request_id, Status status);
  void AcceptedOnSocketThread(const std::shared_ptr<Job>& job);
  void DoneOnSocketThread(const std::shared_ptr<Job>& job, const Status& status);
  void AdjustHeld(int64_t delta);
  std::map<std::string, uint64_t> CountersOnSocketThread() const;

  // --- start-up ---
  Status OpenJournal(std::vector<journal::RecoveredJob>* pending);
  Status StartSocket();  // and the ZAP handler for CURVE endpoints
  void Replay(std::vector<journal::RecoveredJob>* pending);

  const DaemonOptions options_;
  const std::function<void(const Status&)> on_fatal_;
  zmq::context_t context_;
  std::unique_ptr<OutputRoot> root_;
  std::unique_ptr<Manifest> manifest_;
  std::unique_ptr<journal::Journal> journal_;
  journal::RecoveryReport recovery_;
  Stats stats_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<SocketThread> socket_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> journal_failed_{false};
  bool stopped_ = false;  // owner thread only
  std::atomic<bool> socket_probe_answered_{true};
  std::atomic<uint64_t> memory_budget_{0}, journal_budget_{0};  // as reloaded, for Counters()
  uint64_t last_progress_ = 0;  // Healthy() caller only

  // Socket thread only.
  CreditLedger ledger_;
  uint64_t next_job_id_ = 1;                      // when the journal is off
  std::map<std::string, uint64_t> in_flight_by_client_;
  std::vector<CreditLedger::Answer> answers_;     // scratch
};

}  // namespace imgsink
