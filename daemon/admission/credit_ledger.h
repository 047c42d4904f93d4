// CreditLedger: the daemon's memory and journal budgets, shared fairly between clients by
// credit-based flow control (proto/PROTOCOL.md, "Flow control (credits)"; the ZeroMQ guide,
// chapter 7).
//
// A client asks for credit before it sends a tensor; the ledger grants it only while the bytes
// fit the budgets, so tensor bytes in the daemon never exceed what was granted.  Accounting:
//   used = reserved (granted, not yet received) + held (bytes of jobs in RAM)
//   grant S only if used + S <= memory_budget  (and journal bytes + used + S <= journal_budget)
// Only a grant and a save count as a client's activity for the credit TTL: a refused request, or
// one that waits, never keeps the credit a client holds from going back to the pool.
// Waiting requests are served round-robin over clients, one grant per client per turn, each
// client's requests in order; a head request that does not fit holds the turn, so smaller
// requests never overtake it and big ones are not starved.
//
// Thread-safety: none.  Owned by the socket thread; other threads reach it through
// SocketThread::Post.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

class CreditLedger {
 public:
  using Clock = std::chrono::steady_clock;

  struct Budgets {
    uint64_t memory_bytes = uint64_t{1} << 30;
    uint64_t journal_bytes = 0;  // 0: no journal budget (journal off)
    uint64_t max_request_bytes = uint64_t{1} << 30;  // no single grant is larger
    std::chrono::milliseconds credit_ttl{30000};
  };

  // The answer to one credit request: granted (status OK, bytes) or refused.
  struct Answer {
    std::string client;
    uint64_t request_id = 0;
    Status status;
    uint64_t granted = 0;
  };

  explicit CreditLedger(Budgets budgets);

  // Handles a credit request: appends its answer to *answers now, or queues it (block policy,
  // no room yet) to be answered by a later Release/Tick.
  void Request(const std::string& client, const CreditRequest& req, Clock::time_point now,
               std::vector<Answer>* answers);

  // Takes `bytes` of `client`'s credit for a save whose tensor frame has that size; the bytes
  // move from reserved to held.  Returns false iff the client's credit is smaller (nothing
  // changes then).
  bool Consume(const std::string& client, uint64_t bytes, Clock::time_point now);

  // A consumed save will hold `extra` bytes more than its tensor (its rendered canvases and
  // encoder buffer are larger: padding, gray to RGB, 16-bit output).  Returns true iff they are
  // now held: when they fit the budgets, or -- so that ordinary saves never bounce -- when
  // `extra` <= kOverCommitFactor x `tensor_bytes` + kOverCommitSlack (gray uint8 to RGB with
  // its encode room is about 5x; used bytes then stay under (1 + factor) x the budget, as every
  // held tensor byte was granted within it).  Returns false (nothing changes) otherwise, and
  // always when `extra` > capacity(): the save is then refused (busy, or too_large).
  static constexpr uint64_t kOverCommitFactor = 4;
  static constexpr uint64_t kOverCommitSlack = 64 * 1024;
  bool HoldExtra(uint64_t tensor_bytes, uint64_t extra);

  // The largest charge that could ever be granted or held at once.
  uint64_t capacity() const { return Capacity(); }

  // A job's bytes in RAM changed by `delta` (render made them smaller/larger; a replayed job
  // arrived, +bytes; a job ended, -bytes).  Frees room and grants waiting requests.
  void Adjust(int64_t delta, Clock::time_point now, std::vector<Answer>* answers);

  // The journal's size on disk, for the journal budget.
  void SetJournalBytes(uint64_t bytes) { journal_bytes_ = bytes; }

  // Refuses waiting requests whose timeout passed (busy), takes back credit unused for
  // credit_ttl, grants what now fits.  Returns when it next needs to run.
  Clock::time_point Tick(Clock::time_point now, std::vector<Answer>* answers);

  // Refuses every waiting request with `status` (e.g. shutting_down) and grants nothing more.
  void Close(const Status& status, std::vector<Answer>* answers);

  // Grants nothing while paused (the output is blocked: disk full, store down): requests wait
  // or are refused as busy by their policy, the refusal saying `why`.  Resuming grants what
  // fits.  Credit already granted stays valid.
  void Pause(const std::string& why) { paused_ = why.empty() ? "paused" : why; }
  void Resume(Clock::time_point now, std::vector<Answer>* answers);
  bool paused() const { return !paused_.empty(); }

  // Changes the budgets (reload); waiting requests are granted if they now fit.
  void SetBudgets(const Budgets& budgets, Clock::time_point now, std::vector<Answer>* answers);

  uint64_t used_bytes() const { return reserved_ + held_; }
  uint64_t held_bytes() const { return held_; }
  uint64_t reserved_bytes() const { return reserved_; }
  uint64_t waiting_requests() const { return waiting_count_; }
  uint64_t dropped() const { return dropped_; }  // drop-policy requests refused
  uint64_t busy() const { return busy_; }        // block/error-policy requests refused as busy
  const Budgets& budgets() const { return budgets_; }

 private:
  struct Waiting {
    uint64_t request_id;
    uint64_t bytes;
    Clock::time_point deadline;
  };
  struct ClientState {
    uint64_t credit = 0;  // granted, not yet consumed
    Clock::time_point last_activity;
    std::deque<Waiting> waiting;
  };

  bool Fits(uint64_t bytes) const;
  uint64_t Capacity() const;  // the largest request that could ever be granted
  void Grant(const std::string& client, ClientState* state, uint64_t request_id, uint64_t bytes,
             Clock::time_point now, std::vector<Answer>* answers);
  void Refuse(const std::string& client, uint64_t request_id, BusyPolicy policy, Status status,
              std::vector<Answer>* answers);
  void ServeWaiting(Clock::time_point now, std::vector<Answer>* answers);
  void ForgetIdle(const std::string& client);

  Budgets budgets_;
  bool closed_ = false;
  std::string paused_;  // why nothing is granted; empty: not paused
  uint64_t reserved_ = 0;
  uint64_t held_ = 0;
  uint64_t journal_bytes_ = 0;
  uint64_t waiting_count_ = 0;
  uint64_t dropped_ = 0;
  uint64_t busy_ = 0;
  std::map<std::string, ClientState> clients_;
  std::deque<std::string> turns_;  // clients with waiting requests, in round-robin order
};

}  // namespace imgsink::daemon
