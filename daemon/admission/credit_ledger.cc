#include "daemon/admission/credit_ledger.h"

#include <algorithm>

namespace imgsink::daemon {

CreditLedger::CreditLedger(Budgets budgets) : budgets_(budgets) {}

uint64_t CreditLedger::Capacity() const {
  uint64_t cap = std::min(budgets_.memory_bytes, budgets_.max_request_bytes);
  if (budgets_.journal_bytes != 0) cap = std::min(cap, budgets_.journal_bytes);
  return cap;
}

bool CreditLedger::Fits(uint64_t bytes) const {
  if (!paused_.empty()) return false;
  const uint64_t used = used_bytes();
  if (used + bytes > budgets_.memory_bytes) return false;
  return budgets_.journal_bytes == 0 || journal_bytes_ + used + bytes <= budgets_.journal_bytes;
}

void CreditLedger::Request(const std::string& client, const CreditRequest& req,
                           Clock::time_point now, std::vector<Answer>* answers) {
  if (closed_) {
    return Refuse(client, req.request_id, req.policy,
                  Status(ErrorCode::kShuttingDown, "the daemon is shutting down"), answers);
  }
  if (req.bytes > Capacity()) {
    answers->push_back(Answer{client, req.request_id,
                              Status(ErrorCode::kTooLarge,
                                     "a tensor of " + std::to_string(req.bytes) +
                                         " bytes is over the daemon's limit of " +
                                         std::to_string(Capacity()) +
                                         " bytes (budgets and --max-request-bytes)"),
                              0});
    return;
  }
  // last_activity is touched only by a grant or a save: a refused request (or a wait, which
  // may end refused) must not keep credit the client holds from expiring -- a client holding
  // the whole budget could otherwise keep it forever with one refused request per TTL -- nor
  // add an entry to clients_.
  if (turns_.empty() && Fits(req.bytes)) {
    return Grant(client, &clients_[client], req.request_id, req.bytes, now, answers);
  }
  if (req.policy != BusyPolicy::kBlock || req.timeout_ms == 0) {
    return Refuse(client, req.request_id, req.policy,
                  Status(ErrorCode::kBusy, !paused_.empty() ? "no credit while " + paused_
                                                            : "no room: " + std::to_string(used_bytes()) + " of " +
                                                                  std::to_string(budgets_.memory_bytes) +
                                                                  " budget bytes in use"),
                  answers);
  }
  ClientState& state = clients_[client];
  if (state.waiting.empty()) turns_.push_back(client);
  state.waiting.push_back(
      Waiting{req.request_id, req.bytes, now + std::chrono::milliseconds(req.timeout_ms)});
  ++waiting_count_;
}

bool CreditLedger::Consume(const std::string& client, uint64_t bytes, Clock::time_point now) {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second.credit < bytes) return false;
  it->second.credit -= bytes;
  it->second.last_activity = now;
  reserved_ -= bytes;
  held_ += bytes;
  return true;
}

bool CreditLedger::HoldExtra(uint64_t tensor_bytes, uint64_t extra) {
  if (extra > Capacity()) return false;
  if (!Fits(extra) && extra > kOverCommitFactor * tensor_bytes + kOverCommitSlack) return false;
  held_ += extra;
  return true;
}

void CreditLedger::Adjust(int64_t delta, Clock::time_point now, std::vector<Answer>* answers) {
  if (delta < 0 && uint64_t(-delta) > held_) {
    held_ = 0;  // never below zero, whatever the caller's arithmetic
  } else {
    held_ = uint64_t(int64_t(held_) + delta);
  }
  ServeWaiting(now, answers);
}

void CreditLedger::Grant(const std::string& client, ClientState* state, uint64_t request_id,
                         uint64_t bytes, Clock::time_point now, std::vector<Answer>* answers) {
  state->credit += bytes;
  state->last_activity = now;
  reserved_ += bytes;
  answers->push_back(Answer{client, request_id, Status::OK(), bytes});
}

void CreditLedger::Refuse(const std::string& client, uint64_t request_id, BusyPolicy policy,
                          Status status, std::vector<Answer>* answers) {
  if (status.code() == ErrorCode::kBusy) {
    ++(policy == BusyPolicy::kDrop ? dropped_ : busy_);
  }
  answers->push_back(Answer{client, request_id, std::move(status), 0});
}

void CreditLedger::Resume(Clock::time_point now, std::vector<Answer>* answers) {
  paused_.clear();
  ServeWaiting(now, answers);
}

void CreditLedger::ServeWaiting(Clock::time_point now, std::vector<Answer>* answers) {
  while (!turns_.empty() && !closed_) {
    const std::string client = turns_.front();
    ClientState& state = clients_[client];
    const Waiting head = state.waiting.front();
    if (!Fits(head.bytes)) return;  // the head holds the turn: nothing overtakes it
    state.waiting.pop_front();
    --waiting_count_;
    turns_.pop_front();
    if (!state.waiting.empty()) turns_.push_back(client);
    Grant(client, &state, head.request_id, head.bytes, now, answers);
  }
}

CreditLedger::Clock::time_point CreditLedger::Tick(Clock::time_point now,
                                                   std::vector<Answer>* answers) {
  // Requests whose wait ran out: busy.
  for (auto it = turns_.begin(); it != turns_.end();) {
    ClientState& state = clients_[*it];
    auto& w = state.waiting;
    const size_t before = w.size();
    for (auto wit = w.begin(); wit != w.end();) {
      if (wit->deadline > now) {
        ++wit;
        continue;
      }
      Refuse(*it, wit->request_id, BusyPolicy::kBlock,
             Status(ErrorCode::kBusy, paused_.empty() ? "no room within the request's timeout"
                                                      : "no credit within the request's timeout while " + paused_),
             answers);
      wit = w.erase(wit);
    }
    waiting_count_ -= before - w.size();
    it = w.empty() ? turns_.erase(it) : it + 1;
  }
  // Credit a client left unused for credit_ttl goes back to the pool (the client may be gone).
  Clock::time_point next = Clock::time_point::max();
  for (auto it = clients_.begin(); it != clients_.end();) {
    ClientState& state = it->second;
    const Clock::time_point expiry = state.last_activity + budgets_.credit_ttl;
    if (state.credit > 0 && expiry <= now) {
      reserved_ -= state.credit;
      state.credit = 0;
    }
    if (state.credit == 0 && state.waiting.empty() && expiry <= now) {
      it = clients_.erase(it);  // forget idle clients: the map stays bounded
      continue;
    }
    // The expiry matters only while there is credit to take back or an entry to forget (a
    // waiting client with neither would otherwise ask for a timer in the past: a busy loop).
    if (state.credit > 0 || state.waiting.empty()) next = std::min(next, expiry);
    for (const Waiting& w : state.waiting) next = std::min(next, w.deadline);
    ++it;
  }
  const size_t before = answers->size();
  ServeWaiting(now, answers);
  if (answers->size() > before) next = std::min(next, now + budgets_.credit_ttl);  // new grants
  return next;
}

void CreditLedger::Close(const Status& status, std::vector<Answer>* answers) {
  closed_ = true;
  for (const std::string& client : turns_) {
    for (const Waiting& w : clients_[client].waiting) {
      answers->push_back(Answer{client, w.request_id, status, 0});
    }
    clients_[client].waiting.clear();
  }
  turns_.clear();
  waiting_count_ = 0;
}

void CreditLedger::SetBudgets(const Budgets& budgets, Clock::time_point now,
                              std::vector<Answer>* answers) {
  budgets_ = budgets;
  ServeWaiting(now, answers);
}

}  // namespace imgsink::daemon
