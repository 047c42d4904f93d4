// RequestHandler: the daemon's per-request work, on the socket thread.
//
//   OnMessage:  decode -> credit check (CreditLedger) -> validate -> Pipeline::Submit
//   replies:    credit grants and refusals, save acks and refusals, done events, status
//
// It owns the credit ledger (admission/credit_ledger.h) and the per-client in-flight counts
// (peer_table.h: clients are named by daemon-assigned numbers, never by routing id).
// Server (server.h) builds it, routes the socket's messages and timer to it, and posts the
// pipeline's events (durable, bytes held, done) to it; Server keeps the lifecycle (start-up,
// recovery and replay, CURVE keys, reload, shutdown).
//
// Threading contract (muduo's one-loop-per-thread): every method under "Socket thread only"
// must run on the socket thread -- in the SocketThread's message or timer handler, or in a task
// given to SocketThread::Post -- and checks it with SocketThread::AssertInSocketThread, which
// aborts on a call from any other thread.  That is why the members below need no lock.  The
// methods under "Thread-safe" may be called from any thread.
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
#include "daemon/core/job.h"
#include "daemon/core/peer_table.h"
#include "daemon/core/pipeline.h"
#include "daemon/core/stats.h"
#include "daemon/journal/journal.h"
#include "daemon/log/log_limiter.h"
#include "daemon/socket/shm_registry.h"
#include "daemon/socket/socket_thread.h"
#include "daemon/validate/validate.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

class RequestHandler {
 public:
  using Clock = SocketThread::Clock;

  struct Options {
    ValidationLimits limits;        // for ValidateSave
    CreditLedger::Budgets budgets;  // the ledger's budgets at start (SetBudgets changes them)
  };

  // What the handler works with.  Each must outlive the handler; none is owned.
  struct Parts {
    SocketThread* socket = nullptr;       // replies go out through it; its thread runs us
    Pipeline* pipeline = nullptr;         // accepted saves are submitted to it
    journal::Journal* journal = nullptr;  // null (--journal=off): saves are acked at once
    ShmRegistry* shm = nullptr;           // null (--shm off): saves naming `shm` are refused
    Stats* stats = nullptr;               // counters updated here; the ledger is mirrored in
    // The daemon-wide counters for a status reply (must be thread-safe); the handler adds the
    // per-client ones it owns.
    std::function<std::map<std::string, uint64_t>()> counters;
  };

  // REQUIRES: every pointer in `parts` non-null except journal; parts.counters set.
  RequestHandler(Options options, Parts parts);
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;

  // --- Socket thread only ---

  // Answers one client message (SocketThread::MessageHandler).  A status request is answered
  // at once (clients named p<N>, at most kMaxClientsShown of them).  A credit request is granted, refused or queued by the ledger.  A save must come
  // with that much credit (else no_credit, and the credit is left as it was); it is then
  // validated (an invalid save gives its bytes back), charged its rendered footprint when that
  // is larger (CreditLedger::HoldExtra: too_large over capacity, busy when it cannot be held
  // now), submitted to the pipeline and acked: at
  // once with the journal off, else by Accepted() once its ACCEPTED record is durable.  While
  // not accepting (StopAccepting) credit requests and saves are refused.
  void OnMessage(IncomingMessage&& msg);

  // The socket thread's timer (SocketThread::TimerHandler): refreshes the journal's size for
  // the journal budget, refuses credit waits past their timeout, takes back credit unused for
  // the credit TTL, grants what now fits.  Returns when it next wants to run.
  Clock::time_point OnTimer(Clock::time_point now);

  // The job's ACCEPTED record is durable (Pipeline on_durable): replies ok with its job id.
  void Accepted(const std::shared_ptr<Job>& job);

  // The job ended with `status` (Pipeline on_done): its bytes leave the budget and its client
  // gets the done event -- or, if it was never acked (failed before it was durable), the
  // error reply to its save.
  void Done(const std::shared_ptr<Job>& job, const Status& status);

  // A job's bytes in RAM changed by `delta` (Pipeline on_held_changed): waiting credit
  // requests that now fit are granted.
  void AdjustHeld(int64_t delta);

  // A job replayed from the journal at start-up, holding `held_bytes`: counted in flight for
  // `client` and charged to the memory budget (which it may exceed).
  void AddReplayed(const std::string& client, uint64_t held_bytes);

  // Reload: the ledger takes `budgets`; waiting requests that now fit are granted.
  void SetBudgets(const CreditLedger::Budgets& budgets);

  // The output is blocked (Pipeline on_output_blocked): no credit is granted until it writes
  // again; credit requests wait or get busy by their policy, saying `why`.
  void SetOutputBlocked(bool blocked, const Status& why);

  // Shutdown: refuses every waiting credit request with shutting_down; the ledger grants
  // nothing more.
  void CloseLedger();

  // --- Thread-safe ---

  // From now on credit requests and saves are refused: with journal_failed if
  // `journal_failed` (or if the journal failed before), else with shutting_down.  Idempotent.
  void StopAccepting(bool journal_failed);

 private:
  void HandleSave(const std::string& client, SaveRequest&& req, zmq::message_t&& tensor);
  // The tensor of a save that names a shared-memory segment (`shm`): a view into it, of the
  // size the header declares.  REQUIRES: req.shm set.
  Status ResolveShm(const SaveRequest& req, size_t frame_size, Bytes* tensor) const;
  void HandleCredit(const std::string& client, const CreditRequest& req);
  Status NotAccepting(const char* message) const;
  void SendAnswers();  // sends answers_ and mirrors the ledger into stats
  void SendReply(const std::string& client, const Reply& reply);
  void ReplyError(const std::string& client, uint64_t request_id, Status status);
  std::map<std::string, uint64_t> Counters() const;
  // Aborts unless on the socket thread; `caller` names the method in the message.
  void AssertInSocketThread(const char* caller) const { socket_->AssertInSocketThread(caller); }

  const ValidationLimits limits_;
  SocketThread* const socket_;
  Pipeline* const pipeline_;
  journal::Journal* const journal_;
  ShmRegistry* const shm_;
  Stats* const stats_;
  const std::function<std::map<std::string, uint64_t>()> counters_;

  // Written by any thread, read on the socket thread.
  std::atomic<bool> accepting_{true};
  std::atomic<bool> journal_failed_{false};

  // Socket thread only.
  CreditLedger ledger_;
  uint64_t next_job_id_ = 1;  // when the journal is off (else the journal allocates ids)
  PeerTable peers_;           // client numbers ("p<N>") and jobs in flight per client
  LogLimiter refusal_log_;    // "request refused" lines
  std::vector<CreditLedger::Answer> answers_;  // scratch, empty between calls
};

}  // namespace imgsink::daemon
