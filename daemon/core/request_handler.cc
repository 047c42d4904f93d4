#include "daemon/core/request_handler.h"

#include <utility>
#include <variant>

#include "daemon/log/log.h"
#include "imgsink/proto/codec.h"

namespace imgsink::daemon {
namespace {

// A status reply lists at most this many clients by name (those with most jobs in flight) and
// counts the rest, so it stays far below the 64 KiB clients accept however many clients there
// are (issue 12, row 8).
constexpr size_t kMaxClientsShown = 64;

}  // namespace

RequestHandler::RequestHandler(Options options, Parts parts)
    : limits_(options.limits),
      socket_(parts.socket),
      pipeline_(parts.pipeline),
      journal_(parts.journal),
      shm_(parts.shm),
      stats_(parts.stats),
      counters_(std::move(parts.counters)),
      ledger_(options.budgets) {}

void RequestHandler::StopAccepting(bool journal_failed) {
  if (journal_failed) journal_failed_ = true;  // before accepting_: a refusal then names it
  accepting_ = false;
}

Status RequestHandler::NotAccepting(const char* message) const {
  return Status(journal_failed_ ? ErrorCode::kJournalFailed : ErrorCode::kShuttingDown, message);
}

void RequestHandler::OnMessage(IncomingMessage&& msg) {
  AssertInSocketThread("RequestHandler::OnMessage");
  stats_->requests.fetch_add(1, std::memory_order_relaxed);
  if (msg.frames.empty() || msg.frames.size() > 2) {
    return ReplyError(msg.client, 0,
                      Status(ErrorCode::kBadMessage, "a message has 1 (status, credit) or 2 "
                                                     "(save) frames, got " +
                                                         std::to_string(msg.frames.size())));
  }
  ClientMessage decoded;
  uint64_t request_id = 0;
  Status s = DecodeClientMessage(msg.frames[0].data(), msg.frames[0].size(), &decoded, &request_id);
  if (!s.ok()) return ReplyError(msg.client, request_id, std::move(s));
  const bool is_save = std::holds_alternative<SaveRequest>(decoded);
  if (msg.frames.size() != (is_save ? 2u : 1u)) {
    return ReplyError(msg.client, request_id,
                      Status(ErrorCode::kBadMessage, is_save ? "a save request has exactly 2 "
                                                               "frames (header, tensor)"
                                                             : "this request has exactly 1 frame"));
  }
  if (is_save) {
    return HandleSave(msg.client, std::get<SaveRequest>(std::move(decoded)),
                      std::move(msg.frames[1]));
  }
  if (auto* credit = std::get_if<CreditRequest>(&decoded)) return HandleCredit(msg.client, *credit);
  Reply reply;
  reply.request_id = request_id;
  reply.counters = Counters();
  SendReply(msg.client, reply);
}

void RequestHandler::HandleCredit(const std::string& client, const CreditRequest& req) {
  if (!accepting_) {
    return ReplyError(client, req.request_id,
                      NotAccepting(journal_failed_ ? "the journal failed; the daemon is stopping"
                                                   : "the daemon is shutting down"));
  }
  ledger_.Request(client, req, Clock::now(), &answers_);
  SendAnswers();
}

Status RequestHandler::ResolveShm(const SaveRequest& req, size_t frame_size, Bytes* tensor) const {
  if (frame_size != 0) {
    return Status(ErrorCode::kBadMessage, "a save with `shm` has an empty tensor frame");
  }
  if (shm_ == nullptr) {
    return Status(ErrorCode::kBadOption, "shm: this daemon has no shared-memory hand-off "
                                         "(--shm off, or not an ipc:// endpoint)");
  }
  uint64_t size = DTypeSize(req.dtype);
  for (int64_t d : req.shape) size *= uint64_t(d);  // the decoder checked it fits in int64
  return shm_->Resolve(req.shm->segment, req.shm->offset, size, tensor);
}

void RequestHandler::HandleSave(const std::string& client, SaveRequest&& req,
                                zmq::message_t&& tensor) {
  // The tensor: the frame (libzmq's buffer, no copy), or a view into the client's segment.
  Bytes bytes;
  if (req.shm) {
    Status s = ResolveShm(req, tensor.size(), &bytes);
    if (!s.ok()) {
      stats_->job_metrics.SaveRefused(s.code());
      return ReplyError(client, req.request_id, std::move(s));
    }
    req.shm.reset();  // the job (and its journal record) holds the bytes, not the reference
  } else {
    auto owner = std::make_shared<zmq::message_t>(std::move(tensor));
    bytes = Bytes{static_cast<const uint8_t*>(owner->data()), owner->size(), owner};
  }
  const uint64_t size = bytes.size;
  if (!ledger_.Consume(client, size, Clock::now())) {
    stats_->job_metrics.SaveRefused(ErrorCode::kNoCredit);
    return ReplyError(client, req.request_id,
                      Status(ErrorCode::kNoCredit, "a save of " + std::to_string(size) +
                                                       " tensor bytes needs that much credit "
                                                       "first (PROTOCOL.md, Flow control)"));
  }
  auto job = std::make_shared<Job>();
  job->received = Clock::now();
  job->held_bytes = size;  // charged to the memory budget from now until the job ends
  Status s;
  if (!accepting_) {
    s = NotAccepting("the daemon is not accepting work (shutting down or journal failed)");
  } else {
    s = ValidateSave(req, size, limits_, &job->plan);
  }
  if (s.ok() && job->plan.footprint_bytes > size) {
    // Rendered bytes beyond the tensor's (issue 12, row 1): held too, or the save is refused.
    const uint64_t extra = job->plan.footprint_bytes - size;
    if (job->plan.footprint_bytes > ledger_.capacity()) {
      s = Status(ErrorCode::kTooLarge,
                 "rendering this save needs " + std::to_string(job->plan.footprint_bytes) +
                     " bytes (canvas with padding, channels, encoder buffer), over the daemon's "
                     "limit of " + std::to_string(ledger_.capacity()) + " bytes");
    } else if (!ledger_.HoldExtra(size, extra)) {
      s = Status(ErrorCode::kBusy,
                 "no room now for the " + std::to_string(job->plan.footprint_bytes) +
                     " bytes this save renders to (" + std::to_string(size) +
                     " tensor bytes): retry later");
    } else {
      job->held_bytes = job->plan.footprint_bytes;
    }
  }
  if (!s.ok()) {
    AdjustHeld(-int64_t(size));
    stats_->job_metrics.SaveRefused(s.code());
    return ReplyError(client, req.request_id, std::move(s));
  }
  job->job_id = journal_ ? journal_->AllocateJobId() : next_job_id_++;
  job->client = client;
  job->request = std::move(req);
  job->tensor = std::move(bytes);  // no copy of the pixels
  peers_.JobStarted(client);
  stats_->clients_in_flight.store(peers_.peers_in_flight(), std::memory_order_relaxed);
  stats_->bytes_received.fetch_add(size, std::memory_order_relaxed);
  stats_->job_metrics.JobReceived(size);
  if (!journal_) Accepted(job);  // no durability promised: ack at once
  pipeline_->Submit(std::move(job));
}

void RequestHandler::Accepted(const std::shared_ptr<Job>& job) {
  AssertInSocketThread("RequestHandler::Accepted");
  stats_->accepted.fetch_add(1, std::memory_order_relaxed);
  Reply reply;
  reply.request_id = job->request.request_id;
  reply.job_id = job->job_id;
  SendReply(job->client, reply);
}

void RequestHandler::Done(const std::shared_ptr<Job>& job, const Status& status) {
  AssertInSocketThread("RequestHandler::Done");
  peers_.JobEnded(job->client);
  stats_->clients_in_flight.store(peers_.peers_in_flight(), std::memory_order_relaxed);
  AdjustHeld(-int64_t(job->held_bytes));
  const bool acked = job->journaled || !journal_;
  if (!acked) {  // ended before it was durable: the client still waits for its one reply
    return ReplyError(job->client, job->request.request_id, status);
  }
  if (job->client.empty()) return;
  DoneEvent done;
  done.request_id = job->request.request_id;
  done.job_id = job->job_id;
  done.status = status;
  socket_->Send(job->client, EncodeServerMessage(done));
}

void RequestHandler::AdjustHeld(int64_t delta) {
  AssertInSocketThread("RequestHandler::AdjustHeld");
  ledger_.Adjust(delta, Clock::now(), &answers_);
  SendAnswers();
}

void RequestHandler::AddReplayed(const std::string& client, uint64_t held_bytes) {
  AssertInSocketThread("RequestHandler::AddReplayed");
  peers_.JobStarted(client);
  stats_->clients_in_flight.store(peers_.peers_in_flight(), std::memory_order_relaxed);
  AdjustHeld(int64_t(held_bytes));
}

void RequestHandler::SetBudgets(const CreditLedger::Budgets& budgets) {
  AssertInSocketThread("RequestHandler::SetBudgets");
  ledger_.SetBudgets(budgets, Clock::now(), &answers_);
  SendAnswers();
}

void RequestHandler::SetOutputBlocked(bool blocked, const Status& why) {
  AssertInSocketThread("RequestHandler::SetOutputBlocked");
  if (blocked) {
    ledger_.Pause("the output is blocked (" + why.message() + "); accepted jobs are kept and "
                  "written when it passes");
  } else {
    ledger_.Resume(Clock::now(), &answers_);
  }
  SendAnswers();
}

void RequestHandler::CloseLedger() {
  AssertInSocketThread("RequestHandler::CloseLedger");
  ledger_.Close(Status(ErrorCode::kShuttingDown, "the daemon is shutting down"), &answers_);
  SendAnswers();
}

RequestHandler::Clock::time_point RequestHandler::OnTimer(Clock::time_point now) {
  AssertInSocketThread("RequestHandler::OnTimer");
  if (journal_) ledger_.SetJournalBytes(journal_->bytes_on_disk());
  const auto next = ledger_.Tick(now, &answers_);
  SendAnswers();
  return next;
}

void RequestHandler::SendAnswers() {
  for (const CreditLedger::Answer& a : answers_) {
    if (!a.status.ok()) {
      ReplyError(a.client, a.request_id, a.status);
      continue;
    }
    Reply reply;
    reply.request_id = a.request_id;
    reply.credit = a.granted;
    SendReply(a.client, reply);
  }
  answers_.clear();
  stats_->memory_bytes.store(ledger_.used_bytes(), std::memory_order_relaxed);
  stats_->credit_waiting.store(ledger_.waiting_requests(), std::memory_order_relaxed);
  stats_->dropped.store(ledger_.dropped(), std::memory_order_relaxed);
  stats_->busy.store(ledger_.busy(), std::memory_order_relaxed);
}

void RequestHandler::SendReply(const std::string& client, const Reply& reply) {
  socket_->Send(client, EncodeServerMessage(reply));
}

void RequestHandler::ReplyError(const std::string& client, uint64_t request_id, Status status) {
  stats_->rejected.fetch_add(1, std::memory_order_relaxed);
  stats_->job_metrics.RequestRefused(status.code());
  std::string note;
  if (status.code() != ErrorCode::kBusy) {
    if (refusal_log_.Allow(Clock::now(), &note)) {
      LogInfo("request " + std::to_string(request_id) + " from " + peers_.Name(client) +
              " refused: " + status.ToString() + note);
    } else {
      stats_->log_lines_suppressed.store(refusal_log_.suppressed_total(),
                                         std::memory_order_relaxed);
    }
  }
  Reply reply;
  reply.request_id = request_id;
  reply.status = std::move(status);
  SendReply(client, reply);
}

std::map<std::string, uint64_t> RequestHandler::Counters() const {
  std::map<std::string, uint64_t> c = counters_();
  uint64_t omitted_peers = 0, omitted_jobs = 0;
  for (const auto& [number, n] : peers_.InFlight(kMaxClientsShown, &omitted_peers, &omitted_jobs)) {
    c["client.p" + std::to_string(number) + ".in_flight"] = n;
  }
  c["clients_not_shown"] = omitted_peers;
  c["in_flight_not_shown"] = omitted_jobs;
  return c;
}

}  // namespace imgsink::daemon
